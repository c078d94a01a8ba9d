#include "pos/common/loop_thread.hpp"

#include <utility>

namespace pos::common {

LoopThread::~LoopThread() {
  stop();
}

void LoopThread::start(std::function<void()> loop) {
  m_thread = std::thread(std::move(loop));
}

void LoopThread::stop() {
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
