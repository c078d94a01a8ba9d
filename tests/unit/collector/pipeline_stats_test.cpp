#include "pos/collector/pipeline_stats.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <random>
#include <sstream>

#include "pos/collector/fleet.hpp"

namespace pos::collector {
namespace {

namespace json = boost::json;

constexpr std::int64_t t0 = 1'795'000'000'000;

TEST(EndToEndLatencyTest, QuantilesAreExactNearestRank) {
  EndToEndLatency latency;
  std::vector<std::int64_t> values(200);
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] = static_cast<std::int64_t>(i + 1) * 5;  // 5 .. 1000 ms
  }
  std::shuffle(values.begin(), values.end(), std::mt19937(7));
  for (const auto v : values) {
    latency.record(t0, v);
  }
  const auto s = latency.summary(t0);
  EXPECT_EQ(s.samples, 200U);
  EXPECT_EQ(s.p50_ms, 500.0);  // rank 100 of 200
  EXPECT_EQ(s.p99_ms, 990.0);  // rank 198 of 200

  EndToEndLatency single;
  single.record(t0, 42);
  EXPECT_EQ(single.summary(t0).p50_ms, 42.0);
  EXPECT_EQ(single.summary(t0).p99_ms, 42.0);

  EndToEndLatency empty;
  const auto none = empty.summary(t0);
  EXPECT_EQ(none.samples, 0U);
  EXPECT_FALSE(none.p50_ms);
  EXPECT_FALSE(none.p99_ms);
}

