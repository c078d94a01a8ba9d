// SalesKpis design.
//
// Everything is keyed by the store-local day number floor((unix_ms + offset) / 1 day). An event
// counts when its occurred_at falls on the clock's current day; the first call that sees a new day
// (add, to_json, snapshot, metrics) resets every figure. Money is checked per event before any
// figure changes (a line's qty × price that overflows makes the event malformed, nothing of it is
// counted); the sums themselves saturate instead of overflowing. Groups are std::map with
// heterogeneous lookup: no allocation for a key already present, output sorted for free.

#include "pos/collector/sales_kpis.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <ranges>
#include <tuple>

#include "pos/collector/json_members.hpp"
#include "pos/common/prometheus_text.hpp"
#include "pos/protocol/event.hpp"

namespace pos::collector {
namespace {

namespace json = boost::json;

constexpr std::int64_t day_ms = 86'400'000;
constexpr std::size_t max_customer_types = 16;
constexpr std::size_t max_currencies_seen = 16;
constexpr std::int64_t snapshot_version = 1;

std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) {
    return b > 0 ? std::numeric_limits<std::int64_t>::max()
                 : std::numeric_limits<std::int64_t>::min();
  }
  return out;
}

void add_into(KpiFigures& into, const KpiFigures& delta) noexcept {
  into.gmv_minor = saturating_add(into.gmv_minor, delta.gmv_minor);
  into.units = saturating_add(into.units, delta.units);
  into.cost_minor = saturating_add(into.cost_minor, delta.cost_minor);
  into.transactions += delta.transactions;
  into.returns += delta.returns;
}

std::string_view kind_name(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::sale:
      return "sale";
    case EventKind::return_event:
      return "return";
    case EventKind::stock_change:
      return "stock_change";
  }
  return "sale";
}

json::value margin_pct(const KpiFigures& f) {
  if (f.gmv_minor == 0) {
    return nullptr;
  }
  const double pct =
      static_cast<double>(f.margin_minor()) / static_cast<double>(f.gmv_minor) * 100.0;
  return std::round(pct * 100.0) / 100.0;
}

json::array figures_to_array(const KpiFigures& f) {
  return {f.gmv_minor, f.units, f.cost_minor, f.transactions, f.returns};
}

std::optional<KpiFigures> figures_from(const json::value& v) {
  const auto* a = v.if_array();
  if (a == nullptr || a->size() != 5) {
    return std::nullopt;
  }
  for (const auto& x : *a) {
    if (!x.is_int64()) {
      return std::nullopt;
    }
  }
  KpiFigures f;
  f.gmv_minor = (*a)[0].get_int64();
  f.units = (*a)[1].get_int64();
  f.cost_minor = (*a)[2].get_int64();
  if ((*a)[3].get_int64() < 0 || (*a)[4].get_int64() < 0) {
    return std::nullopt;
  }
  f.transactions = static_cast<std::uint64_t>((*a)[3].get_int64());
  f.returns = static_cast<std::uint64_t>((*a)[4].get_int64());
  return f;
}

json::object counters_to_json(const KpiCounters& c) {
  return {{"counted", c.counted},
          {"not_today", c.not_today},
          {"other_currency", c.other_currency},
          {"stock_changes", c.stock_changes},
          {"malformed", c.malformed}};
}

std::uint64_t u64_or_zero(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_int64() && v->get_int64() >= 0
             ? static_cast<std::uint64_t>(v->get_int64())
             : 0;
}

std::string date_text(std::int64_t day_number) {
  const std::chrono::year_month_day ymd{
      std::chrono::sys_days{std::chrono::days{static_cast<std::int32_t>(day_number)}}};
  char text[16];
  const int n = std::snprintf(text, sizeof text, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                              static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return {text, static_cast<std::size_t>(std::max(n, 0))};
}

}  // namespace

