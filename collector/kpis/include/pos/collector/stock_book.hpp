#pragma once
// The live stock book: on-hand per store and SKU (by location) from the stock_change events the
// collector published, the SKU -> category map learned from sale and return lines, and the
// low-stock alerts at the configured thresholds. See docs/collector.md, "Live stock".

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pos/collector/event_facts.hpp"
#include "pos/protocol/result.hpp"

namespace pos::collector {

/// Low-stock thresholds (config `[stock]`): an item is low when its on-hand (all locations of
/// the store) is at or below the threshold of its SKU's category, else `low_default`.
struct StockThresholds {
  std::int64_t low_default = 5;
  std::map<std::string, std::int64_t, std::less<>> categories;  ///< category -> threshold
  bool operator==(const StockThresholds&) const = default;

  /// The threshold of `category` (empty: unknown category, the default).
  std::int64_t of(std::string_view category) const;
};

struct StockBookOptions {
  StockThresholds thresholds;
  std::size_t max_items = 200'000;    ///< (store, SKU) items; more are dropped and counted
  std::size_t max_skus = 200'000;     ///< SKU -> category entries; more are not learned (counted)
  std::size_t max_categories = 1000;  ///< distinct category names kept
};

/// One low-stock alert, shaped like the fleet's (FleetAlert) with `sku` for `till_id`.
struct StockAlert {
  std::string rule = "low_stock";
  std::string severity;  ///< "warning" (at or below the threshold), "critical" (0 or less)
  std::string store_id;
  std::string sku;
  std::string category;  ///< empty when unknown
  std::string message;
  std::int64_t since_ms = 0;  ///< when the item went low (UNIX ms)
};

/// What GET /v1/inventory asks for; empty filters match everything.
struct StockQuery {
  std::string store_id;
  std::string category;
  bool low_only = false;
  std::size_t limit = 500;  ///< items (and alerts) listed at most
};

/// Counters of the book, for metrics.
struct StockBookStats {
  std::uint64_t changes_applied = 0;   ///< stock_change events counted
  std::uint64_t replays_skipped = 0;   ///< events flagged replay, not counted again
  std::uint64_t items_dropped = 0;     ///< stock changes of new items refused: max_items
  std::uint64_t skus_not_learned = 0;  ///< categories not learned: max_skus / max_categories
  std::uint64_t restored_items = 0;    ///< items read from the snapshot at start
};

/// The stock book. Bounded: at most max_items items, max_skus categories learned. Every figure
/// is an int64 (a sum that would overflow saturates). Not thread-safe: one thread (the io thread).
class StockBook {
 public:
  explicit StockBook(StockBookOptions options = {});

  /// Counts one published event at `now_ms`: a stock_change moves its location's on-hand by
  /// `delta`, or sets it to `on_hand_after` when present (which heals drift); sale and return
  /// lines, and a stock_change's own `category`, teach sku -> category. An event flagged
  /// `replay` is skipped (counted in replays_skipped). Never throws except std::bad_alloc.
  void add(const EventFacts& facts, std::int64_t now_ms);

  /// Replaces the thresholds and re-evaluates every item at `now_ms` (an item that stays low
  /// keeps its `since`). O(items).
  void set_thresholds(StockThresholds thresholds, std::int64_t now_ms);
  const StockThresholds& thresholds() const noexcept { return m_options.thresholds; }

  /// GET /v1/inventory: the items matching `query` sorted by store, SKU (at most query.limit),
  /// the active alerts among them, and totals. `now_ms` stamps generated_at.
  std::string to_json(const StockQuery& query, std::int64_t now_ms) const;

  /// The active alerts, sorted by store, SKU, at most `limit`.
  std::vector<StockAlert> alerts(std::size_t limit) const;

  /// Prometheus lines: items, low items per store, alerts by severity, counters, and one
  /// `poscollector_stock_alert{store_id,sku,severity} 1` per alert for the first
  /// `max_alert_series` alerts (sorted by store, SKU).
  void append_metrics(std::ostream& out, std::size_t max_alert_series) const;

  /// A JSON snapshot of the items and the learned categories (restore reads it back).
  std::string snapshot() const;
  /// Replaces the state with `snapshot` (bounds apply, thresholds are this book's). Fails naming
  /// why (state unchanged) for a malformed snapshot or another version.
  Status restore(std::string_view snapshot);

  /// Incremented by every change of the figures (add, set_thresholds, restore): a snapshot is
  /// due when it moved since the last one.
  std::uint64_t version() const noexcept { return m_version; }
  std::size_t size() const noexcept { return m_items.size(); }
  std::size_t low_items() const noexcept { return m_low_items; }
  std::size_t skus_known() const noexcept { return m_sku_category.size(); }
  const StockBookStats& stats() const noexcept { return m_stats; }

 private:
  /// One (SKU, store) item. 48 bytes; the key strings add their heap bytes beyond 15 chars.
  struct Item {
    std::int64_t on_hand[3] = {0, 0, 0};  ///< by StockLocation
    std::int64_t updated_ms = 0;
    std::int64_t low_since_ms = 0;  ///< 0: not low
    std::uint32_t changes = 0;
    bool low = false;
  };
  using Key = std::pair<std::string, std::string>;  ///< SKU, store: one SKU's items together
  /// Orders keys, and (sku, store) string_view pairs against them without a copy.
  struct KeyLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const noexcept {
      return std::pair<std::string_view, std::string_view>(a.first, a.second) <
             std::pair<std::string_view, std::string_view>(b.first, b.second);
    }
  };

  static std::int64_t total(const Item& item) noexcept;
  std::string_view category_of(std::string_view sku) const;
  void learn(std::string_view sku, std::string_view category, std::int64_t now_ms);
  void evaluate(const Key& key, Item& item, std::int64_t now_ms);
  StockAlert alert_of(const Key& key, const Item& item) const;

  StockBookOptions m_options;
  std::map<Key, Item, KeyLess> m_items;
  std::unordered_map<std::string, std::uint32_t> m_sku_category;  ///< index into m_categories
  std::vector<std::string> m_categories;
  std::unordered_map<std::string, std::uint32_t> m_category_index;
  std::size_t m_low_items = 0;
  std::uint64_t m_version = 0;
  StockBookStats m_stats;
};

}  // namespace pos::collector
