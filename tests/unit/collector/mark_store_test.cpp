#include "pos/collector/mark_store.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "collector_test_support.hpp"

namespace pos::collector {
namespace {

using test::run_until;

class MarkStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<MarkStore> open() {
    MarkStoreOptions options;
    options.path = m_dir.path() / "collector.db";
    auto store = MarkStore::open(options, m_io.get_executor(), m_clock);
    EXPECT_TRUE(store) << (store ? "" : store.error().message);
    return store ? std::move(*store) : nullptr;
  }

  test::TempDir m_dir;
  boost::asio::io_context m_io;
  test::ManualClock m_clock;
};

TEST_F(MarkStoreTest, CommitsSurviveReopen) {
  {
    auto store = open();
    const MarkKey a{"S07", "T1", 42};
    const MarkKey b{"S07", "T2", 7};
    EXPECT_EQ(store->mark(a), 0U);
    int done = 0;
    store->commit(a, 10, [&](const Status& s) { done += s ? 1 : 100; });
    store->commit(b, 3, [&](const Status& s) { done += s ? 1 : 100; });
    store->commit(a, 5, [&](const Status& s) { done += s ? 1 : 100; });  // never lowers
    ASSERT_TRUE(run_until(m_io, [&] { return done == 3; }));
    EXPECT_EQ(store->mark(a), 10U);
    EXPECT_EQ(store->mark(b), 3U);
  }
  auto store = open();
  EXPECT_EQ(store->mark({"S07", "T1", 42}), 10U);
  EXPECT_EQ(store->mark({"S07", "T2", 7}), 3U);
  EXPECT_EQ(store->mark({"S07", "T1", 43}), 0U);
  EXPECT_EQ(store->size(), 2U);
}

TEST_F(MarkStoreTest, CompletionsRunInCallOrderAndShareTransactions) {
  auto store = open();
  std::vector<std::uint64_t> order;
  for (std::uint64_t i = 1; i <= 200; ++i) {
    store->commit({"S01", "T" + std::to_string(i % 5), 1}, i,
                  [&, i](const Status& s) { order.push_back(s ? i : 0); });
  }
  ASSERT_TRUE(run_until(m_io, [&] { return order.size() == 200; }));
  for (std::uint64_t i = 0; i < 200; ++i) {
    EXPECT_EQ(order[i], i + 1);
  }
  EXPECT_LT(store->stats().transactions, 200U);
  EXPECT_EQ(store->stats().marks_committed, 200U);
}

TEST_F(MarkStoreTest, CommitAfterStopFails) {
  auto store = open();
  store->stop();
  std::optional<Status> result;
  store->commit({"S01", "T1", 1}, 1, [&](const Status& s) { result = s; });
  ASSERT_TRUE(run_until(m_io, [&] { return result.has_value(); }));
  EXPECT_FALSE(*result);
}

TEST_F(MarkStoreTest, NotADatabaseFailsToOpen) {
  {
    std::ofstream out(m_dir.path() / "collector.db");
    out << "this is not a database, just some text that is long enough to matter";
  }
  MarkStoreOptions options;
  options.path = m_dir.path() / "collector.db";
  auto store = MarkStore::open(options, m_io.get_executor(), m_clock);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find("collector.db"), std::string::npos);
}

}  // namespace
}  // namespace pos::collector
