#pragma once
// Durable snapshots of the live sales view (SalesKpis::snapshot) in their own small SQLite file,
// written by a background thread so that the io thread never waits for the disk.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "pos/common/coalescing_writer.hpp"
#include "pos/protocol/result.hpp"

namespace pos::collector {

/// One row `kpi_snapshot(id = 1, data, saved_ms)` in `path` (WAL, synchronous=NORMAL: a power
/// cut may lose the last snapshot, the view is not the source of truth). save() hands the text
/// to the writer thread; a newer save replaces one not yet written. Thread-safe.
class KpiSnapshotStore {
 public:
  /// Opens or creates the file, reads the stored snapshot and starts the writer. Fails naming the
  /// path when the file cannot be opened or is not a database of this schema.
  static Result<std::unique_ptr<KpiSnapshotStore>> open(const std::filesystem::path& path);
  /// Calls stop().
  ~KpiSnapshotStore();
  KpiSnapshotStore(const KpiSnapshotStore&) = delete;
  KpiSnapshotStore& operator=(const KpiSnapshotStore&) = delete;

  /// The snapshot stored when the file was opened, if any.
  const std::optional<std::string>& loaded() const noexcept { return m_loaded; }

  /// Queues `snapshot` (taken at `now_ms`) for writing; returns at once. Ignored after stop().
  void save(std::string snapshot, std::int64_t now_ms);

  /// Writes what is queued, then joins the writer. Idempotent.
  void stop();

  /// Snapshots written, and writes that failed (each is logged).
  std::uint64_t saved() const;
  std::uint64_t failures() const;

  struct Db;

 private:
  using Snapshot = std::optional<std::pair<std::string, std::int64_t>>;  ///< data, saved at
  KpiSnapshotStore(std::unique_ptr<Db> db, std::optional<std::string> loaded);
  Status write(Snapshot snapshot);

  std::unique_ptr<Db> m_db;  ///< the writer's only, after open
  std::optional<std::string> m_loaded;
  common::CoalescingWriter<Snapshot> m_writer;  ///< last: stopped before the rest goes
};

}  // namespace pos::collector
