#pragma once
// The collector's live view, wired in one place: the ObservedSink in front of the real sink, the
// sales KPIs and end-to-end latency it feeds, periodic snapshots of the KPIs, and the documents
// of GET /v1/kpis and GET /v1/stats. See docs/collector.md, "Live sales view and pipeline stats".

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>

#include "pos/collector/batch_processor.hpp"
#include "pos/collector/config.hpp"
#include "pos/collector/fleet.hpp"
#include "pos/collector/kpi_snapshot_store.hpp"
#include "pos/collector/observed_sink.hpp"
#include "pos/collector/pipeline_stats.hpp"
#include "pos/collector/sales_kpis.hpp"

namespace pos::collector {

struct LiveViewOptions {
  SalesKpisOptions kpis;
  LatencyWindowOptions latency;
  std::filesystem::path snapshot_path;  ///< empty: the KPIs are not persisted
  std::chrono::seconds snapshot_interval{5};
};

/// The options from the `[kpis]` section; snapshots go to `{data_dir}/kpis.db`.
LiveViewOptions live_view_options(const CollectorConfig& config);

/// Owns the live view's parts. Construction restores today's KPIs from the snapshot file (a
/// snapshot of another day is ignored; a file that cannot be opened is logged and the view runs
/// without persistence: it never stops the collector). Not thread-safe: io thread, except stop().
class LiveView {
 public:
  /// `inner` (the real sink) and `clock` must outlive this object.
  LiveView(const boost::asio::any_io_executor& executor, Sink& inner, const common::Clock& clock,
           LiveViewOptions options);
  ~LiveView();
  LiveView(const LiveView&) = delete;
  LiveView& operator=(const LiveView&) = delete;

  /// The sink to publish through (the ObservedSink around `inner`).
  Sink& sink() noexcept { return m_sink; }

  /// Starts the periodic snapshots.
  void start();
  /// Writes a final snapshot and waits for it. Call once the io loop no longer runs.
  void stop();
  /// Queues a snapshot of the KPIs now (also done every snapshot_interval).
  void save_snapshot();

  /// GET /v1/kpis.
  std::string kpis_json();
  /// GET /v1/stats: `batches` and `fleet` as the BatchProcessor and FleetState hold them.
  std::string stats_json(const BatchStats& batches, const FleetState& fleet,
                         std::size_t pending_batches);
  /// Prometheus lines of the live view: sales gauges, KPI event counters, the end-to-end latency
  /// histogram, bytes of accepted batches and their events-per-batch histogram.
  void append_metrics(std::ostream& out, const BatchStats& batches);

  SalesKpis& kpis() noexcept { return m_kpis; }
  EndToEndLatency& latency() noexcept { return m_latency; }
  const ObservedSinkStats& observer_stats() const noexcept { return m_sink.stats(); }

 private:
  void schedule_snapshot();

  const common::Clock& m_clock;
  LiveViewOptions m_options;
  std::chrono::steady_clock::time_point m_started;
  SalesKpis m_kpis;
  EndToEndLatency m_latency;
  ObservedSink m_sink;
  std::unique_ptr<KpiSnapshotStore> m_store;
  boost::asio::steady_timer m_timer;
  bool m_stopped = false;
};

}  // namespace pos::collector
