#include "pos/common/systemd_notify.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>
#include <system_error>

namespace pos::common {
namespace {

constexpr std::size_t max_status_bytes = 256;

}  // namespace

std::string status_assignment(std::string_view text) {
  std::string out = "STATUS=";
  const auto n = std::min(text.size(), max_status_bytes);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out.push_back(c < 0x20 || c == 0x7f ? ' ' : text[i]);
  }
  return out;
}

ServiceNotifier::ServiceNotifier(const boost::asio::any_io_executor& executor,
                                 std::function<bool()> healthy)
    : m_healthy(std::move(healthy)), m_timer(executor) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  m_enabled = socket != nullptr && *socket != '\0';
  if (!m_enabled) {
    return;
  }
  std::uint64_t usec = 0;
  const int watchdog = ::sd_watchdog_enabled(0, &usec);
  if (watchdog < 0) {
    spdlog::warn("systemd watchdog off: WATCHDOG_USEC/WATCHDOG_PID: {}",
                 std::error_code(-watchdog, std::generic_category()).message());
  } else if (watchdog > 0 && usec > 0) {
    m_interval = std::chrono::microseconds(usec / 2);
  }
}

void ServiceNotifier::ready(std::string_view status) {
  if (!enabled()) {
    return;
  }
  send("READY=1\n" + status_assignment(status));
  if (m_interval) {
    spdlog::info("systemd watchdog: keep-alive every {} ms while healthy",
                 std::chrono::duration_cast<std::chrono::milliseconds>(*m_interval).count());
    boost::asio::post(m_timer.get_executor(), [this] { keepalive(); });
  }
}

void ServiceNotifier::status(std::string_view status) {
  if (enabled()) {
    send(status_assignment(status));
  }
}

void ServiceNotifier::reloading(std::string_view status) {
  if (!enabled() || m_stopping) {
    return;
  }
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec = static_cast<std::uint64_t>(now.tv_sec) * 1'000'000 +
                    static_cast<std::uint64_t>(now.tv_nsec) / 1000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\n" + status_assignment(status));
}

void ServiceNotifier::reloaded(std::string_view status) {
  if (enabled() && !m_stopping) {
    send("READY=1\n" + status_assignment(status));
  }
}

void ServiceNotifier::stopping(std::string_view status) {
  if (m_stopping) {
    return;
  }
  m_stopping = true;
  m_timer.cancel();
  if (enabled()) {
    send("STOPPING=1\n" + status_assignment(status));
  }
}

void ServiceNotifier::send(const std::string& assignments) {
  // sd_notify: > 0 sent, 0 no socket, < 0 -errno. 0 cannot happen while enabled unless the
  // environment changed; treat it as a failure to reach the service manager.
  const int sent = ::sd_notify(0, assignments.c_str());
  const bool failed = sent <= 0;
  if (failed && !m_last_send_failed) {
    spdlog::warn("systemd notification failed: {}",
                 sent < 0 ? std::error_code(-sent, std::generic_category()).message()
                          : std::string("NOTIFY_SOCKET is no longer set"));
  } else if (!failed && m_last_send_failed) {
    spdlog::info("systemd notification works again");
  }
  m_last_send_failed = failed;
}

void ServiceNotifier::keepalive() {
  if (m_stopping) {
    return;
  }
  const bool healthy = m_healthy();
  if (healthy) {
    send("WATCHDOG=1");
  }
  if (healthy != m_last_healthy) {
    if (healthy) {
      spdlog::info("systemd watchdog: healthy again, keep-alives resumed");
    } else {
      spdlog::error(
          "systemd watchdog: not healthy (see /healthz), keep-alives withheld; systemd restarts "
          "the service when the watchdog timeout passes");
    }
    m_last_healthy = healthy;
  }
  schedule_keepalive();
}

void ServiceNotifier::schedule_keepalive() {
  m_timer.expires_after(*m_interval);
  m_timer.async_wait([this](boost::system::error_code ec) {
    if (!ec) {
      keepalive();
    }
  });
}

}  // namespace pos::common
