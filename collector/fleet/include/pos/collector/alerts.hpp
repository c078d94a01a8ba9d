#pragma once
// Alert rules over the fleet view: pure functions of one till and the current time, plus a tracker
// that keeps the set of active alerts stable between evaluations (when each began, what was
// raised or cleared since the last evaluation). Meaning of each rule: docs/dashboard.md.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "pos/collector/fleet.hpp"

namespace pos::collector {

/// Thresholds of the rules (config `[alerts]`).
struct AlertOptions {
  std::chrono::minutes offline{5};       ///< offline, or not seen, for longer: till_offline
  std::chrono::minutes backlog_age{15};  ///< oldest unacknowledged event older: backlog_age
  std::chrono::seconds clock_skew{120};  ///< |receive time - status sent_at| larger: clock_skew
  std::chrono::minutes rejected_rising_window{10};  ///< rejected_total grew within: rejected_rising
  std::chrono::hours epoch_renewed{
      24};                            ///< the till renewed its epoch within: database_rolled_back
  std::chrono::days cert_expiry{30};  ///< the till's certificate expires within: cert_expiry
  bool operator==(const AlertOptions&) const = default;
};

enum class AlertRule {
  till_offline,
  backlog_age,
  clock_skew,
  rejected_rising,
  database_rolled_back,
  cert_expiry
};

/// Every rule, in the order they are evaluated and listed.
inline constexpr std::array<AlertRule, 6> all_alert_rules{
    AlertRule::till_offline,    AlertRule::backlog_age,          AlertRule::clock_skew,
    AlertRule::rejected_rising, AlertRule::database_rolled_back, AlertRule::cert_expiry};

/// The rule's name as used in JSON, metrics and docs ("till_offline", ...).
std::string_view to_string(AlertRule rule) noexcept;

/// till_offline (critical): the till said it went offline, or was not seen at all, longer than
/// `options.offline` ago (strictly longer). `since`: when it went offline or was last seen.
std::optional<FleetAlert> check_offline(const TillView& till, TillState state, std::int64_t now_ms,
                                        const AlertOptions& options);

/// backlog_age (warning): the oldest event the till has not had acknowledged is strictly older
/// than `options.backlog_age`. `since`: that event's time (the till's clock).
std::optional<FleetAlert> check_backlog_age(const TillView& till, std::int64_t now_ms,
                                            const AlertOptions& options);

/// clock_skew (warning): the till is online and its last two statuses both arrived more than
/// `options.clock_skew` away from their `sent_at`, in the same direction (one late status, e.g. a
/// retained one read at subscribe time, is not enough). `since`: the newer status' arrival.
std::optional<FleetAlert> check_clock_skew(const TillView& till, TillState state,
                                           const AlertOptions& options);

/// rejected_rising (warning): the till's rejected_total grew at `now - window` or later.
/// `since`: the first growth within the window.
std::optional<FleetAlert> check_rejected_rising(const TillView& till, std::int64_t now_ms,
                                                const AlertOptions& options);

/// database_rolled_back (warning): the till's database renewed its epoch (it was behind what a
/// collector had acknowledged: a restored or rolled-back disk) at `now - epoch_renewed` or later.
/// Nothing was lost; the alert asks an operator to find out why the disk went back in time.
/// `since`: the renewal.
std::optional<FleetAlert> check_database_rolled_back(const TillView& till, std::int64_t now_ms,
                                                     const AlertOptions& options);

/// cert_expiry: the till's MQTT client certificate (notAfter from its status) expires within
/// `options.cert_expiry` (warning) or has expired (critical: the till cannot connect any more).
/// `since`: notAfter minus the threshold.
std::optional<FleetAlert> check_cert_expiry(const TillView& till, std::int64_t now_ms,
                                            const AlertOptions& options);

/// Every rule for one till, in all_alert_rules order.
std::vector<FleetAlert> evaluate_till(const TillView& till, TillState state, std::int64_t now_ms,
                                      const AlertOptions& options);

/// The active alerts of a fleet. An alert keeps the `since` of the evaluation that raised it
/// while it stays active (its message and severity follow the latest evaluation). Bounded by the
/// fleet (at most one alert per till and rule). Not thread-safe: use on the io thread only.
class AlertTracker {
 public:
  struct Changes {
    std::vector<FleetAlert> raised;
    std::vector<FleetAlert> cleared;  ///< as they were when last active
  };

  explicit AlertTracker(AlertOptions options = {});

  /// Evaluates every till of `fleet` at `now_ms`; returns what was raised and cleared since the
  /// previous call. Never fails.
  Changes update(const FleetState& fleet, std::int64_t now_ms);

  /// The active alerts, sorted by store, till, rule order.
  std::vector<FleetAlert> active() const;

  std::size_t size() const noexcept { return m_active.size(); }
  const AlertOptions& options() const noexcept { return m_options; }
  /// New thresholds (a configuration reload): the next update() evaluates with them; an alert
  /// still active then keeps its `since`.
  void set_options(const AlertOptions& options) { m_options = options; }

  /// Told, at the end of each update() that raised or cleared something, what it did (the
  /// health topic). Must not throw.
  void set_change_listener(std::function<void(const Changes&)> listener) {
    m_listener = std::move(listener);
  }

 private:
  using Key = std::tuple<std::string, std::string, std::size_t>;  ///< store, till, rule index

  AlertOptions m_options;
  std::map<Key, FleetAlert> m_active;
  std::function<void(const Changes&)> m_listener;
};

/// Logs what `changes` raised (warning) and cleared (info), one line each.
void log_alert_changes(const AlertTracker::Changes& changes);

/// Prometheus text for the active alerts: `poscollector_alerts_active{rule}` for every rule
/// (0 included) and `poscollector_till_alert{store_id,till_id,rule} 1` per active alert.
std::string alerts_metrics_text(const std::vector<FleetAlert>& active);

}  // namespace pos::collector