Result<std::chrono::minutes> parse_utc_offset(std::string_view text) {
  if (text == "Z") {
    return std::chrono::minutes(0);
  }
  auto digits = [&](std::size_t pos, int& out) {
    const auto* first = text.data() + pos;
    const auto [ptr, ec] = std::from_chars(first, first + 2, out);
    return ec == std::errc{} && ptr == first + 2;
  };
  int hours = 0;
  int minutes = 0;
  if (text.size() != 6 || (text[0] != '+' && text[0] != '-') || text[3] != ':' ||
      !digits(1, hours) || !digits(4, minutes) || hours > 14 || minutes > 59) {
    return fail(R"(must be a fixed UTC offset like "+07:00", "-03:30" or "Z" (got ")" +
                std::string(text.substr(0, 32)) + "\")");
  }
  const int total = hours * 60 + minutes;
  return std::chrono::minutes(text[0] == '-' ? -total : total);
}

std::string format_utc_offset(std::chrono::minutes offset) {
  const auto total = offset.count();
  const auto magnitude = total < 0 ? -total : total;
  char text[8];
  std::snprintf(text, sizeof text, "%c%02d:%02d", total < 0 ? '-' : '+',
                static_cast<int>(magnitude / 60), static_cast<int>(magnitude % 60));
  return text;
}

std::int64_t KpiFigures::margin_minor() const noexcept {
  return saturating_add(gmv_minor, cost_minor == std::numeric_limits<std::int64_t>::min()
                                       ? std::numeric_limits<std::int64_t>::max()
                                       : -cost_minor);
}

// ---------------------------------------------------------------------------------------------
// EventReader

// ---------------------------------------------------------------------------------------------
// SalesKpis

SalesKpis::SalesKpis(SalesKpisOptions options, const common::Clock& clock)
    : m_options(std::move(options)), m_clock(clock) {
  m_options.latest_transactions = std::max<std::size_t>(m_options.latest_transactions, 1);
  m_options.max_stores = std::max<std::size_t>(m_options.max_stores, 1);
  m_options.max_categories = std::max<std::size_t>(m_options.max_categories, 1);
  reset(day_of(m_clock.now_unix_ms()));
}

std::int64_t SalesKpis::day_of(std::int64_t unix_ms) const noexcept {
  const std::int64_t local = unix_ms + std::chrono::milliseconds(m_options.utc_offset).count();
  return local >= 0 ? local / day_ms : -((-local + day_ms - 1) / day_ms);
}

void SalesKpis::reset(std::int64_t day_number) {
  m_day = day_number;
  m_currency = m_options.currency;
  m_currencies_seen.clear();
  m_totals = {};
  m_stores.clear();
  m_categories.clear();
  m_customer_types.clear();
  m_latest.clear();
  m_today = {};
  m_counting_since_ms = m_clock.now_unix_ms();
}

void SalesKpis::roll_over() {
  const std::int64_t today = day_of(m_clock.now_unix_ms());
  if (today == m_day) {
    return;
  }
  const KpiCounters& c = m_today;
  if (c.counted + c.not_today + c.other_currency + c.stock_changes + c.malformed > 0) {
    spdlog::info("sales view: day {} ended (GMV {} {}, {} transactions, {} returns); now {}",
                 date_text(m_day), m_totals.gmv_minor, m_currency, m_totals.transactions,
                 m_totals.returns, date_text(today));
  }
  reset(today);
}

void SalesKpis::count(KpiOutcome outcome) noexcept {
  for (KpiCounters* c : {&m_today, &m_lifetime}) {
    switch (outcome) {
      case KpiOutcome::counted:
        ++c->counted;
        break;
      case KpiOutcome::not_today:
        ++c->not_today;
        break;
      case KpiOutcome::other_currency:
        ++c->other_currency;
        break;
      case KpiOutcome::stock_change:
        ++c->stock_changes;
        break;
      case KpiOutcome::malformed:
        ++c->malformed;
        break;
    }
  }
}

void SalesKpis::record_malformed() noexcept {
  count(KpiOutcome::malformed);
}

