// The rules of a configuration reload over a small configuration: what is live, what needs a
// restart, a key missing from the table, and that nothing is half applied.

#include "pos/common/config_reload.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "pos/common/prometheus_text.hpp"

namespace pos::common {
namespace {

struct SmallConfig {
  int level = 1;          // live
  int threshold = 5;      // live, same apply as level
  std::string uri = "a";  // restart
  int unlisted = 0;       // not in the table
  bool operator==(const SmallConfig&) const = default;
};

struct Recorder {
  std::vector<std::string> calls;
};

void apply_both(Recorder& r, const SmallConfig& c) {
  r.calls.push_back(std::to_string(c.level) + "/" + std::to_string(c.threshold));
}

const std::array small_keys{
    POS_RELOAD_KEY(SmallConfig, Recorder, "level", level, apply_both),
    POS_RELOAD_KEY(SmallConfig, Recorder, "threshold", threshold, apply_both),
    POS_RELOAD_KEY(SmallConfig, Recorder, "uri", uri, nullptr),
};

ReloadResult reload(const SmallConfig& next, SmallConfig& running, Recorder& r,
                    std::string& message) {
  return reload_config<SmallConfig, Recorder>([&] { return next; }, small_keys, running, r,
                                              message);
}

TEST(ConfigReloadTest, LiveKeysAreAppliedOnceAfterAllWereAdopted) {
  SmallConfig running;
  SmallConfig next{2, 7, "a", 0};
  Recorder r;
  std::string message;
  EXPECT_EQ(reload(next, running, r, message), ReloadResult::applied);
  EXPECT_EQ(running, next);
  EXPECT_EQ(r.calls, std::vector<std::string>{"2/7"});
  EXPECT_EQ(message, "changed: level, threshold");
}

TEST(ConfigReloadTest, ARestartKeyRefusesTheWholeReload) {
  SmallConfig running;
  const SmallConfig next{2, 7, "b", 0};
  Recorder r;
  std::string message;
  EXPECT_EQ(reload(next, running, r, message), ReloadResult::refused);
  EXPECT_EQ(running, SmallConfig{}) << "nothing half applied";
  EXPECT_TRUE(r.calls.empty());
  EXPECT_EQ(message, "cannot change without a restart: uri");
}

TEST(ConfigReloadTest, AKeyMissingFromTheTableIsRefused) {
  SmallConfig running;
  const SmallConfig next{2, 5, "a", 1};
  const auto diff = diff_config<SmallConfig, Recorder>(small_keys, running, next);
  EXPECT_TRUE(diff.unlisted);
  EXPECT_FALSE(diff.applicable());
  Recorder r;
  std::string message;
  EXPECT_EQ(reload(next, running, r, message), ReloadResult::refused);
  EXPECT_EQ(running, SmallConfig{});
}

TEST(ConfigReloadTest, AnInvalidFileKeepsTheRunningConfiguration) {
  SmallConfig running;
  Recorder r;
  std::string message;
  const auto result = reload_config<SmallConfig, Recorder>(
      []() -> SmallConfig { throw std::runtime_error("config.toml: level: must be 1-9"); },
      small_keys, running, r, message);
  EXPECT_EQ(result, ReloadResult::invalid);
  EXPECT_EQ(message, "config.toml: level: must be 1-9");
  EXPECT_EQ(running, SmallConfig{});
}

TEST(ConfigReloadTest, NothingChangedIsApplied) {
  SmallConfig running;
  Recorder r;
  std::string message;
  EXPECT_EQ(reload(running, running, r, message), ReloadResult::applied);
  EXPECT_TRUE(r.calls.empty());
  EXPECT_EQ(message, "nothing changed");
}

TEST(ConfigReloadTest, MetricsCountEveryResult) {
  ReloadStats stats;
  std::ostringstream before;
  PrometheusWriter w1(before, "posagent_");
  append_reload_metrics(w1, stats);
  EXPECT_NE(before.str().find("posagent_config_reloads_total{result=\"refused\"} 0"),
            std::string::npos)
      << before.str();
  EXPECT_EQ(before.str().find("last_reload"), std::string::npos);
  stats.record(ReloadResult::refused, 1'700'000'000'000, "x");
  stats.record(ReloadResult::applied, 1'700'000'001'000, "y");
  std::ostringstream after;
  PrometheusWriter w2(after, "posagent_");
  append_reload_metrics(w2, stats);
  EXPECT_NE(after.str().find("posagent_config_reloads_total{result=\"applied\"} 1"),
            std::string::npos)
      << after.str();
  EXPECT_NE(after.str().find("posagent_config_reloads_total{result=\"refused\"} 1"),
            std::string::npos);
  EXPECT_NE(after.str().find("posagent_config_last_reload_timestamp_seconds 1700000001"),
            std::string::npos)
      << after.str();
  EXPECT_EQ(stats.last, ReloadResult::applied);
  EXPECT_EQ(stats.last_message, "y");
}

}  // namespace
}  // namespace pos::common
