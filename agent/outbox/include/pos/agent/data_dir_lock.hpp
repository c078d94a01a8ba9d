#pragma once
// An exclusive lock on the agent's data_dir, so that two agents never share one database.

#include <filesystem>
#include <utility>

#include "pos/common/unique_fd.hpp"
#include "pos/protocol/result.hpp"

namespace pos::agent {

/// Holds `flock(LOCK_EX)` on `{data_dir}/posagent.lock` for its lifetime. The kernel drops the
/// lock when the process dies (kill -9, power cut), so a stale lock file never blocks a restart.
/// Move-only.
class DataDirLock {
 public:
  /// Creates the lock file if needed (0600, O_NOFOLLOW) and takes the lock without waiting.
  /// Fails naming the path when another process holds it ("... is in use by another posagent
  /// (pid N)") or the file cannot be opened.
  static Result<DataDirLock> acquire(const std::filesystem::path& data_dir);

  DataDirLock(DataDirLock&&) noexcept = default;
  DataDirLock& operator=(DataDirLock&&) noexcept = default;

 private:
  explicit DataDirLock(common::UniqueFd fd) noexcept : m_fd(std::move(fd)) {}
  common::UniqueFd m_fd;  ///< closing it releases the lock
};

}  // namespace pos::agent
