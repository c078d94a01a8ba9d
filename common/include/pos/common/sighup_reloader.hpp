#pragma once
// The SIGHUP side of a configuration reload (`systemctl reload`), the same in posagent and
// poscollector: wait for the signal on the program's executor, tell systemd (RELOADING=1, then
// READY=1 with the status), run the program's reload and keep its ReloadStats. What a reload
// checks and applies is the program's (reload_config with its own key table, config_reload.hpp).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/signal_set.hpp>
#include <functional>
#include <string>

#include "pos/common/clock.hpp"
#include "pos/common/config_reload.hpp"
#include "pos/common/systemd_notify.hpp"

namespace pos::common {

/// Catches SIGHUP from construction (so that a reload signal during start-up does not end the
/// process) and, from start() until stop(), reloads the configuration at each one. Every member
/// must be called on the executor's thread; the reloads run there too.
class SighupReloader {
 public:
  /// Reads the file again and applies it: reload_config's result, its description in `message`.
  using Reload = std::function<ReloadResult(std::string& message)>;
  /// The systemd status text after a reload, e.g. `ingest on 127.0.0.1:8411`.
  using Status = std::function<std::string()>;

  /// `config_path` is the file the reloads read (for the log); `clock` times them.
  SighupReloader(const boost::asio::any_io_executor& executor, std::string config_path,
                 const Clock& clock);
  SighupReloader(const SighupReloader&) = delete;
  SighupReloader& operator=(const SighupReloader&) = delete;

  /// At each SIGHUP: logs `SIGHUP: reloading the configuration from {path}`, sends RELOADING=1
  /// through `systemd`, calls `reload`, records its result in stats() and sends READY=1 with
  /// `{status()}, last reload {result}`. `systemd` must outlive this object.
  void start(ServiceNotifier& systemd, Reload reload, Status status);
  /// No further reload (a SIGHUP is still caught and ignored). Idempotent.
  void stop();

  /// What the reloads so far did.
  const ReloadStats& stats() const { return m_stats; }

 private:
  void wait();
  void reload_now();

  boost::asio::signal_set m_signal;
  std::string m_config_path;
  const Clock& m_clock;
  ServiceNotifier* m_systemd = nullptr;
  Reload m_reload;
  Status m_status;
  ReloadStats m_stats;
  bool m_stopped = false;
};

}  // namespace pos::common
