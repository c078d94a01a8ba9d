// SqliteOutbox design.
//
// Schema (user_version 2; version 1 databases get the three epoch_renewal columns at open):
//   meta(id = 1, epoch, store_id, till_id, next_seq, total_bytes, acked_through, acked_bytes,
//        created_at_ms, epoch_renewals, epoch_renewed_at_ms, previous_epoch): one row. epoch is 64
//        random bits from getrandom(), stored bit-cast in an INTEGER. next_seq survives pruning of
//        every event. total_bytes is the payload bytes ever stored and acked_bytes those through
//        acked_through, so the backlog in bytes is their difference: open and acknowledge never
//        scan payloads.
//   events(seq INTEGER PRIMARY KEY, pos_event_id TEXT UNIQUE NOT NULL, received_at_ms, payload,
//          end_offset): payload is protocol::make_payload_line's output; end_offset is total_bytes
//          after this event (the acked_bytes of an acknowledgement through it).
//   ack_marks(through_seq PRIMARY KEY, acked_at_ms): when each acknowledgement happened, so that
//          retention counts from the ack time. Acks closer than ack_mark_interval to the last mark
//          move that mark forward (seq and time), so the log stays small and events are kept
//          at most ack_mark_interval longer than the retention.
// The store/till ids are recorded at creation; opening with others fails (stored payload lines
// carry them, and the collector checks them against the topic).
// `posagent export` (agent/export/src/export.cpp) reads meta and events with its own read-only
// connection: a schema change must keep it in step.
// Duplicates are detected while the original row exists, i.e. until its retention has passed.
//
// Connections: the write connection belongs to the writer thread (journal_mode=WAL,
// synchronous=FULL: the WAL is fsynced at every commit; a 2 MiB page cache, enough for the
// append path and bounded for RSS; checkpoints every 4000 pages (16 MiB) of WAL rather than
// SQLite's 1000, so that an index page changed by many commits is copied back once, not four
// times). read_from uses a second, read-only connection under a mutex; WAL lets it read committed
// data while the writer writes, and its statement is reset after each call so that no read
// snapshot holds back checkpoints.
//
// Writer thread: append and acknowledge enqueue and return. The queue is bounded in events
// (max_queued_events: append fails `busy` at once) and in pending acknowledge calls. The writer
// takes every queued request up to max_group_events (a larger single request goes alone) plus all
// pending acknowledgements and runs them in ONE transaction (group commit): per request it
// checks duplicates (in the table, which already holds earlier requests of the group, and within
// the request), assigns seqs in order, checks the buffer limit
// (unacknowledged bytes + this request's new bytes > max_backlog_bytes: that request alone fails
// `full`, nothing of it is written) and splices seq and event_id into the payload lines. When the
// request fits even if all its events are new (the usual case), duplicates are found by the
// insert itself (ON CONFLICT DO NOTHING, then one lookup of the original); otherwise each event is
// looked up first so that only new events count against the limit. The payload lines were
// serialized by append() on the caller's thread (protocol::PayloadTemplate), so that the writer
// thread does little more than SQLite work. Then the ack (the highest through_seq asked for) is
// applied and meta updated, and the transaction commits. Only after the commit are completions
// posted to the completion executor, then the commit listener with the new last_seq. On any SQLite
// error the transaction rolls back, the writer's counters are restored, and every request of the
// group fails (`full` for SQLITE_FULL, else `io`); nothing is half applied.
//
// Pruning runs on the writer thread only when its queue is empty: one transaction deletes at most
// prune_step events with seq <= the highest mark acknowledged more than `retention` ago. Steps
// follow each other while there is more to delete and the queue stays empty; otherwise pruning is
// tried again after prune_interval. Unacknowledged events are never deleted.
//
// Epoch renewal (renew_epoch, when the forwarder learns that the collector holds seqs this
// database lost): one writer transaction deletes the events through keep_through and the ack
// marks, then moves the later events down to seq 1, 2, ... in chunks of renew_chunk rows (each
// payload line parsed and re-stamped with the new epoch's event_id and seq, end offsets counted
// from 0), and sets meta. A database that never held an event gets a new epoch at open.
//
// Stats are atomics written by the writer after each commit; db_bytes stats the db and -wal files.
//
// Files: this one opens the database and holds the public calls; sqlite_outbox_writer.cpp the
// writer thread; sqlite_outbox_impl.hpp the Impl both share.

