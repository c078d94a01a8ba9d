// Several collectors: the fleet-wide per-till totals (FleetState's own counts + the other
// collectors' shared ones) and FleetSharing over a scripted SharedCounterStore. The real
// PostgreSQL table and two real collectors are tested in
// tests/integration/fleet_sharing_test.cpp.

#include "pos/collector/fleet_sharing.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <mutex>

#include "support/wait.hpp"

namespace pos::collector {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t t0 = 1'795'000'000'000;

TillCounts counts(std::uint64_t published, std::uint64_t duplicates = 0, std::uint64_t rejected = 0,
                  std::uint64_t gaps = 0) {
  TillCounts c;
  c.published = published;
  c.duplicates = duplicates;
  c.rejected = rejected;
  c.gaps = gaps;
  return c;
}

TEST(FleetSharingMerge, TotalsAreOwnPlusTheOthersLastSharedValues) {
  FleetState fleet;
  fleet.on_counts("S07", "T1", counts(10, 1, 2, 0));
  fleet.on_ack("S07", "T1", t0);

  fleet.apply_shared({{"S07", "T1", 100, 5, 0, 3, t0 + 500}, {"S08", "T2", 7, 0, 0, 0, t0}});
  const TillView* t1 = fleet.find("S07", "T1");
  ASSERT_NE(t1, nullptr);
  EXPECT_EQ(t1->published_total, 110U);
  EXPECT_EQ(t1->duplicates_total, 6U);
  EXPECT_EQ(t1->rejected_total, 2U);
  EXPECT_EQ(t1->gaps_total, 3U);
  EXPECT_EQ(t1->last_ack_ms, t0 + 500) << "the latest ack of any collector";
  const TillView* t2 = fleet.find("S08", "T2");
  ASSERT_NE(t2, nullptr) << "a till only another collector handled is shown too";
  EXPECT_EQ(t2->published_total, 7U);

  // Own counts keep growing; a newer read of the others replaces (never adds to) the old one.
  fleet.on_counts("S07", "T1", counts(5));
  fleet.apply_shared({{"S07", "T1", 120, 5, 0, 3, t0 + 500}});
  EXPECT_EQ(t1->published_total, 135U);
  // A till not in a read keeps the values read before (it was beyond the read's cap).
  EXPECT_EQ(t2->published_total, 7U);

  // What is shared is only the own part, and only for tills changed since the last take.
  const auto own = fleet.take_own_counts(100);
  ASSERT_EQ(own.size(), 1U);
  EXPECT_EQ(own[0], (SharedTillCounts{"S07", "T1", 15, 1, 2, 0, t0}));
  EXPECT_TRUE(fleet.take_own_counts(100).empty());
}

TEST(FleetSharingMerge, OwnRowsAreTakenAtMostLimitARoundAndGivenBackOnFailure) {
  FleetState fleet;
  for (int i = 0; i < 5; ++i) {
    fleet.on_counts("S01", "T" + std::to_string(i), counts(1));
  }
  EXPECT_EQ(fleet.take_own_counts(2).size(), 2U);
  EXPECT_EQ(fleet.own_counts_pending(), 3U) << "the rest wait for the next round";
  const auto third = fleet.take_own_counts(2);
  fleet.retake_own_counts(third);
  EXPECT_EQ(fleet.own_counts_pending(), 3U);
  EXPECT_EQ(fleet.take_own_counts(10).size(), 3U);
}

// Tills that change every round cannot keep the others from being shared: rounds go round robin.
TEST(FleetSharingMerge, BusyTillsDoNotStarveTheOthersBeyondTheCap) {
  FleetState fleet;
  const auto count_all = [&] {
    for (int i = 0; i < 5; ++i) {
      fleet.on_counts("S01", "T" + std::to_string(i), counts(1));
    }
  };
  const auto take = [&] {
    std::string tills;
    for (const auto& row : fleet.take_own_counts(2)) {
      tills += row.till_id + " ";
    }
    return tills;
  };
  count_all();
  EXPECT_EQ(take(), "T0 T1 ");
  count_all();
  EXPECT_EQ(take(), "T2 T3 ");
  count_all();
  EXPECT_EQ(take(), "T4 T0 ");
}

TEST(FleetSharingMerge, SharedValuesSurviveARestartThroughTheFleetRows) {
  FleetState fleet;
  fleet.on_counts("S07", "T1", counts(10));
  fleet.apply_shared({{"S07", "T1", 100, 0, 0, 0, 0}});
  FleetState restored;
  restored.load(fleet.take_dirty(t0));
  restored.on_counts("S07", "T1", counts(1));
  const auto own = restored.take_own_counts(10);
  ASSERT_EQ(own.size(), 1U);
  EXPECT_EQ(own[0].published, 11U) << "the own part, not the fleet-wide total";
  restored.apply_shared({{"S07", "T1", 101, 0, 0, 0, 0}});
  EXPECT_EQ(restored.find("S07", "T1")->published_total, 112U);
}

/// A SharedCounterStore the test scripts: keeps what was written, answers reads with `others`.
class ScriptedCounterStore final : public SharedCounterStore {
 public:
  Status write(const std::vector<SharedTillCounts>& rows) override {
    std::lock_guard lock(mutex);
    ++calls;
    if (failing) {
      return fail("fleet counters postgres test: connection refused");
    }
    for (const auto& row : rows) {
      written.push_back(row);
    }
    return {};
  }
  Result<std::vector<SharedTillCounts>> read_own(std::size_t /*limit*/) override {
    std::lock_guard lock(mutex);
    return own;
  }
  Result<std::vector<SharedTillCounts>> read_others(std::size_t limit) override {
    std::lock_guard lock(mutex);
    limits.push_back(limit);
    return others;
  }
  std::size_t calls_so_far() {
    std::lock_guard lock(mutex);
    return calls;
  }

