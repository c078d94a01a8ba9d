#pragma once
// When a PEM certificate file expires (its notAfter), and a watch that notices when files (a
// renewed certificate and key) changed on disk.

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <optional>
#include <vector>

#include "pos/protocol/result.hpp"

namespace pos::common {

/// The notAfter of the first certificate in the PEM file at `path`, in Unix milliseconds.
/// Fails with "<path>: cannot read: <reason>" or "<path>: not a PEM certificate". Thread-safe.
Result<std::int64_t> certificate_not_after_ms(const std::filesystem::path& path);

/// Notices when any of a set of files (the TLS files: ca_file, cert_file, key_file) changed on
/// disk since the last poll, by modification time and size. Not thread-safe.
class FileChangeWatch {
 public:
  explicit FileChangeWatch(std::vector<std::filesystem::path> paths);

  /// True when a file's mtime or size differs from the previous poll (or from construction);
  /// a file that cannot be stat'ed counts as mtime 0, size -1.
  bool poll();

 private:
  struct Seen {
    std::int64_t mtime_ns = 0;
    std::int64_t size = -1;
    bool operator==(const Seen&) const = default;
  };
  static Seen look(const std::filesystem::path& path);
  std::vector<std::filesystem::path> m_paths;
  std::vector<Seen> m_seen;
};

}  // namespace pos::common
