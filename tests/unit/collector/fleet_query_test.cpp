#include "pos/collector/fleet_query.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

#include "pos/protocol/event.hpp"

namespace pos::collector {
namespace {

namespace json = boost::json;

constexpr std::int64_t q_t0 = 1'795'000'000'000;

/// Stores S01..S{stores}, tills T1..T{per_store}, all online at q_t0.
FleetState fq_healthy_fleet(int stores, int per_store) {
  FleetState fleet(FleetOptions{std::chrono::seconds(90), 100'000});
  protocol::AgentStatus status;
  status.agent_version = "0.3.0";
  for (int s = 1; s <= stores; ++s) {
    for (int t = 1; t <= per_store; ++t) {
      const std::string store = (s < 10 ? "S0" : "S") + std::to_string(s);
      fleet.on_status(store, "T" + std::to_string(t), status, q_t0);
    }
  }
  return fleet;
}

void fq_go_offline(FleetState& fleet, const std::string& store, const std::string& till) {
  protocol::AgentStatus will;
  will.state = protocol::AgentState::offline;
  fleet.on_status(store, till, will, q_t0);
}

FleetAlert fq_alert(std::string rule, std::string severity, std::string store, std::string till) {
  return FleetAlert{
      std::move(rule), std::move(severity), std::move(store), std::move(till), "m", q_t0};
}

FleetQuery fq_query(std::string_view text) {
  auto parsed = parse_fleet_query(text);
  EXPECT_TRUE(parsed) << (parsed ? "" : parsed.error().message);
  return parsed ? *parsed : FleetQuery{};
}

std::vector<std::string> fq_ids(const FleetPage& page) {
  std::vector<std::string> out;
  for (const TillView* till : page.rows) {
    out.push_back(till->store_id + "/" + till->till_id);
  }
  return out;
}

std::string fq_parse_error(std::string_view text) {
  auto parsed = parse_fleet_query(text);
  return parsed ? std::string("(accepted)") : parsed.error().message;
}

TEST(FleetQueryTest, ParsesEveryParameterDecodingTheValues) {
  const auto q = fq_query(
      "store=S01&till=T2&state=online,stale&alert=till_offline,cert_expiry&problem=true"
      "&q=s01%2Ft&limit=25&cursor=1.S01.T1");
  EXPECT_EQ(q.store_id, "S01");
  EXPECT_EQ(q.till_id, "T2");
  EXPECT_EQ(q.states, (std::vector<TillState>{TillState::online, TillState::stale}));
  EXPECT_EQ(q.alert_rules,
            (std::vector<AlertRule>{AlertRule::till_offline, AlertRule::cert_expiry}));
  EXPECT_TRUE(q.problems_only);
  EXPECT_EQ(q.search, "s01/t");
  EXPECT_EQ(q.limit, 25U);
  EXPECT_EQ(q.after, (FleetCursor{TillRank::urgent, "S01", "T1"}));
  EXPECT_EQ(fq_query("q=A+b%41").search, "a ba");
  EXPECT_TRUE(fq_query("alert=any").any_alert);
  EXPECT_TRUE(fq_query("alert=none").no_alert);
  EXPECT_EQ(fq_query("q=").search, "");
  EXPECT_EQ(fq_query("limit=5").limit, 5U);
  EXPECT_EQ(fq_query("store=S01").limit, default_fleet_page_size);
}

TEST(FleetQueryTest, BadParametersAreRejectedNamingThem) {
  EXPECT_EQ(fq_parse_error("limit=0"), "limit: must be an integer in 1..1000 (got \"0\")");
  EXPECT_EQ(fq_parse_error("limit=1001").rfind("limit: ", 0), 0U);
  EXPECT_EQ(fq_parse_error("limit=ten").rfind("limit: ", 0), 0U);
  EXPECT_EQ(fq_parse_error("limit=").rfind("limit: must not be empty", 0), 0U);
  EXPECT_EQ(fq_parse_error("store=S%2F1").rfind("store: ", 0), 0U);
  EXPECT_EQ(fq_parse_error("till=a.b").rfind("till: ", 0), 0U);
  EXPECT_EQ(fq_parse_error("state=broken").rfind("state: ", 0), 0U);
  EXPECT_EQ(fq_parse_error("alert=fire").rfind("alert: ", 0), 0U);
  EXPECT_EQ(fq_parse_error("problem=maybe").rfind("problem: ", 0), 0U);
  EXPECT_EQ(fq_parse_error("cursor=9.S.T").rfind("cursor: ", 0), 0U);
  EXPECT_EQ(fq_parse_error("cursor=1.S01").rfind("cursor: ", 0), 0U);
  EXPECT_EQ(fq_parse_error("q=%zz").rfind("q: bad percent-encoding", 0), 0U);
  EXPECT_EQ(fq_parse_error("q=" + std::string(65, 'x')).rfind("q: longer than 64", 0), 0U);
  EXPECT_EQ(fq_parse_error("store=S01&store=S02").rfind("store: given more than once", 0), 0U);
  EXPECT_EQ(fq_parse_error("page=2").rfind("unknown parameter \"page\"", 0), 0U);
}

TEST(FleetQueryTest, ProblemTillsComeFirstThenStoreAndTill) {
  FleetState fleet = fq_healthy_fleet(3, 3);
  fq_go_offline(fleet, "S03", "T2");
  const std::vector<FleetAlert> alerts{fq_alert("backlog_age", "warning", "S01", "T3"),
                                       fq_alert("cert_expiry", "critical", "S02", "T2")};
  const auto page = select_fleet_page(fleet, alerts, fq_query("limit=5"), q_t0 + 1000);
  EXPECT_EQ(fq_ids(page),
            (std::vector<std::string>{"S03/T2", "S02/T2", "S01/T3", "S01/T1", "S01/T2"}));
  EXPECT_EQ(page.matched, 9U);
  EXPECT_EQ(page.matched_problems, 3U);
  EXPECT_EQ(page.matched_by_state, (std::array<std::size_t, 3>{8, 1, 0}));
  ASSERT_TRUE(page.next);
  EXPECT_EQ(format_cursor(*page.next), "3.S01.T2");
}

TEST(FleetQueryTest, CursorPagesVisitEveryMatchingTillOnce) {
  FleetState fleet = fq_healthy_fleet(7, 5);
  fq_go_offline(fleet, "S05", "T5");
  fq_go_offline(fleet, "S02", "T1");
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  while (true) {
    const auto page = select_fleet_page(
        fleet, {}, fq_query("limit=4" + (cursor.empty() ? "" : "&cursor=" + cursor)), q_t0);
    const auto rows = fq_ids(page);
    seen.insert(seen.end(), rows.begin(), rows.end());
    ++pages;
    if (!page.next) {
      break;
    }
    cursor = format_cursor(*page.next);
  }
  EXPECT_EQ(pages, 9);  // 35 rows, 4 per page
  ASSERT_EQ(seen.size(), 35U);
  EXPECT_EQ(seen[0], "S02/T1");
  EXPECT_EQ(seen[1], "S05/T5");
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), 35U);
}

TEST(FleetQueryTest, FiltersCombineAndStaleTillsAreProblems) {
  FleetState fleet = fq_healthy_fleet(12, 2);
  fq_go_offline(fleet, "S11", "T1");
  fleet.on_batch("S12", "T2", q_t0 + 200'000);  // every other till is stale by then
  const std::int64_t now = q_t0 + 200'000;
  const std::vector<FleetAlert> alerts{fq_alert("till_offline", "critical", "S11", "T1"),
                                       fq_alert("clock_skew", "warning", "S12", "T2")};
  const auto select = [&](std::string_view q) {
    return fq_ids(select_fleet_page(fleet, alerts, fq_query(q), now));
  };
  EXPECT_EQ(select("store=S12"), (std::vector<std::string>{"S12/T1", "S12/T2"}));
  EXPECT_EQ(select("store=S12&state=online"), (std::vector<std::string>{"S12/T2"}));
  EXPECT_EQ(select("state=offline"), (std::vector<std::string>{"S11/T1"}));
  EXPECT_EQ(select("alert=clock_skew"), (std::vector<std::string>{"S12/T2"}));
  EXPECT_EQ(select("alert=any"), (std::vector<std::string>{"S11/T1", "S12/T2"}));
  EXPECT_EQ(select("q=s1&till=T2&alert=none"),
            (std::vector<std::string>{"S10/T2", "S11/T2"}));  // S12/T2 has an alert
  EXPECT_EQ(select("q=S11/").size(), 2U);
  EXPECT_EQ(select("problem=true").size(), 24U);  // 1 offline, 22 stale, 1 with a warning
  EXPECT_EQ(select("store=S99"), std::vector<std::string>{});
}

TEST(FleetQueryTest, PageJsonKeepsTheRowShapeAndAddsTotals) {
  FleetState fleet = fq_healthy_fleet(2, 2);
  fq_go_offline(fleet, "S02", "T2");
  const std::vector<FleetAlert> alerts{fq_alert("till_offline", "critical", "S02", "T2"),
                                       fq_alert("backlog_age", "warning", "S01", "T1")};
  const auto doc =
      json::parse(fleet_page_json(fleet, alerts, fq_query("limit=1"), q_t0)).as_object();
  const auto& tills = doc.at("tills").as_array();
  ASSERT_EQ(tills.size(), 1U);
  const auto full = json::parse(fleet.to_json(q_t0, alerts)).as_object();
  EXPECT_EQ(tills[0], full.at("tills").as_array()[3]) << "the same row as without parameters";
  EXPECT_EQ(doc.at("alerts").as_array().size(), 1U) << "only the alerts of the page's rows";
  EXPECT_EQ(doc.at("matched").as_int64(), 4);
  EXPECT_EQ(doc.at("total_tills").as_int64(), 4);
  EXPECT_EQ(doc.at("limit").as_int64(), 1);
  EXPECT_EQ(doc.at("next").as_string(), "0.S02.T2");
  EXPECT_EQ(doc.at("counts").at("offline").as_int64(), 1);
  EXPECT_EQ(doc.at("counts").at("problem").as_int64(), 2);
  const auto last =
      json::parse(fleet_page_json(fleet, alerts, fq_query("cursor=2.S01.T1"), q_t0)).as_object();
  EXPECT_EQ(last.at("tills").as_array().size(), 2U);
  EXPECT_TRUE(last.at("next").is_null());
}

TEST(FleetQueryTest, SummaryCountsPerStoreAndListsCriticalAlertsFirst) {
  FleetState fleet = fq_healthy_fleet(3, 4);
  fq_go_offline(fleet, "S02", "T3");
  std::vector<FleetAlert> alerts{fq_alert("backlog_age", "warning", "S01", "T1"),
                                 fq_alert("till_offline", "critical", "S02", "T3")};
  for (std::size_t i = 0; i < max_summary_alerts; ++i) {
    alerts.push_back(fq_alert("clock_skew", "warning", "S03", "X" + std::to_string(i)));
  }
  const auto doc = json::parse(fleet_summary_json(fleet, alerts, q_t0 + 1000)).as_object();
  EXPECT_EQ(doc.at("tills").as_int64(), 12);
  EXPECT_EQ(doc.at("counts").at("online").as_int64(), 11);
  EXPECT_EQ(doc.at("counts").at("offline").as_int64(), 1);
  EXPECT_EQ(doc.at("counts").at("problem").as_int64(), 2);
  const auto& stores = doc.at("stores").as_array();
  ASSERT_EQ(stores.size(), 3U);
  EXPECT_EQ(stores[1].at("store_id").as_string(), "S02");
  EXPECT_EQ(stores[1].at("tills").as_int64(), 4);
  EXPECT_EQ(stores[1].at("online").as_int64(), 3);
  EXPECT_EQ(stores[1].at("offline").as_int64(), 1);
  EXPECT_EQ(stores[1].at("problem").as_int64(), 1);
  const auto& listed = doc.at("alerts").as_array();
  ASSERT_EQ(listed.size(), max_summary_alerts);
  EXPECT_EQ(listed[0].at("rule").as_string(), "till_offline");
  EXPECT_EQ(listed[1].at("rule").as_string(), "backlog_age");
  EXPECT_EQ(doc.at("alerts_total").as_int64(), static_cast<std::int64_t>(alerts.size()));
}

}  // namespace
}  // namespace pos::collector
