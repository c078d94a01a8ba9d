#pragma once
// The persistence of a view the collector keeps in memory (the live sales view, the live stock):
// its snapshot file opened at start-up, a snapshot every interval, a last one at shutdown. One
// lifecycle for every such view; what a snapshot holds and how it is restored stay the view's.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "pos/collector/kpi_snapshot_store.hpp"
#include "pos/common/clock.hpp"
#include "pos/common/periodic_task.hpp"

namespace pos::collector {

/// Owns a view's KpiSnapshotStore and the timer of its snapshots. `save_snapshot` is the view's:
/// it takes a snapshot and hands it to save() (or skips it when nothing changed); it runs every
/// interval from start() and once more in stop(). Not thread-safe: io thread, except stop(). The
/// view calls stop() before its own state goes.
class ViewSnapshots {
 public:
  /// Opens `path`; empty: the view is not persisted. A file that cannot be opened is logged,
  /// naming the view by `what` ("live stock"), and the view runs without persistence: it never
  /// stops the collector. `clock` must outlive this object.
  ViewSnapshots(const boost::asio::any_io_executor& executor, const common::Clock& clock,
                std::string what, const std::filesystem::path& path, std::chrono::seconds interval,
                std::function<void()> save_snapshot);
  ViewSnapshots(const ViewSnapshots&) = delete;
  ViewSnapshots& operator=(const ViewSnapshots&) = delete;

  /// True when the snapshot file is open.
  bool persisted() const noexcept { return m_store != nullptr; }
  /// The snapshot stored when the file was opened, if any (none when not persisted).
  const std::optional<std::string>& loaded() const noexcept;
  /// The store, for its counters; null when not persisted.
  const KpiSnapshotStore* store() const noexcept { return m_store.get(); }

  /// Starts the periodic snapshots (none when not persisted).
  void start();
  /// Queues `snapshot`, taken now, for writing. Call only when persisted().
  void save(std::string snapshot);
  /// Stops the timer, runs `save_snapshot` a last time (an exception is logged) and waits until
  /// the store has written it. Idempotent.
  void stop();

 private:
  const common::Clock& m_clock;
  std::string m_what;
  std::function<void()> m_save_snapshot;
  std::unique_ptr<KpiSnapshotStore> m_store;
  common::PeriodicTask m_timer;  ///< after m_store: stopped before the store goes
  bool m_stopped = false;
};

}  // namespace pos::collector
