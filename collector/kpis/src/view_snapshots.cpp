#include "pos/collector/view_snapshots.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <utility>

namespace pos::collector {

ViewSnapshots::ViewSnapshots(const boost::asio::any_io_executor& executor,
                             const common::Clock& clock, std::string what,
                             const std::filesystem::path& path, std::chrono::seconds interval,
                             std::function<void()> save_snapshot)
    : m_clock(clock),
      m_what(std::move(what)),
      m_save_snapshot(std::move(save_snapshot)),
      m_timer(executor, m_what + ": snapshot", interval, [this] { m_save_snapshot(); }) {
  if (path.empty()) {
    return;
  }
  auto store = KpiSnapshotStore::open(path);
  if (!store) {
    spdlog::error("{}: not persisted ({}); it restarts empty with the collector", m_what,
                  store.error().message);
    return;
  }
  m_store = std::move(*store);
}

const std::optional<std::string>& ViewSnapshots::loaded() const noexcept {
  static const std::optional<std::string> none;
  return m_store ? m_store->loaded() : none;
}

void ViewSnapshots::start() {
  if (m_store) {
    m_timer.start();
  }
}

void ViewSnapshots::save(std::string snapshot) {
  m_store->save(std::move(snapshot), m_clock.now_unix_ms());
}

void ViewSnapshots::stop() {
  if (m_stopped) {
    return;
  }
  m_stopped = true;
  m_timer.stop();
  if (m_store) {
    try {
      m_save_snapshot();
    } catch (const std::exception& e) {
      spdlog::error("{}: final snapshot failed: {}", m_what, e.what());
    }
    m_store->stop();
  }
}

}  // namespace pos::collector
