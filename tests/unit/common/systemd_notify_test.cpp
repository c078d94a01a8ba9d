// ServiceNotifier over libsystemd's sd_notify: real datagrams on real unix sockets (a path socket
// and an abstract one) standing in for systemd's notification socket, named by the same
// environment variables systemd sets.

#include "pos/common/systemd_notify.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "support/wait.hpp"

namespace pos::common {
namespace {

using namespace std::chrono_literals;

std::string errno_text() {
  return std::error_code(errno, std::generic_category()).message();
}

/// A bound unix datagram socket that records what systemd would receive.
/// Sets the variables systemd would set for this process, and unsets them again.
class NotifyEnvironment {
 public:
  NotifyEnvironment(const std::string& socket, std::optional<std::string> watchdog_usec,
                    std::optional<std::string> watchdog_pid = std::nullopt) {
    set("NOTIFY_SOCKET", socket);
    set("WATCHDOG_USEC", watchdog_usec);
    set("WATCHDOG_PID", watchdog_pid);
  }
  ~NotifyEnvironment() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
  NotifyEnvironment(const NotifyEnvironment&) = delete;
  NotifyEnvironment& operator=(const NotifyEnvironment&) = delete;

 private:
  static void set(const char* name, const std::optional<std::string>& value) {
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
};

class FakeNotifySocket {
 public:
  /// Binds a path socket in a fresh temporary directory, or an abstract name when `abstract`.
  explicit FakeNotifySocket(bool abstract) {
    m_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (m_fd < 0) {
      throw std::runtime_error("socket: " + errno_text());
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    socklen_t length = 0;
    if (abstract) {
      m_name = "@pos-notify-test-" + std::to_string(::getpid()) + "-" + std::to_string(m_fd);
      std::memcpy(address.sun_path + 1, m_name.data() + 1, m_name.size() - 1);
      length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + m_name.size());
    } else {
      char dir_template[] = "/tmp/pos-notify-XXXXXX";
      if (::mkdtemp(dir_template) == nullptr) {
        throw std::runtime_error("mkdtemp: " + errno_text());
      }
      m_dir = dir_template;
      m_name = (m_dir / "notify").string();
      std::memcpy(address.sun_path, m_name.c_str(), m_name.size() + 1);
      length = static_cast<socklen_t>(sizeof address);
    }
    if (::bind(m_fd, reinterpret_cast<const sockaddr*>(&address), length) != 0) {  // NOLINT
      throw std::runtime_error("bind " + m_name + ": " + errno_text());
    }
    const timeval timeout{0, 100'000};
    ::setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~FakeNotifySocket() {
    ::close(m_fd);
    if (!m_dir.empty()) {
      std::filesystem::remove_all(m_dir);
    }
  }
  FakeNotifySocket(const FakeNotifySocket&) = delete;
  FakeNotifySocket& operator=(const FakeNotifySocket&) = delete;

  const std::string& name() const { return m_name; }

  /// The next datagram, or nullopt when none arrives within 100 ms.
  std::optional<std::string> receive() const {
    std::string buffer(4096, '\0');
    const auto n = ::recv(m_fd, buffer.data(), buffer.size(), 0);
    if (n < 0) {
      return std::nullopt;
    }
    buffer.resize(static_cast<std::size_t>(n));
    return buffer;
  }

  std::vector<std::string> drain() const {
    std::vector<std::string> out;
    while (auto message = receive()) {
      out.push_back(std::move(*message));
    }
    return out;
  }

 private:
  int m_fd = -1;
  std::filesystem::path m_dir;
  std::string m_name;
};

TEST(StatusAssignmentTest, CannotInjectAnotherAssignment) {
  EXPECT_EQ(status_assignment("up\nREADY=1\r\tx"), "STATUS=up READY=1  x");
  EXPECT_EQ(status_assignment(std::string(1000, 'a')).size(), std::string("STATUS=").size() + 256);
}

TEST(ServiceNotifierTest, ReadyKeepalivesWhileHealthyAndStopping) {
  const FakeNotifySocket socket(false);
  const NotifyEnvironment env(socket.name(), "100000", std::to_string(::getpid()));
  boost::asio::io_context io;
  std::atomic<bool> healthy{true};
  std::atomic<int> health_checks{0};  // one per keep-alive tick
  ServiceNotifier notifier(io.get_executor(), [&] {
    ++health_checks;
    return healthy.load();
  });
  ASSERT_TRUE(notifier.enabled());
  ASSERT_EQ(notifier.watchdog_interval(), std::chrono::microseconds(50'000));

  notifier.ready("ingest on 127.0.0.1:8411");
  io.run_for(330ms);  // keep-alives at 0, 50, ..., 300 ms (fewer when the machine is loaded)
  auto messages = socket.drain();
  ASSERT_GE(messages.size(), 3U);
  EXPECT_EQ(messages.front(), "READY=1\nSTATUS=ingest on 127.0.0.1:8411");
  for (std::size_t i = 1; i < messages.size(); ++i) {
    EXPECT_EQ(messages[i], "WATCHDOG=1") << i;
  }
  EXPECT_LE(messages.size(), 8U) << "keep-alives at half the timeout, not faster";

  // Unhealthy: the timer keeps running but nothing is sent, so systemd's watchdog fires.
  healthy = false;
  const int checks = health_checks;
  ASSERT_TRUE(pos::test::run_until(
      io, [&] { return health_checks >= checks + 3; }, 5s,
      "three keep-alive ticks while unhealthy"));
  EXPECT_TRUE(socket.drain().empty());

  healthy = true;
  io.run_for(120ms);
  messages = socket.drain();
  ASSERT_FALSE(messages.empty());
  EXPECT_EQ(messages.front(), "WATCHDOG=1");

  notifier.stopping("draining");
  notifier.stopping("again");
  io.run_for(80ms);
  messages = socket.drain();
  ASSERT_EQ(messages.size(), 1U);
  EXPECT_EQ(messages.front(), "STOPPING=1\nSTATUS=draining");
  EXPECT_TRUE(io.stopped()) << "no timer left once stopping";
}

TEST(ServiceNotifierTest, WithoutWatchdogOnlyReadyAndStoppingOnAnAbstractSocket) {
  const FakeNotifySocket socket(true);
  const NotifyEnvironment env(socket.name(), std::nullopt);
  boost::asio::io_context io;
  ServiceNotifier notifier(io.get_executor(), [] { return true; });
  EXPECT_FALSE(notifier.watchdog_interval());
  notifier.ready("up");
  notifier.status("connected");
  io.run_for(50ms);
  notifier.stopping("bye");
  EXPECT_EQ(socket.drain(), (std::vector<std::string>{"READY=1\nSTATUS=up", "STATUS=connected",
                                                      "STOPPING=1\nSTATUS=bye"}));
}

TEST(ServiceNotifierTest, ReloadingCarriesMonotonicUsecThenReadyAgain) {
  const FakeNotifySocket socket(false);
  const NotifyEnvironment env(socket.name(), std::nullopt);
  boost::asio::io_context io;
  ServiceNotifier notifier(io.get_executor(), [] { return true; });
  notifier.ready("up");
  timespec before{};
  ::clock_gettime(CLOCK_MONOTONIC, &before);
  notifier.reloading("reloading the configuration");
  notifier.reloaded("up");
  const auto messages = socket.drain();
  ASSERT_EQ(messages.size(), 3U);
  EXPECT_EQ(messages[0], "READY=1\nSTATUS=up");
  const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
  ASSERT_EQ(messages[1].rfind(prefix, 0), 0U) << messages[1];
  const auto usec_end = messages[1].find('\n', prefix.size());
  ASSERT_NE(usec_end, std::string::npos);
  const auto usec = std::stoull(messages[1].substr(prefix.size(), usec_end - prefix.size()));
  EXPECT_GE(usec, static_cast<std::uint64_t>(before.tv_sec) * 1'000'000);
  EXPECT_EQ(messages[1].substr(usec_end + 1), "STATUS=reloading the configuration");
  EXPECT_EQ(messages[2], "READY=1\nSTATUS=up");
}

TEST(ServiceNotifierTest, WatchdogOfAnotherProcessIsNotOurs) {
  const FakeNotifySocket socket(false);
  const NotifyEnvironment env(socket.name(), "100000", std::to_string(::getpid() + 1));
  boost::asio::io_context io;
  ServiceNotifier notifier(io.get_executor(), [] { return true; });
  EXPECT_TRUE(notifier.enabled());
  EXPECT_FALSE(notifier.watchdog_interval());
}

TEST(ServiceNotifierTest, MalformedWatchdogTurnsOnlyTheWatchdogOff) {
  const FakeNotifySocket socket(false);
  const NotifyEnvironment env(socket.name(), "soon");
  boost::asio::io_context io;
  ServiceNotifier notifier(io.get_executor(), [] { return true; });
  EXPECT_FALSE(notifier.watchdog_interval());
  notifier.ready("up");
  EXPECT_EQ(socket.drain(), std::vector<std::string>{"READY=1\nSTATUS=up"});
}

TEST(ServiceNotifierTest, NobodyListeningIsLoggedNotThrown) {
  const std::string name = "/tmp/pos-notify-nobody-" + std::to_string(::getpid());
  const NotifyEnvironment env(name, std::nullopt);
  boost::asio::io_context io;
  ServiceNotifier notifier(io.get_executor(), [] { return true; });
  EXPECT_TRUE(notifier.enabled());
  EXPECT_NO_THROW(notifier.ready("up"));
  EXPECT_NO_THROW(notifier.stopping("bye"));
}

TEST(ServiceNotifierTest, NoSocketIsANoop) {
  const NotifyEnvironment env("", std::nullopt);
  boost::asio::io_context io;
  bool asked = false;
  ServiceNotifier notifier(io.get_executor(), [&] { return asked = true; });
  EXPECT_FALSE(notifier.enabled());
  notifier.ready("up");
  io.run_for(20ms);
  notifier.stopping("bye");
  EXPECT_FALSE(asked);
  EXPECT_TRUE(io.stopped());
}

}  // namespace
}  // namespace pos::common
