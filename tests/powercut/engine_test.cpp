// The power-cut model without FUSE: FileOverlay on strings, Engine on a temporary directory.
#include "powercut/engine.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdio.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pos::powercut {
namespace {

namespace fs = std::filesystem;

// The durable content plus the overlay, as the running system reads it.
std::string logical(const FileOverlay& overlay, const std::string& durable) {
  const std::uint64_t size = overlay.size(durable.size());
  std::string buf(size, '\0');
  std::memcpy(buf.data(), durable.data(), std::min<std::size_t>(durable.size(), buf.size()));
  const std::size_t n = overlay.read(0, buf.data(), buf.size(), durable.size());
  buf.resize(n);
  return buf;
}

// What the backing file holds after ops land on it.
std::string landed(std::string file, const std::vector<DataOp>& ops) {
  for (const auto& op : ops) {
    if (op.kind == DataOp::Kind::write) {
      if (file.size() < op.end()) {
        file.resize(op.end(), '\0');
      }
      file.replace(op.offset, op.bytes.size(), op.bytes);
    } else {
      file.resize(op.offset, '\0');
    }
  }
  return file;
}

TEST(FileOverlayTest, ReadsSeeWritesOverTheDurableContent) {
  FileOverlay overlay;
  overlay.write(2, "XY");
  overlay.write(8, "tail");
  EXPECT_EQ(overlay.size(6), 12u);
  EXPECT_EQ(logical(overlay, "abcdef"), std::string("abXYef\0\0tail", 12));
  EXPECT_EQ(overlay.pending_bytes(), 6u);
}

TEST(FileOverlayTest, PartialReadIsClampedAtTheLogicalSize) {
  FileOverlay overlay;
  overlay.write(0, "0123456789");
  std::string buf(8, '\0');
  EXPECT_EQ(overlay.read(6, buf.data(), buf.size(), 0), 4u);
  EXPECT_EQ(buf.substr(0, 4), "6789");
  EXPECT_EQ(overlay.read(20, buf.data(), buf.size(), 0), 0u);
}

TEST(FileOverlayTest, ShrinkThenExtendReadsZerosNotOldBytes) {
  FileOverlay overlay;
  overlay.truncate(2);
  overlay.write(6, "Z");
  EXPECT_EQ(logical(overlay, "abcdefgh"), std::string("ab\0\0\0\0Z", 7));
  EXPECT_EQ(landed("abcdefgh", overlay.ops()), logical(overlay, "abcdefgh"));
}

TEST(FileOverlayTest, TruncateExtendsWithZeros) {
  FileOverlay overlay;
  overlay.truncate(5);
  EXPECT_EQ(logical(overlay, "ab"), std::string("ab\0\0\0", 5));
}

TEST(FileOverlayTest, CoveredEarlierWritesAreDroppedButNotAcrossATruncate) {
  FileOverlay overlay;
  overlay.write(0, "aaaa");
  overlay.write(4, "bbbb");
  overlay.write(0, "cccccccc");  // covers both
  EXPECT_EQ(overlay.ops().size(), 1u);
  EXPECT_EQ(overlay.pending_bytes(), 8u);
  overlay.truncate(0);
  overlay.write(0, "dddddddd");  // same range, but the truncate between must stay ordered
  EXPECT_EQ(overlay.ops().size(), 3u);
  overlay.write(2, "ee");  // partly covers: nothing dropped
  EXPECT_EQ(overlay.ops().size(), 4u);
  EXPECT_EQ(logical(overlay, ""), "ddeedddd");
}

TEST(FileOverlayTest, TornLandingIsTheFirstSectorOfTheLastWrite) {
  FileOverlay overlay;
  overlay.write(0, std::string(100, 'a'));
  overlay.write(1000, std::string(1000, 'b'));  // sector 1 (512..1023): 24 bytes in it
  const auto ops = torn_landing(overlay.ops());
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].offset, 1000u);
  EXPECT_EQ(ops[0].bytes, std::string(24, 'b'));
}

