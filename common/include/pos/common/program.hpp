#pragma once
// The shared shape of `run` and `check-config` of posagent and poscollector: load the
// configuration, set up logging, build and run the program, and map failures to SPEC's exit
// codes. The one place where a StartupError becomes exit code 2.

#include <spdlog/spdlog.h>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "pos/common/logging.hpp"
#include "pos/common/startup_error.hpp"

namespace pos::common {

/// SPEC's exit codes, plus 1 for any other failure.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;  ///< usage or configuration error (StartupError)

/// Prints `<program>: <message>` to stderr; returns exit_usage.
inline int report_startup_error(std::string_view program, const StartupError& e) {
  std::cerr << program << ": " << e.what() << '\n';
  return exit_usage;
}

/// `run`: calls `load(config_path)` (which loads and checks the configuration and the files it
/// names, throwing StartupError) and init_logging(config.log_level), then `start(config)`, which
/// builds the program and runs it to its exit code. Returns exit_usage for a StartupError (printed
/// by report_startup_error while loading, logged when it surfaces while building), exit_failure
/// for any other exception escaping `start`.
template <class Load, class Start>
int run_program(std::string_view program, const std::string& config_path, Load load, Start start) {
  decltype(load(config_path)) config;
  try {
    config = load(config_path);
    init_logging(config.log_level);
  } catch (const StartupError& e) {
    return report_startup_error(program, e);
  }
  try {
    return start(config);
  } catch (const StartupError& e) {
    spdlog::critical("cannot start: {}", e.what());
    return exit_usage;
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return exit_failure;
  }
}

/// `check-config`: calls `load(config_path)` exactly as run_program does and prints
/// `ok: <path> (<describe(config)>)`. Returns exit_ok, or exit_usage for a StartupError (printed
/// by report_startup_error, the same line `run` prints).
template <class Load, class Describe>
int check_program(std::string_view program, const std::string& config_path, Load load,
                  Describe describe) {
  try {
    const auto config = load(config_path);
    std::cout << "ok: " << config_path << " (" << describe(config) << ")\n";
    return exit_ok;
  } catch (const StartupError& e) {
    return report_startup_error(program, e);
  }
}

}  // namespace pos::common
