// Spool directory ingest with a FakeOutbox: settling, all-or-nothing files, retries.

#include "pos/agent/spool.hpp"

#include <gtest/gtest.h>

#include "test_events.hpp"

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "fake_outbox.hpp"
#include "support/wait.hpp"

namespace pos::agent {
namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
using namespace std::chrono_literals;

using pos::test::wait_until;
using test::sale;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir =
        fs::temp_directory_path() / ("pos-spool-test-" + std::to_string(std::random_device{}()));
    fs::remove_all(m_dir);
    m_options.directory = m_dir;
    m_options.poll_interval = 20ms;
    m_options.settle = 100ms;
  }

  void start() {
    m_spool = std::make_unique<SpoolWatcher>(m_io.get_executor(), m_outbox, "S01", "T1", m_options);
    auto started = m_spool->start();
    ASSERT_TRUE(started) << started.error().message;
    m_thread = std::thread([this] { m_io.run(); });
  }

  void TearDown() override {
    m_work.reset();
    m_io.stop();
    if (m_thread.joinable()) {
      m_thread.join();
    }
    m_spool.reset();
    std::error_code ec;
    fs::remove_all(m_dir, ec);
  }

  fs::path m_dir;
  SpoolOptions m_options;
  net::io_context m_io;
  net::executor_work_guard<net::io_context::executor_type> m_work{m_io.get_executor()};
  test::FakeOutbox m_outbox{m_io.get_executor()};
  std::unique_ptr<SpoolWatcher> m_spool;
  std::thread m_thread;
};

TEST_F(SpoolTest, GoodFileIsStoredInOneAppendAndMovedToDone) {
  start();
  write_file(m_dir / "a.ndjson", sale("A") + "\r\n" + sale("B") + "\n\n" + sale("C") + "\n");
  ASSERT_TRUE(wait_until([&] { return m_spool->stats().files_done == 1; }, 3s, "a.ndjson stored"));
  EXPECT_TRUE(fs::exists(m_dir / "done" / "a.ndjson"));
  EXPECT_FALSE(fs::exists(m_dir / "a.ndjson"));
  EXPECT_EQ(m_outbox.stats().last_seq, 3u);
  const auto stats = m_spool->stats();
  EXPECT_EQ(stats.files_done, 1u);
  EXPECT_EQ(stats.events_accepted, 3u);
}

TEST_F(SpoolTest, BadLineFailsTheWholeFile) {
  start();
  write_file(m_dir / "b.ndjson", sale("A") + "\n" + sale("B", 0) + "\n" + sale("C") + "\n{x\n");
  ASSERT_TRUE(wait_until([&] { return fs::exists(m_dir / "failed" / "b.ndjson"); }, 3s,
                         "b.ndjson in failed/"));
  const auto errors = read_file(m_dir / "failed" / "b.ndjson.errors");
  EXPECT_TRUE(errors.starts_with("line 2: lines[0].qty: must be an integer >= 1\nline 4: "))
      << errors;
  EXPECT_EQ(m_outbox.stats().last_seq, 0u);
  EXPECT_EQ(m_spool->stats().files_failed, 1u);
}

TEST_F(SpoolTest, GrowingFileIsNotReadUntilItSettles) {
  m_options.settle = 200ms;
  start();
  const auto path = m_dir / "grow.ndjson";
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 15; ++i) {
      out << sale("G" + std::to_string(i)) << "\n" << std::flush;
      std::this_thread::sleep_for(40ms);
    }
    writing = false;
  });
  while (writing) {
    const auto scans = m_spool->stats().scans;
    EXPECT_TRUE(wait_until([&] { return m_spool->stats().scans > scans; }, 3s,
                           "a scan of the growing file"));
    EXPECT_EQ(m_outbox.stats().last_seq, 0u);
    EXPECT_FALSE(fs::exists(m_dir / "done" / "grow.ndjson"));
  }
  writer.join();
  ASSERT_TRUE(wait_until([&] { return fs::exists(m_dir / "done" / "grow.ndjson"); }, 3s,
                         "grow.ndjson in done/"));
  EXPECT_EQ(m_outbox.stats().last_seq, 15u);
}

