// powercutfs: a FUSE file system over a backing directory that loses what a power cut loses.
// Usage: powercutfs --backing DIR --mount DIR --control SOCKET [--max-pending-bytes N]
//                   [--max-pending-dir-ops N] [--hold-timeout-ms N] [--fsync-backing]
// (defaults: 1 GiB, 100,000 and 60,000 ms; writes and directory changes beyond the limits fail
// with ENOSPC, a held fsync proceeds after the timeout; --fsync-backing also fsyncs the backing
// file or directory on each fsync, for disk-like timing).
// Runs in the foreground; SIGTERM or SIGINT unmounts (lazily when busy) and exits. Control: line
// commands on the Unix socket SOCKET, each answered by one line `ok ...` or `error <reason>`:
//   cut | cut torn | cut reorder [SEED] | sync | hold-fsync on|off | stats
// See docs/testing.md, "The power-cut filesystem".
#define FUSE_USE_VERSION 31

#include <fuse.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <csignal>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "powercut/engine.hpp"

namespace {

using pos::powercut::CutMode;
using pos::powercut::Engine;

Engine* g_engine = nullptr;

Engine& engine() {
  return *g_engine;
}

Engine::Handle* handle_of(fuse_file_info* fi) {
  // NOLINTNEXTLINE(performance-no-int-to-ptr): FUSE keeps our handle as a 64-bit integer
  return fi != nullptr ? reinterpret_cast<Engine::Handle*>(fi->fh) : nullptr;
}

// ---- FUSE operations: thin adapters onto Engine

void* op_init(fuse_conn_info* /*conn*/, fuse_config* cfg) {
  cfg->use_ino = 1;
  cfg->hard_remove = 1;  // unlink of an open file is an unlink, not a rename to .fuse_hidden*
  cfg->nullpath_ok = 1;
  cfg->kernel_cache = 1;  // the kernel is the only client while mounted; a cut remounts
  return nullptr;
}

int op_getattr(const char* path, struct stat* st, fuse_file_info* fi) {
  return engine().getattr(path, st, handle_of(fi));
}
int op_readlink(const char* path, char* buf, size_t size) {
  return engine().readlink(path, buf, size);
}
int op_mknod(const char* path, mode_t mode, dev_t dev) {
  return engine().mknod(path, mode, dev);
}
int op_mkdir(const char* path, mode_t mode) {
  return engine().mkdir(path, mode);
}
int op_unlink(const char* path) {
  return engine().unlink(path);
}
int op_rmdir(const char* path) {
  return engine().rmdir(path);
}
int op_symlink(const char* target, const char* path) {
  return engine().symlink(target, path);
}
int op_rename(const char* from, const char* to, unsigned int flags) {
  return engine().rename(from, to, flags);
}
int op_link(const char* from, const char* to) {
  return engine().link(from, to);
}
int op_chmod(const char* path, mode_t mode, fuse_file_info* fi) {
  return engine().chmod(path, mode, handle_of(fi));
}
int op_chown(const char* path, uid_t uid, gid_t gid, fuse_file_info* fi) {
  return engine().chown(path, uid, gid, handle_of(fi));
}
int op_truncate(const char* path, off_t size, fuse_file_info* fi) {
  return engine().truncate(path, size, handle_of(fi));
}
int op_open(const char* path, fuse_file_info* fi) {
  Engine::Handle* handle = nullptr;
  const int rc = engine().open(path, fi->flags, &handle);
  if (rc == 0) {
    fi->fh = reinterpret_cast<std::uint64_t>(handle);
  }
  return rc;
}
int op_create(const char* path, mode_t mode, fuse_file_info* fi) {
  Engine::Handle* handle = nullptr;
  const int rc = engine().create(path, mode, fi->flags, &handle);
  if (rc == 0) {
    fi->fh = reinterpret_cast<std::uint64_t>(handle);
  }
  return rc;
}
int op_read(const char* /*path*/, char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  return engine().read(handle_of(fi), buf, size, offset);
}
int op_write(const char* /*path*/, const char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  return engine().write(handle_of(fi), buf, size, offset);
}
int op_statfs(const char* path, struct statvfs* st) {
  return engine().statfs(path, st);
}
int op_release(const char* /*path*/, fuse_file_info* fi) {
  return engine().release(handle_of(fi));
}
int op_fsync(const char* /*path*/, int datasync, fuse_file_info* fi) {
  return engine().fsync(handle_of(fi), datasync != 0);
}
int op_readdir(const char* path, void* buf, fuse_fill_dir_t filler, off_t /*offset*/,
               fuse_file_info* fi, fuse_readdir_flags /*flags*/) {
  const auto fill = [&](const char* name, const struct stat& st) {
    return filler(buf, name, &st, 0, static_cast<fuse_fill_dir_flags>(0)) == 0;
  };
  // With nullpath_ok FUSE passes no path when the directory is open: list it by descriptor.
  if (fi != nullptr) {
    return engine().readdir_fd(static_cast<int>(fi->fh), fill);
  }
  return engine().readdir(path, fill);
}
int op_opendir(const char* path, fuse_file_info* fi) {
  int fd = -1;
  const int rc = engine().opendir(path, &fd);
  if (rc == 0) {
    fi->fh = static_cast<std::uint64_t>(fd);
  }
  return rc;
}
int op_releasedir(const char* /*path*/, fuse_file_info* fi) {
  return engine().releasedir(static_cast<int>(fi->fh));
}
int op_fsyncdir(const char* /*path*/, int /*datasync*/, fuse_file_info* fi) {
  return engine().fsyncdir_fd(static_cast<int>(fi->fh));
}
int op_access(const char* path, int mask) {
  return engine().access(path, mask);
}
int op_utimens(const char* path, const struct timespec ts[2], fuse_file_info* fi) {
  return engine().utimens(path, ts, handle_of(fi));
}

fuse_operations make_operations() {
  fuse_operations ops{};
  ops.init = op_init;
  ops.getattr = op_getattr;
  ops.readlink = op_readlink;
  ops.mknod = op_mknod;
  ops.mkdir = op_mkdir;
  ops.unlink = op_unlink;
  ops.rmdir = op_rmdir;
  ops.symlink = op_symlink;
  ops.rename = op_rename;
  ops.link = op_link;
  ops.chmod = op_chmod;
  ops.chown = op_chown;
  ops.truncate = op_truncate;
  ops.open = op_open;
  ops.create = op_create;
  ops.read = op_read;
  ops.write = op_write;
  ops.statfs = op_statfs;
  ops.release = op_release;
  ops.fsync = op_fsync;
  ops.readdir = op_readdir;
  ops.opendir = op_opendir;
  ops.releasedir = op_releasedir;
  ops.fsyncdir = op_fsyncdir;
  ops.access = op_access;
  ops.utimens = op_utimens;
  return ops;
}

// ---- control channel

std::string stats_line(const pos::powercut::Stats& s) {
  std::ostringstream out;
  out << "{\"pending_bytes\":" << s.pending_bytes << ",\"pending_files\":" << s.pending_files
      << ",\"pending_dir_ops\":" << s.pending_dir_ops << ",\"fsyncs\":" << s.fsyncs
      << ",\"fdatasyncs\":" << s.fdatasyncs << ",\"dir_fsyncs\":" << s.dir_fsyncs
      << ",\"held_fsyncs\":" << s.held_fsyncs
      << ",\"hold_fsync\":" << (s.hold_fsync ? "true" : "false")
      << ",\"cut\":" << (s.cut ? "true" : "false") << ",\"undo_conflicts\":" << s.undo_conflicts
      << "}";
  return out.str();
}

std::string handle_command(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) {
    words.push_back(w);
  }
  if (words.empty()) {
    return "error empty command";
  }
  const std::string& cmd = words[0];
  if (cmd == "cut") {
    CutMode mode = CutMode::clean;
    std::optional<std::uint64_t> seed;
    if (words.size() >= 2) {
      if (words[1] == "torn") {
        mode = CutMode::torn;
      } else if (words[1] == "reorder") {
        mode = CutMode::reorder;
      } else if (words[1] != "clean") {
        return "error unknown cut mode: " + words[1] + " (clean, torn or reorder)";
      }
    }
    if (words.size() == 3 && mode == CutMode::reorder) {
      try {
        std::size_t used = 0;
        seed = std::stoull(words[2], &used);
        if (used != words[2].size()) {
          throw std::invalid_argument("trailing characters");
        }
      } catch (const std::exception&) {
        return "error bad seed: " + words[2];
      }
    } else if (words.size() > 2) {
      return "error too many arguments to cut";
    }
    const auto summary = engine().cut(mode, seed);
    std::cerr << "powercutfs: cut " << summary << "\n";
    return "ok " + summary;
  }
  if (cmd == "sync" && words.size() == 1) {
    if (engine().stats().cut) {
      return "error already cut: remount";
    }
    engine().sync_all();
    return "ok";
  }
  if (cmd == "hold-fsync" && words.size() == 2 && (words[1] == "on" || words[1] == "off")) {
    engine().hold_fsync(words[1] == "on");
    return "ok hold-fsync " + words[1];
  }
  if (cmd == "stats" && words.size() == 1) {
    return "ok " + stats_line(engine().stats());
  }
  return "error unknown command: " + line +
         " (cut [clean|torn|reorder [SEED]], sync, hold-fsync on|off, stats)";
}