KpiFigures& SalesKpis::group(Groups& groups, std::string_view key, std::size_t limit) {
  if (auto it = groups.find(key); it != groups.end()) {
    return it->second;
  }
  // "(other)" is one entry beyond the limit, so that `limit` real keys fit.
  if (groups.size() - groups.count(other_key) >= limit) {
    key = other_key;
  }
  return groups.try_emplace(std::string(key)).first->second;
}

KpiOutcome SalesKpis::add(const EventFacts& event) {
  roll_over();
  KpiOutcome outcome = KpiOutcome::counted;
  if (event.kind == EventKind::stock_change) {
    outcome = KpiOutcome::stock_change;
  } else if (day_of(event.occurred_ms) != m_day) {
    outcome = KpiOutcome::not_today;
  }
  if (outcome != KpiOutcome::counted) {
    count(outcome);
    return outcome;
  }

  // Every amount of the event, checked, before any figure changes.
  const std::int64_t sign = event.kind == EventKind::sale ? 1 : -1;
  KpiFigures delta;
  bool overflow = false;
  for (const auto& line : event.lines) {
    std::int64_t gross = 0;
    std::int64_t cost = 0;
    overflow =
        overflow || __builtin_mul_overflow(line.qty, line.unit_price_minor, &gross) ||
        __builtin_mul_overflow(line.qty, line.unit_cost_minor, &cost) ||
        __builtin_add_overflow(delta.gmv_minor, gross - line.discount_minor, &delta.gmv_minor) ||
        __builtin_add_overflow(delta.cost_minor, cost, &delta.cost_minor) ||
        __builtin_add_overflow(delta.units, line.qty, &delta.units);
  }
  if (overflow || event.lines.empty()) {
    count(KpiOutcome::malformed);
    return KpiOutcome::malformed;
  }
  if (m_currency.empty()) {
    m_currency = std::string(event.currency);
  }
  if (m_currencies_seen.size() < max_currencies_seen &&
      !m_currencies_seen.contains(event.currency)) {
    m_currencies_seen.emplace(event.currency);
  }
  if (event.currency != m_currency) {
    count(KpiOutcome::other_currency);
    return KpiOutcome::other_currency;
  }

  delta.gmv_minor *= sign;
  delta.units *= sign;
  delta.cost_minor *= sign;
  (event.kind == EventKind::sale ? delta.transactions : delta.returns) = 1;
  add_into(m_totals, delta);
  add_into(group(m_stores, event.store_id, m_options.max_stores), delta);
  add_into(group(m_customer_types, event.customer_type, max_customer_types), delta);
  for (const auto& line : event.lines) {
    KpiFigures per_line;
    per_line.gmv_minor = sign * (line.qty * line.unit_price_minor - line.discount_minor);
    per_line.units = sign * line.qty;
    per_line.cost_minor = sign * line.qty * line.unit_cost_minor;
    add_into(group(m_categories, line.category, m_options.max_categories), per_line);
  }

  const std::uint64_t arrival = ++m_arrivals;
  if (m_latest.size() < m_options.latest_transactions ||
      event.occurred_ms >= m_latest.back().occurred_ms) {
    remember(Latest{event.occurred_ms, arrival, std::string(event.occurred_at),
                    std::string(event.event_id), std::string(event.store_id),
                    std::string(event.till_id), std::string(event.pos_event_id), event.kind,
                    delta.gmv_minor, delta.units, std::string(event.customer_type)});
  }
  count(KpiOutcome::counted);
  return KpiOutcome::counted;
}

void SalesKpis::remember(Latest row) {
  // Newest occurred_at first; among equal times the later arrival first.
  const auto at = std::partition_point(m_latest.begin(), m_latest.end(), [&](const Latest& e) {
    return e.occurred_ms > row.occurred_ms ||
           (e.occurred_ms == row.occurred_ms && e.arrival > row.arrival);
  });
  m_latest.insert(at, std::move(row));
  if (m_latest.size() > m_options.latest_transactions) {
    m_latest.pop_back();
  }
}

std::string SalesKpis::day() {
  roll_over();
  return date_text(m_day);
}

const KpiFigures& SalesKpis::totals() noexcept {
  roll_over();
  return m_totals;
}