TEST(FileOverlayTest, TornLandingOfAOneSectorWriteIsNothing) {
  FileOverlay overlay;
  overlay.write(0, std::string(512, 'a'));
  EXPECT_TRUE(torn_landing(overlay.ops()).empty());
  overlay.write(4096, std::string(8192, 'c'));
  const auto ops = torn_landing(overlay.ops());
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].bytes.size(), 512u);
}

TEST(FileOverlayTest, ReorderLandingIsASeededSubsetInOrder) {
  FileOverlay overlay;
  for (int i = 0; i < 64; ++i) {
    overlay.write(static_cast<std::uint64_t>(i) * 10, std::to_string(i));
  }
  std::mt19937_64 rng1(7);
  std::mt19937_64 rng2(7);
  const auto a = reorder_landing(overlay.ops(), rng1);
  const auto b = reorder_landing(overlay.ops(), rng2);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].offset, b[i].offset);
  }
  EXPECT_GT(a.size(), 0u);
  EXPECT_LT(a.size(), 64u);
  for (std::size_t i = 1; i < a.size(); ++i) {
    EXPECT_LT(a[i - 1].offset, a[i].offset);
  }
}

// Random writes and truncates against a plain string: every read of the overlay, at random
// offsets, matches the string, and landing all ops on the durable content gives the string.
TEST(FileOverlayTest, RandomOpsMatchAPlainStringModel) {
  std::mt19937_64 rng(20261204);
  for (int round = 0; round < 200; ++round) {
    const std::string durable(rng() % 64, 'd');
    std::string model = durable;
    FileOverlay overlay;
    for (int step = 0; step < 30; ++step) {
      if (rng() % 5 == 0) {
        const std::size_t size = rng() % 96;
        overlay.truncate(size);
        model.resize(size, '\0');
      } else {
        const std::size_t offset = rng() % 80;
        const std::string bytes(1 + rng() % 24, static_cast<char>('a' + step % 26));
        overlay.write(offset, bytes);
        if (model.size() < offset + bytes.size()) {
          model.resize(offset + bytes.size(), '\0');
        }
        model.replace(offset, bytes.size(), bytes);
      }
      ASSERT_EQ(overlay.size(durable.size()), model.size()) << round << "/" << step;
      const std::size_t offset = rng() % 100;
      const std::size_t len = rng() % 100;
      std::string buf(len, '\0');
      for (std::size_t i = 0; i < len && offset + i < durable.size(); ++i) {
        buf[i] = durable[offset + i];
      }
      const std::size_t n = overlay.read(offset, buf.data(), len, durable.size());
      const std::string want = offset < model.size() ? model.substr(offset, len) : "";
      ASSERT_EQ(buf.substr(0, n), want) << round << "/" << step;
    }
    EXPECT_EQ(landed(durable, overlay.ops()), model) << round;
  }
}

// ---- Engine on a real directory, called as FUSE would call it.

// A fresh directory under $TMPDIR or /tmp, removed afterwards (unit tests do not link the
// integration support library).
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        (fs::path(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") / "powercut-engine-XXXXXX")
            .string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp " + pattern);
    }
    m_path = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(m_path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return m_path; }

 private:
  fs::path m_path;
};

