#include "pos/common/durable_directory.hpp"

#include "pos/common/unique_fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace pos::common {

Status fsync_directory(const std::filesystem::path& path) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    return fail("directory " + path.string() + ": " + std::strerror(errno));
  }
  if (::fsync(fd.get()) != 0) {
    return fail("fsync of directory " + path.string() + ": " + std::strerror(errno));
  }
  return {};
}

Status create_directories_durably(const std::filesystem::path& path) {
  const auto absolute = std::filesystem::absolute(path).lexically_normal();
  std::vector<std::filesystem::path> missing;
  for (auto p = absolute; !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) {
        return fail("directory " + p.string() + ": exists and is not a directory");
      }
      break;
    }
    missing.push_back(p);
    if (p == p.parent_path()) {
      break;
    }
  }
  std::reverse(missing.begin(), missing.end());  // outermost first
  for (const auto& dir : missing) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return fail("directory " + dir.string() + ": " + std::strerror(errno));
    }
    if (auto synced = fsync_directory(dir.parent_path()); !synced) {
      return synced;
    }
  }
  return {};
}

}  // namespace pos::common
