#pragma once
// SqliteOutbox's private parts, shared by sqlite_outbox.cpp (open, the public calls) and
// sqlite_outbox_writer.cpp (the writer thread: group commit, acknowledgements, pruning). The design
// is described at the top of sqlite_outbox.cpp.

#include <atomic>
#include <bit>
#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "pos/agent/sqlite_outbox.hpp"
#include "pos/common/loop_thread.hpp"
#include "pos/common/sqlite.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::agent {
namespace outbox_detail {

using common::Database;
using common::SqliteError;
using common::SqliteResult;
using common::Statement;
using common::Transaction;
using AppendOutcome = Result<std::vector<AppendResult>, AppendError>;

constexpr std::int64_t no_time = std::numeric_limits<std::int64_t>::min();

/// 64 random bits from getrandom(), never 0.
Result<std::uint64_t> random_epoch();

/// Rows an epoch renewal reads and rewrites at a time (bounded memory for any backlog).
constexpr std::size_t renew_chunk = 1000;

/// Digits of `value` in decimal.
inline std::size_t decimal_digits(std::uint64_t value) {
  std::size_t digits = 1;
  for (; value >= 10; value /= 10) {
    ++digits;
  }
  return digits;
}

/// seqs and the epoch are unsigned 64-bit; SQLite stores them bit-cast in an INTEGER.
inline std::int64_t to_db(std::uint64_t value) {
  return std::bit_cast<std::int64_t>(value);
}
inline std::uint64_t from_db(std::int64_t value) {
  return std::bit_cast<std::uint64_t>(value);
}

/// A SQLite error as the outbox reports it at open: `outbox PATH: message`.
inline Error prefixed(const std::filesystem::path& path, const SqliteError& error) {
  return Error{"outbox " + path.string() + ": " + error.message};
}

/// A failed write as append() reports it: `full` for SQLITE_FULL, else `io`.
inline AppendError append_error_from(const SqliteError& error) {
  return AppendError{error.is_full() ? AppendError::Kind::full : AppendError::Kind::io,
                     "outbox: " + error.message};
}

/// Steps a single-row query; nullopt when it returned no row or NULL.
inline SqliteResult<std::optional<std::int64_t>> query_int64(Statement& statement) {
  auto stepped = statement.step();
  if (!stepped) {
    statement.reset();
    return SqliteResult<std::optional<std::int64_t>>::failure(std::move(stepped).error());
  }
  std::optional<std::int64_t> value;
  if (*stepped == Statement::Step::row && !statement.column_is_null(0)) {
    value = statement.column_int64(0);
  }
  statement.reset();
  return value;
}

/// An event as the writer needs it: serialized once on the caller's thread (see append()).
struct PreparedEvent {
  std::string pos_event_id;
  protocol::PayloadTemplate line;
};

/// One append() call waiting for the writer.
struct AppendRequest {
  std::vector<PreparedEvent> events;
  Outbox::AppendDone done;
  std::int64_t received_at_ms = 0;
};

/// One acknowledge() call waiting for the writer.
struct AckRequest {
  std::uint64_t through_seq = 0;
  std::function<void(Status)> done;
};

/// One renew_epoch() call waiting for the writer.
struct RenewRequest {
  std::uint64_t keep_through = 0;
  std::function<void(Result<std::uint64_t>)> done;
};

/// One request of a group being written: its answer, set as the writer goes.
struct GroupEntry {
  AppendRequest request;
  std::vector<AppendResult> results;
  std::optional<AppendError> error;
};

/// The writer connection's prepared statements (sqlite_outbox.cpp, prepare_all).
struct WriterStatements {
  Statement find_event;
  Statement insert_event;
  Statement insert_new_event;
  Statement update_meta_append;
  Statement find_offset;
  Statement find_received;
  Statement update_meta_ack;
  Statement last_mark;
  Statement insert_mark;
  Statement update_mark;
  Statement prune_cutoff;
  Statement min_seq;
  Statement delete_events;
  Statement delete_marks;
  Statement renew_read;
  Statement renew_update;
  Statement renew_delete_kept;
  Statement renew_delete_marks;
  Statement renew_meta;
};

}  // namespace outbox_detail

