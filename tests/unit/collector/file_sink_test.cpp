#include "pos/collector/file_sink.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <optional>
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

TEST_F(FileSinkTest, EmbedsJsonDataVerbatimAndKeepsTheOtherEncodings) {
  FileSink sink(m_io.get_executor(), {m_dir});
  int ok = 0;
  sink.publish(Destination::events,
               {// one JSON text on one line: verbatim, whitespace and number spelling kept
                {R"({"b":1.50, "a":[1,2]})", {{"k", "v1"}, {"j", "x"}, {"k", "v2"}}, "s/t"},
                // JSON with a newline between tokens: re-serialized so the line stays one line
                {"{\"a\":\n1}", {}, ""},
                // not JSON (trailing comma) and a control character: embedded as a string
                {"[1,]", {}, ""},
                {"tab\there \"quoted\" \x01", {}, ""}},
               [&](Status s) { ok += s ? 1 : 0; });
  m_io.run();
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(sink.pending_bytes(), 0u);
  const auto text = lines(sink.files().at(0));
  ASSERT_EQ(text.size(), 4u);
  EXPECT_EQ(text[0],
            R"({"destination":"events","ordering_key":"s/t","attributes":{"k":"v2","j":"x"},)"
            R"("data":{"b":1.50, "a":[1,2]}})");
  EXPECT_EQ(text[1],
            R"({"destination":"events","ordering_key":"","attributes":{},"data":{"a":1}})");
  EXPECT_EQ(boost::json::parse(text[2]).at("data").as_string(), "[1,]");
  EXPECT_EQ(boost::json::parse(text[3]).at("data").as_string(), "tab\there \"quoted\" \x01");
}

TEST_F(FileSinkTest, ManyCallsShareSyncsAndCompleteInOrder) {
  FileSink sink(m_io.get_executor(), {m_dir});
  std::vector<int> completed;
  constexpr int calls = 200;
  for (int i = 0; i < calls; ++i) {
    sink.publish(Destination::events,
                 {{"{\"n\":" + std::to_string(i) + "}", {{"event_id", std::to_string(i)}}, "k"}},
                 [&completed, i](Status s) {
                   ASSERT_TRUE(s) << s.error().message;
                   completed.push_back(i);
                 });
  }
  EXPECT_GT(sink.pending_bytes(), 0u);
  m_io.run();
  ASSERT_EQ(completed.size(), static_cast<std::size_t>(calls));
  EXPECT_TRUE(std::is_sorted(completed.begin(), completed.end()));
  EXPECT_EQ(sink.pending_bytes(), 0u);
  const auto text = lines(sink.files().at(0));
  ASSERT_EQ(text.size(), static_cast<std::size_t>(calls));
  for (int i = 0; i < calls; ++i) {
    EXPECT_EQ(boost::json::parse(text[static_cast<std::size_t>(i)]).at("data").at("n").as_int64(),
              i);
  }
}

TEST_F(FileSinkTest, StopWritesWhatIsQueuedThenReportsStopped) {
  FileSink sink(m_io.get_executor(), {m_dir});
  int ok = 0;
  bool stopped = false;
  for (int i = 0; i < 10; ++i) {
    sink.publish(Destination::events, {{"{}", {}, "k"}}, [&](Status s) { ok += s ? 1 : 0; });
  }
  sink.stop(std::chrono::milliseconds(1000), [&] {
    EXPECT_EQ(ok, 10) << "queued calls complete before stopped";
    stopped = true;
  });
  m_io.run();
  EXPECT_TRUE(stopped);
  EXPECT_EQ(ok, 10);
  EXPECT_EQ(lines(sink.files().at(0)).size(), 10u);
}

}  // namespace
}  // namespace pos::collector