#include "pos/agent/sqlite_outbox.hpp"

#include <spdlog/spdlog.h>
#include <sys/random.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sqlite_outbox_impl.hpp"

namespace pos::agent {

using namespace outbox_detail;

Result<std::uint64_t> outbox_detail::random_epoch() {
  std::uint64_t epoch = 0;
  while (epoch == 0) {
    const ssize_t got = getrandom(&epoch, sizeof epoch, 0);
    if (got < 0 && errno != EINTR) {
      return fail(std::string("getrandom: ") + std::strerror(errno));
    }
    if (got != static_cast<ssize_t>(sizeof epoch)) {
      epoch = 0;
    }
  }
  return epoch;
}

namespace {
constexpr std::int64_t schema_version = 2;

constexpr std::string_view schema_sql = R"sql(
CREATE TABLE meta(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  epoch INTEGER NOT NULL,
  store_id TEXT NOT NULL,
  till_id TEXT NOT NULL,
  next_seq INTEGER NOT NULL,
  total_bytes INTEGER NOT NULL,
  acked_through INTEGER NOT NULL,
  acked_bytes INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL,
  epoch_renewals INTEGER NOT NULL DEFAULT 0,
  epoch_renewed_at_ms INTEGER,
  previous_epoch INTEGER NOT NULL DEFAULT 0);
CREATE TABLE events(
  seq INTEGER PRIMARY KEY,
  pos_event_id TEXT UNIQUE NOT NULL,
  received_at_ms INTEGER NOT NULL,
  payload TEXT NOT NULL,
  end_offset INTEGER NOT NULL);
CREATE TABLE ack_marks(
  through_seq INTEGER PRIMARY KEY,
  acked_at_ms INTEGER NOT NULL);
)sql";

SqliteResult<void> prepare_all(Database& db, WriterStatements& s) {
  const std::pair<Statement*, std::string> all[] = {
      {&s.find_event, "SELECT seq FROM events WHERE pos_event_id = ?"},
      {&s.insert_event,
       "INSERT INTO events(seq, pos_event_id, received_at_ms, payload, end_offset) "
       "VALUES (?, ?, ?, ?, ?)"},
      {&s.insert_new_event,
       "INSERT INTO events(seq, pos_event_id, received_at_ms, payload, end_offset) "
       "VALUES (?, ?, ?, ?, ?) ON CONFLICT(pos_event_id) DO NOTHING"},
      {&s.update_meta_append, "UPDATE meta SET next_seq = ?, total_bytes = ? WHERE id = 1"},
      {&s.find_offset, "SELECT end_offset FROM events WHERE seq = ?"},
      {&s.find_received, "SELECT received_at_ms FROM events WHERE seq = ?"},
      {&s.update_meta_ack, "UPDATE meta SET acked_through = ?, acked_bytes = ? WHERE id = 1"},
      {&s.last_mark,
       "SELECT through_seq, acked_at_ms FROM ack_marks ORDER BY through_seq DESC LIMIT 1"},
      {&s.insert_mark, "INSERT INTO ack_marks(through_seq, acked_at_ms) VALUES (?, ?)"},
      {&s.update_mark,
       "UPDATE ack_marks SET through_seq = ?, acked_at_ms = ? WHERE through_seq = ?"},
      {&s.prune_cutoff, "SELECT max(through_seq) FROM ack_marks WHERE acked_at_ms <= ?"},
      {&s.min_seq, "SELECT min(seq) FROM events"},
      {&s.delete_events, "DELETE FROM events WHERE seq BETWEEN ? AND ?"},
      {&s.delete_marks, "DELETE FROM ack_marks WHERE through_seq < ?"},
      {&s.renew_read, "SELECT seq, payload FROM events WHERE seq > ? ORDER BY seq LIMIT " +
                          std::to_string(renew_chunk)},
      {&s.renew_update, "UPDATE events SET seq = ?, payload = ?, end_offset = ? WHERE seq = ?"},
      {&s.renew_delete_kept, "DELETE FROM events WHERE seq <= ?"},
      {&s.renew_delete_marks, "DELETE FROM ack_marks"},
      {&s.renew_meta,
       "UPDATE meta SET epoch = ?, next_seq = ?, total_bytes = ?, acked_through = 0, "
       "acked_bytes = 0, epoch_renewals = epoch_renewals + 1, epoch_renewed_at_ms = ?, "
       "previous_epoch = ? WHERE id = 1"},
  };
  for (const auto& [statement, text] : all) {
    auto prepared = db.prepare(text);
    if (!prepared) {
      return SqliteResult<void>::failure(std::move(prepared).error());
    }
    *statement = std::move(*prepared);
  }
  return {};
}

Status create_schema(Database& db, const SqliteOutboxOptions& options, std::int64_t now_ms) {
  auto epoch = random_epoch();
  if (!epoch) {
    return fail(epoch.error());
  }
  if (auto created = db.exec(schema_sql); !created) {
    return fail(created.error().to_error());
  }
  auto insert = db.prepare(
      "INSERT INTO meta(id, epoch, store_id, till_id, next_seq, total_bytes, acked_through, "
      "acked_bytes, created_at_ms) VALUES (1, ?, ?, ?, 1, 0, 0, 0, ?)");
  if (!insert) {
    return fail(insert.error().to_error());
  }
  if (auto bound = insert->bind_all(to_db(*epoch), options.store_id, options.till_id, now_ms);
      !bound) {
    return fail(bound.error().to_error());
  }
  if (auto inserted = insert->run(); !inserted) {
    return fail(inserted.error().to_error());
  }
  return {};
}

// Version 1 had no epoch renewal columns.
Status migrate_from_v1(Database& db) {
  if (auto altered =
          db.exec("ALTER TABLE meta ADD COLUMN epoch_renewals INTEGER NOT NULL DEFAULT 0; "
                  "ALTER TABLE meta ADD COLUMN epoch_renewed_at_ms INTEGER; "
                  "ALTER TABLE meta ADD COLUMN previous_epoch INTEGER NOT NULL DEFAULT 0");
      !altered) {
    return fail(altered.error().to_error());
  }
  return {};
}

}  // namespace

