#pragma once
// Spool directory ingest: a POS that cannot call HTTP drops NDJSON files into a directory.
//
// Contract for POS integrators:
// - Put events in a file named `*.ndjson` (one event object per line, UTF-8, `\r\n` tolerated) in
//   the spool directory. Names starting with '.' and other extensions are ignored, so write the
//   file as `.name.ndjson` or `name.ndjson.tmp` and rename it when complete (best), or copy it
//   in: a file is only read once its size and modification time have not changed between two
//   polls and it is at least `settle` old.
// - A file is all or nothing: if every line is a valid event, all its events are stored in one
//   commit and the file moves to `done/`. If any line is bad, nothing is stored, the file moves to
//   `failed/` and `failed/<name>.errors` lists each bad line (`line 7: lines[0].qty: must be an
//   integer >= 1`). Fix it and drop it again.
// - Events already stored (same pos_event_id) count as duplicates: dropping a file twice is
//   harmless. A file in done/ or failed/ with the same name is replaced.
// - Limits: `max_file_bytes` (64 MiB) and `max_events_per_file` (at most max_append_events, what
//   the buffer stores in one commit) per file, every event within the per-event limit, and all
//   its events together within `max_backlog_bytes` (the whole buffer); a file over one of them
//   can never be stored and goes to failed/ with the reason. When the agent's
//   buffer is full or busy the file stays and is retried at the next poll.
// - Only regular files are taken. The spool never follows a symbolic link: everything is opened
//   and created relative to the directories opened at start, with O_NOFOLLOW; a `*.ndjson` entry
//   that is a symbolic link (or a directory, FIFO, ...) is moved, as the link itself, to failed/
//   with a report saying so, and its target is never opened. Reports are written to a temporary
//   file, fsynced and renamed over `<name>.errors` (a link planted there is replaced, not
//   followed).
// - done/ is pruned: a file is stamped with the time it was stored when it moves to done/ (its
//   modification time) and deleted `done_retention` later (the agent's buffer.retention_hours).

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "pos/agent/ingest_body.hpp"
#include "pos/agent/outbox.hpp"
#include "pos/protocol/result.hpp"

namespace pos::agent {

struct SpoolOptions {
  std::filesystem::path directory;
  std::chrono::milliseconds poll_interval{1000};
  std::chrono::milliseconds settle{2000};  ///< minimum age of a file's mtime before it is read
  std::uint64_t max_file_bytes = 64ull * 1024 * 1024;
  std::size_t max_events_per_file = max_append_events;  ///< larger values act as this
  std::size_t max_tracked_files = 10'000;  ///< candidates remembered per scan; the rest wait
  protocol::EventLimits event_limits;      ///< per event (see IngestBodyLimits::event)
  CardNumberPolicy card_numbers = CardNumberPolicy::reject;  ///< see IngestBodyLimits
  /// The buffer's limit (buffer.max_bytes): a file whose events take more can never be stored and
  /// goes to failed/. 0: not checked.
  std::uint64_t max_backlog_bytes = 0;
  /// Files in done/ are deleted this long after they were stored.
  std::chrono::milliseconds done_retention = std::chrono::hours(72);
  /// How often done/ is pruned (the first pass runs at start); at most `max_pruned_per_pass`
  /// files are deleted per pass.
  std::chrono::milliseconds done_prune_interval = std::chrono::minutes(10);
  std::size_t max_pruned_per_pass = 1000;
};

/// Counters since start. Thread-safe to read.
struct SpoolStats {
  std::uint64_t files_done = 0;
  std::uint64_t files_failed = 0;
  std::uint64_t events_accepted = 0;
  std::uint64_t events_duplicate = 0;
  std::uint64_t append_retries = 0;  ///< appends refused (full, busy, io); the file is retried
  std::uint64_t files_refused = 0;   ///< of files_failed: not regular files (symbolic links, ...)
  std::uint64_t done_prune_passes = 0;  ///< pruning passes over done/ completed
  std::uint64_t done_files_pruned = 0;  ///< files deleted from done/
};

/// Polls the spool directory on a timer of the given executor and ingests settled files, one file
/// per tick (read, parse and append), into the outbox. All work happens on the executor; file
/// reads are synchronous but bounded by `max_file_bytes`. Not thread-safe: call start/stop on the
/// executor (or before it runs).
class SpoolWatcher {
 public:
  SpoolWatcher(boost::asio::any_io_executor executor, Outbox& outbox, std::string store_id,
               std::string till_id, SpoolOptions options);
  ~SpoolWatcher();
  SpoolWatcher(const SpoolWatcher&) = delete;
  SpoolWatcher& operator=(const SpoolWatcher&) = delete;

  /// Creates the directory, `done/` and `failed/` if missing, opens them (done/ and failed/ must
  /// be real directories, not symbolic links) and starts polling. Fails naming the directory and
  /// the reason.
  Status start();

  /// Stops polling; an append in flight completes but its file is left in place (it is re-read
  /// later and its events count as duplicates).
  void stop();

  SpoolStats stats() const;

 private:
  struct State;
  std::shared_ptr<State> m_state;
};

}  // namespace pos::agent
