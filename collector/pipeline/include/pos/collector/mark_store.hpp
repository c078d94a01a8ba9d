#pragma once
// Durable dedup marks (the last published seq per (store, till, epoch)) in a database (SQLite, or
// PostgreSQL for marks shared by several collectors) written by one writer thread with group
// commit.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pos/collector/ownership.hpp"
#include "pos/common/clock.hpp"
#include "pos/protocol/result.hpp"

namespace pos::collector {

/// Identifies one stream of seqs: a till's database.
struct MarkKey {
  std::string store_id;
  std::string till_id;
  std::uint64_t epoch = 0;
  friend bool operator==(const MarkKey&, const MarkKey&) = default;
};

struct MarkKeyHash {
  std::size_t operator()(const MarkKey& key) const noexcept;
};

/// One mark as a backend stores it.
struct StoredMark {
  MarkKey key;
  std::uint64_t through_seq = 0;
  std::int64_t updated_ms = 0;  ///< when it was last committed (UNIX ms)
};

/// One mark to raise in a group commit.
struct MarkWrite {
  MarkKey key;
  std::uint64_t through_seq = 0;
  Fence fence;  ///< token 0: unfenced (single collector)
};

/// The database under a MarkStore: the seam between its group-commit writer and an engine. Used
/// from one thread at a time (the MarkStore's writer, after open).
class MarkBackend {
 public:
  virtual ~MarkBackend() = default;
  /// Every mark stored. Fails naming the database.
  virtual Result<std::vector<StoredMark>> load() = 0;
  /// In ONE durable transaction: raises the mark of each of `writes` (never lowers one; a key may
  /// appear more than once), deletes `deletes`, sets updated_ms = `now_ms` on what it wrote.
  /// A write with a fence whose token is no longer its partition's (another collector took the
  /// partition) is not made: returns the indexes of those writes, in order. Fails naming the
  /// database; a later call may succeed (a lost connection is re-made then).
  virtual Result<std::vector<std::size_t>> write(const std::vector<MarkWrite>& writes,
                                                 const std::vector<MarkKey>& deletes,
                                                 std::int64_t now_ms) = 0;
  /// Names the database for log lines, e.g. "mark store /var/lib/poscollector/collector.db".
  virtual std::string describe() const = 0;
};

/// `path` (SQLite, WAL, synchronous=FULL), created with the schema when new. Fails naming the
/// path when the file cannot be opened, is not a database or has an unknown schema version.
Result<std::unique_ptr<MarkBackend>> open_sqlite_marks(const std::filesystem::path& path,
                                                       int busy_timeout_ms = 5000);

/// The PostgreSQL database at `dsn` (a libpq connection string or postgresql:// URI); the
/// schema (marks and partition leases) is created or migrated at open, under an advisory lock so
/// collectors starting together do not race. Fenced writes are checked against the leases
/// (lease_store.hpp). Fails naming the server (never the password) when it cannot be reached,
/// refuses the login, or has a newer schema.
Result<std::unique_ptr<MarkBackend>> open_postgres_marks(const std::string& dsn);

struct MarkStoreOptions {
  std::filesystem::path path;  ///< SQLite database file (open() without a backend); its
                               ///< directory must exist
  /// After the first queued commit, the writer waits this long for more before it writes, so that
  /// mark updates arriving close together share one transaction (one fsync).
  std::chrono::microseconds group_window{2000};
  std::size_t max_queued_commits = 100'000;  ///< beyond it commit() fails at once
  int busy_timeout_ms = 5000;
  /// Several collectors: commit() takes each mark's fence from here at the call, and fails at once
  /// for a till this collector does not own. nullptr: unfenced. Must outlive the store.
  const Ownership* ownership = nullptr;
};

/// Counters, readable from any thread.
struct MarkStoreStats {
  std::uint64_t transactions = 0;
  std::uint64_t marks_committed = 0;
  std::uint64_t marks_deleted = 0;
  std::uint64_t failures = 0;
  std::uint64_t fenced_off = 0;  ///< marks not written: their partition's lease was taken over
  std::size_t queued = 0;
  bool healthy = true;  ///< false after a failed transaction until the next good one
};

/// One epoch's mark as kept by the store.
struct EpochMark {
  std::uint64_t epoch = 0;
  std::uint64_t through_seq = 0;
  std::int64_t updated_ms = 0;  ///< when it was last committed (UNIX ms)
};

/// What the BatchProcessor needs of the dedup marks: the seam between it and the database (unit
/// tests put a fake here). Called on the completion executor's thread only.
class Marks {
 public:
  using Done = std::function<void(Status)>;
  virtual ~Marks() = default;