constexpr std::size_t k_max_line = 4096;

std::atomic<bool> g_stop_control{false};
constexpr int k_idle_limit_ms = 60'000;

// Serves one connection: line commands until the peer closes, stays idle for a minute, or the
// program stops.
void serve_connection(int fd) {
  std::string buf;
  char chunk[1024];
  int idle_ms = 0;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, 200);
    if (g_stop_control) {
      return;
    }
    if (ready < 0) {
      continue;  // EINTR
    }
    if (ready == 0) {
      idle_ms += 200;
      if (idle_ms >= k_idle_limit_ms) {
        return;
      }
      continue;
    }
    idle_ms = 0;
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;
    }
    buf.append(chunk, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') {
        line.pop_back();
      }
      const std::string answer = handle_command(line) + "\n";
      if (::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL) < 0) {
        return;
      }
    }
    if (buf.size() > k_max_line) {
      const std::string answer = "error line longer than 4096 bytes\n";
      ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      return;
    }
  }
}

// Accepts control connections one at a time until g_stop_control.
void control_loop(int listen_fd) {
  while (!g_stop_control) {
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) {
      continue;
    }
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    serve_connection(fd);
    ::close(fd);
  }
}

int listen_control(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    std::cerr << "powercutfs: --control path longer than " << sizeof addr.sun_path - 1
              << " bytes: " << path << "\n";
    return -1;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 8) != 0) {
    std::cerr << "powercutfs: cannot listen on " << path << ": " << std::strerror(errno) << "\n";
    if (fd >= 0) {
      ::close(fd);
    }
    return -1;
  }
  return fd;
}

