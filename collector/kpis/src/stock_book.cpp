#include "pos/collector/stock_book.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <limits>
#include <tuple>

#include "pos/common/prometheus_text.hpp"
#include "pos/protocol/event.hpp"

namespace pos::collector {
namespace {

namespace json = boost::json;

constexpr std::int64_t stock_snapshot_version = 1;
constexpr std::size_t location_count = 3;
constexpr std::string_view location_names[location_count] = {"floor", "backroom", "warehouse"};

std::int64_t stock_add(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) {
    return b > 0 ? std::numeric_limits<std::int64_t>::max()
                 : std::numeric_limits<std::int64_t>::min();
  }
  return out;
}

/// Appends `text` as a JSON string: as is when it needs no escaping (ids, SKUs), else through
/// Boost.JSON.
void append_json_string(std::string& out, std::string_view text) {
  const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && c != '"' && c != '\\' &&
           static_cast<unsigned char>(c) < 0x7f;
  });
  if (plain) {
    out += '"';
    out += text;
    out += '"';
  } else {
    out += json::serialize(json::string(text));
  }
}

void append_int(std::string& out, std::int64_t value) {
  char buffer[24];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, ec == std::errc{} ? end : buffer);
}

json::value stock_time_or_null(std::int64_t ms) {
  return ms > 0 ? json::value(protocol::format_rfc3339_utc_ms(ms)) : json::value(nullptr);
}

}  // namespace

std::int64_t StockThresholds::of(std::string_view category) const {
  if (const auto it = categories.find(category); it != categories.end()) {
    return it->second;
  }
  return low_default;
}

StockBook::StockBook(StockBookOptions options) : m_options(std::move(options)) {}

std::int64_t StockBook::total(const Item& item) noexcept {
  std::int64_t sum = 0;
  for (const auto value : item.on_hand) {
    sum = stock_add(sum, value);
  }
  return sum;
}

std::string_view StockBook::category_of(std::string_view sku) const {
  // Heterogeneous lookup needs C++20 transparent hashing; SKUs are short, the copy is SSO.
  const auto it = m_sku_category.find(std::string(sku));
  return it == m_sku_category.end() ? std::string_view{} : m_categories[it->second];
}

void StockBook::learn(std::string_view sku, std::string_view category, std::int64_t now_ms) {
  if (sku.empty() || category.empty()) {
    return;
  }
  std::uint32_t index = 0;
  if (const auto it = m_category_index.find(std::string(category)); it != m_category_index.end()) {
    index = it->second;
  } else if (m_categories.size() < m_options.max_categories) {
    index = static_cast<std::uint32_t>(m_categories.size());
    m_categories.emplace_back(category);
    m_category_index.emplace(std::string(category), index);
  } else {
    ++m_stats.skus_not_learned;
    return;
  }
  const auto it = m_sku_category.find(std::string(sku));
  if (it != m_sku_category.end()) {
    if (it->second == index) {
      return;
    }
    it->second = index;
  } else if (m_sku_category.size() < m_options.max_skus) {
    m_sku_category.emplace(std::string(sku), index);
  } else {
    ++m_stats.skus_not_learned;
    return;
  }
  // The SKU's category changed: its items may cross a different threshold now.
  ++m_version;
  for (auto item = m_items.lower_bound(std::pair<std::string_view, std::string_view>(sku, ""));
       item != m_items.end() && item->first.first == sku; ++item) {
    evaluate(item->first, item->second, now_ms);
  }
}

void StockBook::evaluate(const Key& key, Item& item, std::int64_t now_ms) {
  const bool low =
      item.changes > 0 && total(item) <= m_options.thresholds.of(category_of(key.first));
  if (low && !item.low) {
    item.low_since_ms = now_ms;
    ++m_low_items;
  } else if (!low && item.low) {
    item.low_since_ms = 0;
    --m_low_items;
  }
  item.low = low;
}

