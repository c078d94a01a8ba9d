// powercutfs mounted with FUSE: it loses exactly what a power cut loses, and keeps what was made
// durable. Each test writes through the mount, cuts (which remounts), and reads the result back.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "powercut/powercut_fs.hpp"
#include "support/process.hpp"

namespace pos::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Writes data at offset (creating the file), fsyncs it when asked.
void write_file(const fs::path& path, const std::string& data, bool fsync_it, off_t offset = 0,
                int extra_flags = 0) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | extra_flags, 0644);
  if (fd < 0) {
    throw std::runtime_error("open " + path.string() + ": " + std::strerror(errno));
  }
  if (::pwrite(fd, data.data(), data.size(), offset) != static_cast<ssize_t>(data.size())) {
    ::close(fd);
    throw std::runtime_error("pwrite " + path.string() + ": " + std::strerror(errno));
  }
  if (fsync_it && ::fsync(fd) != 0) {
    ::close(fd);
    throw std::runtime_error("fsync " + path.string() + ": " + std::strerror(errno));
  }
  ::close(fd);
}

void fsync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error("open " + path.string() + ": " + std::strerror(errno));
  }
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) {
    throw std::runtime_error("fsync " + path.string() + ": " + std::strerror(err));
  }
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return "<missing>";
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class PowerCutFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_fs = std::make_unique<PowerCutFs>(m_dir.path() / "backing", m_dir.path() / "mnt");
  }
  void TearDown() override {
    if (HasFailure() && m_fs) {
      std::cerr << "powercutfs log:\n" << m_fs->log_text();
    }
  }
  fs::path mnt(const std::string& name) const { return m_fs->mount_dir() / name; }
  fs::path backing(const std::string& name) const { return m_dir.path() / "backing" / name; }

  TempDir m_dir{"powercutfs"};
  std::unique_ptr<PowerCutFs> m_fs;
};

TEST_F(PowerCutFsTest, UnsyncedWriteIsLostAfterACutAndSyncedDataIsKept) {
  write_file(mnt("f"), "durable|", true);
  fsync_path(m_fs->mount_dir());
  write_file(mnt("f"), "lost", false, 8);
  EXPECT_EQ(read_file(mnt("f")), "durable|lost");  // the running system sees its own writes
  EXPECT_EQ(read_file(backing("f")), "durable|");
  EXPECT_NE(m_fs->stats_json().find("\"pending_bytes\":4"), std::string::npos);
  m_fs->cut();
  EXPECT_EQ(read_file(mnt("f")), "durable|");
}

TEST_F(PowerCutFsTest, UnsyncedCreateIsGoneEvenWhenItsDataWasFsynced) {
  write_file(mnt("kept"), "k", true);
  fsync_path(m_fs->mount_dir());
  write_file(mnt("new"), "data", true);  // fsync of the file, not of its directory
  fs::create_directory(mnt("dir"));
  EXPECT_TRUE(fs::exists(mnt("new")));
  m_fs->cut();
  EXPECT_FALSE(fs::exists(mnt("new")));
  EXPECT_FALSE(fs::exists(mnt("dir")));
  EXPECT_EQ(read_file(mnt("kept")), "k");
}

TEST_F(PowerCutFsTest, UnsyncedUnlinkIsUndone) {
  write_file(mnt("f"), "still here", true);
  fsync_path(m_fs->mount_dir());
  fs::remove(mnt("f"));
  EXPECT_FALSE(fs::exists(mnt("f")));
  m_fs->cut();
  EXPECT_EQ(read_file(mnt("f")), "still here");
}

TEST_F(PowerCutFsTest, UnlinkMadeDurableByTheDirectoryFsyncStaysDone) {
  write_file(mnt("f"), "x", true);
  fsync_path(m_fs->mount_dir());
  fs::remove(mnt("f"));
  fsync_path(m_fs->mount_dir());
  m_fs->cut();
  EXPECT_FALSE(fs::exists(mnt("f")));
}

