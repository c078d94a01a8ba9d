// MarkStore design.
//
// Schema (user_version 1):
//   marks(store_id, till_id, epoch, through_seq, updated_ms), primary key (store_id, till_id,
//         epoch); epoch is the 64-bit value bit-cast into an INTEGER. An upsert never lowers a
//         mark.
//   A `fleet` table, written by collectors before fleet rows got their own file (fleet.db,
//   FleetStore), may still be present; it is only read once, by FleetStore, to import its rows.
// The write connection belongs to the writer thread (WAL, synchronous=FULL: every commit fsyncs).
// commit() and forget() queue requests; the writer takes the first request, waits up to
// group_window for more, then writes everything queued in ONE transaction and posts every
// completion (in queue order) to the completion executor. The in-memory marks are updated on the
// executor just before each completion runs, so mark() never runs ahead of the disk. forget()
// drops marks from memory at once and queues their deletion for the next transaction.

#include "pos/collector/mark_store.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <bit>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "pos/common/sqlite.hpp"

namespace pos::collector {
namespace {

using common::Database;
using common::SqliteError;
using common::SqliteResult;
using common::Statement;
using common::Transaction;

constexpr std::int64_t schema_version = 1;

constexpr std::string_view schema_sql = R"sql(
CREATE TABLE IF NOT EXISTS marks(
  store_id TEXT NOT NULL,
  till_id TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  through_seq INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (store_id, till_id, epoch)) WITHOUT ROWID;
PRAGMA user_version = 1;
)sql";

std::int64_t to_db(std::uint64_t value) {
  return std::bit_cast<std::int64_t>(value);
}
std::uint64_t from_db(std::int64_t value) {
  return std::bit_cast<std::uint64_t>(value);
}

struct CommitRequest {
  MarkKey key;
  std::uint64_t through_seq = 0;
  MarkStore::Done done;
};

std::string till_key(const std::string& store_id, const std::string& till_id) {
  std::string key;
  key.reserve(store_id.size() + till_id.size() + 1);
  key.append(store_id).append("/").append(till_id);  // ids never hold '/'
  return key;
}

/// The marks in memory (executor thread only), with an index of each till's epochs.
struct MemoryMarks {
  struct Entry {
    std::uint64_t through_seq = 0;
    std::int64_t updated_ms = 0;
  };
  std::unordered_map<MarkKey, Entry, MarkKeyHash> marks;
  std::unordered_map<std::string, std::vector<std::uint64_t>> epochs_by_till;

  void raise(const MarkKey& key, std::uint64_t through_seq, std::int64_t now_ms) {
    auto [it, inserted] = marks.try_emplace(key);
    if (inserted) {
      epochs_by_till[till_key(key.store_id, key.till_id)].push_back(key.epoch);
    }
    it->second.through_seq = std::max(it->second.through_seq, through_seq);
    it->second.updated_ms = std::max(it->second.updated_ms, now_ms);
  }
  void erase(const MarkKey& key) {
    if (marks.erase(key) == 0) {
      return;
    }
    const auto till = epochs_by_till.find(till_key(key.store_id, key.till_id));
    if (till != epochs_by_till.end()) {
      std::erase(till->second, key.epoch);
      if (till->second.empty()) {
        epochs_by_till.erase(till);
      }
    }
  }
};

}  // namespace

std::size_t MarkKeyHash::operator()(const MarkKey& key) const noexcept {
  const std::size_t a = std::hash<std::string>{}(key.store_id);
  const std::size_t b = std::hash<std::string>{}(key.till_id);
  const std::size_t c = std::hash<std::uint64_t>{}(key.epoch);
  return a ^ (b * 0x9e3779b97f4a7c15ULL) ^ (c + 0x7f4a7c159e3779b9ULL + (a << 6) + (a >> 2));
}

struct MarkStore::Impl {
  Impl(MarkStoreOptions opts, boost::asio::any_io_executor exec, const common::Clock& clk)
      : options(std::move(opts)), executor(std::move(exec)), clock(clk) {}

  Status open_database();
  void run_writer();
  void write_group(std::vector<CommitRequest>& commits, const std::vector<MarkKey>& deletes);
  SqliteResult<void> write_all(const std::vector<CommitRequest>& commits,
                               const std::vector<MarkKey>& deletes, std::int64_t now_ms);
  Error prefixed(const SqliteError& error) const {
    return Error{"mark store " + options.path.string() + ": " + error.message};
  }

  const MarkStoreOptions options;
  const boost::asio::any_io_executor executor;
  const common::Clock& clock;

  /// Executor thread only; shared with posted completions, which may outlive the store.
  std::shared_ptr<MemoryMarks> marks = std::make_shared<MemoryMarks>();

  Database db;  // writer thread only (after open)
  Statement upsert_mark;
  Statement delete_mark;

  std::mutex mutex;
  std::condition_variable wake;
  std::deque<CommitRequest> commits;
  std::vector<MarkKey> deletes;
  bool stopping = false;
  std::mutex stop_mutex;
  std::thread writer;