class EngineTest : public ::testing::Test {
 protected:
  std::string backing_text(const std::string& name) {
    std::ifstream in(m_dir.path() / name, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }
  Engine::Handle* create(Engine& e, const char* path) {
    Engine::Handle* h = nullptr;
    EXPECT_EQ(e.create(path, 0644, O_RDWR | O_CREAT, &h), 0) << path;
    return h;
  }
  void write(Engine& e, Engine::Handle* h, const std::string& data, off_t offset = 0) {
    EXPECT_EQ(e.write(h, data.data(), data.size(), offset), static_cast<int>(data.size()));
  }
  std::string read(Engine& e, Engine::Handle* h) {
    std::string buf(4096, '\0');
    const int n = e.read(h, buf.data(), buf.size(), 0);
    EXPECT_GE(n, 0);
    buf.resize(static_cast<std::size_t>(std::max(n, 0)));
    return buf;
  }

  ScratchDir m_dir;
};

TEST_F(EngineTest, UnsyncedWriteIsReadBackButNotInTheBackingFile) {
  Engine e(m_dir.path());
  ASSERT_EQ(e.mkdir("/d", 0755), 0);
  ASSERT_EQ(e.fsyncdir("/"), 0);
  auto* h = create(e, "/d/f");
  ASSERT_EQ(e.fsyncdir("/d"), 0);
  write(e, h, "hello");
  EXPECT_EQ(read(e, h), "hello");
  struct stat st {};
  ASSERT_EQ(e.getattr("/d/f", &st, nullptr), 0);
  EXPECT_EQ(st.st_size, 5);
  EXPECT_EQ(backing_text("d/f"), "");
  EXPECT_EQ(e.stats().pending_bytes, 5u);
  ASSERT_EQ(e.fsync(h, true), 0);
  EXPECT_EQ(backing_text("d/f"), "hello");
  EXPECT_EQ(e.stats().pending_bytes, 0u);
  e.release(h);
}

TEST_F(EngineTest, CutUndoesUnsyncedDirectoryChangesNewestFirst) {
  {
    std::ofstream(m_dir.path() / "old") << "old";
    std::ofstream(m_dir.path() / "victim") << "victim";
  }
  Engine e(m_dir.path());
  auto* h = create(e, "/new");
  e.release(h);
  ASSERT_EQ(e.unlink("/old"), 0);
  ASSERT_EQ(e.rename("/new", "/victim", 0), 0);  // replaces victim
  ASSERT_EQ(e.mkdir("/dir", 0755), 0);
  EXPECT_EQ(e.stats().pending_dir_ops, 4u);
  EXPECT_FALSE(fs::exists(m_dir.path() / "old"));
  e.cut(CutMode::clean);
  EXPECT_EQ(backing_text("old"), "old");
  EXPECT_EQ(backing_text("victim"), "victim");
  EXPECT_FALSE(fs::exists(m_dir.path() / "new"));
  EXPECT_FALSE(fs::exists(m_dir.path() / "dir"));
  EXPECT_TRUE(fs::is_empty(m_dir.path() / Engine::k_trash_name));
  struct stat st {};
  EXPECT_EQ(e.getattr("/old", &st, nullptr), -EIO);  // powered off until remounted
}

TEST_F(EngineTest, DirectoryFsyncMakesOnlyThatDirectorysChangesDurable) {
  Engine e(m_dir.path());
  ASSERT_EQ(e.mkdir("/a", 0755), 0);
  ASSERT_EQ(e.mkdir("/b", 0755), 0);
  ASSERT_EQ(e.fsyncdir("/"), 0);
  e.release(create(e, "/a/x"));
  e.release(create(e, "/b/y"));
  ASSERT_EQ(e.fsyncdir("/b"), 0);
  EXPECT_EQ(e.stats().pending_dir_ops, 1u);
  e.cut(CutMode::clean);
  EXPECT_FALSE(fs::exists(m_dir.path() / "a/x"));
  EXPECT_TRUE(fs::exists(m_dir.path() / "b/y"));
}

TEST_F(EngineTest, RenameIsDurableByItsDestinationDirectory) {
  Engine e(m_dir.path());
  ASSERT_EQ(e.mkdir("/src", 0755), 0);
  ASSERT_EQ(e.mkdir("/dst", 0755), 0);
  ASSERT_EQ(e.fsyncdir("/"), 0);
  e.release(create(e, "/src/f"));
  ASSERT_EQ(e.fsyncdir("/src"), 0);
  ASSERT_EQ(e.rename("/src/f", "/dst/f", 0), 0);
  ASSERT_EQ(e.fsyncdir("/src"), 0);  // the source directory alone does not make it durable
  EXPECT_EQ(e.stats().pending_dir_ops, 1u);
  ASSERT_EQ(e.fsyncdir("/dst"), 0);
  EXPECT_EQ(e.stats().pending_dir_ops, 0u);
  e.cut(CutMode::clean);
  EXPECT_TRUE(fs::exists(m_dir.path() / "dst/f"));
  EXPECT_FALSE(fs::exists(m_dir.path() / "src/f"));
}

TEST_F(EngineTest, DurableUnlinkEmptiesTheTrash) {
  std::ofstream(m_dir.path() / "f") << "x";
  Engine e(m_dir.path());
  ASSERT_EQ(e.unlink("/f"), 0);
  EXPECT_FALSE(fs::is_empty(m_dir.path() / Engine::k_trash_name));
  ASSERT_EQ(e.fsyncdir("/"), 0);
  EXPECT_TRUE(fs::is_empty(m_dir.path() / Engine::k_trash_name));
  e.cut(CutMode::clean);
  EXPECT_FALSE(fs::exists(m_dir.path() / "f"));
}

TEST_F(EngineTest, TrashIsInvisibleAndCannotBeCreated) {
  Engine e(m_dir.path());
  struct stat st {};
  EXPECT_EQ(e.getattr("/.powercutfs-trash", &st, nullptr), -ENOENT);
  EXPECT_EQ(e.mkdir("/.powercutfs-trash", 0755), -EPERM);
  std::vector<std::string> names;
  ASSERT_EQ(e.readdir("/",
                      [&](const char* name, const struct stat&) {
                        names.emplace_back(name);
                        return true;
                      }),
            0);
  EXPECT_EQ(std::count(names.begin(), names.end(), ".powercutfs-trash"), 0);
}

TEST_F(EngineTest, OpenOrCreateOfADirectoryFailsWithEisdir) {
  Engine e(m_dir.path());
  ASSERT_EQ(e.mkdir("/d", 0755), 0);
  Engine::Handle* h = nullptr;
  EXPECT_EQ(e.open("/d", O_RDONLY, &h), -EISDIR);
  EXPECT_EQ(e.create("/d", 0644, O_RDWR | O_CREAT, &h), -EISDIR);
  EXPECT_EQ(h, nullptr);
}

TEST_F(EngineTest, TruncateIsPendingUntilFsync) {
  std::ofstream(m_dir.path() / "f") << "0123456789";
  Engine e(m_dir.path());
  ASSERT_EQ(e.truncate("/f", 3, nullptr), 0);
  struct stat st {};
  ASSERT_EQ(e.getattr("/f", &st, nullptr), 0);
  EXPECT_EQ(st.st_size, 3);
  e.cut(CutMode::clean);
  EXPECT_EQ(backing_text("f"), "0123456789");
}

TEST_F(EngineTest, OpenWithOTruncIsAPendingTruncate) {
  std::ofstream(m_dir.path() / "f") << "durable";
  Engine e(m_dir.path());
  Engine::Handle* h = nullptr;
  ASSERT_EQ(e.open("/f", O_WRONLY | O_TRUNC, &h), 0);
  write(e, h, "new");
  EXPECT_EQ(read(e, h), "new");
  e.release(h);
  e.cut(CutMode::clean);
  EXPECT_EQ(backing_text("f"), "durable");
}

TEST_F(EngineTest, WritesBeyondThePendingLimitFailWithEnospc) {
  Limits limits;
  limits.max_pending_bytes = 10;
  Engine e(m_dir.path(), limits);
  auto* h = create(e, "/f");
  write(e, h, "0123456789");
  EXPECT_EQ(e.write(h, "x", 1, 10), -ENOSPC);
  ASSERT_EQ(e.fsync(h, false), 0);
  write(e, h, "x", 10);  // room again after the fsync
  e.release(h);
}

TEST_F(EngineTest, HeldFsyncWaitsUntilReleasedAndACutFailsIt) {
  Engine e(m_dir.path());
  auto* h = create(e, "/f");
  ASSERT_EQ(e.fsyncdir("/"), 0);
  write(e, h, "data");
  e.hold_fsync(true);
  std::atomic<int> rc{1};
  std::thread t([&] { rc = e.fsync(h, false); });
  while (e.stats().held_fsyncs == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(rc.load(), 1);
  e.hold_fsync(false);
  t.join();
  EXPECT_EQ(rc.load(), 0);
  EXPECT_EQ(backing_text("f"), "data");

  write(e, h, "more", 4);
  e.hold_fsync(true);
  std::thread t2([&] { rc = e.fsync(h, false); });
  while (e.stats().held_fsyncs == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  e.cut(CutMode::clean);
  t2.join();
  EXPECT_EQ(rc.load(), -EIO);
  EXPECT_EQ(backing_text("f"), "data");
  e.release(h);
}

TEST_F(EngineTest, TornCutLandsOnlyTheFirstSectorOfTheLastWrite) {
  Engine e(m_dir.path());
  auto* h = create(e, "/f");
  ASSERT_EQ(e.fsyncdir("/"), 0);
  write(e, h, std::string(1024, 'a'));
  ASSERT_EQ(e.fsync(h, false), 0);
  write(e, h, std::string(1024, 'b'));
  e.cut(CutMode::torn);
  EXPECT_EQ(backing_text("f"), std::string(512, 'b') + std::string(512, 'a'));
  e.release(h);
}

TEST_F(EngineTest, SyncAllMakesEverythingDurable) {
  Engine e(m_dir.path());
  auto* h = create(e, "/f");
  write(e, h, "x");
  e.release(h);
  e.sync_all();
  EXPECT_EQ(e.stats().pending_dir_ops, 0u);
  e.cut(CutMode::clean);
  EXPECT_EQ(backing_text("f"), "x");
}

// The backing tree as path -> type and content (the trash left out).
std::map<std::string, std::string> snapshot(const fs::path& root) {
  std::map<std::string, std::string> tree;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const auto rel = fs::relative(it->path(), root).string();
    if (rel.rfind(std::string(Engine::k_trash_name), 0) == 0) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_symlink()) {
      tree[rel] = "link:" + fs::read_symlink(it->path()).string();
    } else if (it->is_directory()) {
      tree[rel] = "dir";
    } else {
      std::ifstream in(it->path(), std::ios::binary);
      std::ostringstream out;
      out << in.rdbuf();
      tree[rel] = "file:" + out.str();
    }
  }
  return tree;
}

// Random directory changes (and unsynced writes) with a full sync at a random point: a cut gives
// back exactly the tree of that point.
TEST_F(EngineTest, RandomDirectoryChangesAreUndoneToTheLastSync) {
  std::mt19937_64 rng(4242);
  const std::vector<std::string> names = {"/a", "/b", "/c", "/d/a", "/d/b", "/e/a", "/d", "/e"};
  const auto pick = [&] { return names[rng() % names.size()].c_str(); };
  for (int round = 0; round < 40; ++round) {
    fs::remove_all(m_dir.path());
    fs::create_directories(m_dir.path());
    std::map<std::string, std::string> at_sync;
    {
      Engine e(m_dir.path());
      const int steps = 40;
      const int sync_at = static_cast<int>(rng() % steps);
      for (int step = 0; step < steps; ++step) {
        if (step == sync_at) {
          e.sync_all();
          at_sync = snapshot(m_dir.path());
        }
        switch (rng() % 8) {
          case 0: {
            Engine::Handle* h = nullptr;
            if (e.create(pick(), 0644, O_RDWR | O_CREAT, &h) == 0) {
              const std::string data = "v" + std::to_string(step);
              e.write(h, data.data(), data.size(), 0);
              e.release(h);
            }
            break;
          }
          case 1:
            e.mkdir(pick(), 0755);
            break;
          case 2:
            e.unlink(pick());
            break;
          case 3:
            e.rmdir(pick());
            break;
          case 4:
            e.rename(pick(), pick(), 0);
            break;
          case 5:
            e.rename(pick(), pick(), rng() % 2 == 0 ? RENAME_NOREPLACE : RENAME_EXCHANGE);
            break;
          case 6:
            e.link(pick(), pick());
            break;
          default:
            e.symlink("target", pick());
            break;
        }
      }
      e.cut(CutMode::clean);
      EXPECT_EQ(e.stats().undo_conflicts, 0u) << round;
    }
    EXPECT_EQ(snapshot(m_dir.path()), at_sync) << "round " << round;
    EXPECT_TRUE(fs::is_empty(m_dir.path() / Engine::k_trash_name)) << round;
  }
}

}  // namespace
}  // namespace pos::powercut
