// common::create_directories_durably on powercutfs: a directory it created, and a file made
// durable inside it, survive a power cut; with std::filesystem::create_directories (what the
// agent and the collector used to create data_dir with) the cut takes both away.

#include "pos/common/durable_directory.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "powercut/powercut_fs.hpp"
#include "support/process.hpp"

namespace pos::test {
namespace {

namespace fs = std::filesystem;

// Creates `path` with `text`, fsyncs the file and its directory: durable by every rule, as long as
// the directory itself is.
void write_durably(const fs::path& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ASSERT_EQ(::fsync(fd), 0);
  ::close(fd);
  ASSERT_TRUE(common::fsync_directory(path.parent_path()));
}

TEST(DurableDirectoryTest, CreatedDirectoriesSurviveAPowerCut) {
  TempDir dir("durable-dir");
  PowerCutFs cutfs(dir.path() / "backing", dir.path() / "mnt");
  const fs::path data_dir = cutfs.mount_dir() / "var" / "lib" / "posagent";
  ASSERT_TRUE(common::create_directories_durably(data_dir));
  ASSERT_TRUE(common::create_directories_durably(data_dir));  // exists: no change, no error
  write_durably(data_dir / "outbox.db", "committed");
  cutfs.cut();
  EXPECT_TRUE(fs::is_directory(data_dir)) << cutfs.log_text();
  EXPECT_TRUE(fs::exists(data_dir / "outbox.db"));
}

TEST(DurableDirectoryTest, PlainCreateDirectoriesLosesThemToAPowerCut) {
  TempDir dir("durable-dir");
  PowerCutFs cutfs(dir.path() / "backing", dir.path() / "mnt");
  const fs::path data_dir = cutfs.mount_dir() / "var" / "lib" / "posagent";
  fs::create_directories(data_dir);
  write_durably(data_dir / "outbox.db", "committed");
  cutfs.cut();
  EXPECT_FALSE(fs::exists(cutfs.mount_dir() / "var"))
      << "powercutfs kept a directory whose parent was never fsynced: the test above proves "
         "nothing";
}

TEST(DurableDirectoryTest, AFileInTheWayIsNamed) {
  TempDir dir("durable-dir");
  write_durably(dir.path() / "file", "x");
  const auto created = common::create_directories_durably(dir.path() / "file" / "sub");
  ASSERT_FALSE(created);
  EXPECT_NE(created.error().message.find("is not a directory"), std::string::npos)
      << created.error().message;
}

}  // namespace
}  // namespace pos::test
