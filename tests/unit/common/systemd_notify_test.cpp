// sd_notify without libsystemd: environment parsing, and real datagrams on real unix sockets
// (a path socket and an abstract one) standing in for systemd's notification socket.

#include "pos/common/systemd_notify.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace pos::common {
namespace {

using namespace std::chrono_literals;

std::string errno_text() {
  return std::error_code(errno, std::generic_category()).message();
}

/// A bound unix datagram socket that records what systemd would receive.
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

TEST(NotifySettingsTest, AbsentVariablesMeanNoNotification) {
  const auto settings = parse_notify_settings(nullptr, nullptr, nullptr, 42);
  ASSERT_TRUE(settings);
  EXPECT_TRUE(settings->socket.empty());
  EXPECT_FALSE(settings->watchdog_timeout);
  EXPECT_FALSE(SystemdNotifier(settings->socket).enabled());
  EXPECT_TRUE(SystemdNotifier{}.notify("READY=1"));
}

TEST(NotifySettingsTest, ReadsSocketAndWatchdog) {
  const auto settings = parse_notify_settings("/run/systemd/notify", "30000000", "42", 42);
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->socket, "/run/systemd/notify");
  EXPECT_EQ(settings->watchdog_timeout, std::chrono::microseconds(30'000'000));

  const auto abstract =
      parse_notify_settings("@/org/freedesktop/systemd1/notify", "1000", nullptr, 1);
  ASSERT_TRUE(abstract);
  EXPECT_EQ(abstract->watchdog_timeout, std::chrono::microseconds(1000));
}

TEST(NotifySettingsTest, WatchdogOfAnotherProcessIsIgnored) {
  const auto settings = parse_notify_settings("/run/systemd/notify", "30000000", "41", 42);
  ASSERT_TRUE(settings);
  EXPECT_EQ(settings->socket, "/run/systemd/notify");
  EXPECT_FALSE(settings->watchdog_timeout);
}

TEST(NotifySettingsTest, WatchdogWithoutSocketIsOff) {
  const auto settings = parse_notify_settings(nullptr, "30000000", nullptr, 42);
  ASSERT_TRUE(settings);
  EXPECT_FALSE(settings->watchdog_timeout);
}

TEST(NotifySettingsTest, MalformedValuesNameTheVariable) {
  auto bad = parse_notify_settings("relative/notify", nullptr, nullptr, 1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "NOTIFY_SOCKET=relative/notify: must be an absolute path or an abstract name "
            "starting with '@'");

  bad = parse_notify_settings(("/" + std::string(200, 'x')).c_str(), nullptr, nullptr, 1);
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().message.find("characters after the first") != std::string::npos)
      << bad.error().message;

  for (const char* usec : {"abc", "0", "-5", "12s", "1 "}) {
    bad = parse_notify_settings("/run/n", usec, nullptr, 1);
    ASSERT_FALSE(bad) << usec;
    EXPECT_EQ(bad.error().message,
              std::string("WATCHDOG_USEC=") + usec + ": must be a positive number of microseconds");
  }
  bad = parse_notify_settings("/run/n", "1000", "pid", 1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "WATCHDOG_PID=pid: must be a process id");
}

TEST(StatusAssignmentTest, CannotInjectAnotherAssignment) {
  EXPECT_EQ(status_assignment("up\nREADY=1\r\tx"), "STATUS=up READY=1  x");
  EXPECT_EQ(status_assignment(std::string(1000, 'a')).size(), std::string("STATUS=").size() + 256);
}

TEST(SystemdNotifierTest, SendsToPathAndAbstractSockets) {
  for (const bool abstract : {false, true}) {
    const FakeNotifySocket socket(abstract);
    const SystemdNotifier notifier(socket.name());
    ASSERT_TRUE(notifier.enabled());
    const auto sent = notifier.notify("READY=1\nSTATUS=serving");
    ASSERT_TRUE(sent) << socket.name() << ": " << sent.error().message;
    EXPECT_EQ(socket.receive(), "READY=1\nSTATUS=serving") << socket.name();
  }
}

TEST(SystemdNotifierTest, FailsWhenNobodyListens) {
  const std::string name = "/tmp/pos-notify-nobody-" + std::to_string(::getpid());
  const auto sent = SystemdNotifier(name).notify("READY=1");
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().message, "notify socket " + name + ": No such file or directory");
}

TEST(ServiceNotifierTest, ReadyKeepalivesWhileHealthyAndStopping) {
  const FakeNotifySocket socket(false);
  boost::asio::io_context io;
  std::atomic<bool> healthy{true};
  ServiceNotifier notifier(io.get_executor(), NotifySettings{socket.name(), 100ms},
                           [&] { return healthy.load(); });
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
  io.run_for(200ms);
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

TEST(ServiceNotifierTest, WithoutWatchdogOnlyReadyAndStopping) {
  const FakeNotifySocket socket(true);
  boost::asio::io_context io;
  ServiceNotifier notifier(io.get_executor(), NotifySettings{socket.name(), std::nullopt},
                           [] { return true; });
  EXPECT_FALSE(notifier.watchdog_interval());
  notifier.ready("up");
  notifier.status("connected");
  io.run_for(50ms);
  notifier.stopping("bye");
  EXPECT_EQ(socket.drain(), (std::vector<std::string>{"READY=1\nSTATUS=up", "STATUS=connected",
                                                      "STOPPING=1\nSTATUS=bye"}));
}

TEST(ServiceNotifierTest, NoSocketIsANoop) {
  boost::asio::io_context io;
  bool asked = false;
  ServiceNotifier notifier(io.get_executor(), NotifySettings{}, [&] { return asked = true; });
  EXPECT_FALSE(notifier.enabled());
  notifier.ready("up");
  io.run_for(20ms);
  notifier.stopping("bye");
  EXPECT_FALSE(asked);
  EXPECT_TRUE(io.stopped());
}

}  // namespace
}  // namespace pos::common
