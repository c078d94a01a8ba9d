#include "pos/collector/live_view.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include "pos/common/prometheus_text.hpp"

namespace pos::collector {

LiveView::LiveView(const boost::asio::any_io_executor& executor, const common::Clock& clock,
                   LiveViewOptions options)
    : m_clock(clock),
      m_options(std::move(options)),
      m_started(clock.now_steady()),
      m_kpis(m_options.kpis, clock),
      m_latency(m_options.latency),
      m_snapshots(executor, clock, "live sales view", m_options.snapshot_path,
                  m_options.snapshot_interval, [this] { save_snapshot(); }) {
  if (const auto& loaded = m_snapshots.loaded()) {
    if (auto restored = m_kpis.restore(*loaded); !restored) {
      spdlog::info("live sales view: stored {}; starting empty", restored.error().message);
    } else {
      spdlog::info("live sales view: restored {} (GMV {}, {} transactions)", m_kpis.day(),
                   m_kpis.totals().gmv_minor, m_kpis.totals().transactions);
    }
  }
}

LiveView::~LiveView() {
  stop();
}

void LiveView::start() {
  m_snapshots.start();
}

void LiveView::save_snapshot() {
  if (m_snapshots.persisted()) {
    m_snapshots.save(m_kpis.snapshot());
  }
}

void LiveView::stop() {
  m_snapshots.stop();
}

std::string LiveView::kpis_json() {
  return m_kpis.to_json();
}

void LiveView::on_events_published(std::span<const std::optional<EventDigest>> digests) {
  try {
    const std::int64_t now_ms = m_clock.now_unix_ms();
    for (const auto& digest : digests) {
      ++m_stats.events_observed;
      if (!digest) {
        ++m_stats.events_unreadable;
        m_kpis.record_malformed();
        continue;
      }
      const EventFacts facts = digest->facts(m_lines);
      m_latency.record(now_ms, now_ms - facts.received_ms);
      m_kpis.add(facts);
    }
  } catch (const std::exception& e) {
    ++m_stats.observer_errors;
    spdlog::error("live view: observing a publish failed: {}", e.what());
  }
}

std::string LiveView::stats_json(const BatchStats& batches, PipelineStatsInput input) {
  input.now_ms = m_clock.now_unix_ms();
  input.uptime_s =
      std::chrono::duration_cast<std::chrono::seconds>(m_clock.now_steady() - m_started).count();
  input.latency = m_latency.summary(input.now_ms);
  input.latency_window = m_options.latency.window;
  return pipeline_stats_json(batches, input);
}

void LiveView::append_metrics(std::ostream& out, const BatchStats& batches) {
  m_kpis.append_metrics(out);
  m_latency.append_metrics(out);
  append_batch_size_metrics(out, batches);
  if (const auto* store = m_snapshots.store()) {
    common::PrometheusWriter metrics(out, "poscollector_");
    metrics.counter("kpi_snapshots_total", "Live-view snapshots written to kpis.db.",
                    store->saved());
    metrics.counter("kpi_snapshot_failures_total", "Live-view snapshots that could not be written.",
                    store->failures());
  }
}

}  // namespace pos::collector