/// Everything behind SqliteOutbox. Members are grouped by the thread that owns them; the atomics
/// are the stats, written by the writer after each commit.
struct SqliteOutbox::Impl {
  using AckRequest = outbox_detail::AckRequest;
  using AppendRequest = outbox_detail::AppendRequest;
  using Database = outbox_detail::Database;
  using GroupEntry = outbox_detail::GroupEntry;
  using PreparedEvent = outbox_detail::PreparedEvent;
  using Statement = outbox_detail::Statement;
  template <class T>
  using SqliteResult = outbox_detail::SqliteResult<T>;

  Impl(SqliteOutboxOptions opts, boost::asio::any_io_executor exec, const common::Clock& clk)
      : options(std::move(opts)), executor(std::move(exec)), clock(clk) {}

  Status open_database();
  void start() {
    writer.start([this] { run_writer(); });
  }
  void run_writer();
  void write_group(std::vector<GroupEntry>& group, std::vector<AckRequest>& acks);
  SqliteResult<void> write_request(GroupEntry& entry);
  SqliteResult<void> write_request_fits(GroupEntry& entry);
  std::uint64_t max_new_bytes(const std::vector<PreparedEvent>& events) const;
  SqliteResult<void> write_ack(std::uint64_t through_seq, std::int64_t now_ms);
  SqliteResult<bool> prune_step();
  /// The writer's half of renew_epoch: one transaction; the in-memory state follows its commit.
  SqliteResult<std::uint64_t> write_renewal(std::uint64_t keep_through, std::int64_t now_ms);
  void run_renewal(outbox_detail::RenewRequest request);
  std::string event_id(std::uint64_t seq) const {
    return protocol::make_event_id(options.store_id, options.till_id, epoch, seq);
  }

  const SqliteOutboxOptions options;
  const boost::asio::any_io_executor executor;
  const common::Clock& clock;
  std::atomic<std::uint64_t> epoch{0};

  // Writer thread only (and open()).
  Database write_db;
  outbox_detail::WriterStatements sql;
  std::uint64_t next_seq = 1;
  std::uint64_t total_bytes = 0;
  std::uint64_t writer_acked_through = 0;
  std::uint64_t acked_bytes = 0;
  std::int64_t ack_oldest_ms =
      outbox_detail::no_time;  ///< set by write_ack for the transaction in progress
  std::string line_buffer;     ///< one payload line at a time, reused

  std::mutex read_mutex;
  Database read_db;
  Statement read_events;

  // Under writer.mutex(); writer.stopping() refuses new requests.
  std::deque<AppendRequest> appends;
  std::size_t queued_events = 0;
  std::vector<AckRequest> acks;
  std::optional<outbox_detail::RenewRequest> renewal;
  CommitListener listener;
  common::LoopThread writer;  ///< runs run_writer(); stopped by SqliteOutbox::stop()

  std::atomic<std::uint64_t> last_seq{0};
  std::atomic<std::uint64_t> acked_through{0};
  std::atomic<std::uint64_t> backlog_bytes{0};
  std::atomic<std::int64_t> oldest_unacked_ms{outbox_detail::no_time};
  std::atomic<std::int64_t> last_ack_ms{outbox_detail::no_time};
  std::atomic<std::uint64_t> accepted_total{0};
  std::atomic<std::uint64_t> duplicates_total{0};
  std::atomic<std::uint64_t> pruned_total{0};
  std::atomic<std::uint64_t> prune_passes{0};
  std::atomic<std::uint64_t> commits_total{0};
  std::atomic<std::uint64_t> epoch_renewals{0};
  std::atomic<std::int64_t> epoch_renewed_ms{outbox_detail::no_time};
  std::atomic<std::uint64_t> previous_epoch{0};
};

}  // namespace pos::agent
