#include "pos/collector/http_api.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "collector_test_support.hpp"
#include "fake_sink.hpp"
#include "support/fake_transport.hpp"

namespace pos::collector {
namespace {

constexpr std::uint64_t epoch = 0x1122334455667788ULL;

/// The API over real components (a MarkStore in a temp dir, the fleet view, the live view) and
/// fakes at the sink and transport seams; the probes are plain flags.
class HttpApiTest : public ::testing::Test {
 protected:
  common::HttpResponse get(const std::string& target, const std::string& method = "GET") {
    return m_api.handle(common::HttpRequest{method, target, "", ""});
  }

  std::unique_ptr<MarkStore> open_marks() {
    MarkStoreOptions options;
    options.path = m_dir.path() / "collector.db";
    options.group_window = std::chrono::microseconds(0);
    return std::move(*MarkStore::open(options, m_io.get_executor(), m_clock));
  }

  test::TempDir m_dir;
  boost::asio::io_context m_io;
  test::ManualClock m_clock;
  test::FakeSink m_sink{m_io.get_executor()};
  pos::test::FakeTransport m_transport{m_io.get_executor()};
  std::unique_ptr<MarkStore> m_marks = open_marks();
  FleetState m_fleet;
  AlertTracker m_alerts;
  LiveView m_live{m_io.get_executor(), m_clock, LiveViewOptions{}};
  BatchProcessor m_processor{m_io.get_executor(),
                             m_sink,
                             *m_marks,
                             m_transport,
                             {&m_fleet, &m_live},
                             m_clock,
                             protocol::DictionaryLookup{},
                             BatchProcessorOptions{}};
  bool m_healthy = true;
  bool m_connected = true;
  bool m_stopping = false;
  HttpApi m_api{m_processor,
                *m_marks,
                m_sink,
                m_fleet,
                m_alerts,
                m_live,
                m_clock,
                HttpProbes{.healthy = [this] { return m_healthy; },
                           .broker_connected = [this] { return m_connected; },
                           .stopping = [this] { return m_stopping; },
                           .leases = {},
                           .extra_metrics = {},
                           .reloads = {},
                           .config_document = {}}};
};

TEST_F(HttpApiTest, OnlyGetAndHeadAreAllowed) {
  const auto response = get("/v1/fleet", "POST");
  EXPECT_EQ(response.status, 405);
  ASSERT_EQ(response.headers.size(), 1U);
  EXPECT_EQ(response.headers[0].second, "GET, HEAD");
  EXPECT_EQ(get("/v1/fleet", "HEAD").status, 200);
}

TEST_F(HttpApiTest, UnknownPathsAre404AndTheQueryIsIgnored) {
  EXPECT_EQ(get("/v1/nothing").status, 404);
  EXPECT_EQ(get("/v1/kpis?x=1").status, 200);
  EXPECT_EQ(get("/").status, 200) << "the dashboard";
}

TEST_F(HttpApiTest, ReadyzNamesTheFirstReasonInOrder) {
  EXPECT_EQ(get("/readyz").status, 200);
  EXPECT_EQ(get("/readyz").body, "ready\n");
  m_sink.fake_healthy = false;
  EXPECT_EQ(get("/readyz").body, "sink not healthy\n");
  m_connected = false;
  EXPECT_EQ(get("/readyz").body, "broker not connected\n");
  m_stopping = true;
  const auto response = get("/readyz");
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.body, "stopping\n");
}

TEST_F(HttpApiTest, TheReadyGaugeFollowsReadyz) {
  EXPECT_NE(get("/metrics").body.find("\nposcollector_ready 1\n"), std::string::npos);
  m_sink.fake_healthy = false;
  EXPECT_NE(get("/metrics").body.find("\nposcollector_ready 0\n"), std::string::npos);
  m_sink.fake_healthy = true;
  m_connected = false;
  EXPECT_NE(get("/metrics").body.find("\nposcollector_ready 0\n"), std::string::npos);
}

TEST_F(HttpApiTest, HealthzFollowsTheProbe) {
  EXPECT_EQ(get("/healthz").status, 200);
  m_healthy = false;
  EXPECT_EQ(get("/healthz").status, 503);
}

TEST_F(HttpApiTest, FleetStatsAndMetricsShowWhatThePipelineSaw) {
  m_processor.handle_message(
      {"pos/v1/S07/T1/batch", test::encode(epoch, 1, test::lines_for("S07", "T1", epoch, 1, 3))});
  ASSERT_TRUE(test::run_until(m_io, [&] { return m_processor.stats().batches_acked == 1; }));

  const auto fleet = boost::json::parse(get("/v1/fleet").body).as_object();
  const auto& tills = fleet.at("tills").as_array();
  ASSERT_EQ(tills.size(), 1U);
  EXPECT_EQ(tills[0].at("till_id").as_string(), "T1");
  EXPECT_EQ(tills[0].at("published_total").as_int64(), 3);

  const auto stats = boost::json::parse(get("/v1/stats").body).as_object();
  EXPECT_EQ(stats.at("tills_online").as_int64(), 1) << get("/v1/stats").body;

  const auto metrics = get("/metrics");
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4");
  EXPECT_NE(metrics.body.find("\nposcollector_batches_acked_total 1\n"), std::string::npos);
  EXPECT_NE(metrics.body.find("\nposcollector_events_published_total 3\n"), std::string::npos);
  EXPECT_NE(metrics.body.find("poscollector_tills{state=\"online\"} 1\n"), std::string::npos);
  EXPECT_NE(metrics.body.find("poscollector_publish_latency_seconds_count 1\n"), std::string::npos);
  EXPECT_EQ(m_live.stats().events_observed, 3U) << "the live view observed the published events";
  EXPECT_NE(metrics.body.find("# TYPE poscollector_kpi_events_total counter\n"), std::string::npos);
}

TEST_F(HttpApiTest, FleetParametersPageTheRowsAndABadOneIs400NamingIt) {
  for (const char* till : {"T1", "T2", "T3"}) {
    m_processor.handle_message({std::string("pos/v1/S07/") + till + "/batch",
                                test::encode(epoch, 1, test::lines_for("S07", till, epoch, 1, 1))});
  }
  ASSERT_TRUE(test::run_until(m_io, [&] { return m_processor.stats().batches_acked == 3; }));

  const auto all = boost::json::parse(get("/v1/fleet").body).as_object();
  EXPECT_EQ(all.at("tills").as_array().size(), 3U);
  EXPECT_FALSE(all.contains("next")) << "no parameter: every row, the SPEC shape only";

  const auto page = boost::json::parse(get("/v1/fleet?store=S07&limit=2").body).as_object();
  ASSERT_EQ(page.at("tills").as_array().size(), 2U);
  EXPECT_EQ(page.at("matched").as_int64(), 3);
  EXPECT_EQ(page.at("next").as_string(), "3.S07.T2");
  const auto rest = boost::json::parse(get("/v1/fleet?store=S07&limit=2&cursor=3.S07.T2").body);
  EXPECT_EQ(rest.at("tills").as_array().size(), 1U);
  EXPECT_TRUE(rest.at("next").is_null());

  const auto bad = get("/v1/fleet?limit=5000");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body, "bad parameter: limit: must be an integer in 1..1000 (got \"5000\")\n");
  EXPECT_EQ(get("/v1/fleet?color=red").status, 400);

  const auto summary = boost::json::parse(get("/v1/fleet/summary").body).as_object();
  EXPECT_EQ(summary.at("tills").as_int64(), 3);
  EXPECT_EQ(summary.at("stores").as_array()[0].at("online").as_int64(), 3);
  EXPECT_EQ(get("/v1/fleet/summary?store=S07").status, 400);
}

}  // namespace
}  // namespace pos::collector