std::string SalesKpis::to_json() {
  roll_over();
  const std::int64_t now_ms = m_clock.now_unix_ms();
  auto totals_json = [](const KpiFigures& f) {
    return json::object{{"gmv_minor", f.gmv_minor},       {"units", f.units},
                        {"transactions", f.transactions}, {"returns", f.returns},
                        {"cost_minor", f.cost_minor},     {"margin_minor", f.margin_minor()},
                        {"margin_pct", margin_pct(f)}};
  };
  json::array stores;
  for (const auto& [store_id, f] : m_stores) {
    stores.push_back(json::object{{"store_id", store_id},
                                  {"gmv_minor", f.gmv_minor},
                                  {"units", f.units},
                                  {"transactions", f.transactions},
                                  {"returns", f.returns},
                                  {"margin_minor", f.margin_minor()}});
  }
  std::vector<const Groups::value_type*> by_gmv;
  by_gmv.reserve(m_categories.size());
  for (const auto& entry : m_categories) {
    by_gmv.push_back(&entry);
  }
  std::stable_sort(by_gmv.begin(), by_gmv.end(), [](const auto* a, const auto* b) {
    return a->second.gmv_minor > b->second.gmv_minor;
  });
  json::array categories;
  for (const auto* entry : by_gmv) {
    const auto& f = entry->second;
    categories.push_back(json::object{{"category", entry->first},
                                      {"gmv_minor", f.gmv_minor},
                                      {"units", f.units},
                                      {"cost_minor", f.cost_minor},
                                      {"margin_minor", f.margin_minor()},
                                      {"margin_pct", margin_pct(f)}});
  }
  json::array customer_types;
  for (const auto& [type, f] : m_customer_types) {
    customer_types.push_back(json::object{{"customer_type", type},
                                          {"gmv_minor", f.gmv_minor},
                                          {"units", f.units},
                                          {"transactions", f.transactions},
                                          {"returns", f.returns}});
  }
  json::array latest;
  for (const auto& row : m_latest) {
    latest.push_back(json::object{{"occurred_at", row.occurred_at},
                                  {"store_id", row.store_id},
                                  {"till_id", row.till_id},
                                  {"type", kind_name(row.kind)},
                                  {"pos_event_id", row.pos_event_id},
                                  {"event_id", row.event_id},
                                  {"amount_minor", row.amount_minor},
                                  {"units", row.units},
                                  {"customer_type", row.customer_type}});
  }
  json::array currencies;
  for (const auto& c : m_currencies_seen) {
    currencies.emplace_back(c);
  }
  json::object doc{
      {"generated_at", protocol::format_rfc3339_utc_ms(now_ms)},
      {"day", date_text(m_day)},
      {"utc_offset", format_utc_offset(m_options.utc_offset)},
      {"currency", m_currency.empty() ? json::value(nullptr) : json::value(m_currency)},
      {"currency_mixed", m_currencies_seen.size() > 1},
      {"currencies_seen", std::move(currencies)},
      {"counting_since", protocol::format_rfc3339_utc_ms(m_counting_since_ms)},
      {"totals", totals_json(m_totals)},
      {"by_store", std::move(stores)},
      {"by_category", std::move(categories)},
      {"by_customer_type", std::move(customer_types)},
      {"latest", std::move(latest)},
      {"events", counters_to_json(m_today)},
  };
  return json::serialize(doc);
}

