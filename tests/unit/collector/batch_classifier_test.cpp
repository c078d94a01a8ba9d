#include "pos/collector/batch_classifier.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace pos::collector {
namespace {

struct Case {
  const char* name;
  std::uint64_t first_seq;
  std::uint64_t count;
  StreamPositions at;
  bool busy;
  BatchVerdict verdict;
  bool ack_now;
  std::uint64_t first_new;
  std::uint64_t skipped;
};

std::string to_string(BatchVerdict verdict) {
  switch (verdict) {
    case BatchVerdict::duplicate:
      return "duplicate";
    case BatchVerdict::gap:
      return "gap";
    case BatchVerdict::busy:
      return "busy";
    case BatchVerdict::publish:
      return "publish";
  }
  return "?";
}

// committed <= submitted always; seqs start at 1.
constexpr Case cases[] = {
    // name                                first cnt {committed, submitted} busy
    {"first batch of a new stream", 1, 10, {0, 0}, false, BatchVerdict::publish, false, 1, 0},
    {"next batch in order", 11, 5, {10, 10}, false, BatchVerdict::publish, false, 11, 0},
    {"next batch while one is in flight",
     11,
     5,
     {5, 10},
     false,
     BatchVerdict::publish,
     false,
     11,
     0},
    {"overlapping resend: only the tail",
     8,
     6,
     {10, 10},
     false,
     BatchVerdict::publish,
     false,
     11,
     3},
    {"overlap of exactly one new event",
     1,
     11,
     {10, 10},
     false,
     BatchVerdict::publish,
     false,
     11,
     10},
    {"resend wholly committed: ack now",
     1,
     10,
     {10, 10},
     false,
     BatchVerdict::duplicate,
     true,
     0,
     0},
    {"resend of part of the committed", 3, 4, {10, 10}, false, BatchVerdict::duplicate, true, 0, 0},
    {"resend still in flight: no ack yet",
     6,
     5,
     {5, 10},
     false,
     BatchVerdict::duplicate,
     false,
     0,
     0},
    {"resend straddling committed", 4, 4, {5, 10}, false, BatchVerdict::duplicate, false, 0, 0},
    {"gap of one seq", 12, 3, {10, 10}, false, BatchVerdict::gap, false, 0, 0},
    {"gap on a new stream", 2, 1, {0, 0}, false, BatchVerdict::gap, false, 0, 0},
    {"gap past what is in flight", 17, 1, {5, 15}, false, BatchVerdict::gap, false, 0, 0},
    {"busy drops a new batch", 11, 5, {10, 10}, true, BatchVerdict::busy, false, 0, 0},
    {"busy still answers a duplicate", 1, 10, {10, 10}, true, BatchVerdict::duplicate, true, 0, 0},
    {"busy: a gap is still a gap", 12, 1, {10, 10}, true, BatchVerdict::gap, false, 0, 0},
    {"single event", 1, 1, {0, 0}, false, BatchVerdict::publish, false, 1, 0},
    {"near the top of the seq space",
     UINT64_MAX - 1,
     2,
     {UINT64_MAX - 2, UINT64_MAX - 2},
     false,
     BatchVerdict::publish,
     false,
     UINT64_MAX - 1,
     0},
};

TEST(BatchClassifierTest, EveryRowOfTheTable) {
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const auto got = classify_batch(c.first_seq, c.count, c.at, c.busy);
    EXPECT_EQ(to_string(got.verdict), to_string(c.verdict));
    EXPECT_EQ(got.ack_now, c.ack_now);
    if (c.verdict == BatchVerdict::publish) {
      EXPECT_EQ(got.first_new, c.first_new);
      EXPECT_EQ(got.skipped, c.skipped);
      EXPECT_EQ(got.first_new, c.first_seq + got.skipped);
    }
  }
}

// Exhaustive over a small space: the verdicts partition the cases, and a published range always
// starts right after `submitted` (never skips or repeats a seq).
TEST(BatchClassifierTest, PublishedRangesContinueSubmittedExactly) {
  for (std::uint64_t committed = 0; committed <= 6; ++committed) {
    for (std::uint64_t submitted = committed; submitted <= 8; ++submitted) {
      for (std::uint64_t first = 1; first <= 10; ++first) {
        for (std::uint64_t count = 1; count <= 5; ++count) {
          const auto got = classify_batch(first, count, {committed, submitted}, false);
          const std::uint64_t last = first + count - 1;
          switch (got.verdict) {
            case BatchVerdict::duplicate:
              EXPECT_LE(last, submitted);
              EXPECT_EQ(got.ack_now, last <= committed);
              break;
            case BatchVerdict::gap:
              EXPECT_GT(first, submitted + 1);
              break;
            case BatchVerdict::publish:
              EXPECT_EQ(got.first_new, submitted + 1);
              EXPECT_GE(got.first_new, first);
              EXPECT_LE(got.first_new, last);
              break;
            case BatchVerdict::busy:
              ADD_FAILURE() << "busy without backpressure";
              break;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace pos::collector