void StockBook::add(const EventFacts& facts, std::int64_t now_ms) {
  if (facts.replay) {
    ++m_stats.replays_skipped;
    return;
  }
  if (facts.kind != EventKind::stock_change) {
    for (const auto& line : facts.lines) {
      learn(line.sku, line.category, now_ms);
    }
    return;
  }
  const auto& stock = facts.stock;
  learn(stock.sku, stock.category, now_ms);
  auto it = m_items.find(std::pair<std::string_view, std::string_view>(stock.sku, facts.store_id));
  if (it == m_items.end()) {
    if (m_items.size() >= m_options.max_items) {
      ++m_stats.items_dropped;
      return;
    }
    it = m_items.emplace(Key{std::string(stock.sku), std::string(facts.store_id)}, Item{}).first;
  }
  Item& item = it->second;
  auto& at = item.on_hand[static_cast<std::size_t>(stock.location)];
  at = stock.on_hand_after ? *stock.on_hand_after : stock_add(at, stock.delta);
  item.updated_ms = now_ms;
  item.changes =
      item.changes == std::numeric_limits<std::uint32_t>::max() ? item.changes : item.changes + 1;
  ++m_stats.changes_applied;
  ++m_version;
  evaluate(it->first, item, now_ms);
}

void StockBook::set_thresholds(StockThresholds thresholds, std::int64_t now_ms) {
  m_options.thresholds = std::move(thresholds);
  ++m_version;
  for (auto& [key, item] : m_items) {
    evaluate(key, item, now_ms);
  }
}

StockAlert StockBook::alert_of(const Key& key, const Item& item) const {
  StockAlert alert;
  const std::int64_t on_hand = total(item);
  const std::string_view category = category_of(key.first);
  const std::int64_t threshold = m_options.thresholds.of(category);
  alert.severity = on_hand <= 0 ? "critical" : "warning";
  alert.store_id = key.second;
  alert.sku = key.first;
  alert.category = std::string(category);
  alert.message = (on_hand <= 0 ? "out of stock: " : "low stock: ") + std::to_string(on_hand) +
                  " on hand, threshold " + std::to_string(threshold) +
                  (category.empty() ? std::string(" (default)") : " (" + alert.category + ")");
  alert.since_ms = item.low_since_ms;
  return alert;
}

std::vector<StockAlert> StockBook::alerts(std::size_t limit) const {
  std::vector<const std::pair<const Key, Item>*> low;
  low.reserve(std::min(limit, m_low_items));
  for (const auto& entry : m_items) {
    if (entry.second.low) {
      low.push_back(&entry);
    }
  }
  const auto by_store = [](const auto* a, const auto* b) {
    return std::tie(a->first.second, a->first.first) < std::tie(b->first.second, b->first.first);
  };
  const std::size_t n = std::min(limit, low.size());
  std::partial_sort(low.begin(), low.begin() + static_cast<std::ptrdiff_t>(n), low.end(), by_store);
  std::vector<StockAlert> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(alert_of(low[i]->first, low[i]->second));
  }
  return out;
}

