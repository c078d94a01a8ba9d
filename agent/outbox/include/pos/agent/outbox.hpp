#pragma once
// The agent's durable buffer: every accepted event, in seq order, until the collector acks it.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pos/protocol/event.hpp"
#include "pos/protocol/result.hpp"

namespace pos::agent {

/// The most events one Outbox::append can ever store: the SqliteOutbox writer queue's bound. Every
/// limit on what one append carries (ingest.max_events_per_request, a spool file's events) is at
/// most this, so that no request or file is refused `busy` forever.
inline constexpr std::size_t max_append_events = 50'000;

/// What happened to one event handed to Outbox::append.
struct AppendResult {
  enum class Status { accepted, duplicate };
  Status status = Status::accepted;
  std::string event_id;  ///< for a duplicate: the event id of the original
  std::uint64_t seq = 0;
};

/// Why a whole append failed. `full` and `busy` map to HTTP 503 with Retry-After; `io` to 500/503.
struct AppendError {
  enum class Kind { full, busy, io, shutting_down };
  Kind kind = Kind::io;
  std::string message;
};

/// One stored event as the forwarder reads it.
struct StoredEvent {
  std::uint64_t seq = 0;
  std::string payload_line;  ///< canonical JSON with the agent stamp (SPEC batch payload line)
  std::int64_t received_at_ms = 0;
};

/// Counters and gauges for status and metrics. Cheap to call from any thread.
struct OutboxStats {
  std::uint64_t epoch = 0;
  std::uint64_t last_seq = 0;        ///< highest committed seq (0: none yet)
  std::uint64_t acked_through = 0;   ///< every seq <= this is acknowledged
  std::uint64_t backlog_events = 0;  ///< last_seq - acked_through
  std::uint64_t backlog_bytes = 0;   ///< payload bytes of unacknowledged events
  std::optional<std::int64_t> oldest_unacked_received_ms;
  std::optional<std::int64_t> last_ack_ms;
  std::uint64_t accepted_total = 0;    ///< since start
  std::uint64_t duplicates_total = 0;  ///< since start
  std::uint64_t db_bytes = 0;          ///< database + WAL file sizes
  std::uint64_t pruned_total = 0;      ///< since start
  std::uint64_t prune_passes = 0;      ///< pruning attempts since start (tests wait on it)
  std::uint64_t commits_total = 0;     ///< group commits since start
  /// Times this database moved to a new epoch because the collector was ahead of it (restored
  /// or rolled-back disk), ever; when the last one happened and the epoch it left.
  std::uint64_t epoch_renewals = 0;
  std::optional<std::int64_t> epoch_renewed_ms;
  std::uint64_t previous_epoch = 0;
};

/// Seam between ingest/forwarding and storage. The real implementation is SqliteOutbox; unit tests
/// use a fake. Completion callbacks are invoked on the executor given to the implementation, never
/// on the caller's stack; they must not throw.
class Outbox {
 public:
  using AppendDone = std::function<void(Result<std::vector<AppendResult>, AppendError>)>;
  using CommitListener = std::function<void(std::uint64_t last_seq)>;

  virtual ~Outbox() = default;

  /// Stores `events` in order, all or nothing, durably (fsync) before `done` runs. Each event gets
  /// the next seq, or is reported as a duplicate of an earlier event with the same pos_event_id
  /// (also within the same call). Concurrent calls share one commit (group commit).
  virtual void append(std::vector<protocol::PosEvent> events, AppendDone done) = 0;

  /// Reads committed events with seq >= first_seq in seq order: at most max_events, and at most
  /// max_bytes of payload (but always at least one event if one exists). Thread-safe; does not wait
  /// for the writer.
  virtual Result<std::vector<StoredEvent>> read_from(std::uint64_t first_seq,
                                                     std::size_t max_events,
                                                     std::size_t max_bytes) = 0;

  /// Records that every seq <= through_seq is acknowledged (values not above the current mark are
  /// ignored; values above last_seq are an error). Durable before `done` runs.
  virtual void acknowledge(std::uint64_t through_seq, std::function<void(Status)> done) = 0;

  /// Moves the outbox to a new random epoch because the collector holds seqs of the current one
  /// that this database does not (a restored or rolled-back disk, SPEC's promise otherwise broken:
  /// new events would reuse seqs the collector already published). Events with seq <=
  /// keep_through are deleted (the collector acknowledged beyond them: they are published); every
  /// later event moves, in order, to the new epoch as seq 1, 2, ... (new event_id and seq in its
  /// payload line). Appends queued behind it land in the new epoch. Durable before `done` runs
  /// with the new epoch; on failure nothing changed.
  virtual void renew_epoch(std::uint64_t keep_through,
                           std::function<void(Result<std::uint64_t>)> done) = 0;

  /// Registers the one listener told (on the completion executor) after each commit that added
  /// events.
  virtual void set_commit_listener(CommitListener listener) = 0;

  virtual OutboxStats stats() const = 0;
  virtual std::uint64_t epoch() const = 0;
};

}  // namespace pos::agent
