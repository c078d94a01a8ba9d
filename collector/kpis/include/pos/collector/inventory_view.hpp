#pragma once
// The collector's live stock, wired in one place: a PipelineObserver that feeds every published
// event to the stock book, periodic snapshots of it (`inventory.db`, only when it changed), and
// the documents of GET /v1/inventory and its metrics. See docs/collector.md, "Live stock".

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "pos/collector/pipeline_observer.hpp"
#include "pos/collector/stock_book.hpp"
#include "pos/collector/view_snapshots.hpp"
#include "pos/common/clock.hpp"

namespace pos::collector {

struct InventoryViewOptions {
  StockBookOptions book;
  std::filesystem::path snapshot_path;  ///< empty: the stock is not persisted
  std::chrono::seconds snapshot_interval{5};
  std::size_t max_alert_series = 100;  ///< per-alert metric series at most
};

/// Owns the stock book. Construction restores it from the snapshot file (a file that cannot be
/// opened or read is logged and the view starts empty: it never stops the collector). Not
/// thread-safe: io thread, except stop().
class InventoryView final : public PipelineObserver {
 public:
  /// `clock` must outlive this object.
  InventoryView(const boost::asio::any_io_executor& executor, const common::Clock& clock,
                InventoryViewOptions options);
  ~InventoryView() override;
  InventoryView(const InventoryView&) = delete;
  InventoryView& operator=(const InventoryView&) = delete;

  /// Adds each event with facts to the stock book (events without facts are the live sales
  /// view's to count). Never throws.
  void on_events_published(std::span<const std::optional<EventDigest>> digests) override;

  /// Replaces the low-stock thresholds (config reload); items are re-evaluated at once. Call on
  /// the io thread. Never throws except std::bad_alloc.
  void set_thresholds(StockThresholds thresholds);

  /// Starts the periodic snapshots.
  void start();
  /// Writes a final snapshot and waits for it. Call once the io loop no longer runs.
  void stop();
  /// Queues a snapshot of the book now if it changed since the last one.
  void save_snapshot();

  /// GET /v1/inventory.
  std::string inventory_json(const StockQuery& query) const;
  /// Prometheus lines of the stock book and its snapshots.
  void append_metrics(std::ostream& out) const;

  const StockBook& book() const noexcept { return m_book; }
  std::uint64_t observer_errors() const noexcept { return m_observer_errors; }

 private:
  const common::Clock& m_clock;
  InventoryViewOptions m_options;
  StockBook m_book;
  std::vector<SaleLineFacts> m_lines;  ///< scratch for EventDigest::facts
  std::uint64_t m_saved_version = 0;
  std::uint64_t m_observer_errors = 0;
  ViewSnapshots m_snapshots;  ///< last: stopped before the state it saves goes
};

}  // namespace pos::collector
