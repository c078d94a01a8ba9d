#include "files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

namespace pos::ctl::files {
namespace {

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

}  // namespace

Result<std::string> read(const std::filesystem::path& path, std::size_t max_bytes) {
  common::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return fail(path.string() + ": cannot open: " + errno_text(errno));
  }
  std::string out;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail(path.string() + ": read: " + errno_text(errno));
    }
    if (n == 0) {
      break;
    }
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes) {
      return fail(path.string() + ": larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  return out;
}

Status make_private_dir(const std::filesystem::path& path, bool require_private) {
  if (::mkdir(path.c_str(), 0700) == 0) {
    return common::files::sync_parent_dir(path);
  }
  if (errno != EEXIST) {
    return fail(path.string() + ": cannot create: " + errno_text(errno));
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return fail(path.string() + ": exists and is not a directory");
  }
  if (require_private && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return fail(path.string() + ": exists with mode " + mode +
                "; group and others must have no access (chmod 700 it or use a new directory)");
  }
  return {};
}

Result<DirLock> DirLock::acquire(const std::filesystem::path& path) {
  common::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    return fail(path.string() + ": cannot open the lock file: " + errno_text(errno));
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      return fail(path.string() + ": another posctl is working on this CA; try again");
    }
    return fail(path.string() + ": flock: " + errno_text(err));
  }
  return DirLock(std::move(fd));
}

}  // namespace pos::ctl::files
