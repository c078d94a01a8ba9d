#include "pos/collector/fleet.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>

#include "fleet_json.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::collector {
namespace {

namespace json = boost::json;

json::value time_or_null(std::int64_t ms) {
  if (ms <= 0) {
    return nullptr;
  }
  // Not `return {...}`: a braced json::value is an array.
  return json::value(  // NOLINT(modernize-return-braced-init-list)
      protocol::format_rfc3339_utc_ms(ms));
}

std::uint64_t get_u64(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) {
    return 0;
  }
  if (v->is_uint64()) {
    return v->as_uint64();
  }
  if (v->is_int64() && v->as_int64() >= 0) {
    return static_cast<std::uint64_t>(v->as_int64());
  }
  return 0;
}

std::int64_t get_i64(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_int64() ? v->as_int64() : 0;
}

/// The TillView members kept across restarts, each under its name in the stored JSON: one list
/// for saving and loading. An empty optional is not stored; a missing or mistyped member loads as
/// its default.
using PersistedMember =
    std::variant<bool TillView::*, std::int64_t TillView::*, std::uint64_t TillView::*,
                 std::optional<std::int64_t> TillView::*, std::string TillView::*>;
struct PersistedField {
  std::string_view name;
  PersistedMember member;
};
const PersistedField persisted_fields[] = {
    {"has_status", &TillView::has_status},
    {"offline", &TillView::offline},
    {"status_ms", &TillView::status_ms},
    {"last_seen_ms", &TillView::last_seen_ms},
    {"last_batch_ms", &TillView::last_batch_ms},
    {"last_ack_ms", &TillView::last_ack_ms},
    {"agent_version", &TillView::agent_version},
    {"backlog_events", &TillView::backlog_events},
    {"oldest_unacked_ms", &TillView::oldest_unacked_ms},
    {"published_total", &TillView::published_total},
    {"duplicates_total", &TillView::duplicates_total},
    {"rejected_total", &TillView::rejected_total},
    {"gaps_total", &TillView::gaps_total},
    {"shared_published", &TillView::shared_published},
    {"shared_duplicates", &TillView::shared_duplicates},
    {"shared_rejected", &TillView::shared_rejected},
    {"shared_gaps", &TillView::shared_gaps},
    {"own_last_ack_ms", &TillView::own_last_ack_ms},
    {"epoch_renewals", &TillView::epoch_renewals},
    {"epoch_renewed_ms", &TillView::epoch_renewed_ms},
    {"cert_not_after_ms", &TillView::cert_not_after_ms},
    {"epoch", &TillView::epoch},
    {"epoch_started_ms", &TillView::epoch_started_ms},
    {"epochs_total", &TillView::epochs_total},
    {"epochs_refused_total", &TillView::epochs_refused_total},
};

json::object save_till(const TillView& t) {
  json::object o;
  for (const auto& [name, member] : persisted_fields) {
    std::visit(
        [&, name = name](auto pointer) {
          const auto& value = t.*pointer;
          if constexpr (std::is_same_v<std::decay_t<decltype(value)>,
                                       std::optional<std::int64_t>>) {
            if (value) {
              o[name] = *value;
            }
          } else {
            o[name] = value;
          }
        },
        member);
  }
  return o;
}

void load_till(const json::object& o, TillView& t) {
  for (const auto& [name, member] : persisted_fields) {
    std::visit(
        [&, name = name](auto pointer) {
          auto& value = t.*pointer;
          using Value = std::decay_t<decltype(value)>;
          const auto* v = o.if_contains(name);
          if constexpr (std::is_same_v<Value, bool>) {
            value = v != nullptr && v->is_bool() && v->as_bool();
          } else if constexpr (std::is_same_v<Value, std::int64_t>) {
            value = get_i64(o, name);
          } else if constexpr (std::is_same_v<Value, std::uint64_t>) {
            value = get_u64(o, name);
          } else if constexpr (std::is_same_v<Value, std::optional<std::int64_t>>) {
            if (v != nullptr && v->is_int64()) {
              value = v->as_int64();
            }
          } else {
            if (v != nullptr && v->is_string()) {
              value = std::string(v->as_string());
            }
          }
        },
        member);
  }
}

void record_rejected(TillView& till, std::uint64_t rejected) {
  const std::int64_t at = till.last_batch_ms;
  auto& growth = till.rejected_growth;
  if (!growth.empty() && at >= growth.back().first_ms &&
      at - growth.back().first_ms < rejected_bucket_ms) {
    growth.back().last_ms = std::max(growth.back().last_ms, at);
    growth.back().count += rejected;
    return;
  }
  if (growth.size() >= max_rejected_buckets) {
    growth.pop_front();
  }
  growth.push_back(RejectedGrowth{at, at, rejected});
}

}  // namespace

