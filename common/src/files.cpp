#include "pos/common/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>
#include <string>
#include <system_error>
#include <utility>

#include "pos/common/unique_fd.hpp"

namespace pos::common::files {
namespace {

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

Status write_all(const UniqueFd& fd, std::string_view data, const std::filesystem::path& path) {
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
  return {};
}

Status write_all_and_sync(UniqueFd& fd, std::string_view data, const std::filesystem::path& path) {
  if (auto written = write_all(fd, data, path); !written) {
    return written;
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
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
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

/// A name next to `path` that no other writer uses.
std::filesystem::path temp_name(const std::filesystem::path& path) {
  std::random_device rd;
  return path.string() + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
}

}  // namespace

Status write_new(const std::filesystem::path& path, std::string_view data, mode_t mode) {
  const auto tmp = temp_name(path);
  if (auto written = create_and_write(tmp, data, mode); !written) {
    return written;
  }
  const int linked = ::link(tmp.c_str(), path.c_str());
  const int err = errno;
  ::unlink(tmp.c_str());
  if (linked != 0) {
    if (err == EEXIST) {
      return fail(path.string() + ": exists already; refusing to overwrite it");
    }
    return fail(path.string() + ": cannot create: " + errno_text(err));
  }
  return sync_parent_dir(path);
}

Status replace(const std::filesystem::path& path, std::string_view data, mode_t mode) {
  const auto tmp = temp_name(path);
  if (auto written = create_and_write(tmp, data, mode); !written) {
    return written;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return fail(path.string() + ": rename: " + errno_text(err));
  }
  return sync_parent_dir(path);
}

Status sync_parent_dir(const std::filesystem::path& path) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) != 0) {
    return fail(dir.string() + ": fsync of the directory: " + errno_text(errno));
  }
  return {};
}

// --- StagedFile ---

Result<StagedFile> StagedFile::create(const std::filesystem::path& path, mode_t mode) {
  auto temp = temp_name(path);
  UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd) {
    return fail(temp.string() + ": cannot create: " + errno_text(errno));
  }
  return StagedFile(path, std::move(temp), std::move(fd));
}

StagedFile::StagedFile(std::filesystem::path path, std::filesystem::path temp, UniqueFd fd)
    : m_path(std::move(path)), m_temp(std::move(temp)), m_fd(std::move(fd)) {
  m_buffer.reserve(buffer_bytes);
}

StagedFile::StagedFile(StagedFile&& other) noexcept
    : m_path(std::move(other.m_path)),
      m_temp(std::exchange(other.m_temp, {})),
      m_fd(std::move(other.m_fd)),
      m_buffer(std::move(other.m_buffer)) {}

StagedFile::~StagedFile() {
  if (!m_temp.empty()) {
    ::unlink(m_temp.c_str());
  }
}

Status StagedFile::write(std::string_view data) {
  if (m_temp.empty()) {
    return fail(m_path.string() + ": write after commit");
  }
  if (m_buffer.size() + data.size() > buffer_bytes) {
    if (auto flushed = flush(); !flushed) {
      return flushed;
    }
    if (data.size() > buffer_bytes) {
      return write_all(m_fd, data, m_temp);
    }
  }
  m_buffer.append(data);
  return {};
}

Status StagedFile::flush() {
  auto written = write_all(m_fd, m_buffer, m_temp);
  m_buffer.clear();
  return written;
}

Status StagedFile::commit() {
  if (m_temp.empty()) {
    return fail(m_path.string() + ": already committed");
  }
  const auto temp = std::exchange(m_temp, {});
  const auto give_up = [&](Status failed) {
    ::unlink(temp.c_str());
    return failed;
  };
  if (auto flushed = flush(); !flushed) {
    return give_up(std::move(flushed));
  }
  if (::fsync(m_fd.get()) != 0) {
    return give_up(fail(temp.string() + ": fsync: " + errno_text(errno)));
  }
  if (::close(m_fd.release()) != 0) {
    return give_up(fail(temp.string() + ": close: " + errno_text(errno)));
  }
  if (::rename(temp.c_str(), m_path.c_str()) != 0) {
    return give_up(fail(m_path.string() + ": rename: " + errno_text(errno)));
  }
  return sync_parent_dir(m_path);
}

}  // namespace pos::common::files