  /// The committed mark of `key`; 0 when none (seqs start at 1).
  virtual std::uint64_t mark(const MarkKey& key) const = 0;

  /// Durably raises the mark of `key` to `through_seq` (never lowers it). `done(ok)` runs (posted)
  /// after the mark is durable and mark() returns it; `done(error)` when it could not be written.
  /// Completions run in call order.
  virtual void commit(MarkKey key, std::uint64_t through_seq, Done done) = 0;

  /// The marks of every epoch of one till, in no particular order.
  virtual std::vector<EpochMark> epochs(const std::string& store_id,
                                        const std::string& till_id) const = 0;

  /// The keys of the marks last committed before `cutoff_ms`.
  virtual std::vector<MarkKey> committed_before(std::int64_t cutoff_ms) const = 0;

  /// Deletes these marks: mark() returns 0 for them at once, the rows are deleted by a later
  /// transaction (a failure is logged and counted; the rows then come back at the next start).
  /// The caller makes sure that no commit of these keys is outstanding.
  virtual void forget(std::vector<MarkKey> keys) = 0;
};

/// Marks in a MarkBackend (by default `{data_dir}/collector.db`). All marks are loaded into memory
/// at open. mark() and commit() are called on the completion executor's thread only; stats() from
/// any thread. Completions are posted to the completion executor, in commit() call order.
class MarkStore final : public Marks {
 public:
  /// Opens or creates the SQLite database at `options.path` and starts the writer thread. Fails
  /// with a message naming the path when the file cannot be opened, is not a database or has an
  /// unknown schema.
  static Result<std::unique_ptr<MarkStore>> open(MarkStoreOptions options,
                                                 boost::asio::any_io_executor completion_executor,
                                                 const common::Clock& clock);
  /// The same over any backend (`options.path` and busy_timeout_ms unused). Fails when the
  /// backend cannot load its marks.
  static Result<std::unique_ptr<MarkStore>> open(std::unique_ptr<MarkBackend> backend,
                                                 MarkStoreOptions options,
                                                 boost::asio::any_io_executor completion_executor,
                                                 const common::Clock& clock);
  /// Calls stop().
  ~MarkStore() override;
  MarkStore(const MarkStore&) = delete;
  MarkStore& operator=(const MarkStore&) = delete;

  /// The committed mark of `key`; 0 when none (seqs start at 1).
  std::uint64_t mark(const MarkKey& key) const override;

  /// Durably raises the mark of `key` to `through_seq` (never lowers it). `done(ok)` runs after
  /// the transaction holding it committed and mark() returns the new value; `done(error)` when
  /// the queue is full, the store is stopped, the database failed, or (with an Ownership) the
  /// till is not ours or its lease was taken over before the write ("lease lost").
  void commit(MarkKey key, std::uint64_t through_seq, Done done) override;

  std::vector<EpochMark> epochs(const std::string& store_id,
                                const std::string& till_id) const override;
  std::vector<MarkKey> committed_before(std::int64_t cutoff_ms) const override;
  void forget(std::vector<MarkKey> keys) override;

  /// Raises the in-memory marks to `marks` (never lowers one): what another collector committed
  /// for tills this one has just taken over, read from the shared database. Executor thread.
  void adopt(const std::vector<StoredMark>& marks);

  /// Number of marks in memory.
  std::size_t size() const noexcept;

  MarkStoreStats stats() const;

  /// Writes what is queued, then joins the writer thread; later commits fail. Idempotent. Queued
  /// completions are still posted (they run if the executor runs).
  void stop();

  struct Impl;

 private:
  explicit MarkStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace pos::collector