std::string SalesKpis::snapshot() {
  roll_over();
  auto groups = [](const Groups& g) {
    json::array out;
    for (const auto& [key, f] : g) {
      out.push_back(json::array{json::value(key), figures_to_array(f)});
    }
    return out;
  };
  json::array latest;
  for (const auto& row : m_latest) {
    latest.push_back(json::array{row.occurred_ms, row.occurred_at, row.event_id, row.store_id,
                                 row.till_id, row.pos_event_id, kind_name(row.kind),
                                 row.amount_minor, row.units, row.customer_type});
  }
  json::array currencies;
  for (const auto& c : m_currencies_seen) {
    currencies.emplace_back(c);
  }
  json::object doc{{"version", snapshot_version},
                   {"day_number", m_day},
                   {"day", date_text(m_day)},
                   {"utc_offset_min", m_options.utc_offset.count()},
                   {"currency", m_currency},
                   {"currencies_seen", std::move(currencies)},
                   {"counting_since_ms", m_counting_since_ms},
                   {"totals", figures_to_array(m_totals)},
                   {"stores", groups(m_stores)},
                   {"categories", groups(m_categories)},
                   {"customer_types", groups(m_customer_types)},
                   {"latest", std::move(latest)},
                   {"events", counters_to_json(m_today)}};
  return json::serialize(doc);
}

Status SalesKpis::restore(std::string_view snapshot) {
  roll_over();
  boost::system::error_code ec;
  const json::value parsed = json::parse(snapshot, ec);
  if (ec || !parsed.is_object()) {
    return fail("snapshot: not a JSON object");
  }
  const auto& doc = parsed.get_object();
  const auto version = detail::int64_member(doc, "version");
  if (version != snapshot_version) {
    return fail("snapshot: unknown version");
  }
  const auto day_number = detail::int64_member(doc, "day_number");
  if (day_number != m_day) {
    return fail("snapshot: of another day (" +
                std::string(detail::string_member(doc, "day").value_or("?")) + ", today is " +
                date_text(m_day) + ")");
  }
  if (detail::int64_member(doc, "utc_offset_min") != m_options.utc_offset.count()) {
    return fail("snapshot: taken with another kpis.timezone");
  }
  const auto currency = detail::string_member(doc, "currency");
  const auto totals = figures_from(doc.contains("totals") ? doc.at("totals") : json::value());
  if (!currency || !totals) {
    return fail("snapshot: currency or totals missing");
  }
  if (!m_options.currency.empty() && !currency->empty() && *currency != m_options.currency) {
    return fail("snapshot: counted in " + std::string(*currency) + ", kpis.currency is " +
                m_options.currency);
  }

  // Built aside, then swapped in: a bad snapshot leaves the state as it was.
  SalesKpis restored(m_options, m_clock);
  restored.m_currency = std::string(*currency);
  restored.m_totals = *totals;
  restored.m_counting_since_ms =
      detail::int64_member(doc, "counting_since_ms").value_or(m_counting_since_ms);
  const std::pair<const char*, std::pair<Groups*, std::size_t>> group_fields[] = {
      {"stores", {&restored.m_stores, m_options.max_stores}},
      {"categories", {&restored.m_categories, m_options.max_categories}},
      {"customer_types", {&restored.m_customer_types, max_customer_types}}};
  for (const auto& [field, target] : group_fields) {
    const auto* rows = doc.if_contains(field);
    if (rows == nullptr || !rows->is_array()) {
      return fail(std::string("snapshot: ") + field + " missing");
    }
    for (const auto& row : rows->get_array()) {
      const auto* pair = row.if_array();
      const auto figures = pair != nullptr && pair->size() == 2 && (*pair)[0].is_string()
                               ? figures_from((*pair)[1])
                               : std::nullopt;
      if (!figures) {
        return fail(std::string("snapshot: bad row in ") + field);
      }
      add_into(group(*target.first, (*pair)[0].get_string(), target.second), *figures);
    }
  }
  if (const auto* rows = doc.if_contains("latest"); rows != nullptr && rows->is_array()) {
    // Oldest first, so that the arrival order of equal times is kept.
    const auto& latest = rows->get_array();
    for (auto it = latest.rbegin(); it != latest.rend(); ++it) {  // NOLINT(modernize-loop-convert)
      const auto& row = *it;
      const auto* r = row.if_array();
      if (r == nullptr || r->size() != 10 || !(*r)[0].is_int64() || !(*r)[7].is_int64() ||
          !(*r)[8].is_int64()) {
        return fail("snapshot: bad row in latest");
      }
      constexpr std::array<std::size_t, 7> text_columns = {1, 2, 3, 4, 5, 6, 9};
      std::array<std::string, text_columns.size()> text;
      for (std::size_t slot = 0; slot < text_columns.size(); ++slot) {
        const auto& cell = (*r)[text_columns[slot]];
        if (!cell.is_string()) {
          return fail("snapshot: bad row in latest");
        }
        text[slot] = std::string(cell.get_string());
      }
      restored.remember(Latest{(*r)[0].get_int64(), ++restored.m_arrivals, std::move(text[0]),
                               std::move(text[1]), std::move(text[2]), std::move(text[3]),
                               std::move(text[4]),
                               text[5] == "return" ? EventKind::return_event : EventKind::sale,
                               (*r)[7].get_int64(), (*r)[8].get_int64(), std::move(text[6])});
    }
  }
  if (const auto* list = doc.if_contains("currencies_seen"); list != nullptr && list->is_array()) {
    for (const auto& c : list->get_array()) {
      if (c.is_string() && restored.m_currencies_seen.size() < max_currencies_seen) {
        restored.m_currencies_seen.emplace(c.get_string());
      }
    }
  }
  if (const auto* events = doc.if_contains("events"); events != nullptr && events->is_object()) {
    const auto& e = events->get_object();
    restored.m_today = {u64_or_zero(e, "counted"), u64_or_zero(e, "not_today"),
                        u64_or_zero(e, "other_currency"), u64_or_zero(e, "stock_changes"),
                        u64_or_zero(e, "malformed")};
  }
  m_currency = std::move(restored.m_currency);
  m_currencies_seen = std::move(restored.m_currencies_seen);
  m_totals = restored.m_totals;
  m_stores = std::move(restored.m_stores);
  m_categories = std::move(restored.m_categories);
  m_customer_types = std::move(restored.m_customer_types);
  m_latest = std::move(restored.m_latest);
  m_arrivals = restored.m_arrivals;
  m_today = restored.m_today;
  m_counting_since_ms = restored.m_counting_since_ms;
  return {};
}

