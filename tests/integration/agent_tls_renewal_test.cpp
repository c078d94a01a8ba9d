// A till's certificate renewed in place, and a CA rotation with an overlap, against a real
// posagent and a real mosquitto with the production config: the broker trusts the old and the
// new CA; the till's certificate and key files are replaced by ones from the new CA while the
// agent runs; the agent notices, reconnects with them (no restart) and keeps forwarding; then the
// broker drops the old CA (a restart), and the agent's next connection gets through, which it
// can only with the new certificate. The events before reach the collector stand-in once, in
// order.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "agent_harness.hpp"
#include "pos/common/certificate_expiry.hpp"
#include "pos/protocol/event.hpp"
#include "support/mosquitto.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"

namespace pos::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

void post_events(std::uint16_t port, int from, int count) {
  std::string body = "[";
  for (int i = from; i < from + count; ++i) {
    body += (i == from ? "" : ",") + sale_event("tls-" + std::to_string(i), "S07", "T1");
  }
  const auto reply = http_request(port, "POST", "/v1/events", "application/json", body + "]");
  ASSERT_EQ(reply.status, 200) << reply.body;
  ASSERT_EQ(boost::json::parse(reply.body).at("accepted").as_int64(), count) << reply.body;
}

/// Replaces `to` with a copy of `from` the way an installer should: a new file renamed over it.
void install(const fs::path& from, const fs::path& to) {
  const fs::path tmp = to.string() + ".new";
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
  fs::permissions(tmp, fs::status(to).permissions());
  fs::rename(tmp, to);
}

void write_ca_file(const fs::path& path, const std::vector<fs::path>& cas) {
  std::string text;
  for (const auto& ca : cas) {
    text += read_text_file(ca);
  }
  std::ofstream(path, std::ios::trunc) << text;
}

boost::json::object agent_status(const AgentProcess& agent) {
  return boost::json::parse(http_request(agent.port(), "GET", "/v1/status").body).as_object();
}

TEST(AgentTlsRenewal, ARenewedCertificateFromANewCaIsUsedWithoutARestart) {
  TempDir dir{"agent-tls-renewal"};
  fs::create_directories(dir.path() / "old-ca");
  fs::create_directories(dir.path() / "new-ca");
  TestPki old_ca(dir.path() / "old-ca");
  TestPki new_ca(dir.path() / "new-ca");
  const fs::path client_cas = dir.path() / "client-cas.pem";
  write_ca_file(client_cas, {old_ca.ca_cert(), new_ca.ca_cert()});
  MosquittoBroker broker(BrokerTls{client_cas, old_ca.server()}, MosquittoOptions{});

  auto collector = std::make_unique<AckingCollector>(broker, old_ca);  // stays connected
  AgentProcess agent(dir.path() / "agent", old_ca, broker.uri(), "S07", "T1");
  agent.start();
  post_events(agent.port(), 1, 5);
  ASSERT_TRUE(collector->wait_for_mark("S07", "T1", 5, 20s));
  const auto reconnects_before = agent_status(agent).at("reconnects_total").as_int64();

  // Renewal from the new CA, installed over the files the agent's config names: key first, so
  // the agent may see the new key with the old certificate for a moment (not usable: waited out).
  const CertKey renewed = new_ca.issue_client(till_common_name("S07", "T1"));
  const CertKey in_use{old_ca.dir() / "client-S07_T1.crt", old_ca.dir() / "client-S07_T1.key"};
  install(renewed.key, in_use.key);
  install(renewed.cert, in_use.cert);
  ASSERT_TRUE(wait_until(
      [&] {
        const auto status = agent_status(agent);
        return status.at("reconnects_total").as_int64() > reconnects_before &&
               status.at("broker_connected").as_bool();
      },
      30s, "the agent to reconnect with the renewed certificate", 100ms))
      << agent.log();
  EXPECT_NE(agent.log().find("TLS files changed on disk: reconnecting"), std::string::npos)
      << agent.log();
  const auto renewed_not_after = common::certificate_not_after_ms(renewed.cert);
  ASSERT_TRUE(renewed_not_after) << renewed_not_after.error().message;
  EXPECT_EQ(agent_status(agent).at("cert_not_after").as_string(),
            protocol::format_rfc3339_utc_ms(*renewed_not_after))
      << "the status reports the certificate in use";
  post_events(agent.port(), 6, 5);
  ASSERT_TRUE(collector->wait_for_mark("S07", "T1", 10, 20s));

  auto received = collector->till("S07", "T1");
  ASSERT_EQ(received.lines.size(), 10U);
  EXPECT_EQ(received.lines.begin()->first, 1U);
  EXPECT_EQ(received.lines.rbegin()->first, 10U);
  EXPECT_EQ(received.gaps, 0U);

  // The broker drops the old CA. It is restarted: mosquitto 2.0.11 kept accepting certificates
  // of the dropped CA after a SIGHUP (docs/operations.md, "Rotate certificates"). The collector
  // stand-in's certificate is from the old CA, so it leaves; the agent connects, which it can
  // only with the new certificate, and keeps accepting events.
  collector.reset();
  write_ca_file(client_cas, {new_ca.ca_cert()});
  const auto reconnects_renewed = agent_status(agent).at("reconnects_total").as_int64();
  broker.restart();
  ASSERT_TRUE(wait_until(
      [&] {
        const auto status = agent_status(agent);
        return status.at("reconnects_total").as_int64() > reconnects_renewed &&
               status.at("broker_connected").as_bool();
      },
      60s, "the agent to connect to the broker that trusts only the new CA", 100ms))
      << agent.log();
  post_events(agent.port(), 11, 5);
  EXPECT_EQ(agent.terminate(), 0);
}

}  // namespace
}  // namespace pos::test
