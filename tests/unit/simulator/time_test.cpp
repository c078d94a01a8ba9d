#include "pos/simulator/time.hpp"

#include <gtest/gtest.h>

#include "pos/protocol/event.hpp"

namespace pos::simulator {
namespace {

TEST(Time, FormatsLocalTimeWithMillisecondsAndOffset) {
  const auto t = parse_rfc3339("2026-11-22T03:15:03.120Z", "t");
  ASSERT_TRUE(t);
  EXPECT_EQ(format_local_time(*t), "2026-11-22T10:15:03.120+07:00");
  EXPECT_TRUE(protocol::is_rfc3339(format_local_time(*t)));
  EXPECT_EQ(format_local_time(*parse_rfc3339("2026-12-31T23:59:59.999+07:00", "t")),
            "2026-12-31T23:59:59.999+07:00");
  EXPECT_EQ(format_local_time(*parse_rfc3339("2024-02-29T17:00:00Z", "t")),
            "2024-03-01T00:00:00.000+07:00");
}

TEST(Time, LocalDayArithmetic) {
  const UnixMs t = *parse_rfc3339("2026-11-22T01:30:00+07:00", "t");
  EXPECT_EQ(local_ms_of_day(t), 90 * 60'000);
  EXPECT_EQ(format_local_time(local_midnight(t)), "2026-11-22T00:00:00.000+07:00");
  EXPECT_EQ(*parse_local_day("2026-11-22", "d"), local_midnight(t));
}

TEST(Time, RejectsWhatIsNotRfc3339NamingTheOption) {
  const auto bad = parse_rfc3339("2026-11-22 10:00", "--start");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().message.starts_with("--start: must be an RFC 3339"))
      << bad.error().message;
  EXPECT_FALSE(parse_rfc3339("2026-13-01T00:00:00Z", "--start"));
  const auto day = parse_local_day("22-11-2026", "--replay-day");
  ASSERT_FALSE(day);
  EXPECT_EQ(day.error().message, "--replay-day: must be a date YYYY-MM-DD, got '22-11-2026'");
  EXPECT_FALSE(parse_local_day("2026-02-30", "--replay-day"));
}

}  // namespace
}  // namespace pos::simulator