// The atomic replace: write a temp file, fsync it, rename it over the target, fsync the directory.
TEST_F(PowerCutFsTest, AtomicReplaceWithDirectoryFsyncSurvives) {
  fs::create_directory(mnt("d"));
  fsync_path(m_fs->mount_dir());
  write_file(mnt("d/config"), "old", true);
  fsync_path(mnt("d"));
  write_file(mnt("d/config.tmp"), "new", true);
  fs::rename(mnt("d/config.tmp"), mnt("d/config"));
  fsync_path(mnt("d"));
  m_fs->cut();
  EXPECT_EQ(read_file(mnt("d/config")), "new");
  EXPECT_FALSE(fs::exists(mnt("d/config.tmp")));
}

TEST_F(PowerCutFsTest, AtomicReplaceWithoutDirectoryFsyncLosesTheRename) {
  fs::create_directory(mnt("d"));
  fsync_path(m_fs->mount_dir());
  write_file(mnt("d/config"), "old", true);
  fsync_path(mnt("d"));
  write_file(mnt("d/config.tmp"), "new", true);
  fs::rename(mnt("d/config.tmp"), mnt("d/config"));
  EXPECT_EQ(read_file(mnt("d/config")), "new");
  m_fs->cut();
  EXPECT_EQ(read_file(mnt("d/config")), "old");
  EXPECT_FALSE(fs::exists(mnt("d/config.tmp")));  // its creation was not durable either
}

TEST_F(PowerCutFsTest, TornCutKeepsOnlyTheFirstSectorOfTheLastWrite) {
  write_file(mnt("f"), std::string(2048, 'a'), true);
  fsync_path(m_fs->mount_dir());
  write_file(mnt("f"), std::string(1024, 'x'), false, 0);
  write_file(mnt("f"), std::string(1024, 'b'), false, 1024);
  m_fs->cut(PowerCutFs::CutMode::torn);
  EXPECT_EQ(read_file(mnt("f")),
            std::string(1024, 'a') + std::string(512, 'b') + std::string(512, 'a'));
}

TEST_F(PowerCutFsTest, ReorderCutLandsASubsetOfTheWritesAndPrintsItsSeed) {
  constexpr int k_blocks = 64;
  write_file(mnt("f"), std::string(k_blocks * 512, '.'), true);
  fsync_path(m_fs->mount_dir());
  for (int i = 0; i < k_blocks; ++i) {
    write_file(mnt("f"), std::string(512, 'w'), false, static_cast<off_t>(i) * 512);
  }
  m_fs->cut(PowerCutFs::CutMode::reorder);
  EXPECT_NE(m_fs->last_cut_answer().find("seed="), std::string::npos) << m_fs->last_cut_answer();
  const std::string content = read_file(mnt("f"));
  ASSERT_EQ(content.size(), static_cast<std::size_t>(k_blocks * 512));
  int landed = 0;
  for (int i = 0; i < k_blocks; ++i) {
    const std::string block = content.substr(static_cast<std::size_t>(i) * 512, 512);
    ASSERT_TRUE(block == std::string(512, 'w') || block == std::string(512, '.')) << i;
    landed += block[0] == 'w' ? 1 : 0;
  }
  // Each write lands with probability 1/2: all or none of 64 has probability 2^-63.
  EXPECT_GT(landed, 0);
  EXPECT_LT(landed, k_blocks);
}

TEST_F(PowerCutFsTest, ReorderCutWithTheSameSeedLandsTheSameWrites) {
  constexpr int k_blocks = 64;
  std::string outcome[2];
  for (auto& result : outcome) {
    write_file(mnt("f"), std::string(k_blocks * 512, '.'), true);
    fsync_path(m_fs->mount_dir());
    for (int i = 0; i < k_blocks; ++i) {
      write_file(mnt("f"), std::string(512, 'w'), false, static_cast<off_t>(i) * 512);
    }
    m_fs->cut_reorder(12345);
    EXPECT_NE(m_fs->last_cut_answer().find("seed=12345"), std::string::npos);
    result = read_file(mnt("f"));
  }
  EXPECT_EQ(outcome[0], outcome[1]);
  EXPECT_NE(outcome[0], std::string(k_blocks * 512, '.'));
}