  std::atomic<std::uint64_t> transactions{0};
  std::atomic<std::uint64_t> marks_committed{0};
  std::atomic<std::uint64_t> marks_deleted{0};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::size_t> queued{0};
  std::atomic<bool> healthy{true};
};

Status MarkStore::Impl::open_database() {
  auto opened = Database::open(
      options.path,
      {.read_only = false, .create = true, .busy_timeout_ms = options.busy_timeout_ms});
  if (!opened) {
    return fail(opened.error().to_error());
  }
  db = std::move(*opened);
  auto journal = db.prepare("PRAGMA journal_mode = WAL");
  if (!journal) {
    return fail(prefixed(journal.error()));
  }
  if (auto stepped = journal->step(); !stepped) {
    return fail(prefixed(stepped.error()));
  } else if (*stepped != Statement::Step::row || journal->column_text(0) != "wal") {
    return fail("mark store " + options.path.string() + ": cannot switch to WAL journal mode");
  }
  journal->reset();
  if (auto set = db.exec("PRAGMA synchronous = FULL; PRAGMA journal_size_limit = 67108864"); !set) {
    return fail(prefixed(set.error()));
  }
  auto version = db.prepare("PRAGMA user_version");
  if (!version) {
    return fail(prefixed(version.error()));
  }
  auto row = version->step();
  if (!row) {
    return fail(prefixed(row.error()));
  }
  const std::int64_t current = *row == Statement::Step::row ? version->column_int64(0) : 0;
  version->reset();
  if (current == 0) {
    auto txn = Transaction::begin(db);
    if (!txn) {
      return fail(prefixed(txn.error()));
    }
    if (auto created = db.exec(schema_sql); !created) {
      return fail(prefixed(created.error()));
    }
    if (auto committed = txn->commit(); !committed) {
      return fail(prefixed(committed.error()));
    }
  } else if (current != schema_version) {
    return fail("mark store " + options.path.string() + ": schema version " +
                std::to_string(current) + " is not supported (this program knows " +
                std::to_string(schema_version) + ")");
  }

  auto select_marks =
      db.prepare("SELECT store_id, till_id, epoch, through_seq, updated_ms FROM marks");
  if (!select_marks) {
    return fail(prefixed(select_marks.error()));
  }
  for (;;) {
    auto step = select_marks->step();
    if (!step) {
      return fail(prefixed(step.error()));
    }
    if (*step == Statement::Step::done) {
      break;
    }
    marks->raise(
        MarkKey{std::string(select_marks->column_text(0)),
                std::string(select_marks->column_text(1)), from_db(select_marks->column_int64(2))},
        from_db(select_marks->column_int64(3)), select_marks->column_int64(4));
  }
  select_marks->reset();

  auto mark_stmt = db.prepare(
      "INSERT INTO marks(store_id, till_id, epoch, through_seq, updated_ms) VALUES (?, ?, ?, ?, ?) "
      "ON CONFLICT(store_id, till_id, epoch) DO UPDATE SET "
      "through_seq = max(through_seq, excluded.through_seq), updated_ms = excluded.updated_ms");
  if (!mark_stmt) {
    return fail(prefixed(mark_stmt.error()));
  }
  upsert_mark = std::move(*mark_stmt);
  auto delete_stmt =
      db.prepare("DELETE FROM marks WHERE store_id = ? AND till_id = ? AND epoch = ?");
  if (!delete_stmt) {
    return fail(prefixed(delete_stmt.error()));
  }
  delete_mark = std::move(*delete_stmt);
  return {};
}

void MarkStore::Impl::run_writer() {
  std::unique_lock lock(mutex);
  for (;;) {
    wake.wait(lock, [this] { return stopping || !commits.empty() || !deletes.empty(); });
    if (commits.empty() && deletes.empty()) {
      return;  // stopping with nothing left
    }
    if (!stopping && options.group_window.count() > 0) {
      wake.wait_for(lock, options.group_window, [this] { return stopping; });
    }
    std::vector<CommitRequest> group(std::make_move_iterator(commits.begin()),
                                     std::make_move_iterator(commits.end()));
    commits.clear();
    queued = 0;
    std::vector<MarkKey> deleting = std::exchange(deletes, {});
    lock.unlock();
    write_group(group, deleting);
    lock.lock();
  }
}

SqliteResult<void> MarkStore::Impl::write_all(const std::vector<CommitRequest>& group,
                                              const std::vector<MarkKey>& deleting,
                                              std::int64_t now_ms) {
  auto txn = Transaction::begin(db);
  if (!txn) {
    return SqliteResult<void>::failure(std::move(txn).error());
  }
  for (const auto& request : group) {
    if (auto bound =
            upsert_mark.bind_all(request.key.store_id, request.key.till_id,
                                 to_db(request.key.epoch), to_db(request.through_seq), now_ms);
        !bound) {
      return bound;
    }
    if (auto ran = upsert_mark.run(); !ran) {
      return ran;
    }
  }
  for (const auto& key : deleting) {
    if (auto bound = delete_mark.bind_all(key.store_id, key.till_id, to_db(key.epoch)); !bound) {
      return bound;
    }
    if (auto ran = delete_mark.run(); !ran) {
      return ran;
    }
  }
  return txn->commit();
}

