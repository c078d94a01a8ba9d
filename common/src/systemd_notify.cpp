#include "pos/common/systemd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace pos::common {
namespace {

constexpr std::size_t max_status_bytes = 256;

/// Owns one file descriptor.
class UniqueFd {
 public:
  explicit UniqueFd(int fd) : m_fd(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
  }
  int get() const { return m_fd; }

 private:
  int m_fd;
};

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

/// Positive decimal integer without sign or spaces, as systemd writes it.
std::optional<std::uint64_t> parse_positive(std::string_view text) {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value == 0) {
    return std::nullopt;
  }
  return value;
}

/// Fills `address` for a path or "@abstract" name; returns the address length.
socklen_t make_address(const std::string& socket, sockaddr_un& address) {
  std::memset(&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socket.data(), socket.size());
  if (socket.front() == '@') {
    address.sun_path[0] = '\0';  // abstract namespace: the name is exactly the bytes given
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket.size());
  }
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket.size() + 1);
}

}  // namespace

Result<NotifySettings> parse_notify_settings(const char* notify_socket, const char* watchdog_usec,
                                             const char* watchdog_pid, pid_t self) {
  NotifySettings settings;
  if (notify_socket != nullptr && *notify_socket != '\0') {
    const std::string_view socket(notify_socket);
    if (socket.front() != '/' && socket.front() != '@') {
      return fail("NOTIFY_SOCKET=" + std::string(socket) +
                  ": must be an absolute path or an abstract name starting with '@'");
    }
    // A path needs its terminating NUL inside sun_path; an abstract name does not.
    const std::size_t room = sizeof(sockaddr_un::sun_path) - (socket.front() == '/' ? 1 : 0);
    if (socket.size() > room || socket.size() < 2) {
      return fail("NOTIFY_SOCKET=" + std::string(socket) + ": name must be 1 to " +
                  std::to_string(room - 1) + " characters after the first");
    }
    settings.socket = std::string(socket);
  }
  if (watchdog_usec == nullptr || *watchdog_usec == '\0') {
    return settings;
  }
  const auto usec = parse_positive(watchdog_usec);
  if (!usec) {
    return fail(std::string("WATCHDOG_USEC=") + watchdog_usec +
                ": must be a positive number of microseconds");
  }
  if (watchdog_pid != nullptr && *watchdog_pid != '\0') {
    const auto pid = parse_positive(watchdog_pid);
    if (!pid) {
      return fail(std::string("WATCHDOG_PID=") + watchdog_pid + ": must be a process id");
    }
    if (*pid != static_cast<std::uint64_t>(self)) {
      return settings;  // the watchdog belongs to another process (e.g. our parent)
    }
  }
  if (!settings.socket.empty()) {
    settings.watchdog_timeout = std::chrono::microseconds(*usec);
  }
  return settings;
}

Result<NotifySettings> notify_settings_from_environment() {
  // NOLINTBEGIN(concurrency-mt-unsafe): read once at startup, before any thread changes the env.
  return parse_notify_settings(std::getenv("NOTIFY_SOCKET"), std::getenv("WATCHDOG_USEC"),
                               std::getenv("WATCHDOG_PID"), ::getpid());
  // NOLINTEND(concurrency-mt-unsafe)
}

std::string status_assignment(std::string_view text) {
  std::string out = "STATUS=";
  const auto n = std::min(text.size(), max_status_bytes);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out.push_back(c < 0x20 || c == 0x7f ? ' ' : text[i]);
  }
  return out;
}

SystemdNotifier::SystemdNotifier(std::string socket) : m_socket(std::move(socket)) {}

Status SystemdNotifier::notify(std::string_view assignments) const {
  if (!enabled()) {
    return {};
  }
  const UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    return fail("notify socket: " + errno_text(errno));
  }
  sockaddr_un address{};
  const socklen_t length = make_address(m_socket, address);
  const auto sent =
      ::sendto(fd.get(), assignments.data(), assignments.size(), MSG_NOSIGNAL,
               reinterpret_cast<const sockaddr*>(&address), length);  // NOLINT: C socket API
  if (sent < 0) {
    return fail("notify socket " + m_socket + ": " + errno_text(errno));
  }
  if (static_cast<std::size_t>(sent) != assignments.size()) {
    return fail("notify socket " + m_socket + ": datagram truncated");
  }
  return {};
}

ServiceNotifier::ServiceNotifier(boost::asio::any_io_executor executor,
                                 std::function<bool()> healthy)
    : m_healthy(std::move(healthy)), m_timer(std::move(executor)) {
  auto settings = notify_settings_from_environment();
  if (!settings) {
    spdlog::warn("systemd notification off: {}", settings.error().message);
    return;
  }
  m_notifier = SystemdNotifier(settings->socket);
  if (settings->watchdog_timeout) {
    m_interval = *settings->watchdog_timeout / 2;
  }
}

ServiceNotifier::ServiceNotifier(boost::asio::any_io_executor executor, NotifySettings settings,
                                 std::function<bool()> healthy)
    : m_notifier(std::move(settings.socket)),
      m_healthy(std::move(healthy)),
      m_timer(std::move(executor)) {
  if (settings.watchdog_timeout && m_notifier.enabled()) {
    m_interval = *settings.watchdog_timeout / 2;
  }
}

std::optional<std::chrono::microseconds> ServiceNotifier::watchdog_interval() const {
  return m_interval;
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
  const auto sent = m_notifier.notify(assignments);
  if (!sent && !m_last_send_failed) {
    spdlog::warn("systemd notification failed: {}", sent.error().message);
  } else if (sent && m_last_send_failed) {
    spdlog::info("systemd notification works again");
  }
  m_last_send_failed = !sent;
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
