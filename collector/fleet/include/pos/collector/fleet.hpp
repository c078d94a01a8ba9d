#pragma once
// The fleet view: per till, its last status and what the collector saw of it.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "pos/collector/fleet_store.hpp"
#include "pos/collector/pipeline_observer.hpp"
#include "pos/collector/shared_counters.hpp"
#include "pos/protocol/messages.hpp"

namespace pos::collector {

struct FleetOptions {
  std::chrono::seconds stale_after{90};  ///< nothing seen for longer: `stale`
  std::size_t max_tills = 10'000;        ///< further tills are not tracked (counted)
};

/// Growth of a till's rejected_total within one bucket of at most a minute.
struct RejectedGrowth {
  std::int64_t first_ms = 0;  ///< first growth in the bucket
  std::int64_t last_ms = 0;   ///< latest growth in the bucket
  std::uint64_t count = 0;    ///< events rejected in the bucket
};

/// Rejected-growth history kept per till: buckets span at most this long...
inline constexpr std::int64_t rejected_bucket_ms = 60'000;
/// ...and at most this many are kept (about an hour of history while rejections keep coming).
inline constexpr std::size_t max_rejected_buckets = 64;

/// One till as shown by GET /v1/fleet.
struct TillView {
  std::string store_id;
  std::string till_id;
  bool has_status = false;
  bool offline = false;           ///< the last status said offline
  std::int64_t status_ms = 0;     ///< when the last status arrived
  std::int64_t last_seen_ms = 0;  ///< last status or batch, 0: never
  std::int64_t last_batch_ms = 0;
  std::int64_t last_ack_ms = 0;  ///< when a collector last acked this till, 0: never
  std::string agent_version;
  std::uint64_t backlog_events = 0;
  std::optional<std::int64_t> oldest_unacked_ms;  ///< from the status' oldest_unacked_at
  std::uint64_t published_total = 0;
  std::uint64_t duplicates_total = 0;
  std::uint64_t rejected_total = 0;  ///< events dead-lettered
  std::uint64_t gaps_total = 0;      ///< batches refused for a gap
  /// The four totals above are fleet-wide: this collector's own counts plus the other
  /// collectors' as last read from PostgreSQL (fleet_sharing.hpp; 0 with one collector), which
  /// are these. Own count = total - shared.
  std::uint64_t shared_published = 0;
  std::uint64_t shared_duplicates = 0;
  std::uint64_t shared_rejected = 0;
  std::uint64_t shared_gaps = 0;
  std::int64_t own_last_ack_ms = 0;  ///< when this collector last acked the till, 0: never
  /// The epoch the till started last (as the collector saw it: a batch of an epoch without a
  /// mark), 0: none seen; when, and how many epochs it started in all. A new epoch is a new
  /// database on the till: a reinstall, or a restored disk the agent detected.
  std::uint64_t epoch = 0;
  std::int64_t epoch_started_ms = 0;
  std::uint64_t epochs_total = 0;
  /// Batches of a new epoch refused: the till is at max_epochs_per_till.
  std::uint64_t epochs_refused_total = 0;
  /// The epoch and acked_through of the till's last status that carried them (AgentStatus).
  std::optional<std::uint64_t> reported_epoch;
  std::uint64_t reported_acked_through = 0;
  /// From the status: how often the till's database renewed its epoch because a collector was
  /// ahead of it (restored or rolled-back disk), and when it last did.
  std::uint64_t epoch_renewals = 0;
  std::optional<std::int64_t> epoch_renewed_ms;
  /// From the status: when the till's MQTT client certificate expires (its notAfter).
  std::optional<std::int64_t> cert_not_after_ms;
  /// Collector receive time minus the status' sent_at, for the last two statuses that carried a
  /// parseable sent_at (newest first); positive: the till's clock is behind. In memory only.
  std::optional<std::int64_t> clock_skew_ms;
  std::optional<std::int64_t> previous_clock_skew_ms;
  /// When rejected_total grew, oldest first, at most max_rejected_buckets. In memory only.
  std::deque<RejectedGrowth> rejected_growth;
};

/// One active alert as shown by GET /v1/fleet (rules in alerts.hpp).
struct FleetAlert {
  std::string rule;      ///< e.g. "till_offline"
  std::string severity;  ///< "warning" or "critical"
  std::string store_id;
  std::string till_id;
  std::string message;        ///< one line for people
  std::int64_t since_ms = 0;  ///< when the condition began (UNIX ms)
};

enum class TillState { online, offline, stale };

/// "online", "offline" or "stale".
std::string_view to_string(TillState state) noexcept;

/// Per-till state, bounded by max_tills; fed by the pipeline as its observer. Not thread-safe:
/// used on the io thread only.
class FleetState final : public PipelineObserver {
 public:
  explicit FleetState(FleetOptions options = {});

