#include "pos/collector/fleet_query.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "fleet_json.hpp"
#include "pos/common/split.hpp"
#include "pos/common/url_query.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::collector {
namespace {

namespace json = boost::json;

using TillKey = std::pair<std::string, std::string>;

Result<TillState> parse_state(std::string_view text) {
  for (const auto state : {TillState::online, TillState::offline, TillState::stale}) {
    if (text == to_string(state)) {
      return state;
    }
  }
  return fail("state: must be online, offline or stale, or a comma-separated list of them (got \"" +
              std::string(text) + "\")");
}

Result<FleetCursor> parse_cursor(std::string_view text) {
  const auto bad = [&] {
    return fail("cursor: not a cursor of this API (use the `next` of the previous page; got \"" +
                std::string(text) + "\")");
  };
  const auto first = text.find('.');
  const auto second = first == std::string_view::npos ? first : text.find('.', first + 1);
  if (second == std::string_view::npos || first != 1 || text[0] < '0' || text[0] > '3') {
    return bad();
  }
  FleetCursor cursor;
  cursor.rank = static_cast<TillRank>(text[0] - '0');
  cursor.store_id = std::string(text.substr(first + 1, second - first - 1));
  cursor.till_id = std::string(text.substr(second + 1));
  if (!protocol::is_valid_id(cursor.store_id) || !protocol::is_valid_id(cursor.till_id)) {
    return bad();
  }
  return cursor;
}

Result<bool> parse_flag(std::string_view name, std::string_view text) {
  if (text == "true" || text == "1") {
    return true;
  }
  if (text == "false" || text == "0") {
    return false;
  }
  return fail(std::string(name) + ": must be true or false (got \"" + std::string(text) + "\")");
}

Status parse_alerts(std::string_view text, FleetQuery& query) {
  if (text == "any") {
    query.any_alert = true;
    return {};
  }
  if (text == "none") {
    query.no_alert = true;
    return {};
  }
  for (const auto name : common::split(text, ',')) {
    const auto* rule = std::find_if(all_alert_rules.begin(), all_alert_rules.end(),
                                    [&](AlertRule r) { return to_string(r) == name; });
    if (rule == all_alert_rules.end()) {
      std::string known;
      for (const auto r : all_alert_rules) {
        known += std::string(to_string(r)) + ", ";
      }
      return fail("alert: must be any, none or rule names (" + known.substr(0, known.size() - 2) +
                  "), comma-separated (got \"" + std::string(name) + "\")");
    }
    query.alert_rules.push_back(*rule);
  }
  return {};
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

Status apply_parameter(std::string_view name, const std::string& value, FleetQuery& query) {
  if (name == "store" || name == "till") {
    if (auto ok = protocol::check_id(name, value); !ok) {
      return ok;
    }
    (name == "store" ? query.store_id : query.till_id) = value;
  } else if (name == "state") {
    for (const auto text : common::split(value, ',')) {
      auto state = parse_state(text);
      if (!state) {
        return fail(state.error());
      }
      query.states.push_back(*state);
    }
  } else if (name == "alert") {
    return parse_alerts(value, query);
  } else if (name == "problem") {
    auto flag = parse_flag(name, value);
    if (!flag) {
      return fail(flag.error());
    }
    query.problems_only = *flag;
  } else if (name == "q") {
    if (value.size() > max_fleet_search_length) {
      return fail("q: longer than " + std::to_string(max_fleet_search_length) + " characters");
    }
    query.search = lower(value);
  } else if (name == "limit") {
    std::size_t limit = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), limit);
    if (ec != std::errc{} || end != value.data() + value.size() || limit < 1 ||
        limit > max_fleet_page_size) {
      return fail("limit: must be an integer in 1.." + std::to_string(max_fleet_page_size) +
                  " (got \"" + value + "\")");
    }
    query.limit = limit;
  } else if (name == "cursor") {
    auto cursor = parse_cursor(value);
    if (!cursor) {
      return fail(cursor.error());
    }
    query.after = *std::move(cursor);
  } else {
    return fail("unknown parameter \"" + std::string(name) +
                "\" (known: store, till, state, alert, problem, q, limit, cursor)");
  }
  return {};
}

bool page_order(const std::tuple<TillRank, const TillView*>& a,
                const std::tuple<TillRank, const TillView*>& b) {
  const auto& [rank_a, till_a] = a;
  const auto& [rank_b, till_b] = b;
  return std::tie(rank_a, till_a->store_id, till_a->till_id) <
         std::tie(rank_b, till_b->store_id, till_b->till_id);
}

