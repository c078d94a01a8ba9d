// FleetSharing: see fleet_sharing.hpp. The database calls run on the worker thread; FleetState is
// read and written on the io executor only.

#include "pos/collector/fleet_sharing.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <string>
#include <utility>

namespace pos::collector {

void append_fleet_sharing_metrics(common::PrometheusWriter& metrics,
                                  const FleetSharingStats& stats) {
  metrics.gauge("fleet_share_healthy",
                "1 while the last round sharing the per-till counts with the other collectors "
                "succeeded.",
                stats.healthy ? 1 : 0);
  metrics.counter("fleet_share_rounds_total", "Rounds sharing the per-till counts.", stats.rounds);
  metrics.counter("fleet_share_failures_total",
                  "Rounds sharing the per-till counts that failed (the database was unreachable).",
                  stats.failures);
  metrics.counter("fleet_share_rows_written_total", "Own per-till count rows written.",
                  stats.rows_written);
  metrics.counter("fleet_share_rows_read_total", "Other collectors' per-till sums read.",
                  stats.rows_read);
  metrics.gauge("fleet_share_pending_tills",
                "Tills whose own counts changed and are not shared yet.",
                static_cast<double>(stats.pending));
}

FleetSharing::FleetSharing(const boost::asio::any_io_executor& executor,
                           std::unique_ptr<SharedCounterStore> store, FleetState& fleet,
                           FleetSharingOptions options)
    : m_executor(executor),
      m_store(std::move(store)),
      m_fleet(fleet),
      m_options(options),
      m_rounds(executor, "sharing the fleet counters", options.interval, [this] { run_round(); }) {}

FleetSharing::~FleetSharing() {
  *m_alive = false;
  m_worker.stop();
}

void FleetSharing::start() {
  m_stopped = false;
  m_rounds.start(std::chrono::milliseconds(0));
}

void FleetSharing::stop() {
  if (m_stopped) {
    return;
  }
  m_stopped = true;
  m_rounds.stop();
  if (!m_own_restored) {
    return;  // our row may be ahead of what we hold: never lowered by a write
  }
  // Best effort: the counts made since the last round, written by the worker before it joins
  // (after a round in flight). Not retried; the next start shares them again.
  m_worker.post([this, rows = m_fleet.take_own_counts(m_options.max_rows_per_round)] {
    if (auto written = m_store->write(rows); !written) {
      spdlog::warn("fleet sharing: the last counts were not shared: {}", written.error().message);
    }
  });
}

void FleetSharing::run_round() {
  if (m_in_flight || m_stopped) {
    return;
  }
  m_in_flight = true;
  if (!m_own_restored) {
    const bool posted = m_worker.post([this, alive = std::weak_ptr<bool>(m_alive)] {
      auto own = m_store->read_own(m_options.max_tills_read);
      boost::asio::post(m_executor, [this, alive, own = std::move(own)]() mutable {
        if (!alive.expired()) {
          on_own_read(std::move(own));
        }
      });
    });
    m_in_flight = posted;
    return;
  }
  auto rows = m_fleet.take_own_counts(m_options.max_rows_per_round);
  const bool queued =
      m_worker.post([this, alive = std::weak_ptr<bool>(m_alive), rows = std::move(rows)]() mutable {
        Outcome outcome{m_store->write(rows), fail("not read")};
        if (outcome.written) {
          outcome.others = m_store->read_others(m_options.max_tills_read);
        }
        boost::asio::post(m_executor, [this, alive, rows = std::move(rows),
                                       outcome = std::move(outcome)]() mutable {
          if (!alive.expired()) {
            on_round(rows, std::move(outcome));
          }
        });
      });
  if (!queued) {
    // Only once the worker is stopped (one round at a time never fills its queue); the next
    // start shares every till with own counts again (FleetState::load).
    m_in_flight = false;
  }
}

void FleetSharing::on_own_read(Result<std::vector<SharedTillCounts>> own) {
  m_in_flight = false;
  ++m_stats.rounds;
  if (!own) {
    ++m_stats.failures;
    if (m_stats.failures == 1) {
      spdlog::error("fleet sharing: {} (reading our own rows back; retried every round)",
                    own.error().message);
    }
    return;
  }
  m_own_restored = true;
  m_stats.healthy = true;
  m_fleet.raise_own(*own);
  m_stats.pending = m_fleet.own_counts_pending();
}

void FleetSharing::on_round(const std::vector<SharedTillCounts>& rows, Outcome outcome) {
  m_in_flight = false;
  ++m_stats.rounds;
  if (!outcome.written || !outcome.others) {
    const std::string& why =
        !outcome.written ? outcome.written.error().message : outcome.others.error().message;
    // Written or not, the rows go back: a later round writes their newest counts.
    m_fleet.retake_own_counts(rows);
    ++m_stats.failures;
    if (m_stats.healthy || m_stats.failures == 1) {
      spdlog::error(
          "fleet sharing: {} (paused: other collectors' counts are not updated and "
          "ours are kept for later; logged again when it recovers)",
          why);
    }
    m_stats.healthy = false;
    m_stats.pending = m_fleet.own_counts_pending();
    return;
  }
  if (!m_stats.healthy && m_stats.failures > 0) {
    spdlog::info("fleet sharing: rounds succeed again");
  }
  m_stats.healthy = true;
  m_stats.rows_written += rows.size();
  m_stats.rows_read += outcome.others->size();
  if (!m_stopped) {
    m_fleet.apply_shared(*outcome.others);
  }
  m_stats.pending = m_fleet.own_counts_pending();
}

}  // namespace pos::collector