std::string StockBook::to_json(const StockQuery& query, std::int64_t now_ms) const {
  std::vector<const std::pair<const Key, Item>*> matched;
  for (const auto& entry : m_items) {
    const auto& [key, item] = entry;
    if ((query.low_only && !item.low) ||
        (!query.store_id.empty() && key.second != query.store_id) ||
        (!query.category.empty() && category_of(key.first) != query.category)) {
      continue;
    }
    matched.push_back(&entry);
  }
  const std::size_t n = std::min(query.limit, matched.size());
  std::partial_sort(matched.begin(), matched.begin() + static_cast<std::ptrdiff_t>(n),
                    matched.end(), [](const auto* a, const auto* b) {
                      return std::tie(a->first.second, a->first.first) <
                             std::tie(b->first.second, b->first.first);
                    });
  json::array items;
  json::array alerts;
  items.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& [key, item] = *matched[i];
    const std::string_view category = category_of(key.first);
    json::object row;
    row["store_id"] = key.second;
    row["sku"] = key.first;
    row["category"] = category.empty() ? json::value(nullptr) : json::value(category);
    row["on_hand"] = total(item);
    for (std::size_t l = 0; l < location_count; ++l) {
      row[location_names[l]] = item.on_hand[l];
    }
    row["threshold"] = m_options.thresholds.of(category);
    row["low"] = item.low;
    row["low_since"] = stock_time_or_null(item.low_since_ms);
    row["updated_at"] = stock_time_or_null(item.updated_ms);
    items.emplace_back(std::move(row));
    if (item.low) {
      const StockAlert a = alert_of(key, item);
      alerts.emplace_back(json::object{
          {"rule", a.rule},
          {"severity", a.severity},
          {"store_id", a.store_id},
          {"sku", a.sku},
          {"category", a.category.empty() ? json::value(nullptr) : json::value(a.category)},
          {"message", a.message},
          {"since", stock_time_or_null(a.since_ms)}});
    }
  }
  json::object thresholds{{"low_default", m_options.thresholds.low_default}};
  json::object by_category;
  for (const auto& [category, threshold] : m_options.thresholds.categories) {
    by_category[category] = threshold;
  }
  thresholds["categories"] = std::move(by_category);
  json::object doc;
  doc["generated_at"] = protocol::format_rfc3339_utc_ms(now_ms);
  doc["thresholds"] = std::move(thresholds);
  doc["items_total"] = m_items.size();
  doc["low_items_total"] = m_low_items;
  doc["matched"] = matched.size();
  doc["truncated"] = matched.size() > n;
  doc["items_dropped_total"] = m_stats.items_dropped;
  doc["items"] = std::move(items);
  doc["alerts"] = std::move(alerts);
  return json::serialize(doc);
}

void StockBook::append_metrics(std::ostream& out, std::size_t max_alert_series) const {
  common::PrometheusWriter metrics(out, "poscollector_");
  metrics.gauge("stock_items", "Store and SKU items in the live stock book.",
                static_cast<double>(m_items.size()));
  metrics.gauge("stock_skus_known", "SKUs whose category the stock book learned.",
                static_cast<double>(m_sku_category.size()));
  std::map<std::string_view, std::size_t> low_by_store;
  std::size_t critical = 0;
  for (const auto& [key, item] : m_items) {
    if (item.low) {
      ++low_by_store[key.second];
      critical += total(item) <= 0 ? 1 : 0;
    }
  }
  metrics.family("stock_low_items", "Items at or below their low-stock threshold, by store.",
                 "gauge");
  for (const auto& [store, count] : low_by_store) {
    metrics.sample("stock_low_items", {{"store_id", std::string(store)}}, count);
  }
  metrics.family("stock_alerts_active", "Active low_stock alerts by severity.", "gauge");
  metrics.sample("stock_alerts_active", {{"severity", "warning"}}, m_low_items - critical);
  metrics.sample("stock_alerts_active", {{"severity", "critical"}}, critical);
  metrics.family("stock_alert", "1 per active low_stock alert (the first ones by store, SKU).",
                 "gauge");
  for (const auto& a : alerts(max_alert_series)) {
    metrics.sample("stock_alert",
                   {{"store_id", a.store_id}, {"sku", a.sku}, {"severity", a.severity}}, 1);
  }
  metrics.counter("stock_changes_total", "stock_change events counted in the stock book.",
                  m_stats.changes_applied);
  metrics.counter("stock_replays_skipped_total", "Replayed events not counted again.",
                  m_stats.replays_skipped);
  metrics.counter("stock_items_dropped_total",
                  "Stock changes of new items refused: the book is at stock.max_items.",
                  m_stats.items_dropped);
  metrics.counter("stock_skus_not_learned_total",
                  "SKU categories not learned: stock.max_items SKUs or 1000 categories reached.",
                  m_stats.skus_not_learned);
}