Status SqliteOutbox::Impl::open_database() {
  const auto& path = options.path;
  common::DatabaseOptions database;
  database.name = "outbox";
  database.busy_timeout_ms = options.busy_timeout_ms;
  // A 2 MiB page cache (SQLite's default): appends touch only the right edge of the tables, so a
  // bigger cache buys no ingest speed, and at 8 MiB the cache alone took the agent's RSS past its
  // 20 MB budget at 1k events/s (docs/benchmarks.md, "Agent ingest").
  database.pragmas =
      "PRAGMA journal_size_limit = 67108864; PRAGMA cache_size = -2048; "
      "PRAGMA wal_autocheckpoint = 4000";
  database.schema_version = schema_version;
  database.create = [&](Database& db) { return create_schema(db, options, clock.now_unix_ms()); };
  database.migrate = [](Database& db, std::int64_t) { return migrate_from_v1(db); };
  auto opened = common::open_database(path, database);
  if (!opened) {
    return fail(opened.error());
  }
  write_db = std::move(opened->db);
  const bool created_now = opened->found_version == 0;

  auto meta = write_db.prepare(
      "SELECT epoch, store_id, till_id, next_seq, total_bytes, acked_through, acked_bytes, "
      "epoch_renewals, epoch_renewed_at_ms, previous_epoch FROM meta WHERE id = 1");
  if (!meta) {
    return fail(prefixed(path, meta.error()));
  }
  auto row = meta->step();
  if (!row) {
    return fail(prefixed(path, row.error()));
  }
  if (*row != Statement::Step::row) {
    return fail("outbox " + path.string() + ": meta row missing");
  }
  epoch = from_db(meta->column_int64(0));
  const std::string stored_store(meta->column_text(1));
  const std::string stored_till(meta->column_text(2));
  next_seq = from_db(meta->column_int64(3));
  total_bytes = from_db(meta->column_int64(4));
  writer_acked_through = from_db(meta->column_int64(5));
  acked_bytes = from_db(meta->column_int64(6));
  epoch_renewals = from_db(meta->column_int64(7));
  epoch_renewed_ms = meta->column_is_null(8) ? no_time : meta->column_int64(8);
  previous_epoch = from_db(meta->column_int64(9));
  meta->reset();
  if (stored_store != options.store_id || stored_till != options.till_id) {
    return fail("outbox " + path.string() + ": created for store " + stored_store + " till " +
                stored_till + ", not store " + options.store_id + " till " + options.till_id);
  }

  if (auto prepared = prepare_all(write_db, sql); !prepared) {
    return fail(prefixed(path, prepared.error()));
  }
  if (next_seq == 1 && !created_now) {
    // Nothing in an empty database proves that no collector has seen its epoch (a restored
    // image of a till that had not sold yet): a fresh one costs nothing.
    auto renewed = write_renewal(0, clock.now_unix_ms());
    if (!renewed) {
      return fail(prefixed(path, renewed.error()));
    }
    spdlog::info("outbox: the database never held an event; new epoch {}",
                 protocol::format_epoch(*renewed));
  }
  if (auto bound = sql.find_received.bind_int64(1, to_db(writer_acked_through + 1)); !bound) {
    return fail(prefixed(path, bound.error()));
  }
  auto oldest = query_int64(sql.find_received);
  if (!oldest) {
    return fail(prefixed(path, oldest.error()));
  }
  auto last_ack_stmt = write_db.prepare("SELECT max(acked_at_ms) FROM ack_marks");
  if (!last_ack_stmt) {
    return fail(prefixed(path, last_ack_stmt.error()));
  }
  auto last_ack = query_int64(*last_ack_stmt);
  if (!last_ack) {
    return fail(prefixed(path, last_ack.error()));
  }

  auto reader = Database::open(
      path, {.read_only = true, .create = false, .busy_timeout_ms = options.busy_timeout_ms});
  if (!reader) {
    return fail(reader.error().to_error());
  }
  read_db = std::move(*reader);
  auto read_stmt = read_db.prepare(
      "SELECT seq, payload, received_at_ms FROM events WHERE seq >= ? ORDER BY seq LIMIT ?");
  if (!read_stmt) {
    return fail(prefixed(path, read_stmt.error()));
  }
  read_events = std::move(*read_stmt);

  last_seq = next_seq - 1;
  acked_through = writer_acked_through;
  backlog_bytes = total_bytes - acked_bytes;
  oldest_unacked_ms = oldest->value_or(no_time);
  last_ack_ms = last_ack->value_or(no_time);
  return {};
}

