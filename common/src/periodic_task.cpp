#include "pos/common/periodic_task.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace pos::common {

PeriodicTask::PeriodicTask(const boost::asio::any_io_executor& executor, std::string what,
                           std::chrono::steady_clock::duration interval, std::function<void()> task)
    : m_timer(executor), m_what(std::move(what)), m_interval(interval), m_task(std::move(task)) {}

PeriodicTask::~PeriodicTask() {
  *m_alive = false;
}

void PeriodicTask::start() {
  start(m_interval);
}

void PeriodicTask::start(std::chrono::steady_clock::duration first_delay) {
  m_stopped = false;
  arm(first_delay);
}

void PeriodicTask::stop() {
  m_stopped = true;
  m_timer.cancel();
}

void PeriodicTask::arm(std::chrono::steady_clock::duration delay) {
  m_timer.expires_after(delay);
  m_timer.async_wait(
      [this, alive = std::weak_ptr<bool>(m_alive)](const boost::system::error_code& ec) {
        if (ec || !alive.lock() || m_stopped) {
          return;
        }
        try {
          m_task();
        } catch (const std::exception& e) {
          spdlog::error("{} failed: {}", m_what, e.what());
        }
        if (!m_stopped) {
          arm(m_interval);
        }
      });
}

}  // namespace pos::common