std::string_view to_string(TillState state) noexcept {
  switch (state) {
    case TillState::online:
      return "online";
    case TillState::offline:
      return "offline";
    case TillState::stale:
      return "stale";
  }
  return "online";
}

FleetState::FleetState(FleetOptions options) : m_options(options) {}

TillView* FleetState::entry(const std::string& store_id, const std::string& till_id) {
  auto key = std::make_pair(store_id, till_id);
  auto it = m_tills.find(key);
  if (it == m_tills.end()) {
    if (m_tills.size() >= m_options.max_tills) {
      ++m_untracked;
      return nullptr;
    }
    TillView view;
    view.store_id = store_id;
    view.till_id = till_id;
    it = m_tills.emplace(key, std::move(view)).first;
  }
  m_dirty.insert(std::move(key));
  return &it->second;
}

const TillView* FleetState::find(const std::string& store_id, const std::string& till_id) const {
  const auto it = m_tills.find(std::make_pair(store_id, till_id));
  return it == m_tills.end() ? nullptr : &it->second;
}

void FleetState::on_status(const std::string& store_id, const std::string& till_id,
                           const protocol::AgentStatus& status, std::int64_t now_ms) {
  TillView* till = entry(store_id, till_id);
  if (till == nullptr) {
    return;
  }
  till->has_status = true;
  till->offline = status.state == protocol::AgentState::offline;
  till->status_ms = now_ms;
  till->last_seen_ms = std::max(till->last_seen_ms, now_ms);
  if (!status.agent_version.empty()) {
    till->agent_version = status.agent_version;
  }
  if (const auto sent_ms = protocol::parse_rfc3339_ms(status.sent_at)) {
    till->previous_clock_skew_ms = till->clock_skew_ms;
    till->clock_skew_ms = now_ms - *sent_ms;
  }
  if (till->offline && status.agent_version.empty()) {
    return;  // the last will carries only the state: keep the rest as last reported
  }
  if (status.epoch && status.acked_through) {
    if (till->reported_epoch != status.epoch) {
      till->reported_acked_through = 0;
    }
    till->reported_epoch = status.epoch;
    // Statuses may arrive out of order (retained copy after a live one); acks only grow.
    till->reported_acked_through = std::max(till->reported_acked_through, *status.acked_through);
  }
  if (status.epoch_renewals) {
    till->epoch_renewals = *status.epoch_renewals;
    till->epoch_renewed_ms.reset();
    if (status.epoch_renewed_at) {
      till->epoch_renewed_ms = protocol::parse_rfc3339_ms(*status.epoch_renewed_at);
    }
  }
  if (status.cert_not_after) {
    till->cert_not_after_ms = protocol::parse_rfc3339_ms(*status.cert_not_after);
  }
  till->backlog_events = status.backlog_events;
  till->oldest_unacked_ms.reset();
  if (status.oldest_unacked_at) {
    till->oldest_unacked_ms = protocol::parse_rfc3339_ms(*status.oldest_unacked_at);
  }
}

void FleetState::on_batch(const std::string& store_id, const std::string& till_id,
                          std::int64_t now_ms) {
  if (TillView* till = entry(store_id, till_id)) {
    till->last_batch_ms = now_ms;
    till->last_seen_ms = std::max(till->last_seen_ms, now_ms);
  }
}

void FleetState::on_counts(const std::string& store_id, const std::string& till_id,
                           const TillCounts& counts) {
  if (TillView* till = entry(store_id, till_id)) {
    till->published_total += counts.published;
    till->duplicates_total += counts.duplicates;
    till->rejected_total += counts.rejected;
    till->gaps_total += counts.gaps;
    m_own_changed.emplace(store_id, till_id);
    if (counts.rejected > 0) {
      record_rejected(*till, counts.rejected);
    }
  }
}

void FleetState::on_new_epoch(const std::string& store_id, const std::string& till_id,
                              std::uint64_t epoch, std::int64_t now_ms) {
  if (TillView* till = entry(store_id, till_id)) {
    till->epoch = epoch;
    till->epoch_started_ms = now_ms;
    ++till->epochs_total;
  }
}

void FleetState::on_epoch_refused(const std::string& store_id, const std::string& till_id) {
  if (TillView* till = entry(store_id, till_id)) {
    ++till->epochs_refused_total;
  }
}

void FleetState::on_ack(const std::string& store_id, const std::string& till_id,
                        std::int64_t now_ms) {
  if (TillView* till = entry(store_id, till_id)) {
    till->last_ack_ms = std::max(till->last_ack_ms, now_ms);
    till->own_last_ack_ms = now_ms;
    m_own_changed.emplace(store_id, till_id);
  }
}