bool matches(const FleetQuery& query, const TillView& till, TillState state, TillRank rank,
             const std::vector<const FleetAlert*>& own) {
  if ((query.store_id && till.store_id != *query.store_id) ||
      (query.till_id && till.till_id != *query.till_id)) {
    return false;
  }
  if (!query.states.empty() &&
      std::find(query.states.begin(), query.states.end(), state) == query.states.end()) {
    return false;
  }
  if ((query.any_alert && own.empty()) || (query.no_alert && !own.empty()) ||
      (query.problems_only && rank == TillRank::healthy)) {
    return false;
  }
  if (!query.alert_rules.empty() &&
      std::none_of(own.begin(), own.end(), [&](const FleetAlert* alert) {
        return std::any_of(query.alert_rules.begin(), query.alert_rules.end(),
                           [&](AlertRule rule) { return to_string(rule) == alert->rule; });
      })) {
    return false;
  }
  return query.search.empty() ||
         lower(till.store_id + "/" + till.till_id).find(query.search) != std::string::npos;
}

std::map<TillKey, std::vector<const FleetAlert*>> alerts_by_till(
    const std::vector<FleetAlert>& alerts) {
  std::map<TillKey, std::vector<const FleetAlert*>> out;
  for (const auto& alert : alerts) {
    out[{alert.store_id, alert.till_id}].push_back(&alert);
  }
  return out;
}

std::size_t state_index(TillState state) {
  switch (state) {
    case TillState::online:
      return 0;
    case TillState::offline:
      return 1;
    case TillState::stale:
      return 2;
  }
  return 0;
}

json::object state_counts_json(const std::array<std::size_t, 3>& counts, std::size_t problems) {
  return json::object{
      {"online", counts[0]}, {"offline", counts[1]}, {"stale", counts[2]}, {"problem", problems}};
}

}  // namespace

std::string format_cursor(const FleetCursor& cursor) {
  return std::to_string(static_cast<int>(cursor.rank)) + "." + cursor.store_id + "." +
         cursor.till_id;
}

Result<FleetQuery> parse_fleet_query(std::string_view query_string) {
  FleetQuery query;
  auto parameters = common::parse_query(query_string);
  if (!parameters) {
    return fail(parameters.error());
  }
  std::set<std::string, std::less<>> seen;
  for (const auto& [name, value] : *parameters) {
    if (!seen.insert(name).second) {
      return fail(name + ": given more than once (use a comma-separated list)");
    }
    if (value.empty() && name != "q") {
      return fail(name + ": must not be empty");
    }
    if (auto ok = apply_parameter(name, value, query); !ok) {
      return fail(ok.error());
    }
  }
  return query;
}

TillRank rank_of(TillState state, const std::vector<const FleetAlert*>& alerts) {
  if (state == TillState::offline) {
    return TillRank::offline;
  }
  if (state == TillState::stale ||
      std::any_of(alerts.begin(), alerts.end(),
                  [](const FleetAlert* a) { return a->severity == "critical"; })) {
    return TillRank::urgent;
  }
  return alerts.empty() ? TillRank::healthy : TillRank::warning;
}

FleetPage select_fleet_page(const FleetState& fleet, const std::vector<FleetAlert>& alerts,
                            const FleetQuery& query, std::int64_t now_ms) {
  const auto by_till = alerts_by_till(alerts);
  const std::vector<const FleetAlert*> none;
  FleetPage page;
  std::vector<std::tuple<TillRank, const TillView*>> matching;
  const auto* const first = query.store_id ? &*query.store_id : nullptr;
  auto it =
      first != nullptr ? fleet.tills().lower_bound({*first, std::string()}) : fleet.tills().begin();
  for (; it != fleet.tills().end(); ++it) {
    const auto& [key, till] = *it;
    if (first != nullptr && key.first != *first) {
      break;  // sorted by store: the store's rows are contiguous
    }
    const auto found = by_till.find(key);
    const auto& own = found == by_till.end() ? none : found->second;
    const TillState state = fleet.state_of(till, now_ms);
    const TillRank rank = rank_of(state, own);
    if (!matches(query, till, state, rank, own)) {
      continue;
    }
    ++page.matched_by_state.at(state_index(state));
    page.matched_problems += rank == TillRank::healthy ? 0 : 1;
    matching.emplace_back(rank, &till);
  }
  page.matched = matching.size();
  std::sort(matching.begin(), matching.end(), page_order);
  auto from = matching.begin();
  if (query.after) {
    TillView probe;
    probe.store_id = query.after->store_id;
    probe.till_id = query.after->till_id;
    from = std::upper_bound(matching.begin(), matching.end(),
                            std::make_tuple(query.after->rank, &probe), page_order);
  }
  const auto room = static_cast<std::size_t>(std::distance(from, matching.end()));
  const auto to = from + static_cast<std::ptrdiff_t>(std::min(room, query.limit));
  for (auto row = from; row != to; ++row) {
    page.rows.push_back(std::get<1>(*row));
  }
  if (to != matching.end() && !page.rows.empty()) {
    const auto& [rank, last] = *(to - 1);
    page.next = FleetCursor{rank, last->store_id, last->till_id};
  }
  return page;
}

