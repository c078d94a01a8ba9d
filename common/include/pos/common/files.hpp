#pragma once
// Writing files that must never be seen half-written or with a wider mode than asked (private
// keys, CA files): created with their final mode (O_CREAT|O_EXCL, 0600 from the first byte, never
// chmod afterwards), fsynced, put in place by link or rename, the directory fsynced.

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "pos/common/unique_fd.hpp"
#include "pos/protocol/result.hpp"

namespace pos::common::files {

/// Creates `path` (which must not exist) with `mode`, writes `data` and fsyncs it: the data goes
/// to a temporary file next to it that is then linked to `path`, so `path` never holds part of
/// it, even after a crash. Fails naming the path when it exists ("exists already; refusing to
/// overwrite it") or cannot be written. Thread-safe.
Status write_new(const std::filesystem::path& path, std::string_view data, mode_t mode);

/// Writes `data` to a fresh temporary file next to `path` (created with `mode`), fsyncs it and
/// renames it over `path`, then fsyncs the directory: readers see the old or the new file, never
/// a partial one. Thread-safe.
Status replace(const std::filesystem::path& path, std::string_view data, mode_t mode);

/// fsyncs the directory that holds `path` (after creating or renaming an entry in it). Fails
/// naming the directory.
Status sync_parent_dir(const std::filesystem::path& path);

/// A file written piece by piece (an export of any size) that appears under its final name only
/// complete: the pieces go to a fresh temporary file next to `path` through a buffer of
/// `buffer_bytes`; commit() fsyncs it, renames it over `path` and fsyncs the directory. Destroyed
/// without a successful commit, it removes the temporary file, so `path` never holds part of the
/// data, even after a crash. Move-only; one thread at a time.
class StagedFile {
 public:
  static constexpr std::size_t buffer_bytes = std::size_t{64} * 1024;

  /// Creates the temporary file with `mode`. Fails naming it when it cannot be created (e.g. the
  /// directory is missing).
  static Result<StagedFile> create(const std::filesystem::path& path, mode_t mode);

  StagedFile(StagedFile&& other) noexcept;
  StagedFile& operator=(StagedFile&&) = delete;
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;
  ~StagedFile();

  /// Appends `data`. Fails naming the temporary file when writing fails (e.g. disk full).
  Status write(std::string_view data);
  /// Puts the file in place (see above); afterwards the object does nothing. Fails naming the
  /// file; the temporary file is then removed.
  Status commit();

 private:
  StagedFile(std::filesystem::path path, std::filesystem::path temp, UniqueFd fd);
  Status flush();

  std::filesystem::path m_path;
  std::filesystem::path m_temp;  ///< empty once committed or moved from
  UniqueFd m_fd;
  std::string m_buffer;
};

}  // namespace pos::common::files
