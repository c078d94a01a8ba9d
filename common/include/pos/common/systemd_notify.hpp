#pragma once
// The service manager's notification protocol (sd_notify(3)), without libsystemd: each message is
// one datagram of newline-separated assignments ("READY=1", "STATUS=...", "WATCHDOG=1",
// "STOPPING=1") sent to the unix socket named by $NOTIFY_SOCKET. Outside systemd (no
// $NOTIFY_SOCKET) everything here is a no-op.

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "pos/protocol/result.hpp"

namespace pos::common {

/// What the service manager announced in the environment.
struct NotifySettings {
  /// "/path" or "@abstract-name"; empty: not started with Type=notify.
  std::string socket;
  /// WatchdogSec as $WATCHDOG_USEC; none: no watchdog for this process.
  std::optional<std::chrono::microseconds> watchdog_timeout;
};

/// Parses the values of NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (nullptr: unset) for the
/// process `self`. A WATCHDOG_PID naming another process means the watchdog is not ours. Fails,
/// naming the variable and the value, when NOTIFY_SOCKET is neither an absolute path nor an
/// abstract name or does not fit sockaddr_un, or WATCHDOG_USEC / WATCHDOG_PID is not a positive
/// integer. Pure function.
Result<NotifySettings> parse_notify_settings(const char* notify_socket, const char* watchdog_usec,
                                             const char* watchdog_pid, pid_t self);

/// parse_notify_settings() of this process's environment. Not thread-safe against setenv().
Result<NotifySettings> notify_settings_from_environment();

/// "STATUS=" followed by `text` with control characters (newlines included) replaced by spaces
/// and cut to 256 bytes, so that free text cannot inject another assignment.
std::string status_assignment(std::string_view text);

/// Sends datagrams to one notification socket. Thread-safe: every send opens its own socket, as
/// libsystemd does, so nothing stays open across fork/exec or a broken socket. Copyable.
class SystemdNotifier {
 public:
  /// Does nothing (enabled() is false) when `socket` is empty.
  explicit SystemdNotifier(std::string socket = {});

  bool enabled() const { return !m_socket.empty(); }

  /// Sends `assignments` (e.g. "READY=1\nSTATUS=serving") as one datagram. Succeeds without
  /// sending when disabled. Fails with the socket name and the errno text when the socket cannot
  /// be created or the datagram is not taken (e.g. nobody is bound to the name).
  Status notify(std::string_view assignments) const;

 private:
  std::string m_socket;
};

/// The notifications of a long-running program: READY=1 once it serves, WATCHDOG=1 at half the
/// watchdog timeout while `healthy()` holds (driven by a timer on the program's executor, so a
/// stuck event loop also stops them), STOPPING=1 when shutdown begins. Not thread-safe: call
/// from the executor's thread, or before that thread runs the executor. Failures to send are
/// logged (once per change), never thrown. `healthy` must not throw.
class ServiceNotifier {
 public:
  /// Reads the environment; a malformed variable is logged as a warning and turns notification
  /// off (systemd then reports the start as timed out, with this warning in the journal).
  ServiceNotifier(boost::asio::any_io_executor executor, std::function<bool()> healthy);
  /// As above with explicit settings (tests).
  ServiceNotifier(boost::asio::any_io_executor executor, NotifySettings settings,
                  std::function<bool()> healthy);

  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  /// True when started under a notification socket.
  bool enabled() const { return m_notifier.enabled(); }
  /// The interval between keep-alives (half the timeout); none when there is no watchdog.
  std::optional<std::chrono::microseconds> watchdog_interval() const;

  /// Sends READY=1 with the status text and starts the keep-alive timer (first one at once).
  void ready(std::string_view status);
  /// Sends a new status text.
  void status(std::string_view status);
  /// Stops the keep-alive timer and sends STOPPING=1 with the status text. Idempotent.
  void stopping(std::string_view status);

 private:
  void send(const std::string& assignments);
  void schedule_keepalive();
  void keepalive();

  SystemdNotifier m_notifier;
  std::optional<std::chrono::microseconds> m_interval;
  std::function<bool()> m_healthy;
  boost::asio::steady_timer m_timer;
  bool m_stopping = false;
  bool m_last_send_failed = false;
  bool m_last_healthy = true;
};

}  // namespace pos::common
