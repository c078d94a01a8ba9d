#pragma once
// Persisted fleet rows: FleetState's JSON per till in `{data_dir}/fleet.db`, so the fleet page
// keeps its history across restarts. Written by a background thread; the io thread never waits.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pos/common/coalescing_writer.hpp"
#include "pos/protocol/result.hpp"

namespace pos::collector {

/// One till's fleet row as persisted: `data` is FleetState's JSON for it.
struct FleetRecord {
  std::string store_id;
  std::string till_id;
  std::string data;
  std::int64_t updated_ms = 0;
};

struct FleetStoreOptions {
  std::filesystem::path path;  ///< the database file; its directory must exist
  /// A database an older collector kept the rows in (its collector.db, table `fleet`): read once,
  /// when `path` holds no row yet. Empty or missing: nothing is imported.
  std::filesystem::path import_from;
  std::size_t max_rows = 10'000;  ///< rows loaded at open, and rows waiting to be written
};

/// `fleet(store_id, till_id, data, updated_ms)` in its own SQLite file (WAL, synchronous=NORMAL:
/// a power cut may lose the last save; the rows are a view, rebuilt from the tills' statuses).
/// Thread-safe.
class FleetStore {
 public:
  /// Opens or creates the file, imports an older collector's rows if there are none yet, and
  /// reads the newest max_rows rows. Fails naming the path when the file cannot be opened or is
  /// not a database of this schema (a failed import is only logged).
  static Result<std::unique_ptr<FleetStore>> open(const FleetStoreOptions& options);
  /// Calls stop().
  ~FleetStore();
  FleetStore(const FleetStore&) = delete;
  FleetStore& operator=(const FleetStore&) = delete;

  /// The rows read at open, newest first.
  const std::vector<FleetRecord>& loaded() const noexcept { return m_loaded; }

  /// Queues an upsert of these rows and returns at once; a row not yet written is replaced by a
  /// newer one of the same till. Beyond max_rows waiting, further tills' rows are dropped (and
  /// counted). Failures are logged and counted. Ignored after stop().
  void save(std::vector<FleetRecord> rows);

  /// Writes what is queued, then joins the writer. Idempotent.
  void stop();

  /// Transactions written, that failed, and rows dropped because too many were waiting.
  std::uint64_t saved() const;
  std::uint64_t failures() const;
  std::uint64_t dropped() const;

  struct Db;

 private:
  using Rows = std::map<std::pair<std::string, std::string>, FleetRecord>;
  FleetStore(std::unique_ptr<Db> db, std::vector<FleetRecord> loaded, std::size_t max_rows);
  Status write(const Rows& rows);

  std::unique_ptr<Db> m_db;  ///< the writer's only, after open
  std::vector<FleetRecord> m_loaded;
  std::size_t m_max_rows;
  std::atomic<std::uint64_t> m_dropped{0};
  common::CoalescingWriter<Rows> m_writer;  ///< last: stopped before the rest goes
};

}  // namespace pos::collector