  /// Records a status message received at `now_ms`.
  void on_status(const std::string& store_id, const std::string& till_id,
                 const protocol::AgentStatus& status, std::int64_t now_ms) override;
  /// Records a batch received from the till at `now_ms`.
  void on_batch(const std::string& store_id, const std::string& till_id,
                std::int64_t now_ms) override;
  /// Adds event counts of a batch outcome. Rejected growth is timed at the till's last batch
  /// (the batch that carried the rejected events, or a later one).
  void on_counts(const std::string& store_id, const std::string& till_id,
                 const TillCounts& counts) override;
  /// Records that the till started a new epoch (a batch of an epoch without a mark) at `now_ms`.
  void on_new_epoch(const std::string& store_id, const std::string& till_id, std::uint64_t epoch,
                    std::int64_t now_ms) override;
  /// Counts a batch of a new epoch refused (the till is at max_epochs_per_till).
  void on_epoch_refused(const std::string& store_id, const std::string& till_id) override;
  /// Records an ack sent to the till at `now_ms`.
  void on_ack(const std::string& store_id, const std::string& till_id,
              std::int64_t now_ms) override;

  TillState state_of(const TillView& till, std::int64_t now_ms) const;

  /// `{"generated_at": ..., "tills": [...], "alerts": [...]}`, tills sorted by store, till (SPEC
  /// "Collector HTTP"); each till row lists the rules of its entries in `alerts`, which are
  /// output in the given order.
  std::string to_json(std::int64_t now_ms, const std::vector<FleetAlert>& alerts = {}) const;

  /// Rows changed since the last call, for FleetStore::save; clears the changed set.
  std::vector<FleetRecord> take_dirty(std::int64_t now_ms);
  /// Restores rows saved earlier (bad rows are skipped); tills with own counts are pending for
  /// sharing (take_own_counts). Call before anything else.
  void load(const std::vector<FleetRecord>& rows);

  /// This collector's own cumulative counts of at most `limit` tills whose counts changed since
  /// they were last taken (the others stay pending; the next call goes on after the last till
  /// taken, round robin), for sharing.
  std::vector<SharedTillCounts> take_own_counts(std::size_t limit);
  /// Tills whose own counts changed and were not taken yet.
  std::size_t own_counts_pending() const noexcept { return m_own_changed.size(); }
  /// Marks the tills of `rows` pending again (their write failed).
  void retake_own_counts(const std::vector<SharedTillCounts>& rows);
  /// Raises this collector's own counts of each till in `own` to at least those (what it shared
  /// before a restart that lost some of fleet.db, or all of it); raised tills are pending.
  void raise_own(const std::vector<SharedTillCounts>& own);
  /// Sets the other collectors' counts of each till in `others` (tills not listed keep theirs);
  /// the fleet-wide totals follow. Unknown tills are added while fewer than max_tills are tracked.
  void apply_shared(const std::vector<SharedTillCounts>& others);

  std::size_t size() const noexcept { return m_tills.size(); }
  std::uint64_t untracked_total() const noexcept { return m_untracked; }
  /// Tills per state, for metrics.
  std::map<TillState, std::size_t> count_by_state(std::int64_t now_ms) const;
  /// Every till, sorted by store, till.
  const std::map<std::pair<std::string, std::string>, TillView>& tills() const noexcept {
    return m_tills;
  }
  /// The till's view; null when unknown.
  const TillView* find(const std::string& store_id, const std::string& till_id) const;

 private:
  TillView* entry(const std::string& store_id, const std::string& till_id);

  FleetOptions m_options;
  std::map<std::pair<std::string, std::string>, TillView> m_tills;
  std::set<std::pair<std::string, std::string>> m_dirty;
  std::set<std::pair<std::string, std::string>> m_own_changed;  ///< counts not yet shared
  std::pair<std::string, std::string> m_own_cursor;  ///< the last till take_own_counts took
  std::uint64_t m_untracked = 0;
};

}  // namespace pos::collector
