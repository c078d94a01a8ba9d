#pragma once

#include <string>
#include <string_view>

namespace pos::common {

/// Sets up spdlog to log to stderr (journald adds its own timestamps; we keep ours for plain
/// terminals). `level` is trace, debug, info, warn, error or off; anything else throws
/// StartupError naming `key`. Call once at startup, before threads start.
void init_logging(std::string_view level, std::string_view key = "log_level");

/// True when `level` names a spdlog level accepted by init_logging.
bool is_log_level(std::string_view level);

/// Changes the level of the logger init_logging set up (a configuration reload). `level` must
/// pass is_log_level (else std::invalid_argument). Thread-safe.
void set_log_level(std::string_view level);

}  // namespace pos::common
