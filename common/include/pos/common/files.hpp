#pragma once
// Writing files that must never be seen half-written or with a wider mode than asked (private
// keys, CA files): created with their final mode (O_CREAT|O_EXCL, 0600 from the first byte, never
// chmod afterwards), fsynced, put in place by link or rename, the directory fsynced.

#include <sys/types.h>

#include <filesystem>
#include <string_view>

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

}  // namespace pos::common::files