TEST_F(SpoolTest, FullOutboxLeavesTheFileAndRetries) {
  m_outbox.fail_next_append = AppendError{AppendError::Kind::full, "buffer full"};
  start();
  write_file(m_dir / "f.ndjson", sale("A") + "\n" + sale("B") + "\n");
  ASSERT_TRUE(
      wait_until([&] { return fs::exists(m_dir / "done" / "f.ndjson"); }, 3s, "f.ndjson in done/"));
  EXPECT_EQ(m_spool->stats().append_retries, 1u);
  EXPECT_EQ(m_outbox.stats().last_seq, 2u);
}

TEST_F(SpoolTest, FullOutboxKeepsTheFileInPlace) {
  m_outbox.max_backlog_events = 0;
  start();
  write_file(m_dir / "k.ndjson", sale("A") + "\n");
  ASSERT_TRUE(
      wait_until([&] { return m_spool->stats().append_retries >= 2; }, 3s, "two append retries"));
  EXPECT_TRUE(fs::exists(m_dir / "k.ndjson"));
  EXPECT_FALSE(fs::exists(m_dir / "failed" / "k.ndjson"));
}

TEST_F(SpoolTest, RedroppedFileCountsAsDuplicates) {
  start();
  const std::string text = sale("A") + "\n" + sale("B") + "\n";
  write_file(m_dir / "r.ndjson", text);
  ASSERT_TRUE(wait_until([&] { return m_spool->stats().files_done == 1; }, 3s, "r.ndjson stored"));
  write_file(m_dir / "r.ndjson", text);
  ASSERT_TRUE(
      wait_until([&] { return m_spool->stats().files_done == 2; }, 3s, "r.ndjson stored again"));
  EXPECT_EQ(m_spool->stats().events_duplicate, 2u);
  EXPECT_EQ(m_outbox.stats().last_seq, 2u);
}

TEST_F(SpoolTest, IgnoresHiddenAndOtherNamesUntilRenamed) {
  start();
  write_file(m_dir / ".h.ndjson", sale("A") + "\n");
  write_file(m_dir / "x.ndjson.tmp", sale("B") + "\n");
  // A file written after them is stored: by then they have settled too. Two more counted scans
  // see them settled, and must leave them.
  write_file(m_dir / "c.ndjson", sale("C") + "\n");
  ASSERT_TRUE(wait_until([&] { return m_spool->stats().files_done == 1; }, 3s, "c.ndjson stored"));
  const auto scans = m_spool->stats().scans;
  ASSERT_TRUE(
      wait_until([&] { return m_spool->stats().scans >= scans + 2; }, 3s, "two more scans"));
  EXPECT_EQ(m_outbox.stats().last_seq, 1u);
  EXPECT_EQ(m_spool->stats().files_done, 1u);
  fs::rename(m_dir / "x.ndjson.tmp", m_dir / "x.ndjson");
  ASSERT_TRUE(
      wait_until([&] { return fs::exists(m_dir / "done" / "x.ndjson"); }, 3s, "x.ndjson in done/"));
  EXPECT_EQ(m_outbox.stats().last_seq, 2u);
  EXPECT_TRUE(fs::exists(m_dir / ".h.ndjson"));
}

TEST_F(SpoolTest, OversizeFileIsFailed) {
  m_options.max_file_bytes = 100;
  start();
  write_file(m_dir / "big.ndjson", sale("A") + "\n");
  ASSERT_TRUE(wait_until([&] { return fs::exists(m_dir / "failed" / "big.ndjson"); }, 3s,
                         "big.ndjson in failed/"));
  EXPECT_NE(read_file(m_dir / "failed" / "big.ndjson.errors").find("larger than the limit"),
            std::string::npos);
  EXPECT_EQ(m_outbox.stats().last_seq, 0u);
}

