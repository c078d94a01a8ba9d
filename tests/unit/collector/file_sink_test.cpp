#include "pos/collector/file_sink.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace pos::collector {
namespace {
namespace fs = std::filesystem;

class FileSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = fs::temp_directory_path() / ("pos-file-sink-" + std::to_string(std::random_device{}()));
  }
  void TearDown() override { fs::remove_all(m_dir); }

  std::vector<std::string> lines(const fs::path& file) {
    std::ifstream in(file);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  fs::path m_dir;
  boost::asio::io_context m_io;
};

TEST_F(FileSinkTest, WritesOneJsonLinePerMessage) {
  FileSink sink(m_io.get_executor(), {m_dir});
  std::vector<Status> results;
  sink.publish(
      Destination::events,
      {{R"({"type":"sale","seq":1})", {{"event_id", "e1"}}, "s1/t1"}, {"not json", {}, ""}},
      [&](Status s) { results.push_back(s); });
  sink.publish(Destination::dead_letter, {{"bad batch", {{"error", "x"}}, "s1/t1"}},
               [&](Status s) { results.push_back(s); });
  EXPECT_TRUE(results.empty()) << "done runs on the executor, not inline";
  m_io.run();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0] && results[1]);
  ASSERT_EQ(sink.files().size(), 1u);
  EXPECT_TRUE(sink.files()[0].filename().string().starts_with("events-"));
  EXPECT_EQ(sink.files()[0].extension(), ".ndjson");
  const auto text = lines(sink.files()[0]);
  ASSERT_EQ(text.size(), 3u);
  const auto first = boost::json::parse(text[0]).as_object();
  EXPECT_EQ(first.at("destination").as_string(), "events");
  EXPECT_EQ(first.at("ordering_key").as_string(), "s1/t1");
  EXPECT_EQ(first.at("attributes").at("event_id").as_string(), "e1");
  EXPECT_EQ(first.at("data").at("seq").as_int64(), 1);
  EXPECT_EQ(boost::json::parse(text[1]).at("data").as_string(), "not json");
  EXPECT_EQ(boost::json::parse(text[2]).at("destination").as_string(), "dead_letter");
}

TEST_F(FileSinkTest, RotatesAtTheSizeLimit) {
  FileSink sink(m_io.get_executor(), {m_dir, 1000});
  int ok = 0;
  for (int i = 0; i < 20; ++i) {
    sink.publish(Destination::events, {{std::string(200, 'x'), {}, "k"}},
                 [&](Status s) { ok += s ? 1 : 0; });
  }
  m_io.run();
  EXPECT_EQ(ok, 20);
  ASSERT_GE(sink.files().size(), 5u);
  std::size_t total = 0;
  for (const auto& file : sink.files()) {
    EXPECT_LE(fs::file_size(file), 1000u) << file;
    total += lines(file).size();
  }
  EXPECT_EQ(total, 20u);
  EXPECT_NE(sink.files()[0], sink.files()[1]);
}

TEST_F(FileSinkTest, StopFailsLaterCalls) {
  FileSink sink(m_io.get_executor(), {m_dir});
  bool stopped = false;
  std::optional<Status> result;
  sink.stop(std::chrono::milliseconds(0), [&] { stopped = true; });
  sink.publish(Destination::events, {{"x", {}, ""}}, [&](Status s) { result = s; });
  m_io.run();
  EXPECT_TRUE(stopped);
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result);
}

}  // namespace
}  // namespace pos::collector
