#include "pos/collector/alerts.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "pos/common/prometheus_text.hpp"
#include "pos/protocol/event.hpp"

namespace pos::collector {
namespace {

std::int64_t to_ms(std::chrono::seconds duration) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
}

/// "45 s", "12 min", "3 h 5 min", "2 d 4 h".
std::string human_duration(std::int64_t ms) {
  const std::int64_t s = std::max<std::int64_t>(0, ms / 1000);
  if (s < 180) {
    return std::to_string(s) + " s";
  }
  if (s < 3600) {
    return std::to_string(s / 60) + " min";
  }
  if (s < 86'400) {
    return std::to_string(s / 3600) + " h " + std::to_string(s % 3600 / 60) + " min";
  }
  return std::to_string(s / 86'400) + " d " + std::to_string(s % 86'400 / 3600) + " h";
}

FleetAlert make_alert(const TillView& till, AlertRule rule, std::string_view severity,
                      std::string message, std::int64_t since_ms) {
  return FleetAlert{std::string(to_string(rule)),
                    std::string(severity),
                    till.store_id,
                    till.till_id,
                    std::move(message),
                    since_ms};
}

std::size_t rule_index(std::string_view name) {
  for (std::size_t i = 0; i < all_alert_rules.size(); ++i) {
    if (to_string(all_alert_rules[i]) == name) {
      return i;
    }
  }
  return all_alert_rules.size();
}

}  // namespace

std::string_view to_string(AlertRule rule) noexcept {
  switch (rule) {
    case AlertRule::till_offline:
      return "till_offline";
    case AlertRule::backlog_age:
      return "backlog_age";
    case AlertRule::clock_skew:
      return "clock_skew";
    case AlertRule::rejected_rising:
      return "rejected_rising";
    case AlertRule::database_rolled_back:
      return "database_rolled_back";
    case AlertRule::cert_expiry:
      return "cert_expiry";
  }
  return "till_offline";
}

std::optional<FleetAlert> check_offline(const TillView& till, TillState state, std::int64_t now_ms,
                                        const AlertOptions& options) {
  const bool said_offline = state == TillState::offline;
  const std::int64_t since = said_offline ? till.status_ms : till.last_seen_ms;
  if (since <= 0 || now_ms - since <= to_ms(options.offline)) {
    return std::nullopt;
  }
  std::string message = said_offline ? "offline for " + human_duration(now_ms - since)
                                     : "not seen for " + human_duration(now_ms - since);
  return make_alert(till, AlertRule::till_offline, "critical", std::move(message), since);
}

std::optional<FleetAlert> check_backlog_age(const TillView& till, std::int64_t now_ms,
                                            const AlertOptions& options) {
  if (!till.oldest_unacked_ms || now_ms - *till.oldest_unacked_ms <= to_ms(options.backlog_age)) {
    return std::nullopt;
  }
  return make_alert(till, AlertRule::backlog_age, "warning",
                    "oldest unacknowledged event is " +
                        human_duration(now_ms - *till.oldest_unacked_ms) + " old (" +
                        std::to_string(till.backlog_events) + " events waiting)",
                    *till.oldest_unacked_ms);
}

std::optional<FleetAlert> check_clock_skew(const TillView& till, TillState state,
                                           const AlertOptions& options) {
  if (state != TillState::online || !till.clock_skew_ms || !till.previous_clock_skew_ms) {
    return std::nullopt;
  }
  const std::int64_t newer = *till.clock_skew_ms;
  const std::int64_t older = *till.previous_clock_skew_ms;
  const std::int64_t limit = to_ms(options.clock_skew);
  const bool same_direction = (newer > 0) == (older > 0);
  if (!same_direction || std::llabs(newer) <= limit || std::llabs(older) <= limit) {
    return std::nullopt;
  }
  const std::string direction = newer > 0 ? "behind" : "ahead of";
  return make_alert(
      till, AlertRule::clock_skew, "warning",
      "till clock is " + human_duration(std::llabs(newer)) + " " + direction + " the collector's",
      till.status_ms);
}

std::optional<FleetAlert> check_rejected_rising(const TillView& till, std::int64_t now_ms,
                                                const AlertOptions& options) {
  const std::int64_t from = now_ms - to_ms(options.rejected_rising_window);
  std::uint64_t rejected = 0;
  std::int64_t since = 0;
  for (const auto& growth : till.rejected_growth) {
    if (growth.last_ms >= from) {
      rejected += growth.count;
      since = since == 0 ? std::max(growth.first_ms, from) : since;
    }
  }
  if (rejected == 0) {
    return std::nullopt;
  }
  return make_alert(till, AlertRule::rejected_rising, "warning",
                    std::to_string(rejected) + " events rejected (dead-lettered) in the last " +
                        std::to_string(options.rejected_rising_window.count()) + " min",
                    since);
}

