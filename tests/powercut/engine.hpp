// The power-cut model behind powercutfs, without FUSE: file data written since the last fsync is
// kept in memory (FileOverlay), directory changes are applied to the backing directory at once
// with an undo log (DirLog), and a cut drops (or, torn/reorder, partly lands) what is pending.
// See docs/testing.md, "The power-cut filesystem".
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pos::powercut {

// One unsynced change to a file's data.
struct DataOp {
  enum class Kind { write, truncate };
  Kind kind = Kind::write;
  std::uint64_t offset = 0;  // write: where the bytes go; truncate: the new size
  std::string bytes;         // write only
  std::uint64_t end() const { return offset + bytes.size(); }
};

// The unsynced data of one file, in the order written, over its durable content. Not thread-safe.
class FileOverlay {
 public:
  // Records a write. Earlier pending writes it covers completely (with no truncate after them)
  // are dropped: the page cache would only hold the newest bytes, so no cut could land them.
  void write(std::uint64_t offset, std::string_view bytes);
  // Records a size change (shrink or extend with zeros).
  void truncate(std::uint64_t size);
  // The size the running system sees, given the durable size.
  std::uint64_t size(std::uint64_t durable_size) const;
  // buf holds the durable bytes of [offset, offset + len), zeros past the durable end; applies
  // the pending changes on top. Returns how many bytes of buf are within the file.
  std::size_t read(std::uint64_t offset, char* buf, std::size_t len,
                   std::uint64_t durable_size) const;
  const std::vector<DataOp>& ops() const { return m_ops; }
  // Bytes held by pending writes.
  std::uint64_t pending_bytes() const { return m_bytes; }
  bool empty() const { return m_ops.empty(); }
  void clear();

 private:
  std::vector<DataOp> m_ops;
  std::uint64_t m_bytes = 0;
};

// What lands of a file's pending ops on a torn cut: the part of the last write that lies in its
// first sector, when the write reaches past that sector (a write within one sector is atomic and
// lands not at all). Everything else is lost.
std::vector<DataOp> torn_landing(const std::vector<DataOp>& ops, std::uint64_t sector = 512);
// What lands on a reordered cut: each pending op independently with probability 1/2, applied in
// their original order.
std::vector<DataOp> reorder_landing(const std::vector<DataOp>& ops, std::mt19937_64& rng);

// One directory change already applied to the backing directory, with what it takes to undo it.
struct DirOp {
  enum class Kind { create, remove, rename, exchange };
  Kind kind = Kind::create;
  std::string path;   // create: the new entry; remove: the removed one; rename/exchange: source
  std::string path2;  // rename/exchange: destination
  std::string trash;  // remove: the entry's name in the trash; rename: the replaced destination's
                      // name in the trash ("" when none)
  // Inode numbers of the directories whose fsync makes this change durable.
  std::vector<std::uint64_t> durable_by;
};

// Control-side view of the counters, for `stats`.
struct Stats {
  std::uint64_t pending_bytes = 0;
  std::uint64_t pending_files = 0;
  std::uint64_t pending_dir_ops = 0;
  std::uint64_t fsyncs = 0;
  std::uint64_t fdatasyncs = 0;
  std::uint64_t dir_fsyncs = 0;
  std::uint64_t held_fsyncs = 0;
  std::uint64_t undo_conflicts = 0;
  bool hold_fsync = false;
  bool cut = false;
};

enum class CutMode { clean, torn, reorder };

struct Limits {
  std::uint64_t max_pending_bytes = 1ULL << 30;    // writes beyond fail with ENOSPC
  std::size_t max_pending_dir_ops = 100'000;       // directory changes beyond fail with ENOSPC
  std::chrono::milliseconds hold_timeout{60'000};  // a held fsync proceeds after this
  // Also fsync the backing file or directory (off: the backing directory is the "disk" that
  // never loses power, so its own fsync buys nothing but realistic timing).
  bool fsync_backing = false;
};

// The file system state: the backing directory plus what is pending. Every file-system method
// takes a path as FUSE gives it ("/a/b"), returns 0 (or a byte count) on success and a negative
// errno on failure, as FUSE wants. After cut() every method fails with -EIO. Thread-safe (one
// mutex); fsync and fsyncdir may block while hold_fsync is on.
class Engine {
 public:
  struct Inode;
  // An open file.
  struct Handle {
    Inode* inode = nullptr;
  };

  // Opens backing_dir (which must exist) and empties its hidden trash directory (left by a
  // process that died without a cut or sync). Throws std::runtime_error on failure.
  explicit Engine(std::filesystem::path backing_dir, Limits limits = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Name of the hidden directory (in the backing root) that holds removed and replaced entries
  // until their removal is durable. Invisible on the mount.
  static constexpr std::string_view k_trash_name = ".powercutfs-trash";

  int getattr(const char* path, struct stat* st, Handle* handle);
  int readlink(const char* path, char* buf, std::size_t size);
  int mknod(const char* path, mode_t mode, dev_t dev);
  int mkdir(const char* path, mode_t mode);
  int unlink(const char* path);
  int rmdir(const char* path);
  int symlink(const char* target, const char* path);
  // flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
  int rename(const char* from, const char* to, unsigned int flags);
  int link(const char* from, const char* to);
  int chmod(const char* path, mode_t mode, Handle* handle);
  int chown(const char* path, uid_t uid, gid_t gid, Handle* handle);
  int utimens(const char* path, const struct timespec ts[2], Handle* handle);
  int truncate(const char* path, off_t size, Handle* handle);
  // On success *out is a new handle; release it with release().
  int open(const char* path, int flags, Handle** out);
  int create(const char* path, mode_t mode, int flags, Handle** out);
  // Returns the byte count or -errno.
  int read(Handle* handle, char* buf, std::size_t size, off_t offset);
  int write(Handle* handle, const char* buf, std::size_t size, off_t offset);
  int release(Handle* handle);
  // Makes the file's data and size durable (its name needs fsyncdir of its directory).
  int fsync(Handle* handle, bool datasync);
  // Makes durable every pending directory change in that directory.
  int fsyncdir(const char* path);
  // An open directory (FUSE gives fsyncdir no path): *fd is a descriptor of the backing
  // directory, which follows it through renames; close it with releasedir().
  int opendir(const char* path, int* fd);
  int releasedir(int fd);
  // fsyncdir() of the directory open as fd.
  int fsyncdir_fd(int fd);
  int statfs(const char* path, struct statvfs* st);
  int access(const char* path, int mask);
  // Calls fill for each entry of the directory but the trash; stops when fill returns false.
  int readdir(const char* path, const std::function<bool(const char*, const struct stat&)>& fill);
  // readdir() of the directory open as fd (from opendir()).
  int readdir_fd(int fd, const std::function<bool(const char*, const struct stat&)>& fill);

  // Makes everything pending durable (the control command `sync`; also a clean unmount).
  void sync_all();
  // The power cut: lands what the mode lands, drops the rest, undoes the pending directory
  // changes newest first, releases held fsyncs with EIO; from then on every call fails with EIO.
  // seed seeds the reorder choice (random when absent): each file's choice depends only on the
  // seed, the file's backing path and its pending writes. Returns a one-line summary
  // ("mode=... seed=... dropped_bytes=...").
  std::string cut(CutMode mode, std::optional<std::uint64_t> seed = std::nullopt);
  // While on, fsync and fsyncdir wait (at most Limits::hold_timeout) until off or a cut.
  void hold_fsync(bool on);
  // Wakes held fsyncs for process exit (they then proceed).
  void shutdown();
  Stats stats() const;

 private:
  int resolve(const char* path, std::string& rel) const;
  int parent_ino(const std::string& rel, std::uint64_t& ino) const;
  Inode* inode_for_fd(int fd);  // takes ownership of fd
  void drop_inode_if_unused(Inode* inode);
  int flush_inode(Inode& inode);
  int wait_hold(std::unique_lock<std::mutex>& lock);
  void make_dir_durable(std::uint64_t dir_ino);
  // Lists the directory open as fd (a descriptor of our own, consumed).
  int list_dir(int fd, const std::function<bool(const char*, const struct stat&)>& fill);
  int record(DirOp op);
  void discard_trash(const std::string& name);
  void make_durable(std::vector<DirOp>::iterator first, std::vector<DirOp>::iterator last);
  bool undo(const DirOp& op);
  std::string new_trash_name();

  std::filesystem::path m_backing;
  Limits m_limits;
  int m_root_fd = -1;
  int m_trash_fd = -1;
  mutable std::mutex m_mutex;
  std::condition_variable m_hold_cv;
  std::unordered_map<std::uint64_t, std::unique_ptr<Inode>> m_inodes;
  // Open handles, owned here: a release the kernel never sends (the mount went away first) must
  // not leak them.
  std::unordered_map<Handle*, std::unique_ptr<Handle>> m_handles;
  Handle* new_handle(Inode* inode);
  std::vector<DirOp> m_log;
  std::uint64_t m_pending_bytes = 0;
  std::uint64_t m_trash_seq = 0;
  std::uint64_t m_fsyncs = 0;
  std::uint64_t m_fdatasyncs = 0;
  std::uint64_t m_dir_fsyncs = 0;
  std::uint64_t m_held = 0;
  std::uint64_t m_undo_conflicts = 0;
  bool m_hold = false;
  bool m_cut = false;
  bool m_shutdown = false;
};

}  // namespace pos::powercut
