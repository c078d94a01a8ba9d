#pragma once
// The service manager's notifications through libsystemd's sd_notify(3): READY=1, STATUS=...,
// WATCHDOG=1, RELOADING=1 and STOPPING=1 to the socket named by $NOTIFY_SOCKET. Outside systemd (no
// $NOTIFY_SOCKET) everything here is a no-op.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace pos::common {

/// "STATUS=" followed by `text` with control characters (newlines included) replaced by spaces
/// and cut to 256 bytes, so that free text cannot inject another assignment.
std::string status_assignment(std::string_view text);

/// The notifications of a long-running program: READY=1 once it serves, WATCHDOG=1 at half the
/// watchdog timeout while `healthy()` holds (driven by a timer on the program's executor, so a
/// stuck event loop also stops them), STOPPING=1 when shutdown begins. Not thread-safe: call
/// from the executor's thread, or before that thread runs the executor. Failures to send are
/// logged (once per change), never thrown. `healthy` must not throw.
class ServiceNotifier {
 public:
  /// Reads $NOTIFY_SOCKET and, through sd_watchdog_enabled(3), $WATCHDOG_USEC/$WATCHDOG_PID of
  /// this process (a watchdog of another process, or a malformed value, is logged and ignored).
  ServiceNotifier(const boost::asio::any_io_executor& executor, std::function<bool()> healthy);

  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  /// True when started under a notification socket.
  bool enabled() const { return m_enabled; }
  /// The interval between keep-alives (half the timeout); none when there is no watchdog.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return m_interval; }

  /// Sends READY=1 with the status text and starts the keep-alive timer (first one at once).
  void ready(std::string_view status);
  /// Sends a new status text.
  void status(std::string_view status);
  /// A configuration reload begins: RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC, which
  /// Type=notify-reload requires) and the status text. Keep-alives continue.
  void reloading(std::string_view status);
  /// The reload is over, whatever its result: READY=1 with the status text (the keep-alive
  /// timer is left as ready() started it).
  void reloaded(std::string_view status);
  /// Stops the keep-alive timer and sends STOPPING=1 with the status text. Idempotent.
  void stopping(std::string_view status);

 private:
  void send(const std::string& assignments);
  void schedule_keepalive();
  void keepalive();

  bool m_enabled = false;
  std::optional<std::chrono::microseconds> m_interval;
  std::function<bool()> m_healthy;
  boost::asio::steady_timer m_timer;
  bool m_stopping = false;
  bool m_last_send_failed = false;
  bool m_last_healthy = true;
};

}  // namespace pos::common