std::optional<FleetAlert> check_database_rolled_back(const TillView& till, std::int64_t now_ms,
                                                     const AlertOptions& options) {
  if (!till.epoch_renewed_ms ||
      now_ms - *till.epoch_renewed_ms >
          std::chrono::duration_cast<std::chrono::milliseconds>(options.epoch_renewed).count()) {
    return std::nullopt;
  }
  return make_alert(till, AlertRule::database_rolled_back, "warning",
                    "the till's database was behind what the collector had published (restored "
                    "or rolled back); it moved to a new epoch " +
                        human_duration(now_ms - *till.epoch_renewed_ms) + " ago, nothing lost (" +
                        std::to_string(till.epoch_renewals) + " renewals in all)",
                    *till.epoch_renewed_ms);
}

std::optional<FleetAlert> check_cert_expiry(const TillView& till, std::int64_t now_ms,
                                            const AlertOptions& options) {
  if (!till.cert_not_after_ms) {
    return std::nullopt;
  }
  const std::int64_t not_after = *till.cert_not_after_ms;
  const std::int64_t ahead =
      std::chrono::duration_cast<std::chrono::milliseconds>(options.cert_expiry).count();
  if (not_after - now_ms > ahead) {
    return std::nullopt;
  }
  const std::string date = protocol::format_rfc3339_utc_ms(not_after).substr(0, 10);
  if (not_after <= now_ms) {
    return make_alert(till, AlertRule::cert_expiry, "critical",
                      "client certificate expired " + human_duration(now_ms - not_after) +
                          " ago (" + date + "): the till cannot connect; renew it",
                      not_after - ahead);
  }
  return make_alert(till, AlertRule::cert_expiry, "warning",
                    "client certificate expires in " + human_duration(not_after - now_ms) + " (" +
                        date + "); renew it",
                    not_after - ahead);
}

std::vector<FleetAlert> evaluate_till(const TillView& till, TillState state, std::int64_t now_ms,
                                      const AlertOptions& options) {
  std::vector<FleetAlert> out;
  for (auto& alert :
       {check_offline(till, state, now_ms, options), check_backlog_age(till, now_ms, options),
        check_clock_skew(till, state, options), check_rejected_rising(till, now_ms, options),
        check_database_rolled_back(till, now_ms, options),
        check_cert_expiry(till, now_ms, options)}) {
    if (alert) {
      out.push_back(*alert);
    }
  }
  return out;
}

AlertTracker::AlertTracker(AlertOptions options) : m_options(options) {}

AlertTracker::Changes AlertTracker::update(const FleetState& fleet, std::int64_t now_ms) {
  Changes changes;
  std::map<Key, FleetAlert> next;
  for (const auto& [key, till] : fleet.tills()) {
    for (auto& alert : evaluate_till(till, fleet.state_of(till, now_ms), now_ms, m_options)) {
      Key id{alert.store_id, alert.till_id, rule_index(alert.rule)};
      if (const auto it = m_active.find(id); it != m_active.end()) {
        alert.since_ms = it->second.since_ms;
      } else {
        changes.raised.push_back(alert);
      }
      next.emplace(std::move(id), std::move(alert));
    }
  }
  for (auto& [id, alert] : m_active) {
    if (!next.contains(id)) {
      changes.cleared.push_back(std::move(alert));
    }
  }
  m_active = std::move(next);
  if (m_listener && (!changes.raised.empty() || !changes.cleared.empty())) {
    m_listener(changes);
  }
  return changes;
}

std::vector<FleetAlert> AlertTracker::active() const {
  std::vector<FleetAlert> out;
  out.reserve(m_active.size());
  for (const auto& [id, alert] : m_active) {
    out.push_back(alert);
  }
  return out;
}

void log_alert_changes(const AlertTracker::Changes& changes) {
  for (const auto& a : changes.raised) {
    spdlog::warn("alert raised: {} ({}) {}/{}: {}", a.rule, a.severity, a.store_id, a.till_id,
                 a.message);
  }
  for (const auto& a : changes.cleared) {
    spdlog::info("alert cleared: {} {}/{}", a.rule, a.store_id, a.till_id);
  }
}

std::string alerts_metrics_text(const std::vector<FleetAlert>& active) {
  std::map<std::string, std::size_t> by_rule;
  for (const auto rule : all_alert_rules) {
    by_rule[std::string(to_string(rule))] = 0;
  }
  for (const auto& alert : active) {
    ++by_rule[alert.rule];
  }
  std::ostringstream out;
  common::PrometheusWriter metrics(out, "poscollector_");
  metrics.family("alerts_active", "Active alerts by rule.", "gauge");
  for (const auto& [rule, count] : by_rule) {
    metrics.sample("alerts_active", {{"rule", rule}}, count);
  }
  metrics.family("till_alert", "1 per till and active alert rule.", "gauge");
  for (const auto& alert : active) {
    metrics.sample("till_alert",
                   {{"store_id", alert.store_id}, {"till_id", alert.till_id}, {"rule", alert.rule}},
                   1);
  }
  return out.str();
}

}  // namespace pos::collector
