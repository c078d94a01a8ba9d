#include "pos/ctl/fleet_view.hpp"
#include "pos/protocol/event.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace pos::ctl {
namespace {

// The shape of collector/src/fleet.cpp's /v1/fleet plus the alert fields being added to it.
// now = 2026-11-22T10:00:00Z.
constexpr std::string_view fixture = R"({
  "generated_at": "2026-11-22T10:00:00.000Z",
  "tills": [
    {"store_id": "S03", "till_id": "T1", "state": "online", "last_seen": "2026-11-22T09:59:58.000Z",
     "agent_version": "0.1.0", "backlog_events": 0, "oldest_unacked_age_s": null,
     "last_ack_at": "2026-11-22T09:59:58.500Z", "published_total": 1200, "duplicates_total": 3,
     "rejected_total": 0, "gaps_total": 0, "last_batch_at": null, "alerts": []},
    {"store_id": "S01", "till_id": "T1", "state": "online", "last_seen": "2026-11-22T09:59:59.000Z",
     "agent_version": "0.1.0", "backlog_events": 2, "oldest_unacked_age_s": 1,
     "last_ack_at": "2026-11-22T09:59:59.000Z", "published_total": 10, "duplicates_total": 0,
     "rejected_total": 0},
    {"store_id": "S01", "till_id": "T2", "state": "online", "last_seen": "2026-11-22T09:59:30.000Z",
     "agent_version": "0.1.0", "backlog_events": 52000, "oldest_unacked_age_s": 5400,
     "last_ack_at": "2026-11-22T08:30:00.000Z", "published_total": 900, "duplicates_total": 0,
     "rejected_total": 7, "alerts": ["backlog_age"]},
    {"store_id": "S02", "till_id": "T1", "state": "online", "last_seen": "2026-11-22T09:59:59.000Z",
     "agent_version": "0.1.0", "backlog_events": 0, "oldest_unacked_age_s": null,
     "last_ack_at": null, "published_total": 0, "duplicates_total": 0, "rejected_total": 0},
    {"store_id": "S02", "till_id": "T2", "state": "offline", "last_seen": "2026-11-20T10:00:00.000Z",
     "agent_version": null, "backlog_events": 14, "oldest_unacked_age_s": 172800,
     "last_ack_at": "2026-11-20T09:00:00Z", "published_total": 5, "duplicates_total": 1,
     "rejected_total": 0, "alerts": ["offline"]},
    {"store_id": "S04", "till_id": "T9", "state": "stale", "last_seen": "2026-11-22T09:55:00+00:00",
     "agent_version": "0.0.9", "backlog_events": 1, "oldest_unacked_age_s": 300,
     "last_ack_at": null, "published_total": 1, "duplicates_total": 0, "rejected_total": 0}
  ],
  "alerts": [
    {"rule": "offline", "severity": "warning", "store_id": "S02", "till_id": "T2",
     "message": "offline for 48h", "since": "2026-11-20T10:00:00Z"},
    {"rule": "backlog_age", "severity": "critical", "store_id": "S01", "till_id": "T2",
     "message": "oldest unacked event is 90m old", "since": "2026-11-22T09:00:00Z"}
  ]
})";

constexpr std::int64_t now_ms = 1'795'341'600'000;  // 2026-11-22T10:00:00Z

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    out.push_back(line);
  }
  return out;
}

TEST(FleetView, ParsesTheCollectorDocument) {
  const auto snapshot = parse_fleet(fixture);
  ASSERT_TRUE(snapshot) << snapshot.error().message;
  EXPECT_EQ(snapshot->generated_at_ms, now_ms);
  ASSERT_EQ(snapshot->tills.size(), 6U);
  const auto& t = snapshot->tills[2];
  EXPECT_EQ(t.store_id, "S01");
  EXPECT_EQ(t.till_id, "T2");
  EXPECT_EQ(t.backlog_events, 52000U);
  EXPECT_EQ(t.oldest_unacked_age_s, 5400);
  EXPECT_EQ(t.alerts, std::vector<std::string>{"backlog_age"});
  EXPECT_FALSE(snapshot->tills[0].oldest_unacked_age_s);
  EXPECT_TRUE(snapshot->tills[4].agent_version.empty());
  ASSERT_EQ(snapshot->alerts.size(), 2U);
  EXPECT_EQ(snapshot->alerts[1].severity, "critical");
}

TEST(FleetView, ProblemsComeFirstGroupedByStore) {
  const auto snapshot = parse_fleet(fixture);
  ASSERT_TRUE(snapshot);
  std::vector<std::string> order;
  for (const auto& t : order_for_display(*snapshot)) {
    order.push_back(t.store_id + "/" + t.till_id);
  }
  // S01 has a critical alert, S02 an offline till, S04 a stale one, S03 is healthy; inside S01
  // the alerting T2 comes before the healthy T1.
  EXPECT_EQ(order,
            (std::vector<std::string>{"S01/T2", "S01/T1", "S02/T2", "S02/T1", "S04/T9", "S03/T1"}));
}

