#include "pos/collector/inventory_view.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include "pos/common/prometheus_text.hpp"

namespace pos::collector {

InventoryView::InventoryView(const boost::asio::any_io_executor& executor,
                             const common::Clock& clock, InventoryViewOptions options)
    : m_clock(clock),
      m_options(std::move(options)),
      m_book(m_options.book),
      m_snapshots(executor, clock, "live stock", m_options.snapshot_path,
                  m_options.snapshot_interval, [this] { save_snapshot(); }) {
  if (const auto& loaded = m_snapshots.loaded()) {
    if (auto restored = m_book.restore(*loaded); !restored) {
      spdlog::warn("live stock: stored {}; starting empty", restored.error().message);
    } else {
      spdlog::info("live stock: restored {} item(s), {} low", m_book.size(), m_book.low_items());
    }
  }
  m_saved_version = m_book.version();
}

InventoryView::~InventoryView() {
  stop();
}

void InventoryView::start() {
  m_snapshots.start();
}

void InventoryView::save_snapshot() {
  if (m_snapshots.persisted() && m_book.version() != m_saved_version) {
    m_snapshots.save(m_book.snapshot());
    m_saved_version = m_book.version();
  }
}

void InventoryView::stop() {
  m_snapshots.stop();
}

void InventoryView::on_events_published(std::span<const std::optional<EventDigest>> digests) {
  try {
    const std::int64_t now_ms = m_clock.now_unix_ms();
    for (const auto& digest : digests) {
      if (digest) {
        m_book.add(digest->facts(m_lines), now_ms);
      }
    }
  } catch (const std::exception& e) {
    ++m_observer_errors;
    spdlog::error("live stock: observing a publish failed: {}", e.what());
  }
}

void InventoryView::set_thresholds(StockThresholds thresholds) {
  m_book.set_thresholds(std::move(thresholds), m_clock.now_unix_ms());
  spdlog::info("live stock: thresholds set, {} item(s) low", m_book.low_items());
}

std::string InventoryView::inventory_json(const StockQuery& query) const {
  return m_book.to_json(query, m_clock.now_unix_ms());
}

void InventoryView::append_metrics(std::ostream& out) const {
  m_book.append_metrics(out, m_options.max_alert_series);
  common::PrometheusWriter metrics(out, "poscollector_");
  metrics.counter("stock_observer_errors_total",
                  "Exceptions caught while counting published events into the stock book.",
                  m_observer_errors);
  if (const auto* store = m_snapshots.store()) {
    metrics.counter("stock_snapshots_total", "Stock snapshots written to inventory.db.",
                    store->saved());
    metrics.counter("stock_snapshot_failures_total", "Stock snapshots that could not be written.",
                    store->failures());
  }
}

}  // namespace pos::collector
