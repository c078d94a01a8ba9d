// posfleet against a real mosquitto (TLS, client certificates, the production ACL) and a real
// poscollector with the file sink: every event arrives, a collector restart is survived by
// resending, and usage errors exit 2.
#include <gtest/gtest.h>

#include <set>

#include "fleet_harness.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::test {
namespace {

using namespace std::chrono_literals;

/// Every till's seqs 1..max present, the total equal to what posfleet acknowledged.
void expect_complete(const SinkCount& sink, double events_acked, std::uint32_t tills,
                     bool exactly_once) {
  std::map<std::string, std::set<std::uint64_t>> seqs;
  for (const auto& [id, copies] : sink.events) {
    auto parts = protocol::parse_event_id(id);
    ASSERT_TRUE(parts) << id;
    seqs[parts->store_id + "/" + parts->till_id].insert(parts->seq);
    if (exactly_once) {
      EXPECT_EQ(copies, 1U) << id << " written " << copies << " times";
    }
  }
  EXPECT_EQ(sink.dead_letters, 0U);
  EXPECT_EQ(seqs.size(), tills);
  for (const auto& [till, set] : seqs) {
    EXPECT_EQ(*set.begin(), 1U) << till;
    EXPECT_EQ(*set.rbegin(), set.size()) << till << ": a gap in its seqs";
  }
  EXPECT_EQ(static_cast<double>(sink.events.size()), events_acked);
}

class PosfleetTest : public ::testing::Test {
 protected:
  PosfleetTest() : m_pki(m_dir.path()), m_broker(m_pki) {
    issue_fleet_pki(m_pki, m_dir.path() / "fleet-pki", 50);
  }
  TempDir m_dir{"posfleet-test"};
  TestPki m_pki;
  MosquittoBroker m_broker;
};

TEST_F(PosfleetTest, FiftyTillsDeliverEveryEventExactlyOnce) {
  const auto sink = m_dir.path() / "sink";
  FileSinkCollector collector(m_dir.path() / "collector", m_pki, m_broker.uri(), sink,
                              "collector-1");
  collector.start();
  auto args = posfleet_run_args(m_broker.uri(), m_pki, m_dir.path() / "fleet-pki");
  const auto json = m_dir.path() / "summary.json";
  args.insert(args.end(), {"--tills", "50", "--rate", "20", "--duration", "4", "--connect-rate",
                           "100", "--batch-delay-ms", "100", "--json", json.string()});
  const auto log = m_dir.path() / "posfleet.log";
  auto fleet = start_posfleet(args, log);
  ASSERT_EQ(fleet.wait(), 0) << read_text_file(log) << collector.log();
  const auto summary = read_fleet_summary(log);
  EXPECT_EQ(summary.at("tills_connected"), 50);
  EXPECT_GT(summary.at("events_acked"), 50 * 20 * 3);
  EXPECT_EQ(summary.at("events_acked"), summary.at("events_offered"));
  EXPECT_EQ(summary.at("batches_unacked"), 0);
  EXPECT_NE(read_text_file(json).find("\"ack_latency_p99_ms\":"), std::string::npos);
  collector.terminate();
  expect_complete(count_sink({sink}), summary.at("events_acked"), 50, true);
}

TEST_F(PosfleetTest, CollectorRestartMidRunLosesNothing) {
  const auto sink = m_dir.path() / "sink";
  FileSinkCollector collector(m_dir.path() / "collector", m_pki, m_broker.uri(), sink,
                              "collector-1");
  collector.start();
  auto args = posfleet_run_args(m_broker.uri(), m_pki, m_dir.path() / "fleet-pki");
  args.insert(args.end(), {"--tills", "50", "--rate", "20", "--duration", "12", "--connect-rate",
                           "200", "--ack-timeout-ms", "2000", "--drain-timeout", "30"});
  const auto log = m_dir.path() / "posfleet.log";
  auto fleet = start_posfleet(args, log);
  // Kill the collector mid-run, once events flow (not after a fixed time, which on a loaded
  // machine can fall before the first batch).
  ASSERT_TRUE(test::wait_until(
      [&] { return std::filesystem::exists(sink) && count_sink({sink}).lines >= 500; }, 30s,
      "500 events in the sink before the kill"))
      << read_text_file(log) << collector.log();
  collector.kill9();
  std::this_thread::sleep_for(2s);  // the outage: posfleet's acks time out meanwhile
  collector.start();
  ASSERT_EQ(fleet.wait(), 0) << read_text_file(log) << collector.log();
  const auto summary = read_fleet_summary(log);
  EXPECT_EQ(summary.at("batches_unacked"), 0);
  EXPECT_EQ(summary.at("events_acked"), summary.at("events_offered"));
  EXPECT_GT(summary.at("ack_timeouts") + summary.at("resend_requests"), 0)
      << "the outage should have made posfleet resend";
  collector.terminate();
  // A collector killed between its publish and its commit may write an event twice (SPEC).
  expect_complete(count_sink({sink}), summary.at("events_acked"), 50, false);
}

TEST_F(PosfleetTest, BadArgumentExitsTwoNamingIt) {
  const auto log = m_dir.path() / "usage.log";
  auto fleet = start_posfleet({"run", "--broker", m_broker.uri(), "--tills", "many"}, log);
  EXPECT_EQ(fleet.wait(), 2);
  EXPECT_NE(read_text_file(log).find("--tills: must be an integer"), std::string::npos)
      << read_text_file(log);
  auto missing =
      start_posfleet({"run", "--broker", m_broker.uri(), "--ca", m_pki.ca_cert().string(),
                      "--pki-dir", (m_dir.path() / "nowhere").string()},
                     log);
  EXPECT_EQ(missing.wait(), 1);
  EXPECT_NE(read_text_file(log).find("--pki-dir"), std::string::npos) << read_text_file(log);
}

}  // namespace
}  // namespace pos::test
