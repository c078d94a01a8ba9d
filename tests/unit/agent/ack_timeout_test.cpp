#include "pos/agent/ack_timeout.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace pos::agent::test {
namespace {

using namespace std::chrono_literals;

TEST(AckTimeoutTest, StartsAtTheFloorAndFastAcksKeepIt) {
  AckTimeout timeout(10s, 120s);
  EXPECT_EQ(timeout.current(), 10s);
  for (int i = 0; i < 50; ++i) {
    timeout.on_sample(40ms);
  }
  EXPECT_EQ(timeout.current(), 10s);
}

TEST(AckTimeoutTest, SteadySlowAcksRaiseItAboveTheirPaceWithHeadroom) {
  AckTimeout timeout(10s, 120s);
  timeout.on_sample(16s);
  // First sample: srtt 16 s, rttvar 8 s: 16 + 32.
  EXPECT_EQ(timeout.current(), 48s);
  for (int i = 0; i < 100; ++i) {
    timeout.on_sample(16s);
  }
  // rttvar decays to ~0; the quarter headroom stays: 16 + 4.
  EXPECT_EQ(timeout.current(), 20s);
}

TEST(AckTimeoutTest, FallsBackToTheFloorWhenAcksSpeedUpAgain) {
  AckTimeout timeout(10s, 120s);
  for (int i = 0; i < 20; ++i) {
    timeout.on_sample(30s);
  }
  EXPECT_GT(timeout.current(), 30s);
  for (int i = 0; i < 100; ++i) {
    timeout.on_sample(100ms);
  }
  EXPECT_EQ(timeout.current(), 10s);
}

TEST(AckTimeoutTest, EachExpiryDoublesUpToTheCeilingAndASampleResets) {
  AckTimeout timeout(10s, 70s);
  timeout.on_timeout();
  EXPECT_EQ(timeout.current(), 20s);
  timeout.on_timeout();
  EXPECT_EQ(timeout.current(), 40s);
  timeout.on_timeout();
  EXPECT_EQ(timeout.current(), 70s);
  timeout.on_timeout();
  EXPECT_EQ(timeout.current(), 70s);
  timeout.on_sample(1s);
  EXPECT_EQ(timeout.current(), 10s);
}

TEST(AckTimeoutTest, SamplesAboveTheCeilingAreCapped) {
  AckTimeout timeout(10s, 60s);
  timeout.on_sample(10min);
  EXPECT_EQ(timeout.current(), 60s);
  timeout.on_sample(-5s);  // a clock oddity counts as 0
  EXPECT_LE(timeout.current(), 60s);
  EXPECT_GE(timeout.current(), 10s);
}

TEST(AckTimeoutTest, RejectsAZeroFloorOrACeilingBelowIt) {
  EXPECT_THROW(AckTimeout(0s, 10s), std::invalid_argument);
  EXPECT_THROW(AckTimeout(10s, 9s), std::invalid_argument);
  EXPECT_NO_THROW(AckTimeout(10s, 10s));
}

TEST(AckTimeoutTest, ResetGoesBackToTheFloorAndForgetsThePace) {
  AckTimeout timeout(10s, 120s);
  for (int i = 0; i < 20; ++i) {
    timeout.on_sample(30s);
  }
  timeout.on_timeout();
  ASSERT_GT(timeout.current(), 30s);
  timeout.reset();
  EXPECT_EQ(timeout.current(), 10s);
  timeout.on_sample(16s);  // a first sample again: srtt 16 s, rttvar 8 s
  EXPECT_EQ(timeout.current(), 48s);
}

}  // namespace
}  // namespace pos::agent::test
