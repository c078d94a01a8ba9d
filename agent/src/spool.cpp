#include "pos/agent/spool.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fstream>
#include <map>
#include <optional>
#include <system_error>
#include <utility>

namespace pos::agent {

namespace fs = std::filesystem;
namespace net = boost::asio;

namespace {

constexpr std::size_t k_max_listed_errors = 1000;

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
    std::uintmax_t size = 0;
    fs::file_time_type mtime;
    bool skip = false;  ///< could not be moved; ignored until it changes
  };

  void schedule(std::chrono::milliseconds delay);
  void tick();
  std::optional<std::string> scan();
  // Returns true when the file was handled at once (the next file can follow without waiting).
  bool process(const std::string& name);
  void on_appended(const std::string& name, Result<std::vector<AppendResult>, AppendError> result);
  void move_to(const std::string& name, std::string_view subdir);
  void fail_file(const std::string& name, const std::string& errors);

  net::any_io_executor executor;
  net::steady_timer timer;
  Outbox& outbox;
  std::string store_id;
  std::string till_id;
  SpoolOptions options;
  bool stopped = true;
  bool busy = false;
  bool warned_scan = false;
  std::map<std::string, Seen> seen;
  std::atomic<std::uint64_t> files_done{0};
  std::atomic<std::uint64_t> files_failed{0};
  std::atomic<std::uint64_t> events_accepted{0};
  std::atomic<std::uint64_t> events_duplicate{0};
  std::atomic<std::uint64_t> append_retries{0};
};

void SpoolWatcher::State::schedule(std::chrono::milliseconds delay) {
  if (stopped) return;
  timer.expires_after(delay);
  timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->tick();
  });
}

void SpoolWatcher::State::tick() {
  if (stopped || busy) return;
  auto ready = scan();
  if (!ready) {
    schedule(options.poll_interval);
    return;
  }
  if (process(*ready)) {
    schedule(std::chrono::milliseconds(0));
  } else if (!busy) {
    schedule(options.poll_interval);
  }
}

std::optional<std::string> SpoolWatcher::State::scan() {
  std::error_code ec;
  fs::directory_iterator it(options.directory, ec);
  if (ec) {
    if (!warned_scan) {
      spdlog::warn("spool: cannot read {}: {}", options.directory.string(), ec.message());
      warned_scan = true;
    }
    return std::nullopt;
  }
  warned_scan = false;
  const auto settled_before = fs::file_time_type::clock::now() - options.settle;
  std::map<std::string, Seen> now_seen;
  std::optional<std::string> ready;
  for (; it != fs::directory_iterator() && now_seen.size() < options.max_tracked_files;
       it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (name.empty() || name.front() == '.' || !name.ends_with(".ndjson")) continue;
    std::error_code entry_ec;
    if (!it->is_regular_file(entry_ec) || it->is_symlink(entry_ec)) continue;
    Seen current;
    current.size = it->file_size(entry_ec);
    if (entry_ec) continue;
    current.mtime = it->last_write_time(entry_ec);
    if (entry_ec) continue;
    const auto previous = seen.find(name);
    const bool stable = previous != seen.end() && previous->second.size == current.size &&
                        previous->second.mtime == current.mtime;
    if (stable) current.skip = previous->second.skip;
    if (stable && !current.skip && current.mtime <= settled_before && (!ready || name < *ready)) {
      ready = name;
    }
    now_seen.emplace(name, current);
  }
  if (ec) spdlog::warn("spool: scanning {}: {}", options.directory.string(), ec.message());
  seen = std::move(now_seen);
  return ready;
}

bool SpoolWatcher::State::process(const std::string& name) {
  const auto path = options.directory / name;
  const auto expected_size = seen[name].size;
  if (expected_size > options.max_file_bytes) {
    fail_file(name, "file: " + std::to_string(expected_size) +
                        " bytes is larger than the limit of " +
                        std::to_string(options.max_file_bytes) + " bytes\n");
    return true;
  }
  std::string text(static_cast<std::size_t>(expected_size), '\0');
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      spdlog::warn("spool: cannot open {}; retrying later", path.string());
      seen.erase(name);
      return false;
    }
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    if (in.gcount() != static_cast<std::streamsize>(text.size()) || in.peek() != EOF) {
      spdlog::info("spool: {} changed while being read; waiting for it to settle", name);
      seen.erase(name);
      return true;
    }
  }
  IngestBodyLimits limits;
  limits.max_events = options.max_events_per_file;
  limits.max_bytes = static_cast<std::size_t>(options.max_file_bytes);
  limits.event = options.event_limits;
  const protocol::EventOwner owner{store_id, till_id};
  auto items = parse_ndjson_items(text, owner, limits);
  if (!items) {
    fail_file(name, items.error().message + "\n");
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
    move_to(name, "done");
    files_done.fetch_add(1);
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
    if (error.kind == AppendError::Kind::shutting_down) return;
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
  if (stopped) return;  // the file stays; a later run re-reads it and finds duplicates
  files_done.fetch_add(1);
  move_to(name, "done");
  schedule(std::chrono::milliseconds(0));
}

void SpoolWatcher::State::move_to(const std::string& name, std::string_view subdir) {
  std::error_code ec;
  fs::rename(options.directory / name, options.directory / subdir / name, ec);
  if (ec) {
    spdlog::error("spool: cannot move {} to {}/: {}; ignoring it until it changes", name, subdir,
                  ec.message());
    if (auto it = seen.find(name); it != seen.end()) it->second.skip = true;
    return;
  }
  seen.erase(name);
}

void SpoolWatcher::State::fail_file(const std::string& name, const std::string& errors) {
  files_failed.fetch_add(1);
  spdlog::warn("spool: {} rejected, moved to failed/: {}", name,
               errors.substr(0, errors.find('\n')));
  const auto report = options.directory / "failed" / (name + ".errors");
  {
    std::ofstream out(report, std::ios::binary | std::ios::trunc);
    out << errors;
    if (!out) spdlog::error("spool: cannot write {}", report.string());
  }
  move_to(name, "failed");
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
  for (const auto& dir : {state.options.directory, state.options.directory / "done",
                          state.options.directory / "failed"}) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return fail(dir.string() + ": " + ec.message());
  }
  state.stopped = false;
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
  return s;
}

}  // namespace pos::agent
