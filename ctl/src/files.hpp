#pragma once
// File writing for the CA: files created with their final mode (keys 0600 from the first byte,
// O_CREAT|O_EXCL, never chmod afterwards), fsynced, replaced atomically by rename. Private to
// pos::ctl.

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "pos/common/unique_fd.hpp"
#include "pos/protocol/result.hpp"

namespace pos::ctl::files {

/// Creates `path` (which must not exist) with `mode`, writes `data` and fsyncs it. Fails naming
/// the path when it exists or cannot be written (a partly written file is removed).
Status write_new(const std::filesystem::path& path, std::string_view data, mode_t mode);

/// Writes `data` to a fresh temporary file next to `path` (created with `mode`), fsyncs it and
/// renames it over `path`, then fsyncs the directory: readers see the old or the new file, never
/// a partial one.
Status replace(const std::filesystem::path& path, std::string_view data, mode_t mode);

/// Reads a whole file of at most max_bytes; the error names the path.
Result<std::string> read(const std::filesystem::path& path, std::size_t max_bytes);

/// Creates a directory with mode 0700. An existing directory is accepted when group and others
/// cannot access it, or in any mode when `require_private` is false. Fails naming the path
/// otherwise.
Status make_private_dir(const std::filesystem::path& path, bool require_private = true);

/// An exclusive flock() on a lock file, held while the object lives. Move-only.
class DirLock {
 public:
  /// Locks `path` (created 0600 when missing) without waiting; fails with a message saying
  /// another posctl holds it.
  static Result<DirLock> acquire(const std::filesystem::path& path);
  DirLock(DirLock&&) noexcept = default;
  DirLock& operator=(DirLock&&) noexcept = default;

 private:
  explicit DirLock(common::UniqueFd fd) noexcept : m_fd(std::move(fd)) {}
  common::UniqueFd m_fd;  ///< closing it releases the lock
};

}  // namespace pos::ctl::files