std::string StockBook::snapshot() const {
  // Written by hand, not through json::value: a snapshot of 400,000 items took 1.1 s that way
  // (docs/benchmarks.md, "Live stock"), on the io thread.
  std::string out;
  out.reserve(64 + m_items.size() * 64 + m_sku_category.size() * 32);
  out += R"({"version":)" + std::to_string(stock_snapshot_version) + R"(,"items":[)";
  bool first = true;
  for (const auto& [key, item] : m_items) {
    out += first ? "[" : ",[";
    first = false;
    append_json_string(out, key.second);
    out += ',';
    append_json_string(out, key.first);
    for (const std::int64_t value :
         {item.on_hand[0], item.on_hand[1], item.on_hand[2], item.updated_ms, item.low_since_ms,
          static_cast<std::int64_t>(item.changes)}) {
      out += ',';
      append_int(out, value);
    }
    out += ']';
  }
  out += R"(],"categories":{)";
  first = true;
  for (const auto& [sku, index] : m_sku_category) {
    out += first ? "" : ",";
    first = false;
    append_json_string(out, sku);
    out += ':';
    append_json_string(out, m_categories[index]);
  }
  out += "}}";
  return out;
}

Status StockBook::restore(std::string_view snapshot) {
  boost::system::error_code ec;
  const json::value parsed = json::parse(snapshot, ec);
  if (ec || !parsed.is_object()) {
    return fail("snapshot: not a JSON object");
  }
  const auto& doc = parsed.get_object();
  const auto* version = doc.if_contains("version");
  if (version == nullptr || !version->is_int64() ||
      version->get_int64() != stock_snapshot_version) {
    return fail("snapshot: unknown version");
  }
  const auto* items = doc.if_contains("items");
  const auto* categories = doc.if_contains("categories");
  if (items == nullptr || !items->is_array() || categories == nullptr || !categories->is_object()) {
    return fail("snapshot: items or categories missing");
  }
  // Built aside, then swapped in: a bad snapshot leaves the state as it was.
  StockBook restored(m_options);
  restored.m_stats = m_stats;
  for (const auto& [sku, category] : categories->get_object()) {
    if (!category.is_string()) {
      return fail("snapshot: categories." + std::string(sku) + ": not a string");
    }
    restored.learn(sku, category.get_string(), 0);
  }
  for (const auto& value : items->get_array()) {
    const auto* row = value.if_array();
    if (row == nullptr || row->size() != 8 || !(*row)[0].is_string() || !(*row)[1].is_string() ||
        !std::all_of(row->begin() + 2, row->end(),
                     [](const json::value& v) { return v.is_int64() || v.is_uint64(); })) {
      return fail("snapshot: items: a row is not [store, sku, 3 on-hand, 3 integers]");
    }
    if (restored.m_items.size() >= m_options.max_items) {
      ++restored.m_stats.items_dropped;
      continue;
    }
    Item item;
    for (std::size_t l = 0; l < location_count; ++l) {
      item.on_hand[l] = (*row)[2 + l].to_number<std::int64_t>();
    }
    item.updated_ms = (*row)[5].to_number<std::int64_t>();
    const std::int64_t low_since = (*row)[6].to_number<std::int64_t>();
    item.changes = static_cast<std::uint32_t>(std::clamp<std::int64_t>(
        (*row)[7].to_number<std::int64_t>(), 0, std::numeric_limits<std::uint32_t>::max()));
    auto [it, added] = restored.m_items.emplace(
        Key{std::string((*row)[1].get_string()), std::string((*row)[0].get_string())}, item);
    if (added) {
      restored.evaluate(it->first, it->second, low_since > 0 ? low_since : item.updated_ms);
    }
  }
  restored.m_stats.restored_items = restored.m_items.size();
  restored.m_version = m_version + 1;
  *this = std::move(restored);
  return {};
}

}  // namespace pos::collector
