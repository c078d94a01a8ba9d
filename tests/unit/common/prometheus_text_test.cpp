#include "pos/common/prometheus_text.hpp"

#include <gtest/gtest.h>

#include <array>
#include <sstream>

namespace pos::common {
namespace {

TEST(PrometheusWriterTest, CounterAndGaugeFamilies) {
  std::ostringstream out;
  PrometheusWriter metrics(out, "pos_");
  metrics.counter("events_total", "Events seen.", 42);
  metrics.gauge("ratio", "A ratio.", 0.5);
  EXPECT_EQ(out.str(),
            "# HELP pos_events_total Events seen.\n# TYPE pos_events_total counter\n"
            "pos_events_total 42\n"
            "# HELP pos_ratio A ratio.\n# TYPE pos_ratio gauge\npos_ratio 0.5\n");
}

TEST(PrometheusWriterTest, LabelValuesAreEscaped) {
  std::ostringstream out;
  PrometheusWriter metrics(out, "pos_");
  metrics.sample("till_alert", {{"store_id", "S\"1\\"}, {"rule", "a\nb"}}, 1);
  EXPECT_EQ(out.str(), "pos_till_alert{store_id=\"S\\\"1\\\\\",rule=\"a\\nb\"} 1\n");
}

TEST(PrometheusWriterTest, HistogramBucketsAreCumulativeWithInfAndCount) {
  std::ostringstream out;
  PrometheusWriter metrics(out, "pos_");
  const std::array<double, 2> bounds = {0.1, 1};
  const std::array<std::uint64_t, 3> counts = {2, 3, 4};
  metrics.histogram("latency_seconds", "Latency.", std::span<const double>(bounds),
                    std::span<const std::uint64_t>(counts), 7.5);
  EXPECT_EQ(out.str(),
            "# HELP pos_latency_seconds Latency.\n# TYPE pos_latency_seconds histogram\n"
            "pos_latency_seconds_bucket{le=\"0.1\"} 2\n"
            "pos_latency_seconds_bucket{le=\"1\"} 5\n"
            "pos_latency_seconds_bucket{le=\"+Inf\"} 9\n"
            "pos_latency_seconds_sum 7.5\n"
            "pos_latency_seconds_count 9\n");
}

}  // namespace
}  // namespace pos::common