std::string fleet_page_json(const FleetState& fleet, const std::vector<FleetAlert>& alerts,
                            const FleetQuery& query, std::int64_t now_ms) {
  const FleetPage page = select_fleet_page(fleet, alerts, query, now_ms);
  const auto by_till = alerts_by_till(alerts);
  json::array tills;
  json::array alert_rows;
  tills.reserve(page.rows.size());
  for (const TillView* till : page.rows) {
    json::array rules;
    if (const auto found = by_till.find({till->store_id, till->till_id}); found != by_till.end()) {
      for (const FleetAlert* alert : found->second) {
        rules.emplace_back(alert->rule);
        alert_rows.emplace_back(fleet_alert_json(*alert));
      }
    }
    tills.emplace_back(
        till_row_json(*till, fleet.state_of(*till, now_ms), now_ms, std::move(rules)));
  }
  json::object doc;
  doc["generated_at"] = protocol::format_rfc3339_utc_ms(now_ms);
  doc["tills"] = std::move(tills);
  doc["alerts"] = std::move(alert_rows);
  doc["matched"] = page.matched;
  doc["counts"] = state_counts_json(page.matched_by_state, page.matched_problems);
  doc["total_tills"] = fleet.size();
  doc["limit"] = query.limit;
  doc["next"] = page.next ? json::value(format_cursor(*page.next)) : json::value(nullptr);
  return json::serialize(doc);
}

std::string fleet_summary_json(const FleetState& fleet, const std::vector<FleetAlert>& alerts,
                               std::int64_t now_ms) {
  struct StoreLine {
    std::array<std::size_t, 3> by_state{};
    std::size_t tills = 0;
    std::size_t alerting = 0;
    std::size_t problems = 0;
  };
  const auto by_till = alerts_by_till(alerts);
  const std::vector<const FleetAlert*> none;
  std::map<std::string, StoreLine> stores;
  StoreLine all;
  std::uint64_t backlog = 0;
  std::uint64_t published = 0;
  std::uint64_t duplicates = 0;
  for (const auto& [key, till] : fleet.tills()) {
    const auto found = by_till.find(key);
    const auto& own = found == by_till.end() ? none : found->second;
    const TillState state = fleet.state_of(till, now_ms);
    const bool problem = rank_of(state, own) != TillRank::healthy;
    for (StoreLine* line : {&stores[key.first], &all}) {
      ++line->tills;
      ++line->by_state.at(state_index(state));
      line->alerting += own.empty() ? 0 : 1;
      line->problems += problem ? 1 : 0;
    }
    backlog += till.backlog_events;
    published += till.published_total;
    duplicates += till.duplicates_total;
  }
  json::array store_rows;
  store_rows.reserve(stores.size());
  for (const auto& [store_id, line] : stores) {
    store_rows.emplace_back(json::object{{"store_id", store_id},
                                         {"tills", line.tills},
                                         {"online", line.by_state[0]},
                                         {"offline", line.by_state[1]},
                                         {"stale", line.by_state[2]},
                                         {"alerting", line.alerting},
                                         {"problem", line.problems}});
  }
  std::vector<const FleetAlert*> listed;
  listed.reserve(alerts.size());
  for (const auto& alert : alerts) {
    listed.push_back(&alert);
  }
  // Critical first; otherwise the tracker's order (store, till, rule).
  std::stable_partition(listed.begin(), listed.end(),
                        [](const FleetAlert* a) { return a->severity == "critical"; });
  listed.resize(std::min(listed.size(), max_summary_alerts));
  json::array alert_rows;
  alert_rows.reserve(listed.size());
  for (const FleetAlert* alert : listed) {
    alert_rows.emplace_back(fleet_alert_json(*alert));
  }
  json::object doc;
  doc["generated_at"] = protocol::format_rfc3339_utc_ms(now_ms);
  doc["tills"] = all.tills;
  json::object counts = state_counts_json(all.by_state, all.problems);
  counts["alerting"] = all.alerting;
  doc["counts"] = std::move(counts);
  doc["backlog_events"] = backlog;
  doc["published_total"] = published;
  doc["duplicates_total"] = duplicates;
  doc["untracked_total"] = fleet.untracked_total();
  doc["stores"] = std::move(store_rows);
  doc["alerts"] = std::move(alert_rows);
  doc["alerts_total"] = alerts.size();
  return json::serialize(doc);
}

}  // namespace pos::collector
