#include "support/process.hpp"
#include "pos/common/unique_fd.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

extern char** environ;

namespace pos::test {
namespace {

using namespace std::chrono_literals;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

int decode_status(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    return 128 + WTERMSIG(status);
  }
  return -1;
}

}  // namespace

ChildProcess::ChildProcess(std::vector<std::string> argv, std::filesystem::path log_path,
                           const std::map<std::string, std::string>& env_additions)
    : m_log_path(std::move(log_path)) {
  if (argv.empty()) {
    throw std::invalid_argument("ChildProcess: empty argv");
  }
  const auto exe = find_executable(argv[0]);
  if (!exe) {
    throw std::runtime_error("ChildProcess: program not found in PATH: " + argv[0]);
  }

  // Everything the child needs is prepared before fork(): only async-signal-safe calls after.
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const auto name = entry.substr(0, entry.find('='));
    if (env_additions.find(std::string(name)) == env_additions.end()) {
      env_strings.emplace_back(entry);
    }
  }
  for (const auto& [name, value] : env_additions) {
    env_strings.push_back(name + "=" + value);
  }
  std::vector<char*> envp;
  for (auto& s : env_strings) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (auto& s : argv) {
    args.push_back(s.data());
  }
  args.push_back(nullptr);
  const std::string exe_path = exe->string();

  common::UniqueFd log_fd(
      ::open(m_log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (log_fd.get() < 0) {
    throw_errno("ChildProcess: open " + m_log_path.string());
  }
  common::UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_fd.get() < 0) {
    throw_errno("ChildProcess: open /dev/null");
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw_errno("ChildProcess: pipe2");
  }
  common::UniqueFd err_read(pipe_fds[0]);
  common::UniqueFd err_write(pipe_fds[1]);

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    throw_errno("ChildProcess: fork");
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127);
    }
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (::dup2(null_fd.get(), 0) < 0 || ::dup2(log_fd.get(), 1) < 0 ||
        ::dup2(log_fd.get(), 2) < 0) {
      const int err = errno;
      (void)!::write(err_write.get(), &err, sizeof err);
      ::_exit(127);
    }
    ::execve(exe_path.c_str(), args.data(), envp.data());
    const int err = errno;
    (void)!::write(err_write.get(), &err, sizeof err);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also in the parent, so the group exists before we signal it
  m_pid = pid;
  err_write.reset();
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(err_read.get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    wait();
    m_pid = -1;
    throw std::system_error(child_errno, std::generic_category(),
                            "ChildProcess: cannot execute " + exe_path);
  }
}

ChildProcess::~ChildProcess() {
  if (m_pid > 0) {
    ::kill(-m_pid, SIGKILL);
    wait();
  }
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : m_pid(std::exchange(other.m_pid, -1)),
      m_status(std::exchange(other.m_status, std::nullopt)),
      m_log_path(std::move(other.m_log_path)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (m_pid > 0) {
      ::kill(-m_pid, SIGKILL);
      wait();
    }
    m_pid = std::exchange(other.m_pid, -1);
    m_status = std::exchange(other.m_status, std::nullopt);
    m_log_path = std::move(other.m_log_path);
  }
  return *this;
}

bool ChildProcess::running() {
  if (m_pid <= 0 || m_status) {
    return false;
  }
  int status = 0;
  const pid_t r = ::waitpid(m_pid, &status, WNOHANG);
  if (r == m_pid) {
    m_status = decode_status(status);
    return false;
  }
  return r == 0;
}

int ChildProcess::wait() {
  if (m_pid <= 0) {
    return -1;
  }
  if (m_status) {
    return *m_status;
  }
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(m_pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  m_status = r == m_pid ? decode_status(status) : -1;
  return *m_status;
}

void ChildProcess::wait_group_gone(std::chrono::steady_clock::time_point deadline) {
  while (std::chrono::steady_clock::now() < deadline) {
    const bool leader = running();
    if (!leader && !process_group_alive(m_pid)) {
      return;
    }
    std::this_thread::sleep_for(20ms);
  }
}

int ChildProcess::terminate(std::chrono::milliseconds deadline) {
  if (m_pid <= 0) {
    return -1;
  }
  ::kill(-m_pid, SIGTERM);
  wait_group_gone(std::chrono::steady_clock::now() + deadline);
  if (running() || process_group_alive(m_pid)) {
    ::kill(-m_pid, SIGKILL);
  }
  const int status = wait();
  wait_group_gone(std::chrono::steady_clock::now() + 5s);
  return status;
}

int ChildProcess::kill9() {
  if (m_pid <= 0) {
    return -1;
  }
  ::kill(-m_pid, SIGKILL);
  const int status = wait();
  wait_group_gone(std::chrono::steady_clock::now() + 5s);
  return status;
}

bool process_group_alive(pid_t pgid) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const auto name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat)) {
      continue;
    }
    // Fields after "(comm)": state ppid pgrp ...
    const auto close = stat.rfind(')');
    if (close == std::string::npos) {
      continue;
    }
    std::istringstream rest(stat.substr(close + 1));
    char state = 0;
    long ppid = 0;
    long pgrp = 0;
    if (!(rest >> state >> ppid >> pgrp)) {
      continue;
    }
    if (pgrp == pgid && state != 'Z' && state != 'X') {
      return true;
    }
  }
  return false;
}

std::optional<std::filesystem::path> find_executable(std::string_view name) {
  const auto is_exe = [](const std::filesystem::path& p) {
    return ::access(p.c_str(), X_OK) == 0 && !std::filesystem::is_directory(p);
  };
  if (name.find('/') != std::string_view::npos) {
    const std::filesystem::path p(name);
    if (is_exe(p)) {
      return p;
    }
    return std::nullopt;
  }
  const char* path_env = std::getenv("PATH");
  std::string_view dirs = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  const std::string extra = ":/usr/local/sbin:/usr/sbin:/sbin";  // mosquitto lives in sbin
  const std::string all = std::string(dirs) + extra;
  std::string_view rest = all;
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const auto dir = rest.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    if (dir.empty()) {
      continue;
    }
    const auto candidate = std::filesystem::path(dir) / name;
    if (is_exe(candidate)) {
      return candidate;
    }
  }
  return std::nullopt;
}

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::uint16_t free_tcp_port() {
  common::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    throw_errno("free_tcp_port: socket");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw_errno("free_tcp_port: bind");
  }
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw_errno("free_tcp_port: getsockname");
  }
  return ntohs(addr.sin_port);
}

bool wait_for_tcp(std::uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    common::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
      return false;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      return true;
    }
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

TempDir::TempDir(std::string_view prefix) {
  const char* tmp = std::getenv("TMPDIR");
  const std::filesystem::path base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  std::string pattern = (base / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw_errno("TempDir: mkdtemp " + pattern);
  }
  m_path = pattern;
}

TempDir::~TempDir() {
  remove();
}

TempDir::TempDir(TempDir&& other) noexcept : m_path(std::exchange(other.m_path, {})) {}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    remove();
    m_path = std::exchange(other.m_path, {});
  }
  return *this;
}

void TempDir::remove() noexcept {
  if (m_path.empty() || std::getenv("POS_KEEP_TEST_DIRS") != nullptr) {
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(m_path, ec);
  m_path.clear();
}

}  // namespace pos::test
