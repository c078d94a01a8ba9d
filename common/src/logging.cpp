#include "pos/common/logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <array>
#include <stdexcept>

#include "pos/common/startup_error.hpp"

namespace pos::common {
namespace {

constexpr std::array<std::string_view, 6> level_names = {"trace", "debug", "info",
                                                         "warn",  "error", "off"};

}  // namespace

bool is_log_level(std::string_view level) {
  for (auto name : level_names) {
    if (name == level) {
      return true;
    }
  }
  return false;
}

void init_logging(std::string_view level, std::string_view key) {
  if (!is_log_level(level)) {
    throw StartupError(std::string(key) + ": must be one of trace, debug, info, warn, error, off");
  }
  auto logger = spdlog::stderr_logger_mt("pos");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

void set_log_level(std::string_view level) {
  if (!is_log_level(level)) {
    throw std::invalid_argument("log_level: must be one of trace, debug, info, warn, error, off");
  }
  spdlog::default_logger()->set_level(spdlog::level::from_str(std::string(level)));
}

}  // namespace pos::common
