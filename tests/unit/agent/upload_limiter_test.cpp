#include "pos/agent/upload_limiter.hpp"

#include <gtest/gtest.h>

namespace pos::agent {
namespace {

using namespace std::chrono_literals;
using TimePoint = UploadLimiter::TimePoint;

constexpr int minute(int h, int m) {
  return h * 60 + m;
}

TEST(UploadLimiterSchedule, ParsesWindows) {
  auto w = parse_daily_window("09:00-21:30");
  ASSERT_TRUE(w) << w.error().message;
  EXPECT_EQ(*w, (DailyWindow{minute(9, 0), minute(21, 30)}));
  auto end_of_day = parse_daily_window("18:00-24:00");
  ASSERT_TRUE(end_of_day);
  EXPECT_EQ(end_of_day->end_minute, 1440);
}

TEST(UploadLimiterSchedule, WindowContainsAndWrapsMidnight) {
  const DailyWindow day{minute(9, 0), minute(21, 0)};
  EXPECT_FALSE(day.contains(minute(8, 59)));
  EXPECT_TRUE(day.contains(minute(9, 0)));
  EXPECT_TRUE(day.contains(minute(20, 59)));
  EXPECT_FALSE(day.contains(minute(21, 0)));
  const DailyWindow night{minute(22, 0), minute(6, 0)};
  EXPECT_TRUE(night.contains(minute(23, 0)));
  EXPECT_TRUE(night.contains(minute(0, 0)));
  EXPECT_TRUE(night.contains(minute(5, 59)));
  EXPECT_FALSE(night.contains(minute(6, 0)));
  EXPECT_FALSE(night.contains(minute(12, 0)));
  const DailyWindow all{minute(0, 0), minute(0, 0)};
  EXPECT_TRUE(all.contains(minute(13, 0)));
}

TEST(UploadLimiterSchedule, ErrorsNameTheEntry) {
  for (const char* bad : {"9:00-10:00", "25:00-10:00", "10:60-11:00", "10:00", "10:00-24:01",
                          "24:00-10:00", "aa:bb-cc:dd", ""}) {
    EXPECT_FALSE(parse_daily_window(bad)) << bad;
  }
  std::vector<std::string> entries = {"09:00-12:00", "25:00-10:00"};
  auto schedule = parse_schedule(entries);
  ASSERT_FALSE(schedule);
  EXPECT_EQ(schedule.error().message, R"(schedule[1] "25:00-10:00": hour must be 00-23)");
  entries = {"09:00-12:00", "13:00-02:00"};
  schedule = parse_schedule(entries);
  ASSERT_TRUE(schedule);
  EXPECT_EQ(schedule->size(), 2U);
}

TEST(UploadLimiter, ZeroRateIsUnlimited) {
  UploadLimiter limiter({0, {}, 0});
  EXPECT_FALSE(limiter.enabled());
  const TimePoint t0{};
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(limiter.delay_for(10'000'000, t0, 0), 0ms);
  }
}

TEST(UploadLimiter, TokenBucketPacesToTheRate) {
  // 800 kbit/s = 100'000 bytes/s; capacity 1 s worth.
  UploadLimiter limiter({800, {}, 0});
  EXPECT_EQ(limiter.capacity_bytes(), 100'000U);
  const TimePoint t0{std::chrono::seconds(1000)};
  EXPECT_EQ(limiter.delay_for(60'000, t0, 0), 0ms);
  EXPECT_EQ(limiter.delay_for(40'000, t0, 0), 0ms);
  EXPECT_EQ(limiter.delay_for(50'000, t0, 0), 500ms);
  EXPECT_EQ(limiter.delay_for(50'000, t0 + 499ms, 0), 1ms);
  EXPECT_EQ(limiter.delay_for(50'000, t0 + 500ms, 0), 0ms);
  // Over a long drain the average rate holds.
  TimePoint now = t0 + 500ms;
  std::size_t sent = 0;
  while (now < t0 + 10500ms) {
    const auto delay = limiter.delay_for(10'000, now, 0);
    if (delay == 0ms) {
      sent += 10'000;
    } else {
      now += delay;
    }
  }
  EXPECT_NEAR(static_cast<double>(sent), 1'000'000.0, 20'000.0);
}

// A configuration reload: a cap switched on, changed and switched off again takes effect at the
// next batch, with the balance cut to the new capacity.
TEST(UploadLimiter, ReconfigureChangesTheRateAtOnce) {
  UploadLimiter limiter({0, {}, 1000});
  const TimePoint t0{std::chrono::seconds(100)};
  EXPECT_EQ(limiter.delay_for(50'000, t0, 0), 0ms);
  limiter.reconfigure({8, {}, 1000});  // 1000 bytes/s, capacity 1000
  EXPECT_TRUE(limiter.enabled());
  EXPECT_EQ(limiter.rate_kbit_s(), 8U);
  EXPECT_EQ(limiter.capacity_bytes(), 1000U);
  EXPECT_EQ(limiter.delay_for(1000, t0, 0), 0ms);
  EXPECT_EQ(limiter.delay_for(500, t0, 0), 500ms);
  limiter.reconfigure({80, {}, 1000});  // 10'000 bytes/s, capacity 10'000, balance kept at 0
  EXPECT_EQ(limiter.delay_for(500, t0, 0), 50ms);
  limiter.reconfigure({80, {DailyWindow{minute(1, 0), minute(2, 0)}}, 1000});
  EXPECT_EQ(limiter.delay_for(500, t0, minute(3, 0)), 0ms) << "outside the new window";
  limiter.reconfigure({0, {}, 1000});
  EXPECT_FALSE(limiter.enabled());
  EXPECT_EQ(limiter.delay_for(10'000'000, t0, minute(1, 30)), 0ms);
}

TEST(UploadLimiter, BurstIsAtLeastOneMaxBatch) {
  // 80 kbit/s = 10'000 bytes/s, but a 1 MiB batch must still fit the bucket.
  UploadLimiter limiter({80, {}, 1024 * 1024});
  EXPECT_EQ(limiter.capacity_bytes(), 1024U * 1024U);
  const TimePoint t0{std::chrono::seconds(5)};
  EXPECT_EQ(limiter.delay_for(2'000, t0, 0), 0ms);  // a small live batch goes at once
  EXPECT_EQ(limiter.delay_for(1024 * 1024 - 2'000, t0, 0), 0ms);
  EXPECT_EQ(limiter.delay_for(10'000, t0, 0), 1000ms);
}

TEST(UploadLimiter, LargerThanCapacityWaitsForAFullBucketThenGoesIntoDebt) {
  UploadLimiter limiter({8, {}, 0});  // 1000 bytes/s, capacity 1000
  const TimePoint t0{std::chrono::seconds(5)};
  EXPECT_EQ(limiter.delay_for(3'000, t0, 0), 0ms);
  EXPECT_EQ(limiter.delay_for(100, t0, 0), 2100ms);
}

TEST(UploadLimiter, OnlyActiveInsideScheduleWindows) {
  UploadLimiter limiter({8, {DailyWindow{minute(9, 0), minute(21, 0)}}, 0});
  const TimePoint t0{std::chrono::seconds(5)};
  EXPECT_FALSE(limiter.active_at(minute(8, 0)));
  EXPECT_TRUE(limiter.active_at(minute(10, 0)));
  // Outside opening hours: unlimited, nothing charged.
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(limiter.delay_for(100'000, t0, minute(22, 0)), 0ms);
  }
  EXPECT_EQ(limiter.delay_for(1'000, t0, minute(10, 0)), 0ms);
  EXPECT_EQ(limiter.delay_for(1'000, t0, minute(10, 0)), 1000ms);
  EXPECT_EQ(limiter.delay_for(1'000, t0, minute(21, 0)), 0ms);
}

TEST(UploadLimiter, BucketRefillsWhileIdleUpToCapacity) {
  UploadLimiter limiter({8, {}, 0});
  const TimePoint t0{std::chrono::seconds(5)};
  EXPECT_EQ(limiter.delay_for(1'000, t0, 0), 0ms);
  EXPECT_EQ(limiter.delay_for(1'000, t0 + 1h, 0), 0ms);
  EXPECT_EQ(limiter.delay_for(1'000, t0 + 1h, 0), 1000ms);
}

}  // namespace
}  // namespace pos::agent