  std::mutex mutex;
  bool failing = false;
  std::size_t calls = 0;
  std::vector<SharedTillCounts> written;
  std::vector<SharedTillCounts> own;
  std::vector<SharedTillCounts> others;
  std::vector<std::size_t> limits;
};

TEST(FleetSharingTest, WritesOwnChangesReadsOthersAndPausesThroughAnOutage) {
  boost::asio::io_context io;
  FleetState fleet;
  auto owned = std::make_unique<ScriptedCounterStore>();
  ScriptedCounterStore& store = *owned;
  store.others = {{"S07", "T1", 40, 0, 0, 0, t0}};
  store.own = {{"S09", "T1", 8, 0, 0, 0, t0}};  // shared before a restart that lost fleet.db
  FleetSharingOptions options;
  options.interval = 10ms;
  options.max_tills_read = 77;
  FleetSharing sharing(io.get_executor(), std::move(owned), fleet, options);
  fleet.on_counts("S07", "T1", counts(2));
  sharing.start();
  ASSERT_TRUE(test::run_until(
      io, [&] { return fleet.find("S07", "T1")->published_total == 42; }, 10s,
      "the others' counts folded in"));
  {
    std::lock_guard lock(store.mutex);
    ASSERT_EQ(store.written.size(), 2U);
    for (const auto& row : store.written) {
      EXPECT_EQ(row.published, row.store_id == "S07" ? 2U : 8U) << row.store_id;
    }
    EXPECT_EQ(store.limits.front(), 77U);
  }
  EXPECT_TRUE(sharing.stats().healthy);

  // The database goes away: counts go on, rounds fail and keep the row for later.
  {
    std::lock_guard lock(store.mutex);
    store.failing = true;
  }
  fleet.on_counts("S07", "T1", counts(3));
  ASSERT_TRUE(test::run_until(
      io, [&] { return sharing.stats().failures >= 2; }, 10s, "two failed rounds"));
  EXPECT_FALSE(sharing.stats().healthy);
  EXPECT_EQ(fleet.find("S07", "T1")->published_total, 45U) << "own counts go on";
  EXPECT_EQ(sharing.stats().pending, 1U);

  {
    std::lock_guard lock(store.mutex);
    store.failing = false;
  }
  ASSERT_TRUE(test::run_until(
      io, [&] { return sharing.stats().healthy; }, 10s, "a round succeeds again"));
  {
    std::lock_guard lock(store.mutex);
    ASSERT_EQ(store.written.size(), 3U);
    EXPECT_EQ(store.written[2].published, 5U) << "the newest own count, once";
  }
  EXPECT_EQ(sharing.stats().pending, 0U);

  // At stop, what was counted since the last round is written once more.
  fleet.on_counts("S07", "T1", counts(1));
  sharing.stop();
  ASSERT_TRUE(test::wait_until(
      [&] {
        std::lock_guard lock(store.mutex);
        return store.written.size() == 4 && store.written[3].published == 6;
      },
      10s, "the last counts written at stop"));
}

TEST(FleetSharingMerge, OwnCountsAreRaisedToWhatWasSharedBeforeARestart) {
  FleetState fleet;
  fleet.on_counts("S07", "T1", counts(10));
  fleet.apply_shared({{"S07", "T1", 100, 0, 0, 0, 0}});
  (void)fleet.take_own_counts(10);
  fleet.raise_own({{"S07", "T1", 14, 2, 0, 0, t0}, {"S07", "T2", 5, 0, 0, 0, t0}});
  fleet.raise_own({{"S07", "T1", 12, 0, 0, 0, 0}});  // lower: nothing lowered
  EXPECT_EQ(fleet.find("S07", "T1")->published_total, 114U);
  EXPECT_EQ(fleet.find("S07", "T1")->duplicates_total, 2U);
  EXPECT_EQ(fleet.find("S07", "T2")->published_total, 5U);
  const auto own = fleet.take_own_counts(10);
  ASSERT_EQ(own.size(), 2U);
  const auto t1 = std::find_if(own.begin(), own.end(),
                               [](const SharedTillCounts& row) { return row.till_id == "T1"; });
  ASSERT_NE(t1, own.end());
  EXPECT_EQ(*t1, (SharedTillCounts{"S07", "T1", 14, 2, 0, 0, t0}));
}

TEST(FleetSharingMerge, RestoredTillsWithOwnCountsAreSharedAgain) {
  FleetState fleet;
  fleet.on_counts("S07", "T1", counts(3));
  fleet.apply_shared({{"S07", "T1", 50, 0, 0, 0, 0}, {"S08", "T1", 9, 0, 0, 0, 0}});
  FleetState restored;
  restored.load(fleet.take_dirty(t0));
  const auto own = restored.take_own_counts(10);
  ASSERT_EQ(own.size(), 1U) << "S08/T1 has no own counts";
  EXPECT_EQ(own[0], (SharedTillCounts{"S07", "T1", 3, 0, 0, 0, 0}));
}

}  // namespace
}  // namespace pos::collector
