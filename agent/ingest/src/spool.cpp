#include "pos/agent/spool.hpp"
#include "pos/common/durable_directory.hpp"
#include "pos/common/unique_fd.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <map>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

namespace pos::agent {

namespace net = boost::asio;

namespace {

constexpr std::size_t k_max_listed_errors = 1000;

std::string spool_errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();  // thread-safe strerror
}

// A directory stream over a duplicate of `dir_fd` (which stays open), from the start.
class SpoolDirStream {
 public:
  explicit SpoolDirStream(int dir_fd) {
    const int fd = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
      return;
    }
    m_dir = ::fdopendir(fd);
    if (m_dir == nullptr) {
      ::close(fd);
      return;
    }
    ::rewinddir(m_dir);
  }
  SpoolDirStream(const SpoolDirStream&) = delete;
  SpoolDirStream& operator=(const SpoolDirStream&) = delete;
  ~SpoolDirStream() {
    if (m_dir != nullptr) {
      ::closedir(m_dir);
    }
  }
  bool ok() const noexcept { return m_dir != nullptr; }
  // The next name other than . and .., or nullopt at the end (or on an error: errno set).
  std::optional<std::string> next() {
    for (;;) {
      errno = 0;
      // readdir is safe on a stream that no other thread uses.
      const dirent* entry = ::readdir(m_dir);  // NOLINT(concurrency-mt-unsafe)
      if (entry == nullptr) {
        return std::nullopt;
      }
      const std::string_view name = entry->d_name;
      if (name != "." && name != "..") {
        return std::string(name);
      }
    }
  }

 private:
  DIR* m_dir = nullptr;
};

std::int64_t spool_time_ns(const timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

std::int64_t spool_now_ns() {
  timespec t{};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return spool_time_ns(t);
}

std::string_view spool_entry_kind(mode_t mode) {
  if (S_ISLNK(mode)) {
    return "a symbolic link";
  }
  if (S_ISDIR(mode)) {
    return "a directory";
  }
  if (S_ISFIFO(mode)) {
    return "a FIFO";
  }
  if (S_ISSOCK(mode)) {
    return "a socket";
  }
  if (S_ISCHR(mode) || S_ISBLK(mode)) {
    return "a device";
  }
  return "not a regular file";
}

std::string spool_refusal(mode_t mode) {
  return "file: is " + std::string(spool_entry_kind(mode)) +
         ", not a regular file; the spool takes only regular files and never follows links\n";
}

// Opens (creating if missing) the subdirectory `name` of `dir_fd` without following a link.
Result<common::UniqueFd> open_spool_subdir(int dir_fd, const char* name, const std::string& shown) {
  if (::mkdirat(dir_fd, name, 0750) == 0) {
    ::fsync(dir_fd);  // the new entry survives a power cut
  } else if (errno != EEXIST) {
    return fail(shown + ": " + spool_errno_text(errno));
  }
  common::UniqueFd fd(::openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    const int error = errno;
    if (error == ELOOP || error == ENOTDIR) {
      return fail(shown + ": must be a directory, not a symbolic link or a file");
    }
    return fail(shown + ": " + spool_errno_text(error));
  }
  return fd;
}

}  // namespace

struct SpoolWatcher::State : std::enable_shared_from_this<SpoolWatcher::State> {
  State(net::any_io_executor ex, Outbox& box, std::string store, std::string till,
        SpoolOptions opts)
      : executor(std::move(ex)),
        timer(executor),
        outbox(box),
        store_id(std::move(store)),
        till_id(std::move(till)),
        options(std::move(opts)) {}

  struct Seen {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    mode_t mode = 0;
    bool skip = false;  ///< could not be moved; ignored until it changes
  };