// done/ is pruned after the retention, counted from when a file was stored: a pass deletes the
// file stored long ago and keeps the one stored now. Waits for counted passes, not for time.
TEST_F(SpoolTest, DoneIsPrunedAfterTheRetention) {
  m_options.done_retention = 1h;
  m_options.done_prune_interval = 20ms;
  start();
  write_file(m_dir / "old.ndjson", sale("A") + "\n");
  // files_done counts a file once it is in done/ and stamped: now, whatever the POS's own mtime.
  ASSERT_TRUE(
      wait_until([&] { return m_spool->stats().files_done >= 1; }, 3s, "old.ndjson stored"));
  ASSERT_TRUE(fs::exists(m_dir / "done" / "old.ndjson"));
  const auto stamped = fs::last_write_time(m_dir / "done" / "old.ndjson");
  EXPECT_GT(stamped, fs::file_time_type::clock::now() - 1min);
  fs::last_write_time(m_dir / "done" / "old.ndjson", stamped - 2h);
  write_file(m_dir / "new.ndjson", sale("B") + "\n");
  ASSERT_TRUE(wait_until([&] { return fs::exists(m_dir / "done" / "new.ndjson"); }, 3s,
                         "new.ndjson in done/"));
  const auto passes = m_spool->stats().done_prune_passes;
  ASSERT_TRUE(wait_until([&] { return m_spool->stats().done_prune_passes >= passes + 2; }, 3s,
                         "two more pruning passes"));
  EXPECT_FALSE(fs::exists(m_dir / "done" / "old.ndjson"));
  EXPECT_TRUE(fs::exists(m_dir / "done" / "new.ndjson"));
  EXPECT_EQ(m_spool->stats().done_files_pruned, 1u);
}

// Symbolic links are never followed: a linked input is moved (as a link) to failed/ with a
// report, a link planted as a report name is replaced, and their targets stay untouched.
TEST_F(SpoolTest, SymbolicLinksAreRefusedAndNeverFollowed) {
  const fs::path outside = m_dir.string() + "-outside";
  fs::create_directories(outside);
  write_file(outside / "events.ndjson", sale("L") + "\n");
  write_file(outside / "precious", "keep me");
  fs::create_directories(m_dir / "failed");
  fs::create_symlink(outside / "precious", m_dir / "failed" / "bad.ndjson.errors");
  start();
  fs::create_symlink(outside / "events.ndjson", m_dir / "link.ndjson");
  write_file(m_dir / "bad.ndjson", "{x\n");
  ASSERT_TRUE(wait_until([&] { return fs::is_symlink(m_dir / "failed" / "link.ndjson"); }, 3s,
                         "link.ndjson in failed/"));
  ASSERT_TRUE(wait_until([&] { return fs::exists(m_dir / "failed" / "bad.ndjson"); }, 3s,
                         "bad.ndjson in failed/"));
  EXPECT_NE(read_file(m_dir / "failed" / "link.ndjson.errors").find("is a symbolic link"),
            std::string::npos);
  EXPECT_FALSE(fs::is_symlink(m_dir / "failed" / "bad.ndjson.errors"));
  EXPECT_TRUE(read_file(m_dir / "failed" / "bad.ndjson.errors").starts_with("line 1: "));
  EXPECT_EQ(read_file(outside / "precious"), "keep me");
  EXPECT_EQ(read_file(outside / "events.ndjson"), sale("L") + "\n");
  EXPECT_EQ(m_outbox.stats().last_seq, 0u);
  EXPECT_EQ(m_spool->stats().files_refused, 1u);
  fs::remove_all(outside);
}

// done/ or failed/ replaced by a link is refused at start, naming it.
TEST_F(SpoolTest, LinkedSubdirectoryIsRefusedAtStart) {
  const fs::path outside = m_dir.string() + "-elsewhere";
  fs::create_directories(outside);
  fs::create_directories(m_dir);
  fs::create_directory_symlink(outside, m_dir / "failed");
  SpoolWatcher spool(m_io.get_executor(), m_outbox, "S01", "T1", m_options);
  auto started = spool.start();
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("failed: must be a directory"), std::string::npos)
      << started.error().message;
  fs::remove_all(outside);
}

}  // namespace
}  // namespace pos::agent
