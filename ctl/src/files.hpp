#pragma once
// Files of the CA: writing (common/files.hpp: final mode from the first byte, fsynced, put in
// place atomically), bounded reads, private directories and the CA's lock. Private to pos::ctl.

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "pos/common/files.hpp"
#include "pos/common/unique_fd.hpp"
#include "pos/protocol/result.hpp"

namespace pos::ctl::files {

using common::files::replace;
using common::files::write_new;

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