  void schedule(std::chrono::milliseconds delay);
  void tick();
  std::optional<std::string> scan();
  // Returns true when the file was handled at once (the next file can follow without waiting).
  bool process(const std::string& name);
  void on_appended(const std::string& name, Result<std::vector<AppendResult>, AppendError> result);
  bool move_to(const std::string& name, int subdir_fd, std::string_view subdir);
  void move_to_done(const std::string& name);
  void sync_move(const std::string& name, int subdir_fd, std::string_view subdir);
  void fail_file(const std::string& name, const std::string& errors);
  bool write_report(const std::string& name, const std::string& text);
  void prune_done();

  net::any_io_executor executor;
  net::steady_timer timer;
  Outbox& outbox;
  std::string store_id;
  std::string till_id;
  SpoolOptions options;
  common::UniqueFd dir_fd;
  common::UniqueFd done_fd;
  common::UniqueFd failed_fd;
  bool stopped = true;
  bool busy = false;
  bool warned_scan = false;
  std::chrono::steady_clock::time_point next_prune{};
  std::map<std::string, Seen> seen;
  std::atomic<std::uint64_t> files_done{0};
  std::atomic<std::uint64_t> files_failed{0};
  std::atomic<std::uint64_t> events_accepted{0};
  std::atomic<std::uint64_t> events_duplicate{0};
  std::atomic<std::uint64_t> append_retries{0};
  std::atomic<std::uint64_t> files_refused{0};
  std::atomic<std::uint64_t> done_prune_passes{0};
  std::atomic<std::uint64_t> done_files_pruned{0};
  std::atomic<std::uint64_t> scans{0};
};

void SpoolWatcher::State::schedule(std::chrono::milliseconds delay) {
  if (stopped) {
    return;
  }
  timer.expires_after(delay);
  timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) {
      self->tick();
    }
  });
}

void SpoolWatcher::State::tick() {
  if (stopped || busy) {
    return;
  }
  if (std::chrono::steady_clock::now() >= next_prune) {
    prune_done();
    next_prune = std::chrono::steady_clock::now() + options.done_prune_interval;
  }
  auto ready = scan();
  if (!ready) {
    schedule(std::min(options.poll_interval, options.done_prune_interval));
    return;
  }
  if (process(*ready)) {
    schedule(std::chrono::milliseconds(0));
  } else if (!busy) {
    schedule(options.poll_interval);
  }
}

std::optional<std::string> SpoolWatcher::State::scan() {
  SpoolDirStream dir(dir_fd.get());
  if (!dir.ok()) {
    if (!warned_scan) {
      spdlog::warn("spool: cannot read {}: {}", options.directory.string(),
                   spool_errno_text(errno));
      warned_scan = true;
    }
    return std::nullopt;
  }
  warned_scan = false;
  const auto settle_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options.settle).count();
  const std::int64_t settled_before = spool_now_ns() - settle_ns;
  std::map<std::string, Seen> now_seen;
  std::optional<std::string> ready;
  while (now_seen.size() < options.max_tracked_files) {
    auto name = dir.next();
    if (!name) {
      if (errno != 0) {
        spdlog::warn("spool: scanning {}: {}", options.directory.string(), spool_errno_text(errno));
      }
      break;
    }
    if (name->front() == '.' || !name->ends_with(".ndjson")) {
      continue;
    }
    struct stat st {};
    if (::fstatat(dir_fd.get(), name->c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      continue;
    }
    Seen current;
    current.size = static_cast<std::uint64_t>(st.st_size);
    current.mtime_ns = spool_time_ns(st.st_mtim);
    current.mode = st.st_mode;
    const auto previous = seen.find(*name);
    const bool stable = previous != seen.end() && previous->second.size == current.size &&
                        previous->second.mtime_ns == current.mtime_ns &&
                        previous->second.mode == current.mode;
    if (stable) {
      current.skip = previous->second.skip;
    }
    if (stable && !current.skip && current.mtime_ns <= settled_before &&
        (!ready || *name < *ready)) {
      ready = *name;
    }
    now_seen.emplace(std::move(*name), current);
  }
  seen = std::move(now_seen);
  scans.fetch_add(1);
  return ready;
}

