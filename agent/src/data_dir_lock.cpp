#include "pos/agent/data_dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace pos::agent {

Result<DataDirLock> DataDirLock::acquire(const std::filesystem::path& data_dir) {
  const auto path = data_dir / "posagent.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return fail("data_dir lock " + path.string() + ": " + std::strerror(errno));
  }
  DataDirLock lock(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    if (error != EWOULDBLOCK) {
      return fail("data_dir lock " + path.string() + ": " + std::strerror(error));
    }
    char holder[32] = {};
    const ssize_t got = ::pread(fd, holder, sizeof holder - 1, 0);
    std::string pid = got > 0 ? std::string(holder, static_cast<std::size_t>(got)) : "";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) {
      pid.pop_back();
    }
    return fail("data_dir " + data_dir.string() + " is in use by another posagent" +
                (pid.empty() ? std::string() : " (pid " + pid + ")") +
                ": two agents must never share one database");
  }
  // The holder's pid, for the message above; informative only.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return fail("data_dir lock " + path.string() + ": " + std::strerror(errno));
  }
  return lock;
}

DataDirLock::DataDirLock(DataDirLock&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}

DataDirLock& DataDirLock::operator=(DataDirLock&& other) noexcept {
  if (this != &other) {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
    m_fd = std::exchange(other.m_fd, -1);
  }
  return *this;
}

DataDirLock::~DataDirLock() {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
}

}  // namespace pos::agent
