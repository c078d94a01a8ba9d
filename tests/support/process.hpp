// Child processes for integration tests: spawned in their own process group, output to a log
// file, stopped by process id (never by name).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pos::test {

// A running child process, leader of its own process group. Move-only. Not thread-safe: use one
// object from one thread. The destructor SIGKILLs the whole group and reaps the leader.
class ChildProcess {
 public:
  // Spawns argv (argv[0] is looked up in PATH) with the current environment plus env_additions
  // (which override), stdin from /dev/null, stdout and stderr appended to log_path. The child gets
  // SIGKILL if the spawning thread dies. Throws std::runtime_error when the program is not found
  // or cannot be executed.
  ChildProcess(std::vector<std::string> argv, std::filesystem::path log_path,
               const std::map<std::string, std::string>& env_additions = {});
  ~ChildProcess();
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Process id of the leader, which is also the process group id.
  pid_t pid() const noexcept { return m_pid; }
  // True while the leader has not exited (reaps it when it has).
  bool running();
  // SIGTERM to the group; SIGKILL to the group if the leader or any member is still alive after
  // the deadline. Returns the leader's exit status (see wait()). Idempotent.
  int terminate(std::chrono::milliseconds deadline = std::chrono::seconds(10));
  // SIGKILL to the group; returns the leader's exit status.
  int kill9();
  // Blocks until the leader exits. Returns its exit code, or 128 + signal number when a signal
  // ended it.
  int wait();
  const std::filesystem::path& log_path() const noexcept { return m_log_path; }

 private:
  void wait_group_gone(std::chrono::steady_clock::time_point deadline);

  pid_t m_pid = -1;
  std::optional<int> m_status;
  std::filesystem::path m_log_path;
};

// True when a process that is not a zombie has process group id pgid (scans /proc).
bool process_group_alive(pid_t pgid);

// Full path of an executable found in PATH (or the path itself when it contains '/' and is
// executable); nullopt when there is none.
std::optional<std::filesystem::path> find_executable(std::string_view name);

// Contents of a text file; empty when it cannot be read. For failure messages.
std::string read_text_file(const std::filesystem::path& path);

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and released). Throws
// std::runtime_error when no socket can be bound.
std::uint16_t free_tcp_port();

// Polls until 127.0.0.1:port accepts a TCP connection; false after the timeout.
bool wait_for_tcp(std::uint16_t port, std::chrono::milliseconds timeout);

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction unless the
// environment variable POS_KEEP_TEST_DIRS is set. Throws std::runtime_error when it cannot be
// created. Move-only.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "pos-test");
  ~TempDir();
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return m_path; }

 private:
  void remove() noexcept;
  std::filesystem::path m_path;
};

}  // namespace pos::test