bool SpoolWatcher::State::process(const std::string& name) {
  const Seen expected = seen[name];
  if (!S_ISREG(expected.mode)) {
    files_refused.fetch_add(1);
    fail_file(name, spool_refusal(expected.mode));
    return true;
  }
  if (expected.size > options.max_file_bytes) {
    fail_file(name, "file: " + std::to_string(expected.size) +
                        " bytes is larger than the limit of " +
                        std::to_string(options.max_file_bytes) + " bytes\n");
    return true;
  }
  // O_NONBLOCK: a FIFO swapped in after the scan must not block the io thread.
  common::UniqueFd fd(::openat(dir_fd.get(), name.c_str(),
                               O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd) {
    const int error = errno;
    seen.erase(name);
    if (error == ELOOP) {
      spdlog::info("spool: {} became a symbolic link; looking again", name);
    } else if (error != ENOENT) {
      spdlog::warn("spool: cannot open {}: {}; retrying later", (options.directory / name).string(),
                   spool_errno_text(error));
      return false;
    }
    return true;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<std::uint64_t>(st.st_size) != expected.size) {
    spdlog::info("spool: {} changed before it was read; waiting for it to settle", name);
    seen.erase(name);
    return true;
  }
  std::string text(static_cast<std::size_t>(expected.size) + 1, '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      spdlog::warn("spool: reading {}: {}; retrying later", name, spool_errno_text(errno));
      seen.erase(name);
      return false;
    }
    if (n == 0) {
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  if (got != expected.size) {
    spdlog::info("spool: {} changed while being read; waiting for it to settle", name);
    seen.erase(name);
    return true;
  }
  fd.reset();
  text.resize(got);

  IngestBodyLimits limits;
  // A file of more events than one append can take could never be stored.
  limits.max_events = std::min(options.max_events_per_file, max_append_events);
  limits.max_bytes = static_cast<std::size_t>(options.max_file_bytes);
  limits.event = options.event_limits;
  limits.card_numbers = options.card_numbers;
  limits.max_stored_bytes = options.max_backlog_bytes;
  const protocol::EventOwner owner{store_id, till_id};
  auto items = parse_ndjson_items(text, owner, limits);
  if (!items) {
    std::string reason = items.error().message;
    if (reason.starts_with("more than ")) {
      reason = "file: " + reason + " (the most the agent stores in one commit); split the file";
    } else if (reason.starts_with("events take")) {
      reason = "file: " + reason + "; split the file";
    }
    fail_file(name, reason + "\n");
    return true;
  }
  std::string errors;
  std::size_t bad = 0;
  std::vector<protocol::PosEvent> events;
  events.reserve(items->size());
  for (auto& item : *items) {
    if (item.event) {
      events.push_back(std::move(*item.event));
      continue;
    }
    if (++bad <= k_max_listed_errors) {
      errors += "line " + std::to_string(item.line) + ": " + item.event.error().message + "\n";
    }
  }
  if (bad > k_max_listed_errors) {
    errors += "... and " + std::to_string(bad - k_max_listed_errors) + " more bad lines\n";
  }
  if (bad > 0) {
    fail_file(name, errors);
    return true;
  }
  if (events.empty()) {
    move_to_done(name);
    files_done.fetch_add(1);  // after the move: a test waiting on it sees the file stamped
    return true;
  }
  busy = true;
  const std::size_t count = events.size();
  outbox.append(std::move(events), [self = shared_from_this(), name,
                                    count](Result<std::vector<AppendResult>, AppendError> result) {
    net::dispatch(self->executor, [self, name, count, result = std::move(result)]() mutable {
      self->busy = false;
      if (result && result->size() != count) {
        spdlog::error("spool: outbox returned {} results for {} events of {}", result->size(),
                      count, name);
      }
      self->on_appended(name, std::move(result));
    });
  });
  return false;
}

void SpoolWatcher::State::on_appended(const std::string& name,
                                      Result<std::vector<AppendResult>, AppendError> result) {
  if (!result) {
    const auto& error = result.error();
    if (error.kind == AppendError::Kind::shutting_down) {
      return;
    }
    append_retries.fetch_add(1);
    if (error.kind == AppendError::Kind::io) {
      spdlog::warn("spool: storing {} failed, will retry: {}", name, error.message);
    } else {
      spdlog::info("spool: agent buffer {}, {} will be retried: {}",
                   error.kind == AppendError::Kind::full ? "full" : "busy", name, error.message);
    }
    schedule(options.poll_interval);
    return;
  }
  for (const auto& r : *result) {
    (r.status == AppendResult::Status::accepted ? events_accepted : events_duplicate).fetch_add(1);
  }
  if (stopped) {
    return;  // the file stays; a later run re-reads it and finds duplicates
  }
  move_to_done(name);
  files_done.fetch_add(1);
  schedule(std::chrono::milliseconds(0));
}

void SpoolWatcher::State::move_to_done(const std::string& name) {
  if (!move_to(name, done_fd.get(), "done")) {
    return;
  }
  // done/ keeps it for the retention, counted from now (a rename keeps the POS's mtime).
  const timespec now[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
  if (::utimensat(done_fd.get(), name.c_str(), now, AT_SYMLINK_NOFOLLOW) != 0) {
    spdlog::warn("spool: cannot stamp done/{}: {}", name, spool_errno_text(errno));
  }
  sync_move(name, done_fd.get(), "done");
}

bool SpoolWatcher::State::move_to(const std::string& name, int subdir_fd, std::string_view subdir) {
  // renameat moves the entry itself (a link stays a link) and replaces a link at the target.
  if (::renameat(dir_fd.get(), name.c_str(), subdir_fd, name.c_str()) != 0) {
    spdlog::error("spool: cannot move {} to {}/: {}; ignoring it until it changes", name, subdir,
                  spool_errno_text(errno));
    if (auto it = seen.find(name); it != seen.end()) {
      it->second.skip = true;
    }
    return false;
  }
  seen.erase(name);
  return true;
}

void SpoolWatcher::State::sync_move(const std::string& name, int subdir_fd,
                                    std::string_view subdir) {
  // Durably, in both directories: a power cut must not undo the move and bring a stored file
  // back (its events would be read again: duplicates, or, after the retention, stored twice).
  // Two directory fsyncs per file on the io thread: files come at the POS's pace.
  if (::fsync(subdir_fd) != 0 || ::fsync(dir_fd.get()) != 0) {
    spdlog::warn("spool: fsync after moving {} to {}/: {}", name, subdir, spool_errno_text(errno));
  }
}

bool SpoolWatcher::State::write_report(const std::string& name, const std::string& text) {
  const std::string report = name + ".errors";
  const std::string temp = "." + report + ".tmp";
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  common::UniqueFd fd(::openat(failed_fd.get(), temp.c_str(), flags, 0640));
  if (!fd && errno == EEXIST) {
    // Left by a crash, or planted: unlinkat removes the entry itself, never a link's target.
    ::unlinkat(failed_fd.get(), temp.c_str(), 0);
    fd = common::UniqueFd(::openat(failed_fd.get(), temp.c_str(), flags, 0640));
  }
  auto failed = [&](std::string_view what) {
    spdlog::error("spool: cannot write failed/{}: {}: {}", report, what, spool_errno_text(errno));
    if (fd) {
      ::unlinkat(failed_fd.get(), temp.c_str(), 0);
    }
    return false;
  };
  if (!fd) {
    return failed("create");
  }
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return failed("write");
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) {
    return failed("fsync");
  }
  if (::renameat(failed_fd.get(), temp.c_str(), failed_fd.get(), report.c_str()) != 0) {
    return failed("rename");
  }
  fd.reset();
  ::fsync(failed_fd.get());
  return true;
}

void SpoolWatcher::State::fail_file(const std::string& name, const std::string& errors) {
  files_failed.fetch_add(1);
  spdlog::warn("spool: {} rejected, moved to failed/: {}", name,
               errors.substr(0, errors.find('\n')));
  write_report(name, errors);
  if (move_to(name, failed_fd.get(), "failed")) {
    sync_move(name, failed_fd.get(), "failed");
  }
}

void SpoolWatcher::State::prune_done() {
  SpoolDirStream dir(done_fd.get());
  if (!dir.ok()) {
    spdlog::warn("spool: cannot read {}/done: {}", options.directory.string(),
                 spool_errno_text(errno));
    return;
  }
  const auto retention_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options.done_retention).count();
  const std::int64_t cutoff = spool_now_ns() - retention_ns;
  std::size_t pruned = 0;
  while (pruned < options.max_pruned_per_pass) {
    const auto name = dir.next();
    if (!name) {
      break;
    }
    struct stat st {};
    if (::fstatat(done_fd.get(), name->c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      continue;
    }
    if (S_ISDIR(st.st_mode) || spool_time_ns(st.st_mtim) > cutoff) {
      continue;
    }
    if (::unlinkat(done_fd.get(), name->c_str(), 0) != 0) {
      spdlog::warn("spool: cannot prune done/{}: {}", *name, spool_errno_text(errno));
      continue;
    }
    ++pruned;
  }
  if (pruned > 0) {
    spdlog::info("spool: pruned {} files from done/ (older than {} h)", pruned,
                 std::chrono::duration_cast<std::chrono::hours>(options.done_retention).count());
  }
  done_files_pruned.fetch_add(pruned);
  done_prune_passes.fetch_add(1);
}

SpoolWatcher::SpoolWatcher(net::any_io_executor executor, Outbox& outbox, std::string store_id,
                           std::string till_id, SpoolOptions options)
    : m_state(std::make_shared<State>(std::move(executor), outbox, std::move(store_id),
                                      std::move(till_id), std::move(options))) {}

SpoolWatcher::~SpoolWatcher() {
  stop();
}

Status SpoolWatcher::start() {
  auto& state = *m_state;
  const auto& directory = state.options.directory;
  if (auto created = common::create_directories_durably(directory); !created) {
    return fail(created.error());
  }
  // The spool directory itself is the operator's choice and may be a link; nothing below it is.
  common::UniqueFd dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) {
    return fail(directory.string() + ": " + spool_errno_text(errno));
  }
  auto done = open_spool_subdir(dir.get(), "done", (directory / "done").string());
  if (!done) {
    return fail(done.error());
  }
  auto failed = open_spool_subdir(dir.get(), "failed", (directory / "failed").string());
  if (!failed) {
    return fail(failed.error());
  }
  state.dir_fd = std::move(dir);
  state.done_fd = std::move(*done);
  state.failed_fd = std::move(*failed);
  state.stopped = false;
  state.next_prune = std::chrono::steady_clock::now();
  state.schedule(std::chrono::milliseconds(0));
  return {};
}

void SpoolWatcher::stop() {
  m_state->stopped = true;
  m_state->timer.cancel();
}

SpoolStats SpoolWatcher::stats() const {
  SpoolStats s;
  s.files_done = m_state->files_done.load();
  s.files_failed = m_state->files_failed.load();
  s.events_accepted = m_state->events_accepted.load();
  s.events_duplicate = m_state->events_duplicate.load();
  s.append_retries = m_state->append_retries.load();
  s.files_refused = m_state->files_refused.load();
  s.done_prune_passes = m_state->done_prune_passes.load();
  s.done_files_pruned = m_state->done_files_pruned.load();
  s.scans = m_state->scans.load();
  return s;
}

}  // namespace pos::agent