int usage(const std::string& why) {
  std::cerr << "powercutfs: " << why
            << "\nusage: powercutfs --backing DIR --mount DIR --control SOCKET"
               " [--max-pending-bytes N] [--max-pending-dir-ops N]"
               " [--hold-timeout-ms N] [--fsync-backing]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string backing;
  std::string mount;
  std::string control;
  pos::powercut::Limits limits;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--fsync-backing") {
      limits.fsync_backing = true;
      continue;
    }
    if (i + 1 >= argc) {
      return usage("missing value after " + arg);
    }
    const std::string value = argv[++i];
    try {
      if (arg == "--backing") {
        backing = value;
      } else if (arg == "--mount") {
        mount = value;
      } else if (arg == "--control") {
        control = value;
      } else if (arg == "--max-pending-bytes") {
        limits.max_pending_bytes = std::stoull(value);
      } else if (arg == "--max-pending-dir-ops") {
        limits.max_pending_dir_ops = std::stoull(value);
      } else if (arg == "--hold-timeout-ms") {
        limits.hold_timeout = std::chrono::milliseconds(std::stoull(value));
      } else {
        return usage("unknown option " + arg);
      }
    } catch (const std::exception&) {
      return usage("bad number for " + arg + ": " + value);
    }
  }
  if (backing.empty() || mount.empty() || control.empty()) {
    return usage("--backing, --mount and --control are required");
  }

  // Each file with unsynced data keeps a descriptor of its backing file open until synced.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }

  std::unique_ptr<Engine> eng;
  try {
    eng = std::make_unique<Engine>(backing, limits);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  g_engine = eng.get();

  const fuse_operations ops = make_operations();
  std::vector<std::string> fuse_argv_s = {
      "powercutfs", "-o", "fsname=powercutfs,subtype=powercutfs,allow_other,default_permissions"};
  std::vector<char*> fuse_argv;
  for (auto& s : fuse_argv_s) {
    fuse_argv.push_back(s.data());
  }
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(fuse_argv.size()), fuse_argv.data());
  fuse* fs = fuse_new(&args, &ops, sizeof ops, nullptr);
  fuse_opt_free_args(&args);
  if (fs == nullptr) {
    std::cerr << "powercutfs: fuse_new failed\n";
    return 1;
  }
  if (fuse_mount(fs, mount.c_str()) != 0) {
    std::cerr << "powercutfs: cannot mount on " << mount << "\n";
    fuse_destroy(fs);
    return 1;
  }
  fuse_session* se = fuse_get_session(fs);
  if (fuse_set_signal_handlers(se) != 0) {
    std::cerr << "powercutfs: cannot set signal handlers\n";
    fuse_unmount(fs);
    fuse_destroy(fs);
    return 1;
  }
  const int listen_fd = listen_control(control);
  if (listen_fd < 0) {
    fuse_remove_signal_handlers(se);
    fuse_unmount(fs);
    fuse_destroy(fs);
    return 1;
  }
  std::thread control_thread(control_loop, listen_fd);
  std::cerr << "powercutfs: mounted " << backing << " at " << mount << ", control " << control
            << "\n";

  // A signal makes the loop return; a held fsync must not keep a worker (and so the exit) waiting.
  std::thread hold_watch([se] {
    while (!fuse_session_exited(se) && !g_stop_control) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    engine().shutdown();
  });
  const int rc = fuse_loop_mt(fs, 0);
  g_stop_control = true;
  engine().shutdown();
  hold_watch.join();
  control_thread.join();
  ::close(listen_fd);
  ::unlink(control.c_str());
  fuse_remove_signal_handlers(se);
  fuse_unmount(fs);  // as root: umount2(MNT_DETACH), so a busy mount is detached, not kept
  fuse_destroy(fs);
  // A clean stop is an orderly unmount: what is pending is written (nothing after a cut).
  const auto before = engine().stats();
  engine().sync_all();
  std::cerr << "powercutfs: unmounted; wrote " << before.pending_bytes << " pending bytes and "
            << before.pending_dir_ops << " directory changes\n";
  g_engine = nullptr;
  // The loop returns the number of the signal that stopped it (libfuse's handler records it).
  if (rc != 0 && rc != SIGTERM && rc != SIGINT && rc != SIGHUP) {
    std::cerr << "powercutfs: the FUSE loop failed: " << rc << "\n";
    return 1;
  }
  return 0;
}
