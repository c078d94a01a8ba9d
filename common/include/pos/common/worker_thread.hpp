#pragma once
// One background thread that runs queued jobs in order: how a component keeps blocking work (an
// fsync, a file write) off the io thread.

#include <cstddef>
#include <deque>
#include <functional>
#include <string>

#include "pos/common/loop_thread.hpp"

namespace pos::common {

/// Runs posted jobs one at a time, in post order, on its own thread. A job must not throw (an
/// exception is caught and logged). Thread-safe.
class WorkerThread {
 public:
  /// Starts the thread. `name` appears in log lines; at most `max_queued` jobs wait at a time.
  WorkerThread(std::string name, std::size_t max_queued);
  /// Calls stop().
  ~WorkerThread();
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;

  /// Queues `job`. False (the job is dropped) when the queue is full or the worker is stopped.
  bool post(std::function<void()> job);

  /// Runs every job already queued, then joins the thread; later posts are refused. Idempotent.
  void stop();

 private:
  void run();

  std::string m_name;
  std::size_t m_max_queued;
  std::deque<std::function<void()>> m_jobs;  ///< under m_loop.mutex()
  LoopThread m_loop;                         ///< last: joined before the rest goes
};

}  // namespace pos::common
