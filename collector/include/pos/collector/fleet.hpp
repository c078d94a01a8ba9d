#pragma once
// The fleet view: per till, its last status and what the collector saw of it.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "pos/collector/mark_store.hpp"
#include "pos/protocol/messages.hpp"

namespace pos::collector {

struct FleetOptions {
  std::chrono::seconds stale_after{90};  ///< nothing seen for longer: `stale`
  std::size_t max_tills = 10'000;        ///< further tills are not tracked (counted)
};

/// One till as shown by GET /v1/fleet.
struct TillView {
  std::string store_id;
  std::string till_id;
  bool has_status = false;
  bool offline = false;           ///< the last status said offline
  std::int64_t status_ms = 0;     ///< when the last status arrived
  std::int64_t last_seen_ms = 0;  ///< last status or batch, 0: never
  std::int64_t last_batch_ms = 0;
  std::int64_t last_ack_ms = 0;  ///< when the collector last acked this till, 0: never
  std::string agent_version;
  std::uint64_t backlog_events = 0;
  std::optional<std::int64_t> oldest_unacked_ms;  ///< from the status' oldest_unacked_at
  std::uint64_t published_total = 0;
  std::uint64_t duplicates_total = 0;
  std::uint64_t rejected_total = 0;  ///< events dead-lettered
  std::uint64_t gaps_total = 0;      ///< batches refused for a gap
};

enum class TillState { online, offline, stale };

/// "online", "offline" or "stale".
std::string_view to_string(TillState state) noexcept;

/// Per-till state, bounded by max_tills. Not thread-safe: used on the io thread only.
class FleetState {
 public:
  explicit FleetState(FleetOptions options = {});

  /// Records a status message received at `now_ms`.
  void on_status(const std::string& store_id, const std::string& till_id,
                 const protocol::AgentStatus& status, std::int64_t now_ms);
  /// Records a batch received from the till at `now_ms`.
  void on_batch(const std::string& store_id, const std::string& till_id, std::int64_t now_ms);
  /// Adds event counts of a batch outcome.
  void add_counts(const std::string& store_id, const std::string& till_id, std::uint64_t published,
                  std::uint64_t duplicates, std::uint64_t rejected, std::uint64_t gaps);
  /// Records an ack sent to the till at `now_ms`.
  void on_ack(const std::string& store_id, const std::string& till_id, std::int64_t now_ms);

  TillState state_of(const TillView& till, std::int64_t now_ms) const;

  /// `{"generated_at": ..., "tills": [...]}` sorted by store, till (SPEC "Collector HTTP").
  std::string to_json(std::int64_t now_ms) const;

  /// Rows changed since the last call, for MarkStore::save_fleet; clears the changed set.
  std::vector<FleetRecord> take_dirty(std::int64_t now_ms);
  /// Restores rows saved earlier (bad rows are skipped). Call before anything else.
  void load(const std::vector<FleetRecord>& rows);

  std::size_t size() const noexcept { return m_tills.size(); }
  std::uint64_t untracked_total() const noexcept { return m_untracked; }
  /// Tills per state, for metrics.
  std::map<TillState, std::size_t> count_by_state(std::int64_t now_ms) const;
  /// The till's view; null when unknown.
  const TillView* find(const std::string& store_id, const std::string& till_id) const;

 private:
  TillView* entry(const std::string& store_id, const std::string& till_id);

  FleetOptions m_options;
  std::map<std::pair<std::string, std::string>, TillView> m_tills;
  std::set<std::pair<std::string, std::string>> m_dirty;
  std::uint64_t m_untracked = 0;
};

/// Parses an RFC 3339 timestamp into UNIX milliseconds; nullopt when it is not one.
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text);

}  // namespace pos::collector
