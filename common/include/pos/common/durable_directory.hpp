#pragma once
// Directories that survive a power cut: creating a directory changes its parent, and that change
// is durable only once the parent is fsynced.

#include <filesystem>

#include "pos/protocol/result.hpp"

namespace pos::common {

/// Creates `path` and any missing parents (mode 0755, or as the umask allows) and fsyncs the
/// parent of every directory it created, so that a power cut cannot take them (and the files
/// later made durable inside them) away. Succeeds without a change when `path` already is a
/// directory. Fails naming the path and the errno text.
Status create_directories_durably(const std::filesystem::path& path);

/// fsyncs the directory `path` (its entries: files created, renamed or removed in it).
Status fsync_directory(const std::filesystem::path& path);

}  // namespace pos::common
