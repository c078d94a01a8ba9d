#pragma once
// The shared shape of `posagent run` and `poscollector run`: load the configuration, set up
// logging, build and run the program, and map failures to SPEC's exit codes.

#include <spdlog/spdlog.h>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "pos/common/config_reader.hpp"
#include "pos/common/logging.hpp"

namespace pos::common {

/// Calls `load(config_path)` (throws ConfigError) and init_logging(config.log_level), then
/// `start(config)`, which builds the program and runs it to its exit code. Returns 2 for a
/// configuration error (printed to stderr as `<program>: <message>`, or logged when it surfaces
/// while starting), 1 for any other exception escaping `start`.
template <class Load, class Start>
int run_program(std::string_view program, const std::string& config_path, Load load, Start start) {
  decltype(load(config_path)) config;
  try {
    config = load(config_path);
    init_logging(config.log_level);
  } catch (const ConfigError& e) {
    std::cerr << program << ": " << e.what() << '\n';
    return 2;
  }
  try {
    return start(config);
  } catch (const ConfigError& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 1;
  }
}

}  // namespace pos::common
