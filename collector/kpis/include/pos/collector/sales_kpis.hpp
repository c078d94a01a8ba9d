#pragma once
// The live sales view: today's GMV, units, transactions, cost and margin, per store, category and
// customer type, and the latest transactions, computed from the events the collector published.
// See docs/collector.md, "Live sales view and pipeline stats".

#include <array>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pos/collector/event_facts.hpp"
#include "pos/common/clock.hpp"
#include "pos/protocol/result.hpp"

namespace pos::collector {

/// Parses a fixed UTC offset: `+07:00`, `-03:30`, `+00:00` or `Z` (hours 0-14, minutes 0-59).
/// Fails with a message naming the expected form.
Result<std::chrono::minutes> parse_utc_offset(std::string_view text);

/// `+07:00` style text of an offset.
std::string format_utc_offset(std::chrono::minutes offset);

struct SalesKpisOptions {
  std::chrono::minutes utc_offset{7 * 60};  ///< the stores' local time: defines "today"
  std::size_t latest_transactions = 50;     ///< rows in `latest`
  std::size_t max_stores = 1000;            ///< further stores are summed under "(other)"
  std::size_t max_categories = 200;         ///< further categories are summed under "(other)"
  std::string currency;                     ///< empty: the first currency counted each day
};

/// Key under which entries beyond a bound are summed (not a valid store id).
inline constexpr std::string_view other_key = "(other)";

/// How SalesKpis::add() used an event.
enum class KpiOutcome {
  counted,         ///< a sale or return of today in the day's currency
  not_today,       ///< occurred_at (in the configured offset) is not today
  other_currency,  ///< not the day's currency: left out of every figure
  stock_change,    ///< moves no money
  malformed,       ///< amounts overflow or negative quantities: left out
};

/// Event counts by outcome; `malformed` also counts events the EventReader refused.
struct KpiCounters {
  std::uint64_t counted = 0;
  std::uint64_t not_today = 0;
  std::uint64_t other_currency = 0;
  std::uint64_t stock_changes = 0;
  std::uint64_t malformed = 0;
};

/// Summed figures of a group of sales and returns. Money in minor units; returns subtract.
struct KpiFigures {
  std::int64_t gmv_minor = 0;  ///< Σ sale (qty × unit_price − discount) − Σ return (same)
  std::int64_t units = 0;      ///< Σ sale qty − Σ return qty
  std::int64_t cost_minor = 0;
  std::uint64_t transactions = 0;  ///< sale events
  std::uint64_t returns = 0;       ///< return events

  std::int64_t margin_minor() const noexcept;
};

/// Today's sales figures, bounded in memory by the options. The day is the store-local date
/// (utc_offset) of the clock; when it changes, every figure starts again at zero. Not
/// thread-safe (io thread). Never throws except std::bad_alloc.
class SalesKpis {
 public:
  SalesKpis(SalesKpisOptions options, const common::Clock& clock);

  /// Adds one published event (a duplicate published again is counted again).
  KpiOutcome add(const EventFacts& event);
  /// Counts an event whose data could not be read.
  void record_malformed() noexcept;

  /// GET /v1/kpis (docs/collector.md): today's totals, by_store (by store_id), by_category (by
  /// GMV, largest first), by_customer_type, latest (newest occurred_at first).
  std::string to_json();

  /// Today's state as JSON text for KpiSnapshotStore.
  std::string snapshot();
  /// Replaces the state with a snapshot() of today taken with the same utc_offset. Fails (state
  /// unchanged) for another day or offset, or a malformed snapshot, naming why. Bounds apply.
  Status restore(std::string_view snapshot);

  /// Prometheus lines: today's totals and per store / category / customer type GMV, and the
  /// event counters since start (`poscollector_kpi_events_total{outcome}`).
  void append_metrics(std::ostream& out);

  /// Counters since the process started (not reset at midnight).
  const KpiCounters& lifetime_counters() const noexcept { return m_lifetime; }
  /// Today's date in the configured offset, "YYYY-MM-DD".
  std::string day();
  const KpiFigures& totals() noexcept;

 private:
  struct Latest {
    std::int64_t occurred_ms = 0;
    std::uint64_t arrival = 0;
    std::string occurred_at;
    std::string event_id;
    std::string store_id;
    std::string till_id;
    std::string pos_event_id;
    EventKind kind = EventKind::sale;
    std::int64_t amount_minor = 0;
    std::int64_t units = 0;
    std::string customer_type;
  };
  using Groups = std::map<std::string, KpiFigures, std::less<>>;

  std::int64_t day_of(std::int64_t unix_ms) const noexcept;
  void roll_over();
  void reset(std::int64_t day_number);
  void count(KpiOutcome outcome) noexcept;
  static KpiFigures& group(Groups& groups, std::string_view key, std::size_t limit);
  void remember(Latest row);

  SalesKpisOptions m_options;
  const common::Clock& m_clock;
  std::int64_t m_day = 0;
  std::string m_currency;
  std::set<std::string, std::less<>> m_currencies_seen;  ///< bounded
  KpiFigures m_totals;
  Groups m_stores;
  Groups m_categories;
  Groups m_customer_types;
  std::vector<Latest> m_latest;  ///< newest first, at most latest_transactions
  std::uint64_t m_arrivals = 0;
  KpiCounters m_today;
  KpiCounters m_lifetime;
  std::int64_t m_counting_since_ms = 0;
};

}  // namespace pos::collector
