// powercutfs mounted with FUSE: it loses exactly what a power cut loses.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "powercut/powercut_fs.hpp"
#include "support/process.hpp"

namespace pos::test {
namespace {

TEST(PowerCutFsTest, MountsAndAnswersStats) {
  TempDir dir("powercutfs");
  PowerCutFs pfs(dir.path() / "backing", dir.path() / "mnt");
  EXPECT_TRUE(is_mount_point(pfs.mount_dir()));
  EXPECT_NE(pfs.stats_json().find("\"pending_bytes\":0"), std::string::npos);
}

}  // namespace
}  // namespace pos::test