// --- SqliteOutbox ---

Result<std::unique_ptr<SqliteOutbox>> SqliteOutbox::open(
    SqliteOutboxOptions options, boost::asio::any_io_executor completion_executor,
    const common::Clock& clock) {
  if (options.max_group_events == 0 || options.max_queued_events == 0) {
    return fail("outbox " + options.path.string() +
                ": max_group_events and max_queued_events must be >= 1");
  }
  auto impl = std::make_unique<Impl>(std::move(options), std::move(completion_executor), clock);
  if (auto opened = impl->open_database(); !opened) {
    return fail(opened.error());
  }
  impl->start();
  return std::unique_ptr<SqliteOutbox>(new SqliteOutbox(std::move(impl)));
}

SqliteOutbox::SqliteOutbox(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}

SqliteOutbox::~SqliteOutbox() {
  stop();
}

void SqliteOutbox::stop() {
  m_impl->writer.stop();
}

void SqliteOutbox::append(std::vector<protocol::PosEvent> pos_events, AppendDone done) {
  Impl& impl = *m_impl;
  std::optional<AppendError> refused;
  const bool empty = pos_events.empty();
  // Serialize here, on the caller's thread: the writer thread only splices in seq and event_id
  // and does the SQLite work. received_at is the time the request was handed over.
  const std::int64_t received_at_ms = impl.clock.now_unix_ms();
  std::vector<PreparedEvent> events;
  events.reserve(pos_events.size());
  if (!empty) {
    const std::string received_at = protocol::format_rfc3339_utc_ms(received_at_ms);
    for (auto& event : pos_events) {
      events.push_back(PreparedEvent{event.pos_event_id(), protocol::make_payload_template(
                                                               event, impl.options.store_id,
                                                               impl.options.till_id, received_at)});
    }
    pos_events = {};
  }
  {
    std::lock_guard lock(impl.writer.mutex());
    if (impl.writer.stopping()) {
      refused = AppendError{AppendError::Kind::shutting_down, "outbox: shutting down"};
    } else if (impl.queued_events + events.size() > impl.options.max_queued_events) {
      refused = AppendError{
          AppendError::Kind::busy,
          "outbox: write queue full (" + std::to_string(impl.queued_events) + " events waiting)"};
    } else if (!empty) {
      impl.queued_events += events.size();
      impl.appends.push_back(AppendRequest{std::move(events), std::move(done), received_at_ms});
    }
  }
  if (refused) {
    // NOLINTNEXTLINE(bugprone-use-after-move): done was moved above only if nothing was refused.
    boost::asio::post(impl.executor, [done = std::move(done), error = std::move(*refused)] {
      done(AppendOutcome::failure(error));
    });
  } else if (empty) {
    boost::asio::post(impl.executor,
                      [done = std::move(done)] { done(std::vector<AppendResult>{}); });
  } else {
    impl.writer.wake().notify_one();
  }
}

