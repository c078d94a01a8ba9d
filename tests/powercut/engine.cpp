#include "powercut/engine.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cstdio>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace pos::powercut {

// ---------------------------------------------------------------------------------------------
// FileOverlay

void FileOverlay::write(std::uint64_t offset, std::string_view bytes) {
  if (bytes.empty()) {
    return;
  }
  const std::uint64_t end = offset + bytes.size();
  // Drop earlier writes this one covers, back to the newest truncate.
  std::size_t stop = 0;
  for (std::size_t i = m_ops.size(); i > 0; --i) {
    if (m_ops[i - 1].kind == DataOp::Kind::truncate) {
      stop = i;
      break;
    }
  }
  for (std::size_t i = m_ops.size(); i > stop; --i) {
    const DataOp& op = m_ops[i - 1];
    if (op.offset >= offset && op.end() <= end) {
      m_bytes -= op.bytes.size();
      m_ops.erase(m_ops.begin() + static_cast<std::ptrdiff_t>(i - 1));
    }
  }
  m_ops.push_back(DataOp{DataOp::Kind::write, offset, std::string(bytes)});
  m_bytes += bytes.size();
}

void FileOverlay::truncate(std::uint64_t size) {
  m_ops.push_back(DataOp{DataOp::Kind::truncate, size, {}});
}

std::uint64_t FileOverlay::size(std::uint64_t durable_size) const {
  std::uint64_t size = durable_size;
  for (const auto& op : m_ops) {
    size = op.kind == DataOp::Kind::write ? std::max(size, op.end()) : op.offset;
  }
  return size;
}

std::size_t FileOverlay::read(std::uint64_t offset, char* buf, std::size_t len,
                              std::uint64_t durable_size) const {
  // Invariant: buf is zero past the current size (true for the durable content as given).
  const std::uint64_t end = offset + len;
  std::uint64_t size = durable_size;
  for (const auto& op : m_ops) {
    if (op.kind == DataOp::Kind::write) {
      const std::uint64_t from = std::max(offset, op.offset);
      const std::uint64_t to = std::min(end, op.end());
      if (from < to) {
        std::memcpy(buf + (from - offset), op.bytes.data() + (from - op.offset), to - from);
      }
      size = std::max(size, op.end());
    } else {
      if (op.offset < size) {
        const std::uint64_t from = std::max(offset, op.offset);
        if (from < end) {
          std::memset(buf + (from - offset), 0, end - from);
        }
      }
      size = op.offset;
    }
  }
  if (size <= offset) {
    return 0;
  }
  return static_cast<std::size_t>(std::min<std::uint64_t>(len, size - offset));
}

void FileOverlay::clear() {
  m_ops.clear();
  m_bytes = 0;
}

std::vector<DataOp> torn_landing(const std::vector<DataOp>& ops, std::uint64_t sector) {
  for (auto it = ops.rbegin(); it != ops.rend(); ++it) {
    if (it->kind != DataOp::Kind::write) {
      continue;
    }
    const std::uint64_t first_sector_end = (it->offset / sector + 1) * sector;
    if (it->end() <= first_sector_end) {
      return {};
    }
    DataOp prefix = *it;
    prefix.bytes.resize(first_sector_end - it->offset);
    return {prefix};
  }
  return {};
}

std::vector<DataOp> reorder_landing(const std::vector<DataOp>& ops, std::mt19937_64& rng) {
  std::vector<DataOp> landed;
  std::bernoulli_distribution coin(0.5);
  for (const auto& op : ops) {
    if (coin(rng)) {
      landed.push_back(op);
    }
  }
  return landed;
}

// ---------------------------------------------------------------------------------------------
// Engine

struct Engine::Inode {
  std::uint64_t ino = 0;
  int fd = -1;  // O_RDWR on the backing file (O_RDONLY when that is refused)
  FileOverlay overlay;
  int open_count = 0;
};

