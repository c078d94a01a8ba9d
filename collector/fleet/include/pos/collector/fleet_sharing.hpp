#pragma once
// Several collectors ([marks] type = "postgres"): shares this collector's per-till counts in
// PostgreSQL and folds the other collectors' into the FleetState, so that /v1/fleet, the
// dashboard and the per-till metrics show fleet-wide totals whichever collector answers
// (docs/collector.md, "Several collectors").

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "pos/collector/fleet.hpp"
#include "pos/collector/shared_counters.hpp"
#include "pos/common/periodic_task.hpp"
#include "pos/common/prometheus_text.hpp"
#include "pos/common/worker_thread.hpp"

namespace pos::collector {

struct FleetSharingOptions {
  std::chrono::milliseconds interval{2000};  ///< one round this often
  /// Own rows written per round at most; further changed tills wait for the next rounds.
  std::size_t max_rows_per_round = 2000;
  /// Tills read back per round at most (the most recently updated first); the others keep the
  /// values read earlier.
  std::size_t max_tills_read = 10'000;
};

/// Counters and state (io executor).
struct FleetSharingStats {
  std::uint64_t rounds = 0;
  std::uint64_t failures = 0;      ///< rounds that failed (the database was unreachable...)
  std::uint64_t rows_written = 0;  ///< own rows upserted
  std::uint64_t rows_read = 0;     ///< tills read back
  std::size_t pending = 0;         ///< own rows changed and not shared yet (after the last round)
  bool healthy = false;            ///< the last round succeeded
};

/// The fleet_share_* metrics of `stats`.
void append_fleet_sharing_metrics(common::PrometheusWriter& metrics,
                                  const FleetSharingStats& stats);

/// The first round reads this collector's own rows back and raises its own counts to them
/// (FleetState::raise_own: a restart that lost part of fleet.db does not lower its row). Then every
/// interval: takes the own counts that changed (FleetState::take_own_counts), and on a worker
/// thread writes them and reads the others' back; the result is applied on the io executor. One
/// round at a time; a failed round puts its rows back and is logged once until a round succeeds
/// again (nothing else waits on it). Every public member runs on the io executor.
class FleetSharing {
 public:
  /// `fleet` must outlive this.
  FleetSharing(const boost::asio::any_io_executor& executor,
               std::unique_ptr<SharedCounterStore> store, FleetState& fleet,
               FleetSharingOptions options);
  ~FleetSharing();
  FleetSharing(const FleetSharing&) = delete;
  FleetSharing& operator=(const FleetSharing&) = delete;

  /// The first round at once, then one every interval.
  void start();
  /// No further round (one in flight is not applied); the own counts changed since the last
  /// round are written once more, on the worker, before it is joined (destruction). Idempotent.
  void stop();
  FleetSharingStats stats() const { return m_stats; }

 private:
  struct Outcome {
    Status written;
    Result<std::vector<SharedTillCounts>> others;
  };
  void run_round();
  void on_own_read(Result<std::vector<SharedTillCounts>> own);
  void on_round(const std::vector<SharedTillCounts>& rows, Outcome outcome);

  boost::asio::any_io_executor m_executor;
  std::unique_ptr<SharedCounterStore> m_store;
  FleetState& m_fleet;
  FleetSharingOptions m_options;
  FleetSharingStats m_stats;
  bool m_in_flight = false;
  bool m_own_restored = false;  ///< the first round read our own rows back (raise_own)
  bool m_stopped = false;
  std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
  common::PeriodicTask m_rounds;
  common::WorkerThread m_worker{"fleet sharing", 2};  // last: joined first, before the store goes
};

}  // namespace pos::collector
