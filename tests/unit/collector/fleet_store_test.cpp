#include "pos/collector/fleet_store.hpp"

#include <gtest/gtest.h>

#include "collector_test_support.hpp"
#include "pos/common/sqlite.hpp"

namespace pos::collector {
namespace {

class FleetStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<FleetStore> open(std::size_t max_rows = 10'000) {
    FleetStoreOptions options;
    options.path = m_dir.path() / "fleet.db";
    options.import_from = m_dir.path() / "collector.db";
    options.max_rows = max_rows;
    auto store = FleetStore::open(options);
    EXPECT_TRUE(store) << (store ? "" : store.error().message);
    return store ? std::move(*store) : nullptr;
  }

  test::TempDir m_dir;
};

TEST_F(FleetStoreTest, SavedRowsAreLoadedAtTheNextOpenNewestFirst) {
  {
    auto store = open();
    ASSERT_TRUE(store->loaded().empty());
    store->save({{"S07", "T1", R"({"published_total":4})", 123}});
    store->save({{"S07", "T2", R"({"published_total":1})", 456},
                 {"S07", "T1", R"({"published_total":5})", 789}});
    store->stop();
    EXPECT_GE(store->saved(), 1U);
    EXPECT_EQ(store->failures(), 0U);
  }
  auto store = open();
  ASSERT_EQ(store->loaded().size(), 2U);
  EXPECT_EQ(store->loaded()[0].till_id, "T1");
  EXPECT_EQ(store->loaded()[0].data, R"({"published_total":5})");
  EXPECT_EQ(store->loaded()[1].till_id, "T2");
}

TEST_F(FleetStoreTest, AtMostMaxRowsAreLoaded) {
  {
    auto store = open();
    store->save({{"S01", "T1", "{}", 1}, {"S01", "T2", "{}", 2}, {"S01", "T3", "{}", 3}});
  }
  auto store = open(2);
  ASSERT_EQ(store->loaded().size(), 2U);
  EXPECT_EQ(store->loaded()[0].till_id, "T3");
  EXPECT_EQ(store->loaded()[1].till_id, "T2");
}

// Collectors before fleet.db kept the rows in collector.db: they are imported once.
TEST_F(FleetStoreTest, RowsOfAnOlderCollectorsDatabaseAreImportedOnce) {
  {
    auto legacy = common::Database::open(m_dir.path() / "collector.db", {});
    ASSERT_TRUE(legacy);
    ASSERT_TRUE(legacy->exec(
        "CREATE TABLE fleet(store_id TEXT NOT NULL, till_id TEXT NOT NULL, data TEXT NOT NULL, "
        "updated_ms INTEGER NOT NULL, PRIMARY KEY (store_id, till_id)) WITHOUT ROWID;"
        "INSERT INTO fleet VALUES ('S03', 'T9', '{\"gaps_total\":2}', 50);"));
  }
  {
    auto store = open();
    ASSERT_EQ(store->loaded().size(), 1U);
    EXPECT_EQ(store->loaded()[0].data, R"({"gaps_total":2})");
    store->save({{"S03", "T9", R"({"gaps_total":3})", 60}});
  }
  auto store = open();  // not imported again over the newer row
  ASSERT_EQ(store->loaded().size(), 1U);
  EXPECT_EQ(store->loaded()[0].data, R"({"gaps_total":3})");
}

TEST_F(FleetStoreTest, AnUnopenableFileIsAnErrorNamingThePath) {
  std::filesystem::create_directory(m_dir.path() / "fleet.db");
  FleetStoreOptions options;
  options.path = m_dir.path() / "fleet.db";
  auto store = FleetStore::open(options);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find("fleet.db"), std::string::npos) << store.error().message;
}

}  // namespace
}  // namespace pos::collector