Result<std::vector<StoredEvent>> SqliteOutbox::read_from(std::uint64_t first_seq,
                                                         std::size_t max_events,
                                                         std::size_t max_bytes) {
  Impl& impl = *m_impl;
  std::vector<StoredEvent> out;
  if (max_events == 0) {
    return out;
  }
  constexpr auto max_int64 = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::lock_guard lock(impl.read_mutex);
  Statement& stmt = impl.read_events;
  if (auto bound =
          stmt.bind_all(static_cast<std::int64_t>(std::min(first_seq, max_int64)),
                        static_cast<std::int64_t>(std::min<std::uint64_t>(max_events, max_int64)));
      !bound) {
    return fail(prefixed(impl.options.path, bound.error()));
  }
  std::size_t bytes = 0;
  for (;;) {
    auto stepped = stmt.step();
    if (!stepped) {
      stmt.reset();
      return fail(prefixed(impl.options.path, stepped.error()));
    }
    if (*stepped == Statement::Step::done) {
      break;
    }
    const std::string_view payload = stmt.column_text(1);
    if (!out.empty() && bytes + payload.size() > max_bytes) {
      break;
    }
    bytes += payload.size();
    out.push_back(
        StoredEvent{from_db(stmt.column_int64(0)), std::string(payload), stmt.column_int64(2)});
  }
  stmt.reset();
  return out;
}