namespace {

std::string parent_of(const std::string& rel) {
  const auto slash = rel.rfind('/');
  return slash == std::string::npos ? std::string(".") : rel.substr(0, slash);
}

// The path the descriptor's file has now (as the kernel reports it), or "" when unknown.
std::string backing_path_of(int fd) {
  std::string buf(4096, '\0');
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size());
  if (n <= 0) {
    return {};
  }
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

int apply_ops(int fd, const std::vector<DataOp>& ops) {
  for (const auto& op : ops) {
    if (op.kind == DataOp::Kind::write) {
      std::size_t done = 0;
      while (done < op.bytes.size()) {
        const ssize_t n = ::pwrite(fd, op.bytes.data() + done, op.bytes.size() - done,
                                   static_cast<off_t>(op.offset + done));
        if (n < 0 && errno == EINTR) {
          continue;
        }
        if (n <= 0) {
          return n < 0 ? -errno : -EIO;
        }
        done += static_cast<std::size_t>(n);
      }
    } else if (::ftruncate(fd, static_cast<off_t>(op.offset)) != 0) {
      return -errno;
    }
  }
  return 0;
}

// Whether the directory open on `fd` has no entry besides "." and "..". Takes `fd` (closed on
// return). nullopt when it cannot be read, with errno set.
std::optional<bool> is_empty_directory(int fd) {
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return std::nullopt;
  }
  bool empty = true;
  while (const dirent* entry = ::readdir(dir)) {
    if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  ::closedir(dir);
  return empty;
}

}  // namespace

