#include "pos/common/worker_thread.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <utility>

namespace pos::common {

WorkerThread::WorkerThread(std::string name, std::size_t max_queued)
    : m_name(std::move(name)), m_max_queued(max_queued), m_thread([this] { run(); }) {}

WorkerThread::~WorkerThread() {
  stop();
}

bool WorkerThread::post(std::function<void()> job) {
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping || m_jobs.size() >= m_max_queued) {
      return false;
    }
    m_jobs.push_back(std::move(job));
  }
  m_wake.notify_one();
  return true;
}

void WorkerThread::run() {
  std::unique_lock lock(m_mutex);
  for (;;) {
    m_wake.wait(lock, [this] { return m_stopping || !m_jobs.empty(); });
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
  std::lock_guard stop_lock(m_stop_mutex);
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_all();
  if (m_thread.joinable()) {
    m_thread.join();
  }
}

}  // namespace pos::common
