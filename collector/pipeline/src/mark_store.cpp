// MarkStore design.
//
// The database is a MarkBackend (SQLite: sqlite_mark_backend.cpp, PostgreSQL:
// pg_mark_backend.cpp), used by the writer thread only after open. commit() and forget() queue
// requests; the writer takes the first request, waits up to
// group_window for more, then writes everything queued in ONE transaction and posts every
// completion (in queue order) to the completion executor. The in-memory marks are updated on the
// executor just before each completion runs, so mark() never runs ahead of the disk. forget()
// drops marks from memory at once and queues their deletion for the next transaction.

#include "pos/collector/mark_store.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "pos/common/loop_thread.hpp"

namespace pos::collector {
namespace {

struct CommitRequest {
  MarkKey key;
  std::uint64_t through_seq = 0;
  Fence fence;
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
  Impl(std::unique_ptr<MarkBackend> db, MarkStoreOptions opts, boost::asio::any_io_executor exec,
       const common::Clock& clk)
      : options(std::move(opts)), executor(std::move(exec)), clock(clk), backend(std::move(db)) {}

  void run_writer();
  void write_group(std::vector<CommitRequest>& commits, const std::vector<MarkKey>& deletes);

  const MarkStoreOptions options;
  const boost::asio::any_io_executor executor;
  const common::Clock& clock;

  /// Executor thread only; shared with posted completions, which may outlive the store.
  std::shared_ptr<MemoryMarks> marks = std::make_shared<MemoryMarks>();

  std::unique_ptr<MarkBackend> backend;  // writer thread only (after open)

  // Under writer.mutex(); writer.stopping() refuses new requests.
  std::deque<CommitRequest> commits;
  std::vector<MarkKey> deletes;
  common::LoopThread writer;  ///< runs run_writer(); stopped by MarkStore::stop()

  std::atomic<std::uint64_t> transactions{0};
  std::atomic<std::uint64_t> marks_committed{0};
  std::atomic<std::uint64_t> marks_deleted{0};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> fenced_off{0};
  std::atomic<std::size_t> queued{0};
  std::atomic<bool> healthy{true};
};

void MarkStore::Impl::run_writer() {
  std::unique_lock lock(writer.mutex());
  for (;;) {
    writer.wake().wait(
        lock, [this] { return writer.stopping() || !commits.empty() || !deletes.empty(); });
    if (commits.empty() && deletes.empty()) {
      return;  // stopping with nothing left
    }
    if (!writer.stopping() && options.group_window.count() > 0) {
      writer.wake().wait_for(lock, options.group_window, [this] { return writer.stopping(); });
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

void MarkStore::Impl::write_group(std::vector<CommitRequest>& group,
                                  const std::vector<MarkKey>& deleting) {
  const std::int64_t now_ms = clock.now_unix_ms();
  std::vector<MarkWrite> writes;
  writes.reserve(group.size());
  for (const auto& request : group) {
    writes.push_back(MarkWrite{request.key, request.through_seq, request.fence});
  }
  auto written = backend->write(writes, deleting, now_ms);
  Status outcome;
  std::vector<bool> fenced(group.size(), false);
  if (written) {
    transactions.fetch_add(1);
    marks_committed.fetch_add(group.size() - written->size());
    marks_deleted.fetch_add(deleting.size());
    fenced_off.fetch_add(written->size());
    for (const std::size_t index : *written) {
      fenced.at(index) = true;
    }
    healthy = true;
  } else {
    outcome = fail(written.error());
    failures.fetch_add(1);
    healthy = false;
    spdlog::error("{}", outcome.error().message);
  }
  if (group.empty()) {
    return;
  }
  boost::asio::post(executor, [marks = marks, group = std::move(group), outcome, now_ms,
                               fenced = std::move(fenced)]() mutable {
    for (std::size_t i = 0; i < group.size(); ++i) {
      auto& request = group[i];
      Status result = outcome;
      if (outcome && fenced[i]) {
        result =
            fail("mark store: lease lost: partition " + std::to_string(request.fence.partition) +
                 " is no longer held under token " + std::to_string(request.fence.token));
      } else if (outcome) {
        marks->raise(request.key, request.through_seq, now_ms);
      }
      if (request.done) {
        request.done(result);
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
  auto backend = open_sqlite_marks(options.path, options.busy_timeout_ms);
  if (!backend) {
    return fail(backend.error());
  }
  return open(std::move(*backend), std::move(options), std::move(executor), clock);
}

Result<std::unique_ptr<MarkStore>> MarkStore::open(std::unique_ptr<MarkBackend> backend,
                                                   MarkStoreOptions options,
                                                   boost::asio::any_io_executor executor,
                                                   const common::Clock& clock) {
  auto loaded = backend->load();
  if (!loaded) {
    return fail(loaded.error());
  }
  auto impl =
      std::make_unique<Impl>(std::move(backend), std::move(options), std::move(executor), clock);
  for (const auto& stored : *loaded) {
    impl->marks->raise(stored.key, stored.through_seq, stored.updated_ms);
  }
  Impl* raw = impl.get();
  raw->writer.start([raw] { raw->run_writer(); });
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
    std::lock_guard lock(impl.writer.mutex());
    if (impl.writer.stopping()) {
      return;
    }
    impl.deletes.insert(impl.deletes.end(), std::make_move_iterator(keys.begin()),
                        std::make_move_iterator(keys.end()));
  }
  impl.writer.wake().notify_one();
}

void MarkStore::commit(MarkKey key, std::uint64_t through_seq, Done done) {
  auto& impl = *m_impl;
  std::string refused;
  Fence fence;
  if (impl.options.ownership != nullptr) {
    const auto owned = impl.options.ownership->fence_for(key.store_id, key.till_id);
    if (owned) {
      fence = *owned;
    } else {
      refused = "mark store: lease lost: " + key.store_id + "/" + key.till_id +
                " is not owned by this collector";
    }
  }
  if (refused.empty()) {
    std::lock_guard lock(impl.writer.mutex());
    if (impl.writer.stopping()) {
      refused = "mark store: stopped";
    } else if (impl.commits.size() >= impl.options.max_queued_commits) {
      refused = "mark store: queue full";
    } else {
      impl.commits.push_back(CommitRequest{std::move(key), through_seq, fence, std::move(done)});
      impl.queued = impl.commits.size();
    }
  }
  if (!refused.empty()) {
    // NOLINTNEXTLINE(bugprone-use-after-move): `done` was moved only when the request was queued
    boost::asio::post(impl.executor, [done = std::move(done), refused] { done(fail(refused)); });
    return;
  }
  impl.writer.wake().notify_one();
}

void MarkStore::adopt(const std::vector<StoredMark>& marks) {
  for (const auto& stored : marks) {
    m_impl->marks->raise(stored.key, stored.through_seq, stored.updated_ms);
  }
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
  s.fenced_off = m_impl->fenced_off.load();
  s.queued = m_impl->queued.load();
  s.healthy = m_impl->healthy.load();
  return s;
}

void MarkStore::stop() {
  if (!m_impl) {
    return;
  }
  m_impl->writer.stop();
}

}  // namespace pos::collector
