#pragma once
// The durable Outbox: one SQLite database in WAL mode, one writer thread with group commit.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "pos/agent/outbox.hpp"
#include "pos/common/clock.hpp"
#include "pos/protocol/result.hpp"

namespace pos::agent {

/// Settings of SqliteOutbox::open. The defaults suit a till.
struct SqliteOutboxOptions {
  std::filesystem::path path;  ///< database file; its directory must exist
  std::string store_id;
  std::string till_id;
  /// append fails `full` when unacknowledged payload bytes plus the request would exceed this.
  std::uint64_t max_backlog_bytes = 2ULL * 1024 * 1024 * 1024;
  /// Acknowledged events are kept this long after their acknowledgement (local audit, dedup).
  std::chrono::milliseconds retention = std::chrono::hours(72);
  /// Events waiting for the writer; beyond it append fails `busy` at once. An append of more
  /// events than this can never succeed (see max_append_events).
  std::size_t max_queued_events = max_append_events;
  /// Events per transaction (a single larger request still goes in alone).
  std::size_t max_group_events = 10'000;
  /// Pending acknowledge calls; beyond it acknowledge fails at once.
  std::size_t max_queued_acks = 10'000;
  /// Rows deleted per pruning transaction, and how often pruning is tried when idle.
  std::size_t prune_step = 1000;
  std::chrono::milliseconds prune_interval = std::chrono::seconds(10);
  /// Acknowledgements closer together than this share one retention mark (the later time wins,
  /// so events are kept at most this much longer than `retention`).
  std::chrono::milliseconds ack_mark_interval = std::chrono::seconds(60);
  int busy_timeout_ms = 5000;
};

/// Outbox on SQLite. Thread-safe: append, acknowledge, read_from, stats and epoch may be called
/// from any thread. Completions, failures included, are posted to the completion executor.
class SqliteOutbox final : public Outbox {
 public:
  /// Opens or creates the database (new databases get a random epoch; an existing one that never
  /// held an event gets a new one, since nothing in it proves that a collector has not seen its
  /// epoch) and starts the writer thread. Fails, with a message naming the path, when the file
  /// cannot be opened, is not a database, has a newer schema, or the store/till ids differ from the
  /// ones it was created with.
  static Result<std::unique_ptr<SqliteOutbox>> open(
      SqliteOutboxOptions options, boost::asio::any_io_executor completion_executor,
      const common::Clock& clock);

  SqliteOutbox(const SqliteOutbox&) = delete;
  SqliteOutbox& operator=(const SqliteOutbox&) = delete;
  /// Calls stop().
  ~SqliteOutbox() override;

  /// Fails at once with `busy` when the queue is at its limit, `full` when the buffer is, and
  /// `shutting_down` after stop(). Otherwise see Outbox::append.
  void append(std::vector<protocol::PosEvent> events, AppendDone done) override;
  Result<std::vector<StoredEvent>> read_from(std::uint64_t first_seq, std::size_t max_events,
                                             std::size_t max_bytes) override;
  void acknowledge(std::uint64_t through_seq, std::function<void(Status)> done) override;
  /// Runs on the writer thread before any append queued after it; a second call while one is
  /// pending fails at once. See Outbox::renew_epoch.
  void renew_epoch(std::uint64_t keep_through,
                   std::function<void(Result<std::uint64_t>)> done) override;
  void set_commit_listener(CommitListener listener) override;
  OutboxStats stats() const override;
  std::uint64_t epoch() const override;

  /// Finishes the queued work, then joins the writer thread. Later appends fail `shutting_down`,
  /// later acknowledgements fail. Idempotent; must not be called from a completion handler that
  /// the writer may be waiting on (it does not wait on any).
  void stop();

 private:
  struct Impl;
  explicit SqliteOutbox(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace pos::agent
