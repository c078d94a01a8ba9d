#pragma once
// The thread of a component that drains its own queues (WorkerThread's jobs, the outbox's and the
// mark store's group commits), with the one way to stop it: the stop flag is set under the lock
// that guards the queues, so that no request is accepted after it, and the loop drains what was
// queued before it returns.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace pos::common {

/// Runs its owner's loop on one thread. The owner keeps its queues under mutex(), notifies wake()
/// after queueing, and refuses new work once stopping() (read under mutex()). The loop waits on
/// wake() and returns only when stopping() and nothing it must finish is left. Thread-safe.
class LoopThread {
 public:
  LoopThread() = default;
  /// Calls stop().
  ~LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  /// Starts `loop` on the thread. Call at most once, before stop(); throws std::system_error when
  /// no thread can be started.
  void start(std::function<void()> loop);

  /// Sets stopping() under mutex(), wakes the loop and joins it: returns once the loop has
  /// drained and returned (at once when it never started). Idempotent; a concurrent caller waits
  /// for the first. Not from the loop itself.
  void stop();

  /// The lock of the owner's queues and of stopping().
  std::mutex& mutex() noexcept { return m_mutex; }
  /// Notified by the owner after queueing work, and by stop().
  std::condition_variable& wake() noexcept { return m_wake; }
  /// True once stop() was called. Read with mutex() held.
  bool stopping() const noexcept { return m_stopping; }

 private:
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stopping = false;
  std::mutex m_stop_mutex;  ///< serializes stop(): one joins, a second caller waits
  std::thread m_thread;
};

}  // namespace pos::common