std::vector<SharedTillCounts> FleetState::take_own_counts(std::size_t limit) {
  std::vector<SharedTillCounts> rows;
  rows.reserve(std::min(limit, m_own_changed.size()));
  // Round robin: on from the last till taken, so that tills changing every round cannot keep
  // the others waiting when more than `limit` change.
  auto it = m_own_changed.upper_bound(m_own_cursor);
  while (!m_own_changed.empty() && rows.size() < limit) {
    if (it == m_own_changed.end()) {
      it = m_own_changed.begin();
    }
    m_own_cursor = *it;
    const auto till = m_tills.find(*it);
    if (till != m_tills.end()) {
      const TillView& t = till->second;
      rows.push_back(SharedTillCounts{t.store_id, t.till_id, t.published_total - t.shared_published,
                                      t.duplicates_total - t.shared_duplicates,
                                      t.rejected_total - t.shared_rejected,
                                      t.gaps_total - t.shared_gaps, t.own_last_ack_ms});
    }
    it = m_own_changed.erase(it);
  }
  return rows;
}

void FleetState::raise_own(const std::vector<SharedTillCounts>& own) {
  const auto raise = [](std::uint64_t& total, std::uint64_t shared, std::uint64_t value) {
    total = std::max(total, shared + value);
  };
  for (const auto& row : own) {
    TillView* till = entry(row.store_id, row.till_id);
    if (till == nullptr) {
      continue;
    }
    raise(till->published_total, till->shared_published, row.published);
    raise(till->duplicates_total, till->shared_duplicates, row.duplicates);
    raise(till->rejected_total, till->shared_rejected, row.rejected);
    raise(till->gaps_total, till->shared_gaps, row.gaps);
    till->own_last_ack_ms = std::max(till->own_last_ack_ms, row.last_ack_ms);
    till->last_ack_ms = std::max(till->last_ack_ms, row.last_ack_ms);
    m_own_changed.emplace(row.store_id, row.till_id);
  }
}

void FleetState::retake_own_counts(const std::vector<SharedTillCounts>& rows) {
  for (const auto& row : rows) {
    m_own_changed.emplace(row.store_id, row.till_id);
  }
}

void FleetState::apply_shared(const std::vector<SharedTillCounts>& others) {
  // total = own + shared: replacing shared moves the total by the difference.
  const auto replace = [](std::uint64_t& total, std::uint64_t& shared, std::uint64_t value) {
    total = total - shared + value;
    shared = value;
  };
  for (const auto& row : others) {
    const auto known = m_tills.find(std::make_pair(row.store_id, row.till_id));
    if (known != m_tills.end()) {
      const TillView& t = known->second;
      if (t.shared_published == row.published && t.shared_duplicates == row.duplicates &&
          t.shared_rejected == row.rejected && t.shared_gaps == row.gaps &&
          t.last_ack_ms >= row.last_ack_ms) {
        continue;  // unchanged: not rewritten to fleet.db
      }
    } else if (m_tills.size() >= m_options.max_tills) {
      continue;  // not tracked; not counted in untracked_total either (it would grow every round)
    }
    TillView* till = entry(row.store_id, row.till_id);
    if (till == nullptr) {
      continue;
    }
    replace(till->published_total, till->shared_published, row.published);
    replace(till->duplicates_total, till->shared_duplicates, row.duplicates);
    replace(till->rejected_total, till->shared_rejected, row.rejected);
    replace(till->gaps_total, till->shared_gaps, row.gaps);
    till->last_ack_ms = std::max(till->last_ack_ms, row.last_ack_ms);
  }
}

TillState FleetState::state_of(const TillView& till, std::int64_t now_ms) const {
  if (till.has_status && till.offline && till.last_batch_ms <= till.status_ms) {
    return TillState::offline;
  }
  const std::int64_t stale_ms = std::chrono::milliseconds(m_options.stale_after).count();
  if (till.last_seen_ms == 0 || now_ms - till.last_seen_ms > stale_ms) {
    return TillState::stale;
  }
  return TillState::online;
}

json::object fleet_alert_json(const FleetAlert& alert) {
  return json::object{{"rule", alert.rule},         {"severity", alert.severity},
                      {"store_id", alert.store_id}, {"till_id", alert.till_id},
                      {"message", alert.message},   {"since", time_or_null(alert.since_ms)}};
}

