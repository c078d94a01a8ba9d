#include "pos/common/sighup_reloader.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <utility>

namespace pos::common {

SighupReloader::SighupReloader(const boost::asio::any_io_executor& executor,
                               std::string config_path, const Clock& clock)
    : m_signal(executor, SIGHUP), m_config_path(std::move(config_path)), m_clock(clock) {}

void SighupReloader::start(ServiceNotifier& systemd, Reload reload, Status status) {
  m_systemd = &systemd;
  m_reload = std::move(reload);
  m_status = std::move(status);
  m_stopped = false;
  wait();
}

void SighupReloader::stop() {
  m_stopped = true;
  m_signal.cancel();
}

void SighupReloader::wait() {
  m_signal.async_wait([this](boost::system::error_code ec, int) {
    if (ec || m_stopped) {
      return;
    }
    reload_now();
    wait();
  });
}

void SighupReloader::reload_now() {
  spdlog::info("SIGHUP: reloading the configuration from {}", m_config_path);
  m_systemd->reloading("reloading the configuration");
  std::string message;
  const auto result = m_reload(message);
  m_stats.record(result, m_clock.now_unix_ms(), std::move(message));
  m_systemd->reloaded(m_status() + ", last reload " + std::string(to_string(result)));
}

}  // namespace pos::common
