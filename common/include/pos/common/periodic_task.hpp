#pragma once
// A task run every so often on an executor (snapshots, alert evaluation, pruning): one timer,
// re-armed after each run, so that runs never overlap and a slow run delays the next one.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace pos::common {

/// Runs `task` on `executor` every `interval` from start() until stop() or destruction. An
/// exception from the task is logged (naming `what`) and the schedule goes on. Every member must be
/// called on the executor's thread; the task runs there too.
class PeriodicTask {
 public:
  PeriodicTask(const boost::asio::any_io_executor& executor, std::string what,
               std::chrono::steady_clock::duration interval, std::function<void()> task);
  ~PeriodicTask();
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  /// The first run after `first_delay` (default: one interval), then every interval.
  void start();
  void start(std::chrono::steady_clock::duration first_delay);
  /// No further run; a run in progress finishes. Idempotent.
  void stop();

 private:
  void arm(std::chrono::steady_clock::duration delay);

  boost::asio::steady_timer m_timer;
  std::string m_what;
  std::chrono::steady_clock::duration m_interval;
  std::function<void()> m_task;
  bool m_stopped = false;
  std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

}  // namespace pos::common
