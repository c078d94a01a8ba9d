#include "pos/collector/fleet.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "pos/protocol/event.hpp"

namespace pos::collector {
namespace {

namespace json = boost::json;

constexpr std::int64_t t0 = 1'795'000'000'000;

protocol::AgentStatus online_status() {
  protocol::AgentStatus s;
  s.agent_version = "0.3.0";
  s.backlog_events = 12;
  s.oldest_unacked_at = protocol::format_rfc3339_utc_ms(t0 - 30'000);
  return s;
}

TEST(FleetTest, StatesOnlineStaleOffline) {
  FleetState fleet(FleetOptions{std::chrono::seconds(90), 100});
  fleet.on_status("S07", "T1", online_status(), t0);
  const TillView* till = fleet.find("S07", "T1");
  ASSERT_NE(till, nullptr);
  EXPECT_EQ(fleet.state_of(*till, t0 + 1000), TillState::online);
  EXPECT_EQ(fleet.state_of(*till, t0 + 91'000), TillState::stale);
  fleet.on_batch("S07", "T1", t0 + 91'000);
  EXPECT_EQ(fleet.state_of(*till, t0 + 92'000), TillState::online);

  protocol::AgentStatus will;
  will.state = protocol::AgentState::offline;
  fleet.on_status("S07", "T1", will, t0 + 100'000);
  EXPECT_EQ(fleet.state_of(*till, t0 + 100'000), TillState::offline);
  EXPECT_EQ(fleet.state_of(*till, t0 + 500'000), TillState::offline);
  EXPECT_EQ(till->agent_version, "0.3.0");  // the will carries only the state
  fleet.on_batch("S07", "T1", t0 + 101'000);
  EXPECT_EQ(fleet.state_of(*till, t0 + 101'000), TillState::online);
}

TEST(FleetTest, JsonShapeSortedWithEveryField) {
  FleetState fleet;
  fleet.on_batch("S10", "T1", t0);
  fleet.on_status("S02", "T9", online_status(), t0);
  fleet.on_status("S02", "T1", online_status(), t0);
  fleet.on_counts("S02", "T1", {5, 2, 1, 0});
  fleet.on_ack("S02", "T1", t0 + 500);
  const auto doc = json::parse(fleet.to_json(t0 + 1000)).as_object();
  EXPECT_EQ(doc.at("generated_at").as_string(), protocol::format_rfc3339_utc_ms(t0 + 1000).c_str());
  const auto& tills = doc.at("tills").as_array();
  ASSERT_EQ(tills.size(), 3U);
  EXPECT_EQ(tills[0].at("store_id").as_string(), "S02");
  EXPECT_EQ(tills[0].at("till_id").as_string(), "T1");
  EXPECT_EQ(tills[1].at("till_id").as_string(), "T9");
  EXPECT_EQ(tills[2].at("store_id").as_string(), "S10");
  const auto& row = tills[0].as_object();
  for (const char* key : {"store_id", "till_id", "state", "last_seen", "agent_version",
                          "backlog_events", "oldest_unacked_age_s", "last_ack_at",
                          "published_total", "duplicates_total", "rejected_total"}) {
    EXPECT_TRUE(row.contains(key)) << key;
  }
  EXPECT_EQ(row.at("state").as_string(), "online");
  EXPECT_EQ(row.at("agent_version").as_string(), "0.3.0");
  EXPECT_EQ(row.at("backlog_events").as_int64(), 12);
  EXPECT_EQ(row.at("oldest_unacked_age_s").as_int64(), 31);
  EXPECT_EQ(row.at("last_ack_at").as_string(), protocol::format_rfc3339_utc_ms(t0 + 500).c_str());
  EXPECT_EQ(row.at("published_total").as_int64(), 5);
  EXPECT_EQ(row.at("duplicates_total").as_int64(), 2);
  EXPECT_EQ(row.at("rejected_total").as_int64(), 1);
  const auto& batch_only = tills[2].as_object();
  EXPECT_TRUE(batch_only.at("agent_version").is_null());
  EXPECT_TRUE(batch_only.at("last_ack_at").is_null());
  EXPECT_TRUE(batch_only.at("oldest_unacked_age_s").is_null());
}

TEST(FleetTest, PersistedRowsRoundTrip) {
  FleetState fleet;
  fleet.on_status("S07", "T1", online_status(), t0);
  fleet.on_counts("S07", "T1", {9, 1, 2, 3});
  fleet.on_ack("S07", "T1", t0 + 10);
  fleet.on_new_epoch("S07", "T1", 0xabcdef0123456789ULL, t0 + 20);
  fleet.on_epoch_refused("S07", "T1");
  const auto rows = fleet.take_dirty(t0);
  ASSERT_EQ(rows.size(), 1U);
  EXPECT_TRUE(fleet.take_dirty(t0).empty());

  FleetState restored;
  restored.load(rows);
  restored.load({{"S01", "T1", "not json", 0}});
  EXPECT_EQ(restored.size(), 1U);
  EXPECT_EQ(restored.to_json(t0 + 5), fleet.to_json(t0 + 5));
}

// A till starting a new epoch (a new database: reinstalled, or a restored disk the agent
// detected) shows it in its row: the epoch, when, how many in all, how many were refused.
TEST(FleetTest, NewEpochIsShownInTheTillsRow) {
  FleetState fleet;
  fleet.on_batch("S07", "T1", t0);
  auto row = json::parse(fleet.to_json(t0)).at("tills").at(0).as_object();
  EXPECT_TRUE(row.at("epoch").is_null());
  EXPECT_EQ(row.at("epochs_total").as_int64(), 0);
  fleet.on_new_epoch("S07", "T1", 0x1111222233334444ULL, t0);
  fleet.on_new_epoch("S07", "T1", 0xabcdef0123456789ULL, t0 + 1000);
  fleet.on_epoch_refused("S07", "T1");
  row = json::parse(fleet.to_json(t0 + 2000)).at("tills").at(0).as_object();
  EXPECT_EQ(row.at("epoch").as_string(), "abcdef0123456789");
  EXPECT_EQ(row.at("epoch_started_at").as_string(),
            protocol::format_rfc3339_utc_ms(t0 + 1000).c_str());
  EXPECT_EQ(row.at("epochs_total").as_int64(), 2);
  EXPECT_EQ(row.at("epochs_refused_total").as_int64(), 1);
}

TEST(FleetTest, BoundedNumberOfTills) {
  FleetState fleet(FleetOptions{std::chrono::seconds(90), 2});
  fleet.on_batch("S1", "T1", t0);
  fleet.on_batch("S1", "T2", t0);
  fleet.on_batch("S1", "T3", t0);
  EXPECT_EQ(fleet.size(), 2U);
  EXPECT_EQ(fleet.untracked_total(), 1U);
}

}  // namespace
}  // namespace pos::collector
