#include "pos/common/worker_thread.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <utility>

namespace pos::common {

WorkerThread::WorkerThread(std::string name, std::size_t max_queued)
    : m_name(std::move(name)), m_max_queued(max_queued) {
  m_loop.start([this] { run(); });
}

WorkerThread::~WorkerThread() {
  stop();
}

bool WorkerThread::post(std::function<void()> job) {
  {
    std::lock_guard lock(m_loop.mutex());
    if (m_loop.stopping() || m_jobs.size() >= m_max_queued) {
      return false;
    }
    m_jobs.push_back(std::move(job));
  }
  m_loop.wake().notify_one();
  return true;
}

void WorkerThread::run() {
  std::unique_lock lock(m_loop.mutex());
  for (;;) {
    m_loop.wake().wait(lock, [this] { return m_loop.stopping() || !m_jobs.empty(); });
    if (m_jobs.empty()) {
      return;  // stopping with nothing left
    }
    auto job = std::move(m_jobs.front());
    m_jobs.pop_front();
    lock.unlock();
    try {
      job();
    } catch (const std::exception& e) {
      spdlog::error("{}: a background job failed: {}", m_name, e.what());
    }
    lock.lock();
  }
}

void WorkerThread::stop() {
  m_loop.stop();
}

}  // namespace pos::common