TEST_F(PowerCutFsTest, HeldFsyncBlocksUntilReleased) {
  write_file(mnt("f"), "a", true);
  fsync_path(m_fs->mount_dir());
  m_fs->hold_fsync(true);
  std::atomic<bool> done{false};
  std::thread t([&] {
    write_file(mnt("f"), "b", true);
    done = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (m_fs->stats_json().find("\"held_fsyncs\":1") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(m_fs->stats_json().find("\"held_fsyncs\":1"), std::string::npos);
  EXPECT_FALSE(done.load());
  m_fs->hold_fsync(false);
  t.join();
  EXPECT_TRUE(done.load());
  m_fs->cut();
  EXPECT_EQ(read_file(mnt("f")), "b");
}

// A held fsync does not keep powercutfs from stopping (it would wait for the hold timeout, 60 s).
TEST_F(PowerCutFsTest, StopsPromptlyWhileAnFsyncIsHeld) {
  write_file(mnt("f"), "a", true);
  m_fs->hold_fsync(true);
  std::thread t([&] {
    try {
      write_file(mnt("f"), "b", true);
    } catch (const std::exception&) {
      // The connection may be gone by the time the fsync returns.
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (m_fs->stats_json().find("\"held_fsyncs\":1") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_NE(m_fs->stats_json().find("\"held_fsyncs\":1"), std::string::npos);
  const auto start = std::chrono::steady_clock::now();
  m_fs.reset();
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

// The intended use: a process frozen in fsync is killed, then the power is cut.
TEST_F(PowerCutFsTest, ProcessKilledWhileHeldInFsyncLosesThatWrite) {
  write_file(mnt("f"), "before", true);
  fsync_path(m_fs->mount_dir());
  m_fs->hold_fsync(true);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int fd = ::open(mnt("f").c_str(), O_WRONLY);
    if (fd < 0 || ::pwrite(fd, "after!", 6, 0) != 6) {
      ::_exit(1);
    }
    ::fsync(fd);
    ::_exit(0);
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (m_fs->stats_json().find("\"held_fsyncs\":1") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_NE(m_fs->stats_json().find("\"held_fsyncs\":1"), std::string::npos);
  ::kill(child, SIGKILL);
  m_fs->cut();  // releases the held fsync with EIO; the child then dies
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(read_file(mnt("f")), "before");
}

// SQLite in WAL mode with synchronous=FULL on the mount: every committed row survives a cut of a
// killed writer, and the database passes integrity_check.
TEST_F(PowerCutFsTest, SqliteWalCommitsSurviveACut) {
  const fs::path db = mnt("data.db");
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    sqlite3* h = nullptr;
    auto exec = [&](const char* sql) {
      if (sqlite3_exec(h, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
        ::_exit(2);
      }
    };
    if (sqlite3_open(db.c_str(), &h) != SQLITE_OK) {
      ::_exit(1);
    }
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    exec("CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)");
    for (int txn = 0; txn < 20; ++txn) {
      exec("BEGIN");
      for (int i = 0; i < 50; ++i) {
        exec("INSERT INTO t (payload) VALUES (hex(randomblob(100)))");
      }
      exec("COMMIT");
    }
    // An uncommitted transaction, in the WAL or the page cache when the power goes.
    exec("BEGIN");
    exec("INSERT INTO t (payload) VALUES ('uncommitted')");
    // Reads of the running system see the committed rows.
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(h, "SELECT count(*) FROM t", -1, &stmt, nullptr) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_ROW) {
      ::_exit(3);
    }
    const int rows = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    (void)!::write(pipe_fds[1], &rows, sizeof rows);
    ::pause();
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  int rows = 0;
  const ssize_t n = ::read(pipe_fds[0], &rows, sizeof rows);
  ::close(pipe_fds[0]);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_EQ(n, static_cast<ssize_t>(sizeof rows)) << "child exit status " << status;
  EXPECT_EQ(rows, 1001);  // 1,000 committed plus the uncommitted one, seen by its transaction
  EXPECT_TRUE(fs::exists(backing("data.db-wal")));
  // SQLite fsyncs the directory after creating the WAL; that also makes data.db's entry durable.
  EXPECT_EQ(m_fs->stats_json().find("\"dir_fsyncs\":0,"), std::string::npos) << m_fs->stats_json();
  m_fs->cut();

  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  auto query_text = [&](const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(h, sql, -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      const auto* text = sqlite3_column_text(stmt, 0);
      out = text != nullptr ? reinterpret_cast<const char*>(text) : "";
    } else {
      out = std::string("error: ") + sqlite3_errmsg(h);
    }
    sqlite3_finalize(stmt);
    return out;
  };
  EXPECT_EQ(query_text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(query_text("SELECT count(*) FROM t"), "1000");
  EXPECT_EQ(query_text("SELECT count(*) FROM t WHERE payload = 'uncommitted'"), "0");
  sqlite3_close(h);
}

// SQLite's locks and shared memory work on the mount: two connections of one process.
TEST_F(PowerCutFsTest, SqliteWalWorksWithTwoConnections) {
  const fs::path db = mnt("two.db");
  sqlite3* a = nullptr;
  sqlite3* b = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &a), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(a,
                         "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                         "CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(a);
  ASSERT_EQ(sqlite3_open(db.c_str(), &b), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(b, "BEGIN; SELECT * FROM t;", nullptr, nullptr, nullptr), SQLITE_OK);
  // A reader holds a snapshot; the writer commits in WAL mode without waiting for it.
  ASSERT_EQ(sqlite3_exec(a, "INSERT INTO t VALUES (2)", nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(a);
  int count = 0;
  ASSERT_EQ(sqlite3_exec(
                b, "SELECT count(*) FROM t",
                [](void* out, int, char** values, char**) {
                  *static_cast<int*>(out) = std::atoi(values[0]);
                  return 0;
                },
                &count, nullptr),
            SQLITE_OK);
  EXPECT_EQ(count, 1);  // b's snapshot
  ASSERT_EQ(sqlite3_exec(b, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(b);
  sqlite3_close(a);
}

// Two processes on one WAL database: the reader sees each commit of the writer (locks and the
// shared-memory index work across processes on the mount).
TEST_F(PowerCutFsTest, SqliteWalReaderInAnotherProcessSeesCommits) {
  const fs::path db = mnt("shared.db");
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(h, "PRAGMA journal_mode=WAL; CREATE TABLE t (v INTEGER);", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    sqlite3* w = nullptr;
    if (sqlite3_open(db.c_str(), &w) != SQLITE_OK) {
      ::_exit(1);
    }
    sqlite3_busy_timeout(w, 5000);
    for (int i = 0; i < 200; ++i) {
      if (sqlite3_exec(w, "INSERT INTO t VALUES (1)", nullptr, nullptr, nullptr) != SQLITE_OK) {
        ::_exit(2);
      }
    }
    sqlite3_close(w);
    ::_exit(0);
  }
  sqlite3_busy_timeout(h, 5000);
  int last = 0;
  bool monotonic = true;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (last < 200 && std::chrono::steady_clock::now() < deadline) {
    int count = -1;
    ASSERT_EQ(sqlite3_exec(
                  h, "SELECT count(*) FROM t",
                  [](void* out, int, char** values, char**) {
                    *static_cast<int*>(out) = std::atoi(values[0]);
                    return 0;
                  },
                  &count, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(h);
    monotonic = monotonic && count >= last;
    last = count;
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(last, 200);
  EXPECT_TRUE(monotonic);
  sqlite3_close(h);
}

TEST_F(PowerCutFsTest, DirectoryListingShowsEntriesButNotTheTrash) {
  fs::create_directory(mnt("d"));
  write_file(mnt("d/a"), "a", false);
  write_file(mnt("b"), "b", false);
  write_file(mnt("gone"), "g", false);
  fs::remove(mnt("gone"));  // now in the backing trash
  std::set<std::string> root;
  for (const auto& entry : fs::directory_iterator(m_fs->mount_dir())) {
    root.insert(entry.path().filename().string());
  }
  EXPECT_EQ(root, (std::set<std::string>{"b", "d"}));
  std::set<std::string> sub;
  for (const auto& entry : fs::directory_iterator(mnt("d"))) {
    sub.insert(entry.path().filename().string());
  }
  EXPECT_EQ(sub, (std::set<std::string>{"a"}));
}

// Calls on open descriptors reach powercutfs without a path (FUSE's nullpath_ok).
TEST_F(PowerCutFsTest, CallsOnOpenDescriptorsOfFilesAndDirectories) {
  fs::create_directory(mnt("d"));
  const int dir = ::open(mnt("d").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dir, 0) << std::strerror(errno);
  EXPECT_EQ(::fchmod(dir, 0700), 0) << std::strerror(errno);
  EXPECT_EQ(::futimens(dir, nullptr), 0) << std::strerror(errno);
  EXPECT_EQ(::fchown(dir, ::getuid(), ::getgid()), 0) << std::strerror(errno);
  struct stat st {};
  ASSERT_EQ(::fstat(dir, &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ::close(dir);

  const int file = ::open(mnt("d/f").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(file, 0) << std::strerror(errno);
  ASSERT_EQ(::pwrite(file, "0123456789", 10, 0), 10);
  EXPECT_EQ(::ftruncate(file, 4), 0) << std::strerror(errno);
  EXPECT_EQ(::fchmod(file, 0600), 0) << std::strerror(errno);
  EXPECT_EQ(::futimens(file, nullptr), 0) << std::strerror(errno);
  ASSERT_EQ(::fstat(file, &st), 0);
  EXPECT_EQ(st.st_size, 4);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ::close(file);
  EXPECT_EQ(read_file(mnt("d/f")), "0123");
}

// A process that was not killed keeps the old mount busy: the remount still works (lazy unmount),
// and the survivor's descriptor no longer reaches the file system.
TEST_F(PowerCutFsTest, CutRemountsEvenWhenTheOldMountIsBusy) {
  write_file(mnt("f"), "synced", true);
  fsync_path(m_fs->mount_dir());
  const int fd = ::open(mnt("f").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "unsynced", 8, 0), 8);
  m_fs->cut();
  EXPECT_TRUE(is_mount_point(m_fs->mount_dir()));
  EXPECT_EQ(read_file(mnt("f")), "synced");
  EXPECT_EQ(::pwrite(fd, "late", 4, 0), -1);  // the old connection is gone
  EXPECT_NE(::fsync(fd), 0);
  ::close(fd);
  EXPECT_EQ(read_file(mnt("f")), "synced");
}

TEST_F(PowerCutFsTest, ControlChannelRejectsUnknownCommands) {
  EXPECT_EQ(m_fs->command("cut sideways").rfind("error unknown cut mode", 0), 0u);
  EXPECT_EQ(m_fs->command("frobnicate").rfind("error unknown command", 0), 0u);
  EXPECT_EQ(m_fs->command("hold-fsync maybe").rfind("error", 0), 0u);
  EXPECT_EQ(m_fs->command("sync"), "ok");
}

TEST_F(PowerCutFsTest, SyncCommandMakesEverythingDurable) {
  write_file(mnt("f"), "synced by command", false);
  EXPECT_EQ(m_fs->command("sync"), "ok");
  m_fs->cut();
  EXPECT_EQ(read_file(mnt("f")), "synced by command");
}

// A stop without a cut is an orderly unmount: what was pending is written, as umount does.
TEST_F(PowerCutFsTest, StopWithoutACutWritesWhatIsPending) {
  write_file(mnt("f"), "pending at unmount", false);
  EXPECT_EQ(read_file(backing("f")), "");
  m_fs.reset();
  EXPECT_EQ(read_file(backing("f")), "pending at unmount");
}

TEST_F(PowerCutFsTest, RepeatedCutsRemountReliably) {
  for (int i = 0; i < 5; ++i) {
    write_file(mnt("f"), std::to_string(i), true);
    fsync_path(m_fs->mount_dir());
    write_file(mnt("g" + std::to_string(i)), "unsynced", false);
    m_fs->cut(i % 2 == 0 ? PowerCutFs::CutMode::clean : PowerCutFs::CutMode::torn);
    EXPECT_EQ(read_file(mnt("f")), std::to_string(i));
    EXPECT_FALSE(fs::exists(mnt("g" + std::to_string(i))));
  }
  EXPECT_TRUE(is_mount_point(m_fs->mount_dir()));
}

TEST(PowerCutFsMountTest, FailsWithAClearErrorWhenTheMountPointIsAFile) {
  TempDir dir("powercutfs");
  std::ofstream(dir.path() / "file") << "x";
  EXPECT_THROW(PowerCutFs(dir.path() / "backing", dir.path() / "file"), std::runtime_error);
}

}  // namespace
}  // namespace pos::test
