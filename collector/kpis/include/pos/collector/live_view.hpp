#pragma once
// The collector's live view, wired in one place: a PipelineObserver that feeds every published
// event to the sales KPIs and the end-to-end latency, periodic snapshots of the KPIs, and the
// documents of GET /v1/kpis and GET /v1/stats. See docs/collector.md, "Live sales view and
// pipeline stats".

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>

#include "pos/collector/batch_processor.hpp"
#include "pos/collector/pipeline_observer.hpp"
#include "pos/collector/pipeline_stats.hpp"
#include "pos/collector/sales_kpis.hpp"
#include "pos/collector/view_snapshots.hpp"

namespace pos::collector {

struct LiveViewOptions {
  SalesKpisOptions kpis;
  LatencyWindowOptions latency;
  std::filesystem::path snapshot_path;  ///< empty: the KPIs are not persisted
  std::chrono::seconds snapshot_interval{5};
};

/// Counters of the live view (io thread).
struct LiveViewStats {
  std::uint64_t events_observed = 0;    ///< events of successful events publishes
  std::uint64_t events_unreadable = 0;  ///< of those, events without facts (counted malformed)
  std::uint64_t observer_errors = 0;    ///< exceptions caught while observing (bad_alloc)
};

/// Owns the live view's parts. Construction restores today's KPIs from the snapshot file (a
/// snapshot of another day is ignored; a file that cannot be opened is logged and the view runs
/// without persistence: it never stops the collector). Not thread-safe: io thread, except stop().
class LiveView final : public PipelineObserver {
 public:
  /// `clock` must outlive this object.
  LiveView(const boost::asio::any_io_executor& executor, const common::Clock& clock,
           LiveViewOptions options);
  ~LiveView() override;
  LiveView(const LiveView&) = delete;
  LiveView& operator=(const LiveView&) = delete;

  /// Records latency = now (Clock::now_unix_ms) - received_at of each event and adds it to the
  /// KPIs; an event without facts is counted malformed. Never throws.
  void on_events_published(std::span<const std::optional<EventDigest>> digests) override;

  /// Starts the periodic snapshots.
  void start();
  /// Writes a final snapshot and waits for it. Call once the io loop no longer runs.
  void stop();
  /// Queues a snapshot of the KPIs now (also done every snapshot_interval).
  void save_snapshot();

  /// GET /v1/kpis.
  std::string kpis_json();
  /// GET /v1/stats: `batches` as the BatchProcessor holds them; `input` with the fleet's
  /// figures, pending batches and sink health filled in by the caller (the clock, uptime and
  /// latency fields are filled here).
  std::string stats_json(const BatchStats& batches, PipelineStatsInput input);
  /// Prometheus lines of the live view: sales gauges, KPI event counters, the end-to-end latency
  /// histogram, bytes of accepted batches and their events-per-batch histogram.
  void append_metrics(std::ostream& out, const BatchStats& batches);

  SalesKpis& kpis() noexcept { return m_kpis; }
  EndToEndLatency& latency() noexcept { return m_latency; }
  const LiveViewStats& stats() const noexcept { return m_stats; }

 private:
  const common::Clock& m_clock;
  LiveViewOptions m_options;
  std::chrono::steady_clock::time_point m_started;
  SalesKpis m_kpis;
  EndToEndLatency m_latency;
  std::vector<SaleLineFacts> m_lines;  ///< scratch for EventDigest::facts
  LiveViewStats m_stats;
  ViewSnapshots m_snapshots;  ///< last: stopped before the state it saves goes
};

}  // namespace pos::collector
