// The PostgreSQL mark store ([marks] type = "postgres") against a real PostgreSQL 15 server.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <optional>

#include "pos/collector/leases.hpp"
#include "pos/collector/mark_store.hpp"
#include "pos/common/clock.hpp"
#include "support/postgres.hpp"
#include "support/wait.hpp"

namespace pos::collector {
namespace {

using namespace std::chrono_literals;

std::uint64_t mark_of(const std::vector<StoredMark>& marks, const MarkKey& key) {
  for (const auto& m : marks) {
    if (m.key == key) {
      return m.through_seq;
    }
  }
  return 0;
}

class PostgresMarksTest : public ::testing::Test {
 protected:
  test::PostgresServer m_server;
};

TEST_F(PostgresMarksTest, MarksRoundTripNeverGoDownAndAreDeleted) {
  const MarkKey a{"S07", "T1", 0xfedcba9876543210ULL};  // above INT64_MAX: bit-cast
  const MarkKey b{"S\"7\\", "T,{2}", 7};                // array-literal metacharacters
  {
    auto backend = open_postgres_marks(m_server.dsn());
    ASSERT_TRUE(backend) << backend.error().message;
    // One group may name a key twice: the highest seq wins.
    ASSERT_TRUE((*backend)->write({{a, 10, {}}, {b, 3, {}}, {a, 12, {}}}, {}, 1000));
    ASSERT_TRUE((*backend)->write({{a, 5, {}}}, {}, 2000)) << "a lower mark is not an error";
    const auto loaded = (*backend)->load();
    ASSERT_TRUE(loaded) << loaded.error().message;
    EXPECT_EQ(mark_of(*loaded, a), 12U) << "never lowered";
    EXPECT_EQ(mark_of(*loaded, b), 3U);
  }
  // A second open (another collector, or a restart) finds the schema and the marks.
  auto again = open_postgres_marks(m_server.dsn());
  ASSERT_TRUE(again) << again.error().message;
  ASSERT_TRUE((*again)->write({}, {b}, 3000));
  const auto loaded = (*again)->load();
  ASSERT_TRUE(loaded);
  ASSERT_EQ(loaded->size(), 1U);
  EXPECT_EQ(mark_of(*loaded, a), 12U);
}

TEST_F(PostgresMarksTest, AnUnreachableServerIsNamedWithoutThePassword) {
  auto backend = open_postgres_marks("postgresql://pos:s3cret-pw@127.0.0.1:1/marks");
  ASSERT_FALSE(backend);
  EXPECT_NE(backend.error().message.find("127.0.0.1:1/marks"), std::string::npos)
      << backend.error().message;
  EXPECT_EQ(backend.error().message.find("s3cret-pw"), std::string::npos)
      << backend.error().message;
  auto bad = open_postgres_marks("postgresql://[nonsense");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("marks.dsn"), std::string::npos) << bad.error().message;
}

// A PostgreSQL restart: commits fail while it is down (the BatchProcessor then pauses intake and
// retries, docs/collector.md) and succeed again once it is back, on a new connection; nothing
// committed before is lost.
TEST_F(PostgresMarksTest, TheMarkStoreRidesOutAServerRestart) {
  boost::asio::io_context io;
  common::SystemClock clock;
  auto backend = open_postgres_marks(m_server.dsn());
  ASSERT_TRUE(backend) << backend.error().message;
  MarkStoreOptions options;
  options.group_window = 0us;
  auto store = MarkStore::open(std::move(*backend), options, io.get_executor(), clock);
  ASSERT_TRUE(store) << store.error().message;
  const MarkKey key{"S01", "T1", 42};

  const auto commit = [&](std::uint64_t seq) {
    std::optional<Status> outcome;
    (*store)->commit(key, seq, [&](const Status& s) { outcome = s; });
    EXPECT_TRUE(test::run_until(
        io, [&] { return outcome.has_value(); }, 30s, "a commit outcome"));
    return outcome.value_or(fail("no outcome"));
  };
  ASSERT_TRUE(commit(5));
  EXPECT_EQ((*store)->mark(key), 5U);

  m_server.stop();
  const Status down = commit(6);
  ASSERT_FALSE(down);
  EXPECT_NE(down.error().message.find("postgres"), std::string::npos) << down.error().message;
  EXPECT_FALSE((*store)->stats().healthy);
  EXPECT_EQ((*store)->mark(key), 5U) << "a failed commit does not move the mark";

  m_server.start();
  // The first write may still meet the dead connection; the next one reconnects.
  bool committed = false;
  for (int attempt = 0; attempt < 5 && !committed; ++attempt) {
    committed = commit(7).has_value();
  }
  ASSERT_TRUE(committed);
  EXPECT_TRUE((*store)->stats().healthy);
  EXPECT_EQ((*store)->mark(key), 7U);
  (*store)->stop();

  auto reopened = open_postgres_marks(m_server.dsn());
  ASSERT_TRUE(reopened);
  EXPECT_EQ(mark_of((*reopened)->load().value(), key), 7U);
}

// Leases: collectors share the partitions fairly; a lease that ran out on the server is taken
// over under a new token, and a mark commit still carrying the old token is refused while the
// new owner's goes through. The new owner reads the marks the old one committed.
TEST_F(PostgresMarksTest, LeasesSplitThePartitionsAndFenceOffALostOwner) {
  auto first = open_postgres_leases(m_server.dsn(), "c1", 1000ms);
  ASSERT_TRUE(first) << first.error().message;
  auto round = (*first)->run_round({});
  ASSERT_TRUE(round) << round.error().message;
  EXPECT_EQ(round->live_collectors, 1U);
  ASSERT_EQ(round->owned.size(), partition_count) << "alone, it takes every partition";
  EXPECT_EQ(round->acquired.size(), partition_count);

  // A second collector: c1 now holds twice its fair share and says so; nothing is free yet.
  auto second = open_postgres_leases(m_server.dsn(), "c2", 1000ms);
  ASSERT_TRUE(second) << second.error().message;
  auto joined = (*second)->run_round({});
  ASSERT_TRUE(joined) << joined.error().message;
  EXPECT_EQ(joined->live_collectors, 2U);
  EXPECT_TRUE(joined->owned.empty());
  auto renewed = (*first)->run_round({});
  ASSERT_TRUE(renewed);
  EXPECT_EQ(renewed->excess, partition_count / 2);
  EXPECT_TRUE(renewed->acquired.empty()) << "a renewal keeps the tokens";

  // A mark of a till in partition p under c1's token goes through.
  const MarkKey key{"S07", "T1", 99};
  const std::uint32_t p = partition_of(key.store_id, key.till_id);
  Fence old_fence;
  for (const Fence& f : renewed->owned) {
    if (f.partition == p) {
      old_fence = f;
    }
  }
  ASSERT_NE(old_fence.token, 0U);
  auto marks = open_postgres_marks(m_server.dsn());
  ASSERT_TRUE(marks) << marks.error().message;
  auto written = (*marks)->write({{key, 10, old_fence}}, {}, 1000);
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_TRUE(written->empty());

  // c1 hands p back; c2 takes it under a new token and reads the mark c1 committed.
  ASSERT_TRUE((*first)->run_round({p}));
  auto taken = (*second)->run_round({});
  ASSERT_TRUE(taken) << taken.error().message;
  Fence new_fence;
  for (const Fence& f : taken->owned) {
    if (f.partition == p) {
      new_fence = f;
    }
  }
  ASSERT_EQ(new_fence.partition, p);
  EXPECT_GT(new_fence.token, old_fence.token);
  EXPECT_EQ(mark_of(taken->acquired_marks, key), 10U) << "the new owner starts from the mark";

  // c1's late commit under the old token is refused; c2's goes through in the same group.
  const MarkKey other{"S08", "T2", 5};
  written = (*marks)->write({{key, 20, old_fence}, {other, 3, {}}, {key, 15, new_fence}}, {}, 2000);
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_EQ(*written, (std::vector<std::size_t>{0}));
  const auto loaded = (*marks)->load();
  ASSERT_TRUE(loaded);
  EXPECT_EQ(mark_of(*loaded, key), 15U) << "the fenced-off write did not land";
  EXPECT_EQ(mark_of(*loaded, other), 3U);

  // c1 stops renewing (killed): once its leases run out on the server, c2 takes everything.
  std::optional<LeaseRound> all;
  ASSERT_TRUE(test::wait_until(
      [&] {
        auto r = (*second)->run_round({});
        if (r && r->owned.size() == partition_count) {
          all = std::move(*r);
          return true;
        }
        return false;
      },
      20s, "c2 to take over c1's expired partitions"));
  EXPECT_EQ(all->live_collectors, 1U);
  // A clean shutdown frees everything at once.
  ASSERT_TRUE((*second)->release_all());
  auto third = open_postgres_leases(m_server.dsn(), "c3", 1000ms);
  ASSERT_TRUE(third);
  auto fresh = (*third)->run_round({});
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->owned.size(), partition_count);
}

}  // namespace
}  // namespace pos::collector
