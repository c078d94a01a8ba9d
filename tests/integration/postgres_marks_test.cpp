// The PostgreSQL mark store ([marks] type = "postgres") against a real PostgreSQL 15 server.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <optional>

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
    ASSERT_TRUE((*backend)->write({{a, 10}, {b, 3}, {a, 12}}, {}, 1000));
    ASSERT_TRUE((*backend)->write({{a, 5}}, {}, 2000)) << "a lower mark is not an error";
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

}  // namespace
}  // namespace pos::collector
