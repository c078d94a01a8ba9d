#include "powercut/powercut_fs.hpp"
#include "pos/common/unique_fd.hpp"

#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cstdlib>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/process.hpp"

#ifndef POWERCUTFS_BIN
#error "POWERCUTFS_BIN must name the powercutfs executable"
#endif

namespace pos::test {
namespace {

using namespace std::chrono_literals;

// Undoes the octal escapes (\040 for a space ...) of a /proc/self/mountinfo field.
std::string unescape_mountinfo(const std::string& field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      const std::string oct = field.substr(i + 1, 3);
      if (oct.size() == 3 && oct.find_first_not_of("01234567") == std::string::npos) {
        out.push_back(static_cast<char>(std::stoi(oct, nullptr, 8)));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

std::filesystem::path make_run_dir() {
  const char* tmp = std::getenv("TMPDIR");
  // Unix socket paths are limited to 107 bytes: keep this one short.
  const std::filesystem::path base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  std::string pattern = (base / "powercutfs-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("PowerCutFs: mkdtemp " + pattern + ": " + std::strerror(errno));
  }
  return pattern;
}

// Detaches whatever is mounted at path (a dead or busy FUSE mount): umount2(MNT_DETACH), then
// fusermount3 -u -z. Returns true when path is no mount point afterwards.
bool force_unmount(const std::filesystem::path& path) {
  if (!is_mount_point(path)) {
    return true;
  }
  ::umount2(path.c_str(), MNT_DETACH);
  if (!is_mount_point(path)) {
    return true;
  }
  const std::string cmd = "fusermount3 -u -z '" + path.string() + "' >/dev/null 2>&1";
  (void)!std::system(cmd.c_str());
  return !is_mount_point(path);
}

}  // namespace

bool is_mount_point(const std::filesystem::path& path) {
  std::error_code ec;
  const auto canonical = std::filesystem::weakly_canonical(path, ec);
  const std::string want = ec ? path.string() : canonical.string();
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mount_point;
    if (!(fields >> id >> parent >> devno >> root >> mount_point)) {
      continue;
    }
    if (unescape_mountinfo(mount_point) == want) {
      return true;
    }
  }
  return false;
}

PowerCutFs::PowerCutFs(std::filesystem::path backing_dir, std::filesystem::path mount_dir)
    : m_backing_dir(std::move(backing_dir)), m_mount_dir(std::move(mount_dir)) {
  std::filesystem::create_directories(m_backing_dir);
  std::filesystem::create_directories(m_mount_dir);
  m_backing_dir = std::filesystem::canonical(m_backing_dir);
  m_mount_dir = std::filesystem::canonical(m_mount_dir);
  m_run_dir = make_run_dir();
  m_socket = m_run_dir / "control.sock";
  mount();
}

PowerCutFs::~PowerCutFs() {
  try {
    unmount();
  } catch (...) {
  }
  if (std::getenv("POS_KEEP_TEST_DIRS") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(m_run_dir, ec);
  }
}

const std::filesystem::path& PowerCutFs::mount_dir() const {
  return m_mount_dir;
}

std::string PowerCutFs::log_text() const {
  return read_text_file(m_run_dir / "powercutfs.log");
}

void PowerCutFs::mount() {
  if (!force_unmount(m_mount_dir)) {
    throw std::runtime_error("PowerCutFs: a stale mount at " + m_mount_dir.string() +
                             " cannot be detached");
  }
  std::error_code ec;
  std::filesystem::remove(m_socket, ec);
  m_child = std::make_unique<ChildProcess>(
      std::vector<std::string>{POWERCUTFS_BIN, "--backing", m_backing_dir.string(), "--mount",
                               m_mount_dir.string(), "--control", m_socket.string()},
      m_run_dir / "powercutfs.log");
  // Live: the control channel answers (it is opened after the mount) and the mount is listed.
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  std::string last_error;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!m_child->running()) {
      const int status = m_child->wait();
      m_child.reset();
      throw std::runtime_error("PowerCutFs: powercutfs exited with status " +
                               std::to_string(status) + " before the mount was live; log:\n" +
                               log_text());
    }
    if (std::filesystem::exists(m_socket) && is_mount_point(m_mount_dir)) {
      try {
        const auto answer = command("stats");
        if (answer.rfind("ok ", 0) == 0) {
          return;
        }
        last_error = answer;
      } catch (const std::exception& e) {
        last_error = e.what();
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  m_child->kill9();
  m_child.reset();
  force_unmount(m_mount_dir);
  throw std::runtime_error("PowerCutFs: the mount at " + m_mount_dir.string() +
                           " was not live within 15 s (" + last_error + "); log:\n" + log_text());
}

void PowerCutFs::unmount() {
  int status = 0;
  if (m_child) {
    // SIGTERM: powercutfs unmounts (lazily when busy) and exits; SIGKILL after the deadline.
    status = m_child->terminate(10s);
    m_child.reset();
  }
  if (!force_unmount(m_mount_dir)) {
    throw std::runtime_error("PowerCutFs: cannot unmount " + m_mount_dir.string());
  }
  if (status != 0) {
    throw std::runtime_error("PowerCutFs: powercutfs exited with status " + std::to_string(status) +
                             " when stopped; log:\n" + log_text());
  }
}

void PowerCutFs::cut(CutMode mode) {
  std::string line = "cut";
  if (mode == CutMode::torn) {
    line += " torn";
  }
  if (mode == CutMode::reorder) {
    line += " reorder";
  }
  cut_with(line);
}

void PowerCutFs::cut_reorder(std::uint64_t seed) {
  cut_with("cut reorder " + std::to_string(seed));
}

void PowerCutFs::cut_with(const std::string& line) {
  const auto answer = command(line);
  if (answer.rfind("ok", 0) != 0) {
    throw std::runtime_error("PowerCutFs: '" + line + "' answered: " + answer);
  }
  m_last_cut_answer = answer;
  unmount();
  mount();
}

void PowerCutFs::hold_fsync(bool on) {
  const std::string line = on ? "hold-fsync on" : "hold-fsync off";
  const auto answer = command(line);
  if (answer.rfind("ok", 0) != 0) {
    throw std::runtime_error("PowerCutFs: '" + line + "' answered: " + answer);
  }
}

std::string PowerCutFs::stats_json() {
  const auto answer = command("stats");
  if (answer.rfind("ok ", 0) != 0) {
    throw std::runtime_error("PowerCutFs: 'stats' answered: " + answer);
  }
  return answer.substr(3);
}

std::string PowerCutFs::command(const std::string& line) {
  common::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    throw std::runtime_error("PowerCutFs: socket: " + std::string(strerror(errno)));
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const auto path = m_socket.string();
  if (path.size() >= sizeof addr.sun_path) {
    throw std::runtime_error("PowerCutFs: control socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("PowerCutFs: connect " + path + ": " + std::strerror(errno));
  }
  const std::string out = line + "\n";
  if (::send(fd.get(), out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
    throw std::runtime_error("PowerCutFs: send to " + path + ": " + std::strerror(errno));
  }
  std::string answer;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (answer.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      throw std::runtime_error("PowerCutFs: no answer to '" + line + "' within 30 s");
    }
    pollfd p{fd.get(), POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      continue;
    }
    char buf[4096];
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      throw std::runtime_error("PowerCutFs: control channel closed before answering '" + line +
                               "'");
    }
    answer.append(buf, static_cast<std::size_t>(n));
  }
  answer.resize(answer.find('\n'));
  return answer;
}

}  // namespace pos::test
