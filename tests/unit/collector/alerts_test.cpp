#include "pos/collector/alerts.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "collector_test_support.hpp"
#include "pos/collector/config.hpp"
#include "pos/common/config_reader.hpp"
#include "pos/protocol/event.hpp"

namespace pos::collector {
namespace {

namespace json = boost::json;

constexpr std::int64_t k_alerts_t0 = 1'795'000'000'000;
constexpr std::int64_t minute = 60'000;

AlertOptions options() {
  AlertOptions o;
  o.offline = std::chrono::minutes(5);
  o.backlog_age = std::chrono::minutes(15);
  o.clock_skew = std::chrono::seconds(120);
  o.rejected_rising_window = std::chrono::minutes(10);
  return o;
}

protocol::AgentStatus status_sent_at(std::int64_t sent_ms) {
  protocol::AgentStatus s;
  s.agent_version = "0.3.0";
  s.sent_at = protocol::format_rfc3339_utc_ms(sent_ms);
  return s;
}

protocol::AgentStatus offline_will() {
  protocol::AgentStatus s;
  s.state = protocol::AgentState::offline;
  return s;
}

/// A fleet on a fake clock: every call passes the time explicitly.
class AlertRulesTest : public ::testing::Test {
 protected:
  std::vector<FleetAlert> alerts_at(std::int64_t now_ms) {
    const TillView* till = fleet.find("S01", "T1");
    EXPECT_NE(till, nullptr);
    return till == nullptr ? std::vector<FleetAlert>{}
                           : evaluate_till(*till, fleet.state_of(*till, now_ms), now_ms, options());
  }
  bool has(std::int64_t now_ms, std::string_view rule) {
    for (const auto& a : alerts_at(now_ms)) {
      if (a.rule == rule) {
        return true;
      }
    }
    return false;
  }

