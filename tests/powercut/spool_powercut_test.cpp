// The agent's spool on powercutfs: a file the agent stored and moved to done/ stays there through
// a power cut. Before the moves were fsynced, the cut undid them and the agent read the file
// again (found by the power-cut loop: about 2,600 files back after 440 soak cuts).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "integration/agent_harness.hpp"
#include "pos/common/durable_directory.hpp"
#include "powercut/powercut_fs.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace pos::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// As docs/agent.md tells the POS: write a hidden temp file, fsync it, rename it in, fsync the dir.
void drop_spool_file(const fs::path& spool, const std::string& name, const std::string& text) {
  const fs::path temp = spool / ("." + name + ".tmp");
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ASSERT_EQ(::fsync(fd), 0);
  ::close(fd);
  fs::rename(temp, spool / name);
  ASSERT_TRUE(common::fsync_directory(spool));
}

TEST(SpoolPowerCut, AStoredFileStaysInDoneThroughAPowerCut) {
  TempDir dir("spool-powercut");
  fs::create_directories(dir.path() / "pki");
  TestPki pki(dir.path() / "pki");
  PowerCutFs cutfs(dir.path() / "backing", dir.path() / "mnt");
  const fs::path spool = cutfs.mount_dir() / "spool";
  AgentProcess agent(
      dir.path() / "agent", pki, "mqtt://127.0.0.1:9", "S01", "T1", "", "", "",
      cutfs.mount_dir() / "data",
      "spool_dir = \"" + spool.string() + "\"\nspool_poll_ms = 50\n" + "spool_settle_ms = 0\n");
  agent.start();
  ASSERT_TRUE(fs::is_directory(spool / "done"));
  drop_spool_file(spool, "sales-1.ndjson",
                  sale_event("spool-1") + "\n" + sale_event("spool-2") + "\n");
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!fs::exists(spool / "done" / "sales-1.ndjson") &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(fs::exists(spool / "done" / "sales-1.ndjson")) << agent.log();
  agent.kill9();
  cutfs.cut();
  EXPECT_FALSE(fs::exists(spool / "sales-1.ndjson"))
      << "the power cut undid the move: the agent would read the file again";
  EXPECT_TRUE(fs::exists(spool / "done" / "sales-1.ndjson")) << cutfs.log_text();
}

}  // namespace
}  // namespace pos::test
