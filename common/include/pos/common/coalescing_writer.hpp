#pragma once
// A background writer for state that only its latest value matters of (a snapshot, rows keyed by
// id): updates merge into one pending value, and at most one write waits, taking all that is
// pending when it runs. Keeps the io thread off the disk without a queue that can grow.

#include <spdlog/spdlog.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "pos/common/worker_thread.hpp"
#include "pos/protocol/result.hpp"

namespace pos::common {

/// Writes a `Pending` value (default-constructible, movable) on its own thread. Thread-safe.
template <class Pending>
class CoalescingWriter {
 public:
  /// `write` runs on the writer's thread with the pending value taken out (the pending value is
  /// then `Pending{}` again). A failure it returns is logged (its message should name the file)
  /// and counted.
  CoalescingWriter(std::string name, std::function<Status(Pending)> write)
      : m_write(std::move(write)), m_worker(std::make_unique<WorkerThread>(std::move(name), 1)) {}
  /// Calls stop().
  ~CoalescingWriter() { stop(); }
  CoalescingWriter(const CoalescingWriter&) = delete;
  CoalescingWriter& operator=(const CoalescingWriter&) = delete;

  /// Runs `merge(Pending&)` under the lock; when it returns true (there is something to write),
  /// queues a write unless one already waits. Returns at once. Ignored after stop().
  template <class Merge>
  void update(Merge&& merge) {
    std::lock_guard lock(m_mutex);
    if (m_stopped || !merge(m_pending) || m_write_queued) {
      return;
    }
    m_write_queued = m_worker->post([this] { write_pending(); });
  }

  /// Writes what is pending, then joins the thread; later updates are ignored. Idempotent.
  void stop() {
    {
      std::lock_guard lock(m_mutex);
      m_stopped = true;
    }
    m_worker->stop();
  }

  /// Writes done, and writes that failed.
  std::uint64_t saved() const {
    std::lock_guard lock(m_mutex);
    return m_saved;
  }
  std::uint64_t failures() const {
    std::lock_guard lock(m_mutex);
    return m_failures;
  }

 private:
  void write_pending() {
    Pending taken;
    {
      std::lock_guard lock(m_mutex);
      m_write_queued = false;
      taken = std::exchange(m_pending, Pending{});
    }
    const Status written = m_write(std::move(taken));
    std::lock_guard lock(m_mutex);
    if (written) {
      ++m_saved;
    } else {
      ++m_failures;
      spdlog::error("{}", written.error().message);
    }
  }

  std::function<Status(Pending)> m_write;
  mutable std::mutex m_mutex;
  Pending m_pending{};
  bool m_write_queued = false;
  bool m_stopped = false;
  std::uint64_t m_saved = 0;
  std::uint64_t m_failures = 0;
  std::unique_ptr<WorkerThread> m_worker;  ///< last: stopped before the rest goes
};

}  // namespace pos::common