TEST(FleetView, RendersATable) {
  const auto snapshot = parse_fleet(fixture);
  ASSERT_TRUE(snapshot);
  const auto text = render_fleet(*snapshot, now_ms);
  const auto lines = lines_of(text);
  ASSERT_GE(lines.size(), 14U) << text;
  EXPECT_EQ(lines[0], "6 tills, 1 offline, 4 online, 1 stale; alerts: 2 (1 critical)");
  EXPECT_EQ(lines[2].rfind("STORE  TILL  STATE    LAST SEEN  BACKLOG  OLDEST UNACKED  LAST ACK", 0),
            0U)
      << lines[2];
  // Columns: store, till, state, last seen, backlog, oldest unacked, last ack, version,
  // published, duplicates, rejected, alerts.
  EXPECT_EQ(lines[3],
            "S01    T2    online   30s        52000    90m             90m       0.1.0    "
            "900        0           7         backlog_age");
  EXPECT_EQ(lines[4].rfind("S01    T1    online   1s         2        1s", 0), 0U) << lines[4];
  EXPECT_EQ(lines[5], "") << "a blank line between stores";
  EXPECT_EQ(
      lines[6].rfind("S02    T2    offline  2d         14       2d              2d        -", 0),
      0U)
      << lines[6];
  EXPECT_EQ(lines[9].rfind("S04    T9    stale    5m", 0), 0U) << lines[9];
  EXPECT_EQ(lines[11].rfind("S03    T1    online", 0), 0U) << lines[11];
  EXPECT_NE(text.find("ALERTS\n  critical  S01/T2  backlog_age  since 60m  oldest unacked event is "
                      "90m old\n  warning  S02/T2  offline  since 2d  offline for 48h\n"),
            std::string::npos)
      << text;
}

TEST(FleetView, WorksWithoutAlerts) {
  const auto snapshot = parse_fleet(
      R"({"generated_at":"2026-11-22T10:00:00.000Z","tills":[{"store_id":"S1","till_id":"T1",)"
      R"("state":"online","last_seen":"2026-11-22T09:59:00.000Z","backlog_events":0}]})");
  ASSERT_TRUE(snapshot) << snapshot.error().message;
  const auto text = render_fleet(*snapshot, now_ms);
  EXPECT_NE(text.find("1 tills, 1 online; alerts: 0 (0 critical)"), std::string::npos) << text;
  EXPECT_NE(text.find("S1     T1    online  60s"), std::string::npos) << text;
  EXPECT_EQ(text.find("\nALERTS\n"), std::string::npos) << text;
}

TEST(FleetView, BadDocumentsNameTheField) {
  const auto expect_error = [](std::string_view doc, const std::string& needle) {
    const auto r = parse_fleet(doc);
    ASSERT_FALSE(r) << doc;
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  };
  expect_error("not json", "not JSON");
  expect_error("[]", "expected a JSON object");
  expect_error(R"({"tills": 3})", "fleet.tills: expected an array");
  expect_error(R"({"tills":[{"store_id":"S1","till_id":"T1","backlog_events":"many"}]})",
               "tills[0].backlog_events: expected a number");
  expect_error(R"({"tills":[{"store_id":"S1","till_id":"T1","last_seen":"yesterday"}]})",
               "tills[0].last_seen: expected an RFC 3339 timestamp");
  expect_error(R"({"tills":[{"till_id":"T1"}]})", "tills[0]: store_id and till_id are required");
  expect_error(R"({"tills":[],"alerts":[{"rule":5}]})", "alerts[0].rule: expected a string");
}

TEST(FleetView, AgesAndTimestamps) {
  EXPECT_EQ(format_age(std::nullopt), "-");
  EXPECT_EQ(format_age(-3), "0s");
  EXPECT_EQ(format_age(119), "119s");
  EXPECT_EQ(format_age(120), "2m");
  EXPECT_EQ(format_age(7199), "119m");
  EXPECT_EQ(format_age(7200), "2h");
  EXPECT_EQ(format_age(3 * 86400), "3d");
  EXPECT_EQ(protocol::parse_rfc3339_ms("2026-11-22T10:00:00Z"), now_ms);
  EXPECT_EQ(protocol::parse_rfc3339_ms("2026-11-22T17:00:00.250+07:00"), now_ms + 250);
  EXPECT_FALSE(protocol::parse_rfc3339_ms("2026-11-22T10:00:00"));
  EXPECT_FALSE(protocol::parse_rfc3339_ms("2026-11-22T10:00:00Zjunk"));
}

}  // namespace
}  // namespace pos::ctl