  FleetState fleet{FleetOptions{std::chrono::seconds(90), 100}};
};

TEST_F(AlertRulesTest, OfflineRaisesStrictlyAfterTheThresholdAndClearsWhenSeenAgain) {
  fleet.on_status("S01", "T1", status_sent_at(k_alerts_t0), k_alerts_t0);
  fleet.on_status("S01", "T1", offline_will(), k_alerts_t0 + minute);
  EXPECT_FALSE(has(k_alerts_t0 + 6 * minute, "till_offline"));  // offline for exactly 5 min
  EXPECT_TRUE(has(k_alerts_t0 + 6 * minute + 1, "till_offline"));
  const auto alerts = alerts_at(k_alerts_t0 + 6 * minute + 1);
  ASSERT_EQ(alerts.size(), 1U);
  EXPECT_EQ(alerts[0].severity, "critical");
  EXPECT_EQ(alerts[0].since_ms, k_alerts_t0 + minute);
  EXPECT_EQ(alerts[0].message, "offline for 5 min");

  fleet.on_status("S01", "T1", status_sent_at(k_alerts_t0 + 7 * minute), k_alerts_t0 + 7 * minute);
  EXPECT_FALSE(has(k_alerts_t0 + 7 * minute, "till_offline"));
}

TEST_F(AlertRulesTest, NotSeenCountsFromTheLastMessage) {
  fleet.on_batch("S01", "T1", k_alerts_t0);
  EXPECT_FALSE(has(k_alerts_t0 + 5 * minute, "till_offline"));
  ASSERT_TRUE(has(k_alerts_t0 + 5 * minute + 1, "till_offline"));
  EXPECT_EQ(alerts_at(k_alerts_t0 + 5 * minute + 1)[0].message, "not seen for 5 min");
  fleet.on_batch("S01", "T1", k_alerts_t0 + 5 * minute + 2);
  EXPECT_FALSE(has(k_alerts_t0 + 5 * minute + 2, "till_offline"));
}

TEST_F(AlertRulesTest, BacklogAgeRaisesAtTheBoundaryAndClearsWhenAcked) {
  auto status = status_sent_at(k_alerts_t0);
  status.backlog_events = 40;
  status.oldest_unacked_at = protocol::format_rfc3339_utc_ms(k_alerts_t0);
  fleet.on_status("S01", "T1", status, k_alerts_t0);
  fleet.on_batch("S01", "T1", k_alerts_t0 + 15 * minute);  // still online
  EXPECT_FALSE(has(k_alerts_t0 + 15 * minute, "backlog_age"));
  ASSERT_TRUE(has(k_alerts_t0 + 15 * minute + 1, "backlog_age"));
  const auto alert = alerts_at(k_alerts_t0 + 15 * minute + 1)[0];
  EXPECT_EQ(alert.severity, "warning");
  EXPECT_EQ(alert.since_ms, k_alerts_t0);
  EXPECT_NE(alert.message.find("40 events waiting"), std::string::npos) << alert.message;

  auto drained = status_sent_at(k_alerts_t0 + 16 * minute);
  fleet.on_status("S01", "T1", drained,
                  k_alerts_t0 + 16 * minute);  // backlog empty: no oldest_unacked_at
  EXPECT_FALSE(has(k_alerts_t0 + 16 * minute, "backlog_age"));
}

TEST_F(AlertRulesTest, ClockSkewNeedsTwoStatusesBeyondTheLimitInOneDirection) {
  // Sent 120 s before arrival twice: exactly at the limit, no alert.
  fleet.on_status("S01", "T1", status_sent_at(k_alerts_t0 - 120'000), k_alerts_t0);
  fleet.on_status("S01", "T1", status_sent_at(k_alerts_t0 + 30'000 - 120'000),
                  k_alerts_t0 + 30'000);
  EXPECT_FALSE(has(k_alerts_t0 + 30'000, "clock_skew"));
  // One late status (e.g. retained) is not enough.
  fleet.on_status("S01", "T1", status_sent_at(k_alerts_t0 + 60'000 - 121'000),
                  k_alerts_t0 + 60'000);
  EXPECT_FALSE(has(k_alerts_t0 + 60'000, "clock_skew"));
  fleet.on_status("S01", "T1", status_sent_at(k_alerts_t0 + 90'000 - 121'000),
                  k_alerts_t0 + 90'000);
  ASSERT_TRUE(has(k_alerts_t0 + 90'000, "clock_skew"));
  const auto alert = alerts_at(k_alerts_t0 + 90'000)[0];
  EXPECT_EQ(alert.message, "till clock is 121 s behind the collector's");
  EXPECT_EQ(alert.since_ms, k_alerts_t0 + 90'000);

  // A till whose clock runs ahead: negative skew.
  fleet.on_status("S01", "T1", status_sent_at(k_alerts_t0 + 120'000 + 300'000),
                  k_alerts_t0 + 120'000);
  EXPECT_FALSE(has(k_alerts_t0 + 120'000, "clock_skew"));  // directions differ
  fleet.on_status("S01", "T1", status_sent_at(k_alerts_t0 + 150'000 + 300'000),
                  k_alerts_t0 + 150'000);
  ASSERT_TRUE(has(k_alerts_t0 + 150'000, "clock_skew"));
  EXPECT_EQ(alerts_at(k_alerts_t0 + 150'000)[0].message,
            "till clock is 5 min ahead of the collector's");

  // Corrected clock: clears with the next status.
  fleet.on_status("S01", "T1", status_sent_at(k_alerts_t0 + 180'000), k_alerts_t0 + 180'000);
  EXPECT_FALSE(has(k_alerts_t0 + 180'000, "clock_skew"));
}

TEST_F(AlertRulesTest, ClockSkewIsNotJudgedWhileOffline) {
  fleet.on_status("S01", "T1", status_sent_at(k_alerts_t0 - 600'000), k_alerts_t0);
  fleet.on_status("S01", "T1", status_sent_at(k_alerts_t0 - 570'000), k_alerts_t0 + 30'000);
  EXPECT_TRUE(has(k_alerts_t0 + 30'000, "clock_skew"));
  fleet.on_status("S01", "T1", offline_will(), k_alerts_t0 + 40'000);
  EXPECT_FALSE(has(k_alerts_t0 + 40'000, "clock_skew"));
}

TEST_F(AlertRulesTest, RejectedRisingHoldsForTheWindowAfterTheLastGrowth) {
  fleet.on_batch("S01", "T1", k_alerts_t0);
  fleet.on_counts("S01", "T1", {10, 0, 0, 0});
  EXPECT_FALSE(has(k_alerts_t0, "rejected_rising"));
  fleet.on_batch("S01", "T1", k_alerts_t0 + minute);
  fleet.on_counts("S01", "T1", {8, 0, 2, 0});
  fleet.on_batch("S01", "T1", k_alerts_t0 + 3 * minute);
  fleet.on_counts("S01", "T1", {8, 0, 1, 0});
  ASSERT_TRUE(has(k_alerts_t0 + 3 * minute, "rejected_rising"));
  auto alert = alerts_at(k_alerts_t0 + 3 * minute)[0];
  EXPECT_EQ(alert.since_ms, k_alerts_t0 + minute);
  EXPECT_EQ(alert.message, "3 events rejected (dead-lettered) in the last 10 min");
  // 10 min after the first growth only the second one is in the window.
  fleet.on_batch("S01", "T1", k_alerts_t0 + 11 * minute + 1);
  alert = alerts_at(k_alerts_t0 + 11 * minute + 1)[0];
  EXPECT_EQ(alert.message, "1 events rejected (dead-lettered) in the last 10 min");
  EXPECT_TRUE(
      has(k_alerts_t0 + 13 * minute, "rejected_rising"));  // exactly 10 min after the last growth
  EXPECT_FALSE(has(k_alerts_t0 + 13 * minute + 1, "rejected_rising"));
}

TEST_F(AlertRulesTest, CertExpiryWarnsWithinTheThresholdAndIsCriticalOnceExpired) {
  constexpr std::int64_t day = 24 * 60 * minute;
  const std::int64_t not_after = k_alerts_t0 + 40 * day;
  auto status = status_sent_at(k_alerts_t0);
  status.cert_not_after = protocol::format_rfc3339_utc_ms(not_after);
  fleet.on_status("S01", "T1", status, k_alerts_t0);
  const auto with_options = [&](std::int64_t now_ms) {
    return check_cert_expiry(*fleet.find("S01", "T1"), now_ms, options());
  };
  EXPECT_FALSE(with_options(not_after - 30 * day - 1));
  const auto warning = with_options(not_after - 30 * day);
  ASSERT_TRUE(warning);
  EXPECT_EQ(warning->rule, "cert_expiry");
  EXPECT_EQ(warning->severity, "warning");
  EXPECT_EQ(warning->since_ms, not_after - 30 * day);
  EXPECT_NE(warning->message.find("expires in 30 d 0 h"), std::string::npos) << warning->message;
  EXPECT_NE(warning->message.find(protocol::format_rfc3339_utc_ms(not_after).substr(0, 10)),
            std::string::npos)
      << warning->message;
  EXPECT_EQ(with_options(not_after - 1)->severity, "warning");
  const auto expired = with_options(not_after);
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->severity, "critical");
  EXPECT_NE(expired->message.find("expired"), std::string::npos) << expired->message;

  // A renewed certificate (a later notAfter in the next status) clears it.
  status.cert_not_after = protocol::format_rfc3339_utc_ms(not_after + 365 * day);
  fleet.on_status("S01", "T1", status, not_after);
  EXPECT_FALSE(with_options(not_after));
  // The last will carries no notAfter: the last one reported is kept.
  fleet.on_status("S01", "T1", offline_will(), not_after + 1);
  EXPECT_EQ(fleet.find("S01", "T1")->cert_not_after_ms, not_after + 365 * day);
}

TEST_F(AlertRulesTest, NoCertificateInTheStatusNoCertExpiry) {
  fleet.on_status("S01", "T1", status_sent_at(k_alerts_t0), k_alerts_t0);
  EXPECT_FALSE(has(k_alerts_t0 + 10'000 * minute, "cert_expiry"));
}

TEST(AlertTrackerTest, FleetJsonShowsTheCertificateExpiry) {
  FleetState fleet;
  auto status = status_sent_at(k_alerts_t0);
  status.cert_not_after = protocol::format_rfc3339_utc_ms(k_alerts_t0 + 3 * 86'400'000 + 5);
  fleet.on_status("S01", "T1", status, k_alerts_t0);
  fleet.on_status("S01", "T2", status_sent_at(k_alerts_t0), k_alerts_t0);
  const auto doc = json::parse(fleet.to_json(k_alerts_t0)).as_object();
  const auto& t1 = doc.at("tills").as_array()[0].as_object();
  EXPECT_EQ(t1.at("cert_not_after").as_string(),
            protocol::format_rfc3339_utc_ms(k_alerts_t0 + 3 * 86'400'000 + 5));
  EXPECT_EQ(t1.at("cert_days_left").as_int64(), 3);
  const auto& t2 = doc.at("tills").as_array()[1].as_object();
  EXPECT_TRUE(t2.at("cert_not_after").is_null());
  EXPECT_TRUE(t2.at("cert_days_left").is_null());
  const auto later = json::parse(fleet.to_json(k_alerts_t0 + 4 * 86'400'000)).as_object();
  EXPECT_EQ(later.at("tills").as_array()[0].at("cert_days_left").as_int64(), -1);
}

TEST(RejectedHistoryTest, BucketsAreBoundedPerTill) {
  FleetState fleet;
  for (std::int64_t i = 0; i < 200; ++i) {
    fleet.on_batch("S01", "T1", k_alerts_t0 + i * 2 * minute);
    fleet.on_counts("S01", "T1", {0, 0, 1, 0});
  }
  const TillView* till = fleet.find("S01", "T1");
  ASSERT_NE(till, nullptr);
  EXPECT_EQ(till->rejected_growth.size(), max_rejected_buckets);
  EXPECT_EQ(till->rejected_total, 200U);
  // Growth within one bucket span is merged.
  fleet.on_batch("S01", "T2", k_alerts_t0);
  fleet.on_counts("S01", "T2", {0, 0, 1, 0});
  fleet.on_batch("S01", "T2", k_alerts_t0 + 59'000);
  fleet.on_counts("S01", "T2", {0, 0, 4, 0});
  ASSERT_EQ(fleet.find("S01", "T2")->rejected_growth.size(), 1U);
  EXPECT_EQ(fleet.find("S01", "T2")->rejected_growth.front().count, 5U);
}

TEST(AlertTrackerTest, KeepsSinceWhileActiveAndReportsRaiseAndClear) {
  FleetState fleet(FleetOptions{std::chrono::seconds(90), 100});
  AlertTracker tracker(options());
  fleet.on_batch("S02", "T1", k_alerts_t0);
  fleet.on_batch("S01", "T1", k_alerts_t0);
  EXPECT_TRUE(tracker.update(fleet, k_alerts_t0).raised.empty());

  auto changes = tracker.update(fleet, k_alerts_t0 + 5 * minute + 1);
  ASSERT_EQ(changes.raised.size(), 2U);
  EXPECT_TRUE(changes.cleared.empty());
  EXPECT_EQ(tracker.size(), 2U);
  changes = tracker.update(fleet, k_alerts_t0 + 9 * minute);
  EXPECT_TRUE(changes.raised.empty());
  const auto active = tracker.active();
  ASSERT_EQ(active.size(), 2U);
  EXPECT_EQ(active[0].store_id, "S01");  // sorted by store
  EXPECT_EQ(active[0].since_ms, k_alerts_t0);
  EXPECT_EQ(active[0].message, "not seen for 9 min");  // message follows the latest evaluation

  fleet.on_batch("S01", "T1", k_alerts_t0 + 10 * minute);
  changes = tracker.update(fleet, k_alerts_t0 + 10 * minute);
  ASSERT_EQ(changes.cleared.size(), 1U);
  EXPECT_EQ(changes.cleared[0].store_id, "S01");
  EXPECT_EQ(tracker.size(), 1U);
}

TEST(AlertTrackerTest, FleetJsonCarriesAlertsPerTillAndAtTheTop) {
  FleetState fleet(FleetOptions{std::chrono::seconds(90), 100});
  AlertTracker tracker(options());
  fleet.on_batch("S01", "T1", k_alerts_t0);
  fleet.on_batch("S01", "T2", k_alerts_t0 + 4 * minute);
  tracker.update(fleet, k_alerts_t0 + 6 * minute);
  const auto doc =
      json::parse(fleet.to_json(k_alerts_t0 + 6 * minute, tracker.active())).as_object();

  const auto& alerts = doc.at("alerts").as_array();
  ASSERT_EQ(alerts.size(), 1U);
  const auto& alert = alerts[0].as_object();
  EXPECT_EQ(alert.at("rule").as_string(), "till_offline");
  EXPECT_EQ(alert.at("severity").as_string(), "critical");
  EXPECT_EQ(alert.at("store_id").as_string(), "S01");
  EXPECT_EQ(alert.at("till_id").as_string(), "T1");
  EXPECT_EQ(alert.at("message").as_string(), "not seen for 6 min");
  EXPECT_EQ(alert.at("since").as_string(), protocol::format_rfc3339_utc_ms(k_alerts_t0).c_str());

  const auto& tills = doc.at("tills").as_array();
  ASSERT_EQ(tills.size(), 2U);
  const auto& t1_alerts = tills[0].at("alerts").as_array();
  ASSERT_EQ(t1_alerts.size(), 1U);
  EXPECT_EQ(t1_alerts[0].as_string(), "till_offline");
  EXPECT_TRUE(tills[1].at("alerts").as_array().empty());
  EXPECT_EQ(tills[0].at("state").as_string(), "stale");

  // Without alerts both lists are present and empty.
  const auto quiet = json::parse(fleet.to_json(k_alerts_t0)).as_object();
  EXPECT_TRUE(quiet.at("alerts").as_array().empty());
  EXPECT_TRUE(quiet.at("tills").as_array()[0].at("alerts").as_array().empty());
}

TEST(AlertTrackerTest, FleetJsonShowsClockSkewSeconds) {
  FleetState fleet;
  fleet.on_status("S01", "T1", status_sent_at(k_alerts_t0 - 1500), k_alerts_t0);
  const auto doc = json::parse(fleet.to_json(k_alerts_t0)).as_object();
  EXPECT_DOUBLE_EQ(doc.at("tills").as_array()[0].at("clock_skew_s").to_number<double>(), 1.5);
}

TEST(AlertMetricsTest, GaugePerRuleAndPerTill) {
  FleetAlert a{"till_offline", "critical", "S01", "T1", "offline for 6 min", k_alerts_t0};
  FleetAlert b{"backlog_age", "warning", "S01", "T1", "old", k_alerts_t0};
  const auto text = alerts_metrics_text({a, b});
  EXPECT_NE(text.find("# TYPE poscollector_alerts_active gauge\n"), std::string::npos);
  EXPECT_NE(text.find("poscollector_alerts_active{rule=\"till_offline\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("poscollector_alerts_active{rule=\"clock_skew\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("poscollector_till_alert{store_id=\"S01\",till_id=\"T1\","
                      "rule=\"backlog_age\"} 1\n"),
            std::string::npos);
  FleetAlert odd{"till_offline", "critical", "S\"1\\", "T\n", "x", k_alerts_t0};
  EXPECT_NE(alerts_metrics_text({odd}).find(R"(store_id="S\"1\\",till_id="T\n")"),
            std::string::npos);
}

std::string config_error(const std::string& alerts_section) {
  try {
    parse_collector_config(test::minimal_collector_config() + "[alerts]\n" + alerts_section);
  } catch (const common::StartupError& e) {
    return e.what();
  }
  return "";
}

TEST(AlertConfigTest, DefaultsAndOverrides) {
  const auto defaults = parse_collector_config(test::minimal_collector_config());
  EXPECT_EQ(defaults.alerts.offline, std::chrono::minutes(5));
  EXPECT_EQ(defaults.alerts.backlog_age, std::chrono::minutes(15));
  EXPECT_EQ(defaults.alerts.clock_skew, std::chrono::seconds(120));
  EXPECT_EQ(defaults.alerts.rejected_rising_window, std::chrono::minutes(10));
  EXPECT_EQ(defaults.alerts.cert_expiry, std::chrono::days(30));
  const auto c = parse_collector_config(test::minimal_collector_config() +
                                        "[alerts]\noffline_minutes = 2\nbacklog_age_minutes = 30\n"
                                        "clock_skew_seconds = 5\n"
                                        "rejected_rising_window_minutes = 60\n"
                                        "cert_expiry_days = 60\n");
  EXPECT_EQ(c.alerts.offline, std::chrono::minutes(2));
  EXPECT_EQ(c.alerts.backlog_age, std::chrono::minutes(30));
  EXPECT_EQ(c.alerts.clock_skew, std::chrono::seconds(5));
  EXPECT_EQ(c.alerts.rejected_rising_window, std::chrono::minutes(60));
  EXPECT_EQ(c.alerts.cert_expiry, std::chrono::days(60));
}

TEST(AlertConfigTest, BadValuesNameTheKey) {
  for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
           {"offline_minutes = 0\n", "alerts.offline_minutes"},
           {"offline_minutes = \"5\"\n", "alerts.offline_minutes"},
           {"backlog_age_minutes = -1\n", "alerts.backlog_age_minutes"},
           {"clock_skew_seconds = 86401\n", "alerts.clock_skew_seconds"},
           {"rejected_rising_window_minutes = 61\n", "alerts.rejected_rising_window_minutes"},
           {"offline_minuts = 5\n", "alerts.offline_minuts"},
           {"cert_expiry_days = 0\n", "alerts.cert_expiry_days"},
           {"cert_expiry_days = 3651\n", "alerts.cert_expiry_days"},
       }) {
    const auto error = config_error(text);
    EXPECT_NE(error.find(key), std::string::npos) << text << " -> " << error;
  }
}

}  // namespace
}  // namespace pos::collector
