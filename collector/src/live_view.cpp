#include "pos/collector/live_view.hpp"

#include <spdlog/spdlog.h>

#include <utility>

namespace pos::collector {

LiveViewOptions live_view_options(const CollectorConfig& config) {
  LiveViewOptions o;
  const auto& k = config.kpis;
  o.kpis.utc_offset = k.utc_offset;
  o.kpis.latest_transactions = k.latest_transactions;
  o.kpis.max_stores = k.max_stores;
  o.kpis.max_categories = k.max_categories;
  o.kpis.currency = k.currency;
  o.latency.window = k.latency_window;
  o.latency.max_samples = k.latency_max_samples;
  o.snapshot_path = std::filesystem::path(config.data_dir) / "kpis.db";
  o.snapshot_interval = k.snapshot_interval;
  return o;
}

LiveView::LiveView(const boost::asio::any_io_executor& executor, Sink& inner,
                   const common::Clock& clock, LiveViewOptions options)
    : m_clock(clock),
      m_options(std::move(options)),
      m_started(clock.now_steady()),
      m_kpis(m_options.kpis, clock),
      m_latency(m_options.latency),
      m_sink(inner, clock, m_kpis, m_latency),
      m_timer(executor) {
  if (m_options.snapshot_path.empty()) {
    return;
  }
  auto store = KpiSnapshotStore::open(m_options.snapshot_path);
  if (!store) {
    spdlog::error("live sales view: not persisted ({}); it restarts empty with the collector",
                  store.error().message);
    return;
  }
  m_store = std::move(*store);
  if (const auto& loaded = m_store->loaded()) {
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
  schedule_snapshot();
}

void LiveView::schedule_snapshot() {
  if (!m_store) {
    return;
  }
  m_timer.expires_after(m_options.snapshot_interval);
  m_timer.async_wait([this](boost::system::error_code ec) {
    if (ec || m_stopped) {
      return;
    }
    try {
      save_snapshot();
    } catch (const std::exception& e) {
      spdlog::error("live sales view: snapshot failed: {}", e.what());
    }
    schedule_snapshot();
  });
}

void LiveView::save_snapshot() {
  if (m_store) {
    m_store->save(m_kpis.snapshot(), m_clock.now_unix_ms());
  }
}

void LiveView::stop() {
  if (m_stopped) {
    return;
  }
  m_stopped = true;
  m_timer.cancel();
  if (m_store) {
    try {
      save_snapshot();
    } catch (const std::exception& e) {
      spdlog::error("live sales view: final snapshot failed: {}", e.what());
    }
    m_store->stop();
  }
}

std::string LiveView::kpis_json() {
  return m_kpis.to_json();
}

std::string LiveView::stats_json(const BatchStats& batches, const FleetState& fleet,
                                 std::size_t pending_batches) {
  PipelineStatsInput in;
  in.now_ms = m_clock.now_unix_ms();
  in.uptime_s =
      std::chrono::duration_cast<std::chrono::seconds>(m_clock.now_steady() - m_started).count();
  in.latency = m_latency.summary(in.now_ms);
  in.latency_window = m_options.latency.window;
  for (const auto& [key, till] : fleet.tills()) {
    in.backlog_events_total += till.backlog_events;
    switch (fleet.state_of(till, in.now_ms)) {
      case TillState::online:
        ++in.tills_online;
        break;
      case TillState::offline:
        ++in.tills_offline;
        break;
      case TillState::stale:
        ++in.tills_stale;
        break;
    }
  }
  in.pending_batches = pending_batches;
  in.sink_healthy = m_sink.healthy();
  return pipeline_stats_json(batches, in);
}

void LiveView::append_metrics(std::ostream& out, const BatchStats& batches) {
  m_kpis.append_metrics(out);
  m_latency.append_metrics(out);
  append_batch_size_metrics(out, batches);
  if (m_store) {
    out << "# HELP poscollector_kpi_snapshots_total Live-view snapshots written to kpis.db.\n"
           "# TYPE poscollector_kpi_snapshots_total counter\nposcollector_kpi_snapshots_total "
        << m_store->saved()
        << "\n# HELP poscollector_kpi_snapshot_failures_total Live-view snapshots that could "
           "not be written.\n# TYPE poscollector_kpi_snapshot_failures_total counter\n"
           "poscollector_kpi_snapshot_failures_total "
        << m_store->failures() << '\n';
  }
}

}  // namespace pos::collector
