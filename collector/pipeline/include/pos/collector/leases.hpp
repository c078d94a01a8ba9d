#pragma once
// Partition leases for several collectors sharing one PostgreSQL ([marks] type = "postgres"):
// the store (one transaction per round) and the manager that renews, claims a fair share,
// hands surplus partitions back once they are idle, and answers Ownership for the pipeline.
// Design, failure cases and why: docs/collector.md, "Several collectors".

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "pos/collector/mark_store.hpp"
#include "pos/collector/ownership.hpp"
#include "pos/common/clock.hpp"
#include "pos/common/worker_thread.hpp"
#include "pos/protocol/result.hpp"

namespace pos::collector {

/// What one lease round found and did.
struct LeaseRound {
  std::vector<Fence> owned;                ///< every partition held after the round
  std::vector<std::uint32_t> acquired;     ///< those of `owned` taken in this round
  std::vector<StoredMark> acquired_marks;  ///< the marks of the tills of `acquired`
  std::size_t live_collectors = 0;         ///< heartbeats not expired, this one included
  std::size_t excess = 0;                  ///< partitions held above the fair share
};

/// The shared lease table. Blocking; used from one thread at a time.
class LeaseStore {
 public:
  virtual ~LeaseStore() = default;
  /// In one transaction: renews this collector's heartbeat, frees `release`, renews every
  /// partition it still holds, and claims free or expired partitions (a new token each) up to
  /// ceil(partition_count / live collectors). Leases last `ttl` from the server's clock. Fails
  /// naming the database; nothing changed then.
  virtual Result<LeaseRound> run_round(const std::vector<std::uint32_t>& release) = 0;
  /// Frees every partition and drops the heartbeat (clean shutdown: the others take over at once).
  virtual Status release_all() = 0;
};

/// Leases in the PostgreSQL database at `dsn` for `collector_id`, each lasting `ttl`. Creates or
/// checks the schema. Fails naming the server (never the password).
Result<std::unique_ptr<LeaseStore>> open_postgres_leases(const std::string& dsn,
                                                         std::string collector_id,
                                                         std::chrono::milliseconds ttl);

struct LeaseManagerOptions {
  std::chrono::milliseconds ttl{5000};             ///< a lease's life on the server
  std::chrono::milliseconds renew_interval{1000};  ///< one round this often
  /// A lease counts as ours until (start of the round that renewed it) + ttl - safety_margin by
  /// our steady clock: never past its expiry on the server, whatever the clocks say, so a
  /// collector frozen or cut off stops before another can take over.
  std::chrono::milliseconds safety_margin{1000};
  /// A surplus partition being handed back waits at most this long for its batches in flight.
  std::chrono::milliseconds release_drain{10000};
};

/// Counters and state (io executor).
struct LeaseStats {
  std::size_t owned = 0;  ///< partitions held and admitted now
  std::size_t releasing = 0;
  std::size_t live_collectors = 0;
  std::uint64_t rounds = 0;
  std::uint64_t round_failures = 0;
  std::uint64_t acquired = 0;
  std::uint64_t released = 0;
  std::uint64_t lost = 0;  ///< held, then found taken over (our lease had run out)
  bool healthy = false;    ///< the last round succeeded
};

/// Runs lease rounds on a worker thread and keeps the result for the pipeline. Every public
/// member and every hook runs on the io executor. Never throws after construction.
class LeaseManager final : public Ownership {
 public:
  struct Hooks {
    /// Raises the local marks to what was read for newly acquired partitions; runs before
    /// fence_for() admits them.
    std::function<void(const std::vector<StoredMark>&)> adopt;
    /// True while batches of the partition are in the sink or being committed.
    std::function<bool(std::uint32_t partition)> busy;
    /// After newly acquired partitions are admitted, with their marks.
    std::function<void(const std::vector<StoredMark>&)> acquired;
  };

  /// `store` and `clock` must outlive the manager.
  LeaseManager(boost::asio::any_io_executor executor, std::unique_ptr<LeaseStore> store,
               const common::Clock& clock, LeaseManagerOptions options);
  ~LeaseManager() override;
  LeaseManager(const LeaseManager&) = delete;
  LeaseManager& operator=(const LeaseManager&) = delete;

  /// Before start().
  void set_hooks(Hooks hooks) { m_hooks = std::move(hooks); }
  /// Runs the first round now, then one every renew_interval.
  void start();
  /// Stops the rounds, frees every partition (best effort), then runs `done` on the executor.
  void stop(std::function<void()> done);

  std::optional<Fence> fence_for(std::string_view store_id,
                                 std::string_view till_id) const override;
  /// Whether the partition is held and admitted now.
  bool owns(std::uint32_t partition) const;
  LeaseStats stats() const;

 private:
  struct Held {
    std::uint64_t token = 0;
    std::chrono::steady_clock::time_point valid_until;
    bool releasing = false;
    std::chrono::steady_clock::time_point releasing_since;
  };
  void schedule(std::chrono::milliseconds delay);
  void run_round();
  void on_round(Result<LeaseRound> round, std::chrono::steady_clock::time_point started,
                const std::vector<std::uint32_t>& released);

  boost::asio::any_io_executor m_executor;
  std::unique_ptr<LeaseStore> m_store;
  const common::Clock& m_clock;
  LeaseManagerOptions m_options;
  Hooks m_hooks;
  boost::asio::steady_timer m_timer;
  std::unordered_map<std::uint32_t, Held> m_held;
  LeaseStats m_stats;
  bool m_round_in_flight = false;
  bool m_stopped = false;
  std::int64_t m_last_failure_log_ms = 0;
  std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
  common::WorkerThread m_worker{"leases", 4};  // last: joined first, before the store goes
};

}  // namespace pos::collector
