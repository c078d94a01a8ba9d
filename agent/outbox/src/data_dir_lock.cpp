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
  common::UniqueFd owned(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!owned) {
    return fail("data_dir lock " + path.string() + ": " + std::strerror(errno));
  }
  const int fd = owned.get();
  DataDirLock lock(std::move(owned));
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

}  // namespace pos::agent