void SqliteOutbox::acknowledge(std::uint64_t through_seq, std::function<void(Status)> done) {
  Impl& impl = *m_impl;
  std::optional<Status> answer;
  {
    std::lock_guard lock(impl.writer.mutex());
    const std::uint64_t last = impl.last_seq.load();
    if (impl.writer.stopping()) {
      answer = fail("outbox: shutting down");
    } else if (through_seq > last) {
      answer = fail("outbox: acknowledgement through seq " + std::to_string(through_seq) +
                    " is beyond the last seq " + std::to_string(last));
    } else if (through_seq <= impl.acked_through.load() && impl.acks.empty()) {
      answer = Status{};
    } else if (impl.acks.size() >= impl.options.max_queued_acks) {
      answer = fail("outbox: too many acknowledgements waiting");
    } else {
      impl.acks.push_back(AckRequest{through_seq, std::move(done)});
    }
  }
  if (answer) {
    // done was moved above only if there is no answer.
    // NOLINTBEGIN(bugprone-use-after-move)
    boost::asio::post(impl.executor,
                      [done = std::move(done), status = std::move(*answer)] { done(status); });
    // NOLINTEND(bugprone-use-after-move)
  } else {
    impl.writer.wake().notify_one();
  }
}

void SqliteOutbox::renew_epoch(std::uint64_t keep_through,
                               std::function<void(Result<std::uint64_t>)> done) {
  Impl& impl = *m_impl;
  std::optional<Error> refused;
  {
    std::lock_guard lock(impl.writer.mutex());
    if (impl.writer.stopping()) {
      refused = Error{"outbox: shutting down"};
    } else if (impl.renewal) {
      refused = Error{"outbox: an epoch renewal is already pending"};
    } else {
      impl.renewal = RenewRequest{keep_through, std::move(done)};
    }
  }
  if (refused) {
    // NOLINTNEXTLINE(bugprone-use-after-move): done was moved above only if nothing was refused.
    boost::asio::post(impl.executor, [done = std::move(done), error = std::move(*refused)] {
      done(Result<std::uint64_t>::failure(error));
    });
  } else {
    impl.writer.wake().notify_one();
  }
}

void SqliteOutbox::set_commit_listener(CommitListener listener) {
  std::lock_guard lock(m_impl->writer.mutex());
  m_impl->listener = std::move(listener);
}

OutboxStats SqliteOutbox::stats() const {
  const Impl& impl = *m_impl;
  OutboxStats s;
  s.epoch = impl.epoch.load();
  s.last_seq = impl.last_seq.load();
  s.acked_through = impl.acked_through.load();
  s.backlog_events = s.last_seq - s.acked_through;
  s.backlog_bytes = impl.backlog_bytes.load();
  if (const auto oldest = impl.oldest_unacked_ms.load();
      oldest != no_time && s.backlog_events > 0) {
    s.oldest_unacked_received_ms = oldest;
  }
  if (const auto ack = impl.last_ack_ms.load(); ack != no_time) {
    s.last_ack_ms = ack;
  }
  s.accepted_total = impl.accepted_total.load();
  s.duplicates_total = impl.duplicates_total.load();
  s.pruned_total = impl.pruned_total.load();
  s.prune_passes = impl.prune_passes.load();
  s.commits_total = impl.commits_total.load();
  s.epoch_renewals = impl.epoch_renewals.load();
  if (const auto renewed = impl.epoch_renewed_ms.load(); renewed != no_time) {
    s.epoch_renewed_ms = renewed;
  }
  s.previous_epoch = impl.previous_epoch.load();
  std::error_code ec;
  const auto db_size = std::filesystem::file_size(impl.options.path, ec);
  s.db_bytes = ec ? 0 : db_size;
  auto wal = impl.options.path;
  wal += "-wal";
  const auto wal_size = std::filesystem::file_size(wal, ec);
  s.db_bytes += ec ? 0 : wal_size;
  return s;
}

std::uint64_t SqliteOutbox::epoch() const {
  return m_impl->epoch.load();
}

}  // namespace pos::agent
