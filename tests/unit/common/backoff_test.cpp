#include "pos/common/backoff.hpp"

#include <gtest/gtest.h>

namespace pos::common {
namespace {

using std::chrono::milliseconds;

TEST(ExponentialBackoff, DelaysStayWithinTheGrowingCeilingAndTheCap) {
  ExponentialBackoff backoff(milliseconds(100), milliseconds(5000), 42);
  const std::int64_t ceilings[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000};
  for (auto ceiling : ceilings) {
    const auto delay = backoff.next_delay();
    EXPECT_GE(delay.count(), 0);
    EXPECT_LE(delay.count(), ceiling);
  }
}

TEST(ExponentialBackoff, JitterSpreadsDelays) {
  ExponentialBackoff backoff(milliseconds(1000), milliseconds(1000), 7);
  std::int64_t low = 1000;
  std::int64_t high = 0;
  for (int i = 0; i < 200; ++i) {
    const auto delay = backoff.next_delay().count();
    low = std::min(low, delay);
    high = std::max(high, delay);
  }
  EXPECT_LT(low, 200);
  EXPECT_GT(high, 800);
}

TEST(ExponentialBackoff, ResetStartsOverAndManyAttemptsDoNotOverflow) {
  ExponentialBackoff backoff(milliseconds(10), milliseconds(60000), 1);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_LE(backoff.next_delay().count(), 60000);
  }
  backoff.reset();
  EXPECT_LE(backoff.next_delay().count(), 10);
}

}  // namespace
}  // namespace pos::common