Engine::Engine(std::filesystem::path backing_dir, Limits limits)
    : m_backing(std::move(backing_dir)), m_limits(limits) {
  m_root_fd = ::open(m_backing.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (m_root_fd < 0) {
    throw std::runtime_error("powercutfs: cannot open backing directory " + m_backing.string() +
                             ": " + std::strerror(errno));
  }
  const auto trash = m_backing / k_trash_name;
  std::error_code ec;
  std::filesystem::remove_all(trash, ec);
  if (ec || ::mkdirat(m_root_fd, std::string(k_trash_name).c_str(), 0700) != 0) {
    const std::string why = ec ? ec.message() : std::strerror(errno);
    ::close(m_root_fd);
    throw std::runtime_error("powercutfs: cannot create " + trash.string() + ": " + why);
  }
  m_trash_fd =
      ::openat(m_root_fd, std::string(k_trash_name).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (m_trash_fd < 0) {
    const std::string why = std::strerror(errno);
    ::close(m_root_fd);
    throw std::runtime_error("powercutfs: cannot open " + trash.string() + ": " + why);
  }
}

Engine::~Engine() {
  for (auto& [ino, inode] : m_inodes) {
    ::close(inode->fd);
  }
  ::close(m_trash_fd);
  ::close(m_root_fd);
}

int Engine::resolve(const char* path, std::string& rel) const {
  if (m_cut) {
    return -EIO;
  }
  if (path == nullptr || path[0] != '/') {
    return -EINVAL;
  }
  rel = path + 1;
  if (rel.empty()) {
    rel = ".";
    return 0;
  }
  const std::string_view trash = k_trash_name;
  if (rel.compare(0, trash.size(), trash) == 0 &&
      (rel.size() == trash.size() || rel[trash.size()] == '/')) {
    return -ENOENT;
  }
  return 0;
}

int Engine::parent_ino(const std::string& rel, std::uint64_t& ino) const {
  struct stat st {};
  if (::fstatat(m_root_fd, parent_of(rel).c_str(), &st, 0) != 0) {
    return -errno;
  }
  ino = st.st_ino;
  return 0;
}

Engine::Inode* Engine::inode_for_fd(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return nullptr;
  }
  auto it = m_inodes.find(st.st_ino);
  if (it != m_inodes.end()) {
    ::close(fd);
    return it->second.get();
  }
  auto inode = std::make_unique<Inode>();
  inode->ino = st.st_ino;
  inode->fd = fd;
  Inode* raw = inode.get();
  m_inodes.emplace(st.st_ino, std::move(inode));
  return raw;
}

Engine::Handle* Engine::new_handle(Inode* inode) {
  auto handle = std::make_unique<Handle>(Handle{inode});
  Handle* raw = handle.get();
  m_handles.emplace(raw, std::move(handle));
  return raw;
}

void Engine::drop_inode_if_unused(Inode* inode) {
  if (inode->open_count > 0 || !inode->overlay.empty()) {
    return;
  }
  ::close(inode->fd);
  m_inodes.erase(inode->ino);
}

int Engine::flush_inode(Inode& inode) {
  if (inode.overlay.empty()) {
    return 0;
  }
  const int rc = apply_ops(inode.fd, inode.overlay.ops());
  if (rc != 0) {
    return rc;
  }
  m_pending_bytes -= inode.overlay.pending_bytes();
  inode.overlay.clear();
  return 0;
}

int Engine::wait_hold(std::unique_lock<std::mutex>& lock) {
  if (m_hold && !m_cut && !m_shutdown) {
    ++m_held;
    m_hold_cv.wait_for(lock, m_limits.hold_timeout,
                       [this] { return !m_hold || m_cut || m_shutdown; });
    --m_held;
  }
  return m_cut ? -EIO : 0;
}

std::string Engine::new_trash_name() {
  return std::to_string(++m_trash_seq);
}

int Engine::record(DirOp op) {
  m_log.push_back(std::move(op));
  return 0;
}

void Engine::discard_trash(const std::string& name) {
  if (name.empty()) {
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(m_backing / k_trash_name / name, ec);
  if (ec) {
    std::cerr << "powercutfs: cannot remove trash entry " << name << ": " << ec.message() << "\n";
  }
}

// ---- attributes and lookups

int Engine::getattr(const char* path, struct stat* st, Handle* handle) {
  std::lock_guard lock(m_mutex);
  if (m_cut) {
    return -EIO;
  }
  if (handle != nullptr) {
    if (::fstat(handle->inode->fd, st) != 0) {
      return -errno;
    }
    st->st_size =
        static_cast<off_t>(handle->inode->overlay.size(static_cast<std::uint64_t>(st->st_size)));
    return 0;
  }
  std::string rel;
  if (const int rc = resolve(path, rel); rc != 0) {
    return rc;
  }
  if (::fstatat(m_root_fd, rel.c_str(), st, AT_SYMLINK_NOFOLLOW) != 0) {
    return -errno;
  }
  if (S_ISREG(st->st_mode)) {
    const auto it = m_inodes.find(st->st_ino);
    if (it != m_inodes.end()) {
      st->st_size =
          static_cast<off_t>(it->second->overlay.size(static_cast<std::uint64_t>(st->st_size)));
    }
  }
  return 0;
}

int Engine::readlink(const char* path, char* buf, std::size_t size) {
  std::lock_guard lock(m_mutex);
  std::string rel;
  if (const int rc = resolve(path, rel); rc != 0) {
    return rc;
  }
  if (size == 0) {
    return -EINVAL;
  }
  const ssize_t n = ::readlinkat(m_root_fd, rel.c_str(), buf, size - 1);
  if (n < 0) {
    return -errno;
  }
  buf[n] = '\0';
  return 0;
}

int Engine::access(const char* path, int mask) {
  std::lock_guard lock(m_mutex);
  std::string rel;
  if (const int rc = resolve(path, rel); rc != 0) {
    return rc;
  }
  return ::faccessat(m_root_fd, rel.c_str(), mask, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

int Engine::statfs(const char* path, struct statvfs* st) {
  std::lock_guard lock(m_mutex);
  std::string rel;
  if (const int rc = resolve(path, rel); rc != 0) {
    return rc;
  }
  return ::fstatvfs(m_root_fd, st) == 0 ? 0 : -errno;
}

int Engine::readdir(const char* path,
                    const std::function<bool(const char*, const struct stat&)>& fill) {
  std::lock_guard lock(m_mutex);
  std::string rel;
  if (const int rc = resolve(path, rel); rc != 0) {
    return rc;
  }
  const int fd = ::openat(m_root_fd, rel.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return -errno;
  }
  return list_dir(fd, fill);
}

int Engine::readdir_fd(int fd, const std::function<bool(const char*, const struct stat&)>& fill) {
  std::lock_guard lock(m_mutex);
  if (m_cut) {
    return -EIO;
  }
  // A fresh descriptor: its own position, so each listing starts at the beginning.
  const int own = ::openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (own < 0) {
    return -errno;
  }
  return list_dir(own, fill);
}

int Engine::list_dir(int fd, const std::function<bool(const char*, const struct stat&)>& fill) {
  struct stat dir_st {};
  struct stat root_st {};
  if (::fstat(fd, &dir_st) != 0 || ::fstat(m_root_fd, &root_st) != 0) {
    const int err = errno;
    ::close(fd);
    return -err;
  }
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    const int err = errno;
    ::close(fd);
    return -err;
  }
  const bool root = dir_st.st_ino == root_st.st_ino && dir_st.st_dev == root_st.st_dev;
  while (const dirent* entry = ::readdir(dir)) {
    if (root && k_trash_name == entry->d_name) {
      continue;
    }
    struct stat st {};
    st.st_ino = entry->d_ino;
    st.st_mode = static_cast<mode_t>(DTTOIF(entry->d_type));
    if (!fill(entry->d_name, st)) {
      break;
    }
  }
  ::closedir(dir);
  return 0;
}

// ---- metadata applied at once (not modelled)

int Engine::chmod(const char* path, mode_t mode, Handle* handle) {
  std::lock_guard lock(m_mutex);
  if (m_cut) {
    return -EIO;
  }
  if (handle != nullptr) {
    return ::fchmod(handle->inode->fd, mode) == 0 ? 0 : -errno;
  }
  std::string rel;
  if (const int rc = resolve(path, rel); rc != 0) {
    return rc;
  }
  return ::fchmodat(m_root_fd, rel.c_str(), mode, 0) == 0 ? 0 : -errno;
}

int Engine::chown(const char* path, uid_t uid, gid_t gid, Handle* handle) {
  std::lock_guard lock(m_mutex);
  if (m_cut) {
    return -EIO;
  }
  if (handle != nullptr) {
    return ::fchown(handle->inode->fd, uid, gid) == 0 ? 0 : -errno;
  }
  std::string rel;
  if (const int rc = resolve(path, rel); rc != 0) {
    return rc;
  }
  return ::fchownat(m_root_fd, rel.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

int Engine::utimens(const char* path, const struct timespec ts[2], Handle* handle) {
  std::lock_guard lock(m_mutex);
  if (m_cut) {
    return -EIO;
  }
  if (handle != nullptr) {
    return ::futimens(handle->inode->fd, ts) == 0 ? 0 : -errno;
  }
  std::string rel;
  if (const int rc = resolve(path, rel); rc != 0) {
    return rc;
  }
  return ::utimensat(m_root_fd, rel.c_str(), ts, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

// ---- directory changes (applied at once, undone by a cut unless made durable)

int Engine::mknod(const char* path, mode_t mode, dev_t dev) {
  std::lock_guard lock(m_mutex);
  std::string rel;
  if (const int rc = resolve(path, rel); rc != 0) {
    return rc == -ENOENT ? -EPERM : rc;
  }
  if (m_log.size() >= m_limits.max_pending_dir_ops) {
    return -ENOSPC;
  }
  std::uint64_t parent = 0;
  if (const int rc = parent_ino(rel, parent); rc != 0) {
    return rc;
  }
  if (::mknodat(m_root_fd, rel.c_str(), mode, dev) != 0) {
    return -errno;
  }
  return record(DirOp{DirOp::Kind::create, rel, {}, {}, {parent}});
}

int Engine::mkdir(const char* path, mode_t mode) {
  std::lock_guard lock(m_mutex);
  std::string rel;
  if (const int rc = resolve(path, rel); rc != 0) {
    return rc == -ENOENT ? -EPERM : rc;
  }
  if (m_log.size() >= m_limits.max_pending_dir_ops) {
    return -ENOSPC;
  }
  std::uint64_t parent = 0;
  if (const int rc = parent_ino(rel, parent); rc != 0) {
    return rc;
  }
  if (::mkdirat(m_root_fd, rel.c_str(), mode) != 0) {
    return -errno;
  }
  return record(DirOp{DirOp::Kind::create, rel, {}, {}, {parent}});
}

int Engine::symlink(const char* target, const char* path) {
  std::lock_guard lock(m_mutex);
  std::string rel;
  if (const int rc = resolve(path, rel); rc != 0) {
    return rc == -ENOENT ? -EPERM : rc;
  }
  if (m_log.size() >= m_limits.max_pending_dir_ops) {
    return -ENOSPC;
  }
  std::uint64_t parent = 0;
  if (const int rc = parent_ino(rel, parent); rc != 0) {
    return rc;
  }
  if (::symlinkat(target, m_root_fd, rel.c_str()) != 0) {
    return -errno;
  }
  return record(DirOp{DirOp::Kind::create, rel, {}, {}, {parent}});
}

int Engine::link(const char* from, const char* to) {
  std::lock_guard lock(m_mutex);
  std::string rel_from;
  std::string rel_to;
  if (const int rc = resolve(from, rel_from); rc != 0) {
    return rc;
  }
  if (const int rc = resolve(to, rel_to); rc != 0) {
    return rc == -ENOENT ? -EPERM : rc;
  }
  if (m_log.size() >= m_limits.max_pending_dir_ops) {
    return -ENOSPC;
  }
  std::uint64_t parent = 0;
  if (const int rc = parent_ino(rel_to, parent); rc != 0) {
    return rc;
  }
  if (::linkat(m_root_fd, rel_from.c_str(), m_root_fd, rel_to.c_str(), 0) != 0) {
    return -errno;
  }
  return record(DirOp{DirOp::Kind::create, rel_to, {}, {}, {parent}});
}

int Engine::unlink(const char* path) {
  std::lock_guard lock(m_mutex);
  std::string rel;
  if (const int rc = resolve(path, rel); rc != 0) {
    return rc;
  }
  if (m_log.size() >= m_limits.max_pending_dir_ops) {
    return -ENOSPC;
  }
  struct stat st {};
  if (::fstatat(m_root_fd, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return -errno;
  }
  if (S_ISDIR(st.st_mode)) {
    return -EISDIR;
  }
  std::uint64_t parent = 0;
  if (const int rc = parent_ino(rel, parent); rc != 0) {
    return rc;
  }
  const auto trash = new_trash_name();
  if (::renameat(m_root_fd, rel.c_str(), m_trash_fd, trash.c_str()) != 0) {
    return -errno;
  }
  return record(DirOp{DirOp::Kind::remove, rel, {}, trash, {parent}});
}

int Engine::rmdir(const char* path) {
  std::lock_guard lock(m_mutex);
  std::string rel;
  if (const int rc = resolve(path, rel); rc != 0) {
    return rc;
  }
  if (rel == ".") {
    return -EBUSY;
  }
  if (m_log.size() >= m_limits.max_pending_dir_ops) {
    return -ENOSPC;
  }
  const int fd = ::openat(m_root_fd, rel.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return -errno;
  }
  const auto empty = is_empty_directory(fd);
  if (!empty) {
    return -errno;
  }
  if (!*empty) {
    return -ENOTEMPTY;
  }
  std::uint64_t parent = 0;
  if (const int rc = parent_ino(rel, parent); rc != 0) {
    return rc;
  }
  const auto trash = new_trash_name();
  if (::renameat(m_root_fd, rel.c_str(), m_trash_fd, trash.c_str()) != 0) {
    return -errno;
  }
  return record(DirOp{DirOp::Kind::remove, rel, {}, trash, {parent}});
}

int Engine::rename(const char* from, const char* to, unsigned int flags) {
  std::lock_guard lock(m_mutex);
  std::string rel_from;
  std::string rel_to;
  if (const int rc = resolve(from, rel_from); rc != 0) {
    return rc;
  }
  if (const int rc = resolve(to, rel_to); rc != 0) {
    return rc == -ENOENT ? -EPERM : rc;
  }
  if ((flags & ~static_cast<unsigned int>(RENAME_NOREPLACE | RENAME_EXCHANGE)) != 0) {
    return -EINVAL;
  }
  if (m_log.size() >= m_limits.max_pending_dir_ops) {
    return -ENOSPC;
  }
  std::uint64_t parent_from = 0;
  std::uint64_t parent_to = 0;
  if (const int rc = parent_ino(rel_from, parent_from); rc != 0) {
    return rc;
  }
  if (const int rc = parent_ino(rel_to, parent_to); rc != 0) {
    return rc;
  }
  if ((flags & RENAME_EXCHANGE) != 0) {
    if (::renameat2(m_root_fd, rel_from.c_str(), m_root_fd, rel_to.c_str(), RENAME_EXCHANGE) != 0) {
      return -errno;
    }
    return record(DirOp{DirOp::Kind::exchange, rel_from, rel_to, {}, {parent_from, parent_to}});
  }
  struct stat src {};
  if (::fstatat(m_root_fd, rel_from.c_str(), &src, AT_SYMLINK_NOFOLLOW) != 0) {
    return -errno;
  }
  struct stat dst {};
  std::string victim;
  if (::fstatat(m_root_fd, rel_to.c_str(), &dst, AT_SYMLINK_NOFOLLOW) == 0) {
    if ((flags & RENAME_NOREPLACE) != 0) {
      return -EEXIST;
    }
    if (src.st_ino == dst.st_ino) {
      return 0;  // two links to one file: POSIX says do nothing
    }
    if (S_ISDIR(dst.st_mode) && !S_ISDIR(src.st_mode)) {
      return -EISDIR;
    }
    if (!S_ISDIR(dst.st_mode) && S_ISDIR(src.st_mode)) {
      return -ENOTDIR;
    }
    if (S_ISDIR(dst.st_mode)) {
      // Only an empty directory may be replaced; rmdir-like check.
      const int fd = ::openat(m_root_fd, rel_to.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) {
        return -errno;
      }
      const auto empty = is_empty_directory(fd);
      if (!empty) {
        return -EIO;
      }
      if (!*empty) {
        return -ENOTEMPTY;
      }
    }
    victim = new_trash_name();
    if (::renameat(m_root_fd, rel_to.c_str(), m_trash_fd, victim.c_str()) != 0) {
      return -errno;
    }
  } else if (errno != ENOENT) {
    return -errno;
  }
  if (::renameat2(m_root_fd, rel_from.c_str(), m_root_fd, rel_to.c_str(), RENAME_NOREPLACE) != 0) {
    const int err = errno;
    if (!victim.empty()) {
      ::renameat(m_trash_fd, victim.c_str(), m_root_fd, rel_to.c_str());
    }
    return -err;
  }
  return record(DirOp{DirOp::Kind::rename, rel_from, rel_to, victim, {parent_to}});
}

// ---- file data

int Engine::open(const char* path, int flags, Handle** out) {
  std::lock_guard lock(m_mutex);
  std::string rel;
  if (const int rc = resolve(path, rel); rc != 0) {
    return rc;
  }
  int fd = ::openat(m_root_fd, rel.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && (errno == EACCES || errno == EROFS || errno == ETXTBSY)) {
    fd = ::openat(m_root_fd, rel.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  }
  if (fd < 0) {
    return -errno;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int err = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    ::close(fd);
    return -err;
  }
  Inode* inode = inode_for_fd(fd);
  if (inode == nullptr) {
    return -EIO;
  }
  if ((flags & O_TRUNC) != 0 && (flags & O_ACCMODE) != O_RDONLY) {
    inode->overlay.truncate(0);
  }
  ++inode->open_count;
  *out = new_handle(inode);
  return 0;
}

int Engine::create(const char* path, mode_t mode, int flags, Handle** out) {
  std::unique_lock lock(m_mutex);
  std::string rel;
  if (const int rc = resolve(path, rel); rc != 0) {
    return rc == -ENOENT ? -EPERM : rc;
  }
  if (m_log.size() >= m_limits.max_pending_dir_ops) {
    return -ENOSPC;
  }
  std::uint64_t parent = 0;
  if (const int rc = parent_ino(rel, parent); rc != 0) {
    return rc;
  }
  const int fd =
      ::openat(m_root_fd, rel.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    if (errno == EEXIST && (flags & O_EXCL) == 0) {
      lock.unlock();
      return open(path, flags, out);
    }
    return -errno;
  }
  Inode* inode = inode_for_fd(fd);
  if (inode == nullptr) {
    return -EIO;
  }
  ++inode->open_count;
  *out = new_handle(inode);
  return record(DirOp{DirOp::Kind::create, rel, {}, {}, {parent}});
}

int Engine::truncate(const char* path, off_t size, Handle* handle) {
  std::lock_guard lock(m_mutex);
  if (m_cut) {
    return -EIO;
  }
  if (size < 0) {
    return -EINVAL;
  }
  Inode* inode = handle != nullptr ? handle->inode : nullptr;
  if (inode == nullptr) {
    std::string rel;
    if (const int rc = resolve(path, rel); rc != 0) {
      return rc;
    }
    const int fd = ::openat(m_root_fd, rel.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      return -errno;
    }
    inode = inode_for_fd(fd);
    if (inode == nullptr) {
      return -EIO;
    }
  }
  inode->overlay.truncate(static_cast<std::uint64_t>(size));
  return 0;
}

int Engine::read(Handle* handle, char* buf, std::size_t size, off_t offset) {
  std::lock_guard lock(m_mutex);
  if (m_cut) {
    return -EIO;
  }
  if (offset < 0) {
    return -EINVAL;
  }
  Inode& inode = *handle->inode;
  struct stat st {};
  if (::fstat(inode.fd, &st) != 0) {
    return -errno;
  }
  std::size_t got = 0;
  while (got < size) {
    const ssize_t n = ::pread(inode.fd, buf + got, size - got, offset + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return -errno;
    }
    if (n == 0) {
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  std::memset(buf + got, 0, size - got);
  return static_cast<int>(inode.overlay.read(static_cast<std::uint64_t>(offset), buf, size,
                                             static_cast<std::uint64_t>(st.st_size)));
}

int Engine::write(Handle* handle, const char* buf, std::size_t size, off_t offset) {
  std::lock_guard lock(m_mutex);
  if (m_cut) {
    return -EIO;
  }
  if (offset < 0) {
    return -EINVAL;
  }
  if (m_pending_bytes + size > m_limits.max_pending_bytes) {
    std::cerr << "powercutfs: write refused with ENOSPC: " << m_pending_bytes
              << " bytes pending, limit " << m_limits.max_pending_bytes << "\n";
    return -ENOSPC;
  }
  FileOverlay& overlay = handle->inode->overlay;
  const std::uint64_t before = overlay.pending_bytes();
  overlay.write(static_cast<std::uint64_t>(offset), std::string_view(buf, size));
  m_pending_bytes = m_pending_bytes - before + overlay.pending_bytes();
  return static_cast<int>(size);
}

int Engine::release(Handle* handle) {
  std::lock_guard lock(m_mutex);
  Inode* inode = handle->inode;
  m_handles.erase(handle);
  --inode->open_count;
  drop_inode_if_unused(inode);
  return 0;
}

int Engine::fsync(Handle* handle, bool datasync) {
  std::unique_lock lock(m_mutex);
  if (m_cut) {
    return -EIO;
  }
  ++(datasync ? m_fdatasyncs : m_fsyncs);
  if (const int rc = wait_hold(lock); rc != 0) {
    return rc;
  }
  if (const int rc = flush_inode(*handle->inode); rc != 0) {
    return rc;
  }
  if (m_limits.fsync_backing) {
    const int fd = handle->inode->fd;
    if ((datasync ? ::fdatasync(fd) : ::fsync(fd)) != 0) {
      return -errno;
    }
  }
  return 0;
}

int Engine::fsyncdir(const char* path) {
  std::unique_lock lock(m_mutex);
  std::string rel;
  if (const int rc = resolve(path, rel); rc != 0) {
    return rc;
  }
  ++m_dir_fsyncs;
  if (const int rc = wait_hold(lock); rc != 0) {
    return rc;
  }
  struct stat st {};
  if (::fstatat(m_root_fd, rel.c_str(), &st, 0) != 0) {
    return -errno;
  }
  make_dir_durable(st.st_ino);
  if (m_limits.fsync_backing) {
    const int fd = ::openat(m_root_fd, rel.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      return -errno;
    }
    const int rc = ::fsync(fd) == 0 ? 0 : -errno;
    ::close(fd);
    return rc;
  }
  return 0;
}

int Engine::opendir(const char* path, int* fd) {
  std::lock_guard lock(m_mutex);
  std::string rel;
  if (const int rc = resolve(path, rel); rc != 0) {
    return rc;
  }
  *fd = ::openat(m_root_fd, rel.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return *fd < 0 ? -errno : 0;
}

int Engine::releasedir(int fd) {
  return ::close(fd) == 0 ? 0 : -errno;
}

int Engine::fsyncdir_fd(int fd) {
  std::unique_lock lock(m_mutex);
  if (m_cut) {
    return -EIO;
  }
  ++m_dir_fsyncs;
  if (const int rc = wait_hold(lock); rc != 0) {
    return rc;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return -errno;
  }
  make_dir_durable(st.st_ino);
  if (m_limits.fsync_backing && ::fsync(fd) != 0) {
    return -errno;
  }
  return 0;
}

void Engine::make_dir_durable(std::uint64_t dir_ino) {
  const auto first = std::stable_partition(m_log.begin(), m_log.end(), [&](const DirOp& op) {
    return std::find(op.durable_by.begin(), op.durable_by.end(), dir_ino) == op.durable_by.end();
  });
  make_durable(first, m_log.end());
}

void Engine::make_durable(std::vector<DirOp>::iterator first, std::vector<DirOp>::iterator last) {
  for (auto it = first; it != last; ++it) {
    discard_trash(it->trash);
  }
  m_log.erase(first, last);
}

// ---- control

void Engine::sync_all() {
  std::lock_guard lock(m_mutex);
  if (m_cut) {
    return;
  }
  for (auto it = m_inodes.begin(); it != m_inodes.end();) {
    Inode& inode = *it->second;
    if (const int rc = flush_inode(inode); rc != 0) {
      std::cerr << "powercutfs: sync: cannot write inode " << inode.ino << ": "
                << std::strerror(-rc) << "\n";
    }
    if (inode.open_count == 0 && inode.overlay.empty()) {
      ::close(inode.fd);
      it = m_inodes.erase(it);
    } else {
      ++it;
    }
  }
  make_durable(m_log.begin(), m_log.end());
  if (m_limits.fsync_backing) {
    ::syncfs(m_root_fd);
  }
}

bool Engine::undo(const DirOp& op) {
  switch (op.kind) {
    case DirOp::Kind::create: {
      struct stat st {};
      if (::fstatat(m_root_fd, op.path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return false;
      }
      if (S_ISDIR(st.st_mode)) {
        // Entries made durable in it (fsync of this directory) go with it, as fsck would take
        // them away from an unreachable directory.
        std::error_code ec;
        std::filesystem::remove_all(m_backing / op.path, ec);
        return !ec;
      }
      return ::unlinkat(m_root_fd, op.path.c_str(), 0) == 0;
    }
    case DirOp::Kind::remove:
      return ::renameat2(m_trash_fd, op.trash.c_str(), m_root_fd, op.path.c_str(),
                         RENAME_NOREPLACE) == 0;
    case DirOp::Kind::rename: {
      if (::renameat2(m_root_fd, op.path2.c_str(), m_root_fd, op.path.c_str(), RENAME_NOREPLACE) !=
          0) {
        return false;
      }
      if (op.trash.empty()) {
        return true;
      }
      return ::renameat2(m_trash_fd, op.trash.c_str(), m_root_fd, op.path2.c_str(),
                         RENAME_NOREPLACE) == 0;
    }
    case DirOp::Kind::exchange:
      return ::renameat2(m_root_fd, op.path.c_str(), m_root_fd, op.path2.c_str(),
                         RENAME_EXCHANGE) == 0;
  }
  return false;
}

std::string Engine::cut(CutMode mode, std::optional<std::uint64_t> seed) {
  std::lock_guard lock(m_mutex);
  if (m_cut) {
    return "already-cut";
  }
  m_cut = true;
  m_hold_cv.notify_all();
  const std::uint64_t used_seed =
      seed ? *seed : std::random_device{}() * 0x100000000ULL + std::random_device{}();
  std::uint64_t dropped = m_pending_bytes;
  std::uint64_t landed_ops = 0;
  std::uint64_t landed_bytes = 0;
  for (auto& [ino, inode] : m_inodes) {
    std::vector<DataOp> landed;
    if (mode == CutMode::torn) {
      landed = torn_landing(inode->overlay.ops());
    }
    if (mode == CutMode::reorder && !inode->overlay.empty()) {
      // One generator per file, seeded by the seed and the file's current backing path, so a
      // seed replays the same choice for the same files and writes in another run.
      std::mt19937_64 rng(used_seed ^ std::hash<std::string>{}(backing_path_of(inode->fd)));
      landed = reorder_landing(inode->overlay.ops(), rng);
    }
    for (const auto& op : landed) {
      landed_bytes += op.bytes.size();
    }
    landed_ops += landed.size();
    if (const int rc = apply_ops(inode->fd, landed); rc != 0) {
      std::cerr << "powercutfs: cut: cannot land writes on inode " << ino << ": "
                << std::strerror(-rc) << "\n";
    }
    inode->overlay.clear();
  }
  m_pending_bytes = 0;
  const std::uint64_t undone = m_log.size();
  for (auto it = m_log.rbegin(); it != m_log.rend(); ++it) {
    if (!undo(*it)) {
      ++m_undo_conflicts;
      std::cerr << "powercutfs: cut: cannot undo change of " << it->path << ": "
                << std::strerror(errno) << "\n";
    }
  }
  m_log.clear();
  // Leftovers of conflicting undos: gone, as after fsck.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(m_backing / k_trash_name, ec)) {
    std::filesystem::remove_all(entry.path(), ec);
  }
  std::ostringstream out;
  out << "mode=" << (mode == CutMode::clean ? "clean" : mode == CutMode::torn ? "torn" : "reorder");
  if (mode == CutMode::reorder) {
    out << " seed=" << used_seed;
  }
  out << " dropped_bytes=" << dropped - std::min(dropped, landed_bytes)
      << " landed_writes=" << landed_ops << " landed_bytes=" << landed_bytes
      << " undone_dir_ops=" << undone << " undo_conflicts=" << m_undo_conflicts;
  return out.str();
}

void Engine::hold_fsync(bool on) {
  std::lock_guard lock(m_mutex);
  m_hold = on;
  m_hold_cv.notify_all();
}

void Engine::shutdown() {
  std::lock_guard lock(m_mutex);
  m_shutdown = true;
  m_hold_cv.notify_all();
}

Stats Engine::stats() const {
  std::lock_guard lock(m_mutex);
  Stats s;
  s.pending_bytes = m_pending_bytes;
  for (const auto& [ino, inode] : m_inodes) {
    if (!inode->overlay.empty()) {
      ++s.pending_files;
    }
  }
  s.pending_dir_ops = m_log.size();
  s.fsyncs = m_fsyncs;
  s.fdatasyncs = m_fdatasyncs;
  s.dir_fsyncs = m_dir_fsyncs;
  s.held_fsyncs = m_held;
  s.undo_conflicts = m_undo_conflicts;
  s.hold_fsync = m_hold;
  s.cut = m_cut;
  return s;
}

}  // namespace pos::powercut