TEST(EndToEndLatencyTest, WindowSlidesWithTheClock) {
  EndToEndLatency latency(LatencyWindowOptions{std::chrono::seconds(60), 1000});
  latency.record(t0, 5000);
  latency.record(t0 + 30'000, 100);
  EXPECT_EQ(latency.summary(t0 + 59'999).samples, 2U);
  const auto later = latency.summary(t0 + 60'000);  // the first sample is 60 s old: out
  EXPECT_EQ(later.samples, 1U);
  EXPECT_EQ(later.p99_ms, 100.0);
  EXPECT_EQ(latency.summary(t0 + 90'000).samples, 0U);
  EXPECT_EQ(latency.count(), 2U) << "the histogram keeps everything";
}

TEST(EndToEndLatencyTest, ReservoirIsBoundedKeepingTheNewest) {
  EndToEndLatency latency(LatencyWindowOptions{std::chrono::seconds(60), 10});
  for (std::int64_t i = 1; i <= 25; ++i) {
    latency.record(t0 + i, i);
  }
  const auto s = latency.summary(t0 + 25);
  EXPECT_EQ(s.samples, 10U);
  EXPECT_EQ(s.p50_ms, 20.0);  // samples 16..25
  EXPECT_EQ(s.p99_ms, 25.0);
}

TEST(EndToEndLatencyTest, NegativeLatencyIsZeroAndCounted) {
  EndToEndLatency latency;
  latency.record(t0, -300);
  latency.record(t0, 20);
  EXPECT_EQ(latency.clock_skewed(), 1U);
  EXPECT_EQ(latency.summary(t0).p50_ms, 0.0);
}

TEST(EndToEndLatencyTest, HistogramIsCumulativeWithSumAndCount) {
  EndToEndLatency latency;
  latency.record(t0, 10);          // <= 0.01
  latency.record(t0, 300);         // <= 0.5
  latency.record(t0, 7'200'000);   // 2 h: <= 14400
  latency.record(t0, 90'000'000);  // a day: +Inf only
  std::ostringstream out;
  latency.append_metrics(out);
  const std::string text = out.str();
  EXPECT_NE(text.find("# TYPE poscollector_end_to_end_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("poscollector_end_to_end_seconds_bucket{le=\"0.01\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("poscollector_end_to_end_seconds_bucket{le=\"0.25\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("poscollector_end_to_end_seconds_bucket{le=\"0.5\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("poscollector_end_to_end_seconds_bucket{le=\"14400\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("poscollector_end_to_end_seconds_bucket{le=\"+Inf\"} 4\n"),
            std::string::npos);
  EXPECT_NE(text.find("poscollector_end_to_end_seconds_count 4\n"), std::string::npos);
  const std::string sum_prefix = "poscollector_end_to_end_seconds_sum ";
  const auto at = text.find(sum_prefix);
  ASSERT_NE(at, std::string::npos) << text;
  EXPECT_NEAR(std::stod(text.substr(at + sum_prefix.size())), 97'200.31, 1e-6);
}

TEST(PipelineStatsTest, StatsDocumentHasEveryFieldAndComputesRatios) {
  BatchStats s;
  s.events_published = 900;
  s.events_duplicate = 12;
  s.events_dead_lettered = 3;
  s.batches_received = 40;
  s.batches_acked = 36;
  s.bytes_encoded = 50'000;
  s.bytes_raw = 412'345;
  s.batch_events = 915;
  s.events_per_batch_counts[2] = 30;  // 11..50 events
  PipelineStatsInput in;
  in.now_ms = t0;
  in.uptime_s = 125;
  in.latency = LatencySummary{80, 35.0, 410.0};
  in.latency_window = std::chrono::seconds(60);
  in.backlog_events_total = 1234;
  in.tills_online = 40;
  in.tills_offline = 1;
  in.tills_stale = 2;
  const auto doc = json::parse(pipeline_stats_json(s, in)).as_object();
  for (const char* key :
       {"events_published", "events_duplicate", "events_dead_lettered", "batches_received",
        "batches_acked", "bytes_encoded", "bytes_raw", "compression_ratio", "latency_p50_ms",
        "latency_p99_ms", "latency_samples", "backlog_events_total", "tills_online",
        "tills_offline", "tills_stale", "uptime_s"}) {
    EXPECT_TRUE(doc.contains(key)) << key;
  }
  EXPECT_EQ(doc.at("events_published").as_int64(), 900);
  EXPECT_EQ(doc.at("bytes_raw").as_int64(), 412'345);
  EXPECT_DOUBLE_EQ(doc.at("compression_ratio").as_double(), 8.25);
  EXPECT_DOUBLE_EQ(doc.at("events_per_batch_avg").as_double(), 30.5);
  EXPECT_EQ(doc.at("batches_accepted").as_int64(), 30);
  EXPECT_DOUBLE_EQ(doc.at("latency_p50_ms").as_double(), 35.0);
  EXPECT_DOUBLE_EQ(doc.at("latency_p99_ms").as_double(), 410.0);
  EXPECT_EQ(doc.at("latency_samples").as_int64(), 80);
  EXPECT_DOUBLE_EQ(doc.at("latency_window_s").as_double(), 60.0);
  EXPECT_EQ(doc.at("backlog_events_total").as_int64(), 1234);
  EXPECT_EQ(doc.at("tills_stale").as_int64(), 2);
  EXPECT_EQ(doc.at("uptime_s").as_int64(), 125);

  const auto empty = json::parse(pipeline_stats_json(BatchStats{}, PipelineStatsInput{}));
  EXPECT_TRUE(empty.at("compression_ratio").is_null());
  EXPECT_TRUE(empty.at("latency_p50_ms").is_null());
  EXPECT_TRUE(empty.at("latency_p99_ms").is_null());
  EXPECT_TRUE(empty.at("events_per_batch_avg").is_null());
}

TEST(PipelineStatsTest, BatchSizeMetrics) {
  BatchStats s;
  s.bytes_encoded = 100;
  s.bytes_raw = 700;
  s.batch_events = 1 + 60 + 6000;
  s.events_per_batch_counts[0] = 1;  // 1
  s.events_per_batch_counts[3] = 1;  // 51..100
  s.events_per_batch_counts[8] = 1;  // > 5000
  std::ostringstream out;
  append_batch_size_metrics(out, s);
  const std::string text = out.str();
  for (const char* line :
       {"poscollector_batch_bytes_total{kind=\"encoded\"} 100\n",
        "poscollector_batch_bytes_total{kind=\"raw\"} 700\n",
        "poscollector_batch_events_bucket{le=\"1\"} 1\n",
        "poscollector_batch_events_bucket{le=\"50\"} 1\n",
        "poscollector_batch_events_bucket{le=\"100\"} 2\n",
        "poscollector_batch_events_bucket{le=\"5000\"} 2\n",
        "poscollector_batch_events_bucket{le=\"+Inf\"} 3\n", "poscollector_batch_events_sum 6061\n",
        "poscollector_batch_events_count 3\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << text;
  }
}

}  // namespace
}  // namespace pos::collector