json::object till_row_json(const TillView& till, TillState state, std::int64_t now_ms,
                           json::array rules) {
  json::object row;
  row["store_id"] = till.store_id;
  row["till_id"] = till.till_id;
  row["state"] = to_string(state);
  row["last_seen"] = time_or_null(till.last_seen_ms);
  row["agent_version"] =
      till.agent_version.empty() ? json::value(nullptr) : json::value(till.agent_version);
  row["backlog_events"] = till.backlog_events;
  if (till.oldest_unacked_ms) {
    row["oldest_unacked_age_s"] =
        std::max<std::int64_t>(0, (now_ms - *till.oldest_unacked_ms) / 1000);
  } else {
    row["oldest_unacked_age_s"] = nullptr;
  }
  row["last_ack_at"] = time_or_null(till.last_ack_ms);
  row["published_total"] = till.published_total;
  row["duplicates_total"] = till.duplicates_total;
  row["rejected_total"] = till.rejected_total;
  row["gaps_total"] = till.gaps_total;
  row["epoch_renewals"] = till.epoch_renewals;
  row["epoch_renewed_at"] = time_or_null(till.epoch_renewed_ms.value_or(0));
  row["last_batch_at"] = time_or_null(till.last_batch_ms);
  row["epoch"] = till.epochs_total == 0 ? json::value(nullptr)
                                        : json::value(protocol::format_epoch(till.epoch));
  row["epoch_started_at"] = time_or_null(till.epoch_started_ms);
  row["epochs_total"] = till.epochs_total;
  row["epochs_refused_total"] = till.epochs_refused_total;
  row["cert_not_after"] = time_or_null(till.cert_not_after_ms.value_or(0));
  if (till.cert_not_after_ms) {
    // Whole days, rounded down; negative once expired.
    const std::int64_t left_ms = *till.cert_not_after_ms - now_ms;
    row["cert_days_left"] =
        left_ms >= 0 ? left_ms / 86'400'000 : -((-left_ms + 86'399'999) / 86'400'000);
  } else {
    row["cert_days_left"] = nullptr;
  }
  if (till.clock_skew_ms) {
    row["clock_skew_s"] = static_cast<double>(*till.clock_skew_ms) / 1000.0;
  } else {
    row["clock_skew_s"] = nullptr;
  }
  row["alerts"] = std::move(rules);
  return row;
}

std::string FleetState::to_json(std::int64_t now_ms, const std::vector<FleetAlert>& alerts) const {
  std::map<std::pair<std::string, std::string>, json::array> rules_by_till;
  json::array alert_rows;
  alert_rows.reserve(alerts.size());
  for (const auto& alert : alerts) {
    rules_by_till[{alert.store_id, alert.till_id}].emplace_back(alert.rule);
    alert_rows.emplace_back(fleet_alert_json(alert));
  }
  json::array tills;
  tills.reserve(m_tills.size());
  for (const auto& [key, till] : m_tills) {
    const auto rules = rules_by_till.find(key);
    tills.emplace_back(till_row_json(till, state_of(till, now_ms), now_ms,
                                     rules == rules_by_till.end() ? json::array{} : rules->second));
  }
  json::object doc;
  doc["generated_at"] = protocol::format_rfc3339_utc_ms(now_ms);
  doc["tills"] = std::move(tills);
  doc["alerts"] = std::move(alert_rows);
  return json::serialize(doc);
}

std::vector<FleetRecord> FleetState::take_dirty(std::int64_t now_ms) {
  std::vector<FleetRecord> rows;
  rows.reserve(m_dirty.size());
  for (const auto& key : m_dirty) {
    const auto it = m_tills.find(key);
    if (it == m_tills.end()) {
      continue;
    }
    const TillView& t = it->second;
    rows.push_back(FleetRecord{t.store_id, t.till_id, json::serialize(save_till(t)), now_ms});
  }
  m_dirty.clear();
  return rows;
}

void FleetState::load(const std::vector<FleetRecord>& rows) {
  for (const auto& row : rows) {
    boost::system::error_code ec;
    const json::value parsed = json::parse(row.data, ec);
    if (ec || !parsed.is_object() || m_tills.size() >= m_options.max_tills) {
      spdlog::warn("fleet: skipping stored row of {}/{}", row.store_id, row.till_id);
      continue;
    }
    TillView t;
    t.store_id = row.store_id;
    t.till_id = row.till_id;
    load_till(parsed.as_object(), t);
    if (t.published_total != t.shared_published || t.duplicates_total != t.shared_duplicates ||
        t.rejected_total != t.shared_rejected || t.gaps_total != t.shared_gaps ||
        t.own_last_ack_ms != 0) {
      // Shared again at the next round: the shared row may be behind (a stop before its round).
      m_own_changed.emplace(row.store_id, row.till_id);
    }
    m_tills[std::make_pair(row.store_id, row.till_id)] = std::move(t);
  }
}

std::map<TillState, std::size_t> FleetState::count_by_state(std::int64_t now_ms) const {
  std::map<TillState, std::size_t> counts{
      {TillState::online, 0}, {TillState::offline, 0}, {TillState::stale, 0}};
  for (const auto& [key, till] : m_tills) {
    ++counts[state_of(till, now_ms)];
  }
  return counts;
}

}  // namespace pos::collector