void MarkStore::Impl::write_group(std::vector<CommitRequest>& group,
                                  const std::vector<MarkKey>& deleting) {
  const std::int64_t now_ms = clock.now_unix_ms();
  auto written = write_all(group, deleting, now_ms);
  Status outcome;
  if (written) {
    transactions.fetch_add(1);
    marks_committed.fetch_add(group.size());
    marks_deleted.fetch_add(deleting.size());
    healthy = true;
  } else {
    failures.fetch_add(1);
    healthy = false;
    outcome = fail(prefixed(written.error()));
    spdlog::error("{}", outcome.error().message);
  }
  if (group.empty()) {
    return;
  }
  boost::asio::post(executor, [marks = marks, group = std::move(group), outcome, now_ms]() mutable {
    for (auto& request : group) {
      if (outcome) {
        marks->raise(request.key, request.through_seq, now_ms);
      }
      if (request.done) {
        request.done(outcome);
      }
    }
  });
}

MarkStore::MarkStore(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}

MarkStore::~MarkStore() {
  stop();
}

Result<std::unique_ptr<MarkStore>> MarkStore::open(MarkStoreOptions options,
                                                   boost::asio::any_io_executor executor,
                                                   const common::Clock& clock) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(executor), clock);
  if (auto opened = impl->open_database(); !opened) {
    return fail(opened.error());
  }
  Impl* raw = impl.get();
  raw->writer = std::thread([raw] { raw->run_writer(); });
  return std::unique_ptr<MarkStore>(new MarkStore(std::move(impl)));
}

std::uint64_t MarkStore::mark(const MarkKey& key) const {
  const auto it = m_impl->marks->marks.find(key);
  return it == m_impl->marks->marks.end() ? 0 : it->second.through_seq;
}

std::vector<EpochMark> MarkStore::epochs(const std::string& store_id,
                                         const std::string& till_id) const {
  std::vector<EpochMark> out;
  const auto& memory = *m_impl->marks;
  const auto till = memory.epochs_by_till.find(till_key(store_id, till_id));
  if (till == memory.epochs_by_till.end()) {
    return out;
  }
  out.reserve(till->second.size());
  for (const std::uint64_t epoch : till->second) {
    const auto it = memory.marks.find(MarkKey{store_id, till_id, epoch});
    if (it != memory.marks.end()) {
      out.push_back(EpochMark{epoch, it->second.through_seq, it->second.updated_ms});
    }
  }
  return out;
}

std::vector<MarkKey> MarkStore::committed_before(std::int64_t cutoff_ms) const {
  std::vector<MarkKey> out;
  for (const auto& [key, entry] : m_impl->marks->marks) {
    if (entry.updated_ms < cutoff_ms) {
      out.push_back(key);
    }
  }
  return out;
}

void MarkStore::forget(std::vector<MarkKey> keys) {
  auto& impl = *m_impl;
  for (const auto& key : keys) {
    impl.marks->erase(key);
  }
  {
    std::lock_guard lock(impl.mutex);
    if (impl.stopping) {
      return;
    }
    impl.deletes.insert(impl.deletes.end(), std::make_move_iterator(keys.begin()),
                        std::make_move_iterator(keys.end()));
  }
  impl.wake.notify_one();
}

void MarkStore::commit(MarkKey key, std::uint64_t through_seq, Done done) {
  auto& impl = *m_impl;
  std::string refused;
  {
    std::lock_guard lock(impl.mutex);
    if (impl.stopping) {
      refused = "mark store: stopped";
    } else if (impl.commits.size() >= impl.options.max_queued_commits) {
      refused = "mark store: queue full";
    } else {
      impl.commits.push_back(CommitRequest{std::move(key), through_seq, std::move(done)});
      impl.queued = impl.commits.size();
    }
  }
  if (!refused.empty()) {
    boost::asio::post(impl.executor, [done = std::move(done), refused] { done(fail(refused)); });
    return;
  }
  impl.wake.notify_one();
}

std::size_t MarkStore::size() const noexcept {
  return m_impl->marks->marks.size();
}

MarkStoreStats MarkStore::stats() const {
  MarkStoreStats s;
  s.transactions = m_impl->transactions.load();
  s.marks_committed = m_impl->marks_committed.load();
  s.marks_deleted = m_impl->marks_deleted.load();
  s.failures = m_impl->failures.load();
  s.queued = m_impl->queued.load();
  s.healthy = m_impl->healthy.load();
  return s;
}

void MarkStore::stop() {
  if (!m_impl) {
    return;
  }
  std::lock_guard stop_lock(m_impl->stop_mutex);
  {
    std::lock_guard lock(m_impl->mutex);
    m_impl->stopping = true;
  }
  m_impl->wake.notify_all();
  if (m_impl->writer.joinable()) {
    m_impl->writer.join();
  }
}

}  // namespace pos::collector
