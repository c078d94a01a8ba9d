// common::files::StagedFile: a streamed file appears complete under its name, or not at all.

#include "pos/common/files.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace pos::common::files {
namespace {

namespace fs = std::filesystem;

class StagedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "files_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    m_dir = tmpl;
  }
  void TearDown() override { fs::remove_all(m_dir); }

  std::size_t entries() const {
    return static_cast<std::size_t>(
        std::distance(fs::directory_iterator(m_dir), fs::directory_iterator()));
  }
  static std::string read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }

  fs::path m_dir;
};

TEST_F(StagedFileTest, AppearsOnlyOnCommitAndReplacesTheOldFile) {
  const auto path = m_dir / "out.ndjson";
  std::ofstream(path) << "old\n";
  auto file = StagedFile::create(path, 0640);
  ASSERT_TRUE(file) << file.error().message;
  std::string expected;
  // More than one buffer's worth, in small and in oversized pieces.
  const std::string line(1000, 'a');
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(file->write(line));
    ASSERT_TRUE(file->write("\n"));
    expected += line + "\n";
  }
  const std::string big(StagedFile::buffer_bytes * 2 + 7, 'b');
  ASSERT_TRUE(file->write(big));
  expected += big;
  EXPECT_EQ(read(path), "old\n") << "the final name changed before commit";
  EXPECT_EQ(entries(), 2U);  // out.ndjson and the temporary file
  ASSERT_TRUE(file->commit());
  EXPECT_EQ(read(path), expected);
  EXPECT_EQ(entries(), 1U);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0022, 0U);
  EXPECT_FALSE(file->write("more"));
}

TEST_F(StagedFileTest, AbandonedFileLeavesNothing) {
  const auto path = m_dir / "out.ndjson";
  {
    auto file = StagedFile::create(path, 0640);
    ASSERT_TRUE(file);
    ASSERT_TRUE(file->write("partial"));
  }
  EXPECT_EQ(entries(), 0U);
  auto missing = StagedFile::create(m_dir / "no-such-dir" / "out.ndjson", 0640);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("cannot create"), std::string::npos);
}

}  // namespace
}  // namespace pos::common::files