void SalesKpis::append_metrics(std::ostream& out) {
  roll_over();
  common::PrometheusWriter metrics(out, "poscollector_");
  const std::pair<std::string_view, std::int64_t> totals[] = {
      {"gmv_minor", m_totals.gmv_minor},
      {"units", m_totals.units},
      {"cost_minor", m_totals.cost_minor},
      {"margin_minor", m_totals.margin_minor()},
      {"transactions", static_cast<std::int64_t>(m_totals.transactions)},
      {"returns", static_cast<std::int64_t>(m_totals.returns)}};
  for (const auto& [name, value] : totals) {
    metrics.gauge("sales_today_" + std::string(name),
                  "Today's (store-local day) figure of the live sales view; returns subtract.",
                  value);
  }
  const std::tuple<std::string_view, std::string_view, const Groups*> groups[] = {
      {"sales_today_store_gmv_minor", "store_id", &m_stores},
      {"sales_today_category_gmv_minor", "category", &m_categories},
      {"sales_today_customer_type_gmv_minor", "customer_type", &m_customer_types}};
  for (const auto& [name, key, figures] : groups) {
    metrics.family(name,
                   "Today's net GMV in minor units, by group (bounded; \"(other)\" sums the rest).",
                   "gauge");
    for (const auto& [value, f] : *figures) {
      metrics.sample(name, {{key, value}}, f.gmv_minor);
    }
  }
  metrics.family("kpi_events_total", "Published events seen by the live sales view, by outcome.",
                 "counter");
  const std::pair<std::string_view, std::uint64_t> outcomes[] = {
      {"counted", m_lifetime.counted},
      {"not_today", m_lifetime.not_today},
      {"other_currency", m_lifetime.other_currency},
      {"stock_change", m_lifetime.stock_changes},
      {"malformed", m_lifetime.malformed}};
  for (const auto& [outcome, value] : outcomes) {
    metrics.sample("kpi_events_total", {{"outcome", outcome}}, value);
  }
}

}  // namespace pos::collector
