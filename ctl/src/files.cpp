#include "files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>
#include <system_error>
#include <utility>

namespace pos::ctl::files {
namespace {

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

Status write_all_and_sync(common::UniqueFd& fd, std::string_view data,
                          const std::filesystem::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd.get(), data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail(path.string() + ": write: " + errno_text(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fsync(fd.get()) != 0) {
    return fail(path.string() + ": fsync: " + errno_text(errno));
  }
  if (::close(fd.release()) != 0) {
    return fail(path.string() + ": close: " + errno_text(errno));
  }
  return {};
}

Status create_and_write(const std::filesystem::path& path, std::string_view data, mode_t mode) {
  // O_EXCL: the file is ours and has `mode` (within the umask) from its first byte. fchmod
  // only restores bits a restrictive umask removed; it never widens beyond `mode`.
  common::UniqueFd fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd) {
    const int err = errno;
    if (err == EEXIST) {
      return fail(path.string() + ": exists already; refusing to overwrite it");
    }
    return fail(path.string() + ": cannot create: " + errno_text(err));
  }
  if (::fchmod(fd.get(), mode) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    return fail(path.string() + ": fchmod: " + errno_text(err));
  }
  auto written = write_all_and_sync(fd, data, path);
  if (!written) {
    ::unlink(path.c_str());
  }
  return written;
}

Status sync_dir(const std::filesystem::path& dir) {
  common::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) != 0) {
    return fail(dir.string() + ": fsync of the directory: " + errno_text(errno));
  }
  return {};
}

std::filesystem::path parent_of(const std::filesystem::path& path) {
  return path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
}

}  // namespace

Status write_new(const std::filesystem::path& path, std::string_view data, mode_t mode) {
  auto written = create_and_write(path, data, mode);
  if (!written) {
    return written;
  }
  return sync_dir(parent_of(path));
}

Status replace(const std::filesystem::path& path, std::string_view data, mode_t mode) {
  std::random_device rd;
  const auto tmp = std::filesystem::path(path.string() + ".tmp-" + std::to_string(::getpid()) +
                                         "-" + std::to_string(rd()));
  auto written = create_and_write(tmp, data, mode);
  if (!written) {
    return written;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return fail(path.string() + ": rename: " + errno_text(err));
  }
  return sync_dir(parent_of(path));
}

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
    return sync_dir(parent_of(path));
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
