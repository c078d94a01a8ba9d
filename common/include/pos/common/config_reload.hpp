#pragma once
// Re-reading the configuration of a running program (SIGHUP, `systemctl reload`): the new file is
// checked like at start, compared with the running configuration key by key, and applied only when
// every key that differs can change live; otherwise nothing is applied (docs/architecture.md,
// "Changing settings without a restart"). The keys of a program are one table of ReloadKey rows.

#include <algorithm>
#include <array>
#include <boost/json/object.hpp>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pos::common {

class PrometheusWriter;

/// One configuration key of a program: its TOML name, how to tell whether two configurations
/// differ in it, how to copy it, and, for a key that may change live, how to apply it.
/// `Target` is what the apply functions act on (the program's running components).
template <class Config, class Target>
struct ReloadKey {
  /// TOML name, e.g. "forward.rate_limit_kbps"; a key that fills several fields has one row each.
  std::string_view name;
  bool (*differs)(const Config&, const Config&);       ///< true when the two values differ
  void (*adopt)(Config& running, const Config& next);  ///< copies the value of `next`
  /// Applies the running configuration's value (after every changed live key was adopted); one
  /// function may serve several keys and then runs once. nullptr: the key needs a restart.
  void (*apply)(Target& target, const Config& running);
};

/// A restart-only key: `POS_RELOAD_KEY(Config, Target, "name", member.path, nullptr)`; a live one
/// names its apply function instead of nullptr. `member` is a member path, which cannot be put in
/// parentheses.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define POS_RELOAD_KEY(Config, Target, name, member, apply_fn)                              \
  ::pos::common::ReloadKey<Config, Target> {                                                \
    name, [](const Config& a, const Config& b) { return !(a.member == b.member); },         \
        [](Config& running, const Config& next) { running.member = next.member; }, apply_fn \
  }
// NOLINTEND(bugprone-macro-parentheses)

/// The apply function of a `log_level` row: calls `target.log_level(running)`.
template <class Config, class Target>
void apply_log_level(Target& target, const Config& running) {
  target.log_level(running);
}

/// The apply function of a live key that only the running configuration holds: it is read where
/// it is used (e.g. shutdown.drain_timeout_ms, at shutdown), so there is nothing to apply.
template <class Config, class Target>
void adopt_only(Target& /*target*/, const Config& /*running*/) {}

/// How the keys of two configurations differ.
struct ReloadDiff {
  std::vector<std::string> live;     ///< changed keys that can change live, in table order
  std::vector<std::string> restart;  ///< changed keys that need a restart, in table order
  /// The configurations still differ after every changed key of the table was copied: a key is
  /// missing from the table. Treated like a restart-only change.
  bool unlisted = false;
  bool empty() const noexcept { return live.empty() && restart.empty() && !unlisted; }
  bool applicable() const noexcept { return restart.empty() && !unlisted; }
};

/// Compares `running` with `next` over `keys`. Needs Config::operator==. Thread-safe (pure).
template <class Config, class Target>
ReloadDiff diff_config(std::span<const ReloadKey<Config, Target>> keys, const Config& running,
                       const Config& next) {
  ReloadDiff diff;
  Config adopted = running;
  for (const auto& key : keys) {
    if (key.differs(running, next)) {
      // One TOML key may fill several fields (kpis.timezone): listed once.
      auto& list = key.apply != nullptr ? diff.live : diff.restart;
      if (std::find(list.begin(), list.end(), key.name) == list.end()) {
        list.emplace_back(key.name);
      }
      key.adopt(adopted, next);
    }
  }
  diff.unlisted = !(adopted == next);
  return diff;
}

/// Copies every changed live key of `next` into `running`, then calls each distinct apply
/// function of those keys once, in table order. Call only when diff_config(...).applicable().
/// Not thread-safe: call where `target` lives.
template <class Config, class Target>
void apply_config(std::span<const ReloadKey<Config, Target>> keys, Config& running,
                  const Config& next, Target& target) {
  std::vector<void (*)(Target&, const Config&)> applies;
  for (const auto& key : keys) {
    if (key.apply != nullptr && key.differs(running, next)) {
      key.adopt(running, next);
      if (std::find(applies.begin(), applies.end(), key.apply) == applies.end()) {
        applies.push_back(key.apply);
      }
    }
  }
  for (auto* apply : applies) {
    apply(target, running);
  }
}

enum class ReloadResult { applied, refused, invalid };

/// "applied", "refused" or "invalid" (metrics label, status JSON).
std::string_view to_string(ReloadResult result) noexcept;

/// What the reloads of a running program did, for its metrics and status.
struct ReloadStats {
  std::array<std::uint64_t, 3> total{};  ///< by ReloadResult
  std::optional<ReloadResult> last;      ///< none before the first reload
  std::int64_t last_unix_ms = 0;
  std::string last_message;  ///< what the last reload changed, or why it was refused

  /// Counts one reload and makes it the last.
  void record(ReloadResult result, std::int64_t now_unix_ms, std::string message);
};

/// `{prefix}config_reloads_total{result}` for all three results (0 included) and, after the first
/// reload, `{prefix}config_last_reload_timestamp_seconds`.
void append_reload_metrics(PrometheusWriter& metrics, const ReloadStats& stats);

/// Sets `reloads` (the count of each result) and `last_reload` (`{result, at, message}`, null
/// before the first reload) in `doc`: the part of the agent's status `config` and the collector's
/// `GET /v1/config` that says what the reloads did.
void append_reload_json(boost::json::object& doc, const ReloadStats& stats);

/// Runs one reload: `load` reads and checks the file as at start (throws on an invalid file: the
/// message is logged and the result is `invalid`), then diff_config and, when applicable,
/// apply_config. A refusal logs each key as `{key}: cannot change without a restart`. Returns the
/// result and a one-line description for ReloadStats. Never throws (an exception from an apply
/// function is logged; the keys adopted so far stay adopted and the result is `applied`).
template <class Config, class Target>
ReloadResult reload_config(const std::function<Config()>& load,
                           std::span<const ReloadKey<Config, Target>> keys, Config& running,
                           Target& target, std::string& message);

// --- implementation details of reload_config (config_reload.cpp) ---
namespace reload_detail {
/// Logs and describes an invalid file.
std::string invalid(std::string_view error);
/// Logs and describes a refusal.
std::string refused(const ReloadDiff& diff);
/// Logs and describes an applied reload.
std::string applied(const ReloadDiff& diff);
/// Logs an apply function that threw.
void apply_failed(std::string_view error);
}  // namespace reload_detail

template <class Config, class Target>
ReloadResult reload_config(const std::function<Config()>& load,
                           std::span<const ReloadKey<Config, Target>> keys, Config& running,
                           Target& target, std::string& message) {
  std::optional<Config> next;
  try {
    next.emplace(load());
  } catch (const std::exception& e) {
    message = reload_detail::invalid(e.what());
    return ReloadResult::invalid;
  }
  const auto diff = diff_config(keys, running, *next);
  if (!diff.applicable()) {
    message = reload_detail::refused(diff);
    return ReloadResult::refused;
  }
  try {
    apply_config(keys, running, *next, target);
  } catch (const std::exception& e) {
    reload_detail::apply_failed(e.what());
  }
  message = reload_detail::applied(diff);
  return ReloadResult::applied;
}

}  // namespace pos::common
