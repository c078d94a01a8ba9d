// SIGHUP reloads a running poscollector's configuration (docs/collector.md, "Changing settings
// without a restart"): alert thresholds and the log level change in the running process with
// nothing lost; a key that needs a restart, or a file that does not load, changes nothing.

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <fstream>
#include <string>

#include "collector_harness.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/messages.hpp"
#include "support/wait.hpp"

namespace pos::test {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t reload_epoch = 0x0123456789abcdefULL;

/// One broker, one emulator and one collector per test (each test runs in its own process).
class CollectorReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(m_dir.path() / "pki");
    m_pki = std::make_unique<TestPki>(m_dir.path() / "pki");
    m_broker = std::make_unique<MosquittoBroker>(*m_pki);
    m_emulator = std::make_unique<PubSubEmulator>();
    create_pubsub_resources(*m_emulator);
    m_collector = std::make_unique<CollectorProcess>(m_dir.path() / "collector", *m_pki,
                                                     m_broker->uri(), m_emulator->host_port());
    m_collector->start();
  }

  std::filesystem::path config_path() const {
    return m_dir.path() / "collector" / "poscollector.toml";
  }

  /// Rewrites the collector's configuration file as `edit` changes its text.
  template <class Edit>
  void edit_config(Edit edit) const {
    auto text = read_text_file(config_path());
    edit(text);
    std::ofstream(config_path(), std::ios::trunc) << text;
  }

  boost::json::object get_json(const std::string& path) const {
    const auto reply = http_request(m_collector->port(), "GET", path);
    if (reply.status != 200) {
      return {};
    }
    return boost::json::parse(reply.body).as_object();
  }

  /// Sends SIGHUP and waits until GET /v1/config counts `reloads` reloads in all.
  ::testing::AssertionResult reload(std::int64_t reloads) const {
    if (::kill(m_collector->pid(), SIGHUP) != 0) {
      return ::testing::AssertionFailure() << "kill: " << std::strerror(errno);
    }
    return wait_until(
        [&] {
          const auto config = get_json("/v1/config");
          if (!config.contains("reloads")) {
            return false;
          }
          std::int64_t total = 0;
          for (const auto& [result, count] : config.at("reloads").as_object()) {
            total += count.to_number<std::int64_t>();
          }
          return total >= reloads;
        },
        10s, "the collector to count the reload");
  }

  std::string last_result() const {
    const auto config = get_json("/v1/config");
    const auto* last = config.if_contains("last_reload");
    return last == nullptr || last->is_null() ? "" : std::string(last->at("result").as_string());
  }

  /// The alert rules /v1/fleet lists for store/till.
  std::vector<std::string> alerts_of(const std::string& store, const std::string& till) const {
    std::vector<std::string> out;
    const auto fleet = get_json("/v1/fleet");
    const auto* alerts = fleet.if_contains("alerts");
    if (alerts == nullptr) {
      return out;
    }
    for (const auto& alert : alerts->as_array()) {
      const auto& a = alert.as_object();
      if (a.at("store_id").as_string() == store && a.at("till_id").as_string() == till) {
        out.emplace_back(a.at("rule").as_string());
      }
    }
    return out;
  }

  bool has_alert(const std::string& rule) const {
    const auto rules = alerts_of("S02", "T1");
    return std::find(rules.begin(), rules.end(), rule) != rules.end();
  }

  /// Publishes a retained online status for S02/T1 whose certificate expires in 20 days.
  void publish_status_expiring_in_20_days() {
    m_status_client = std::make_unique<TestMqttClient>(
        TestMqttClientOptions{m_broker->uri(), "status-S02-T1", m_pki->ca_cert(),
                              m_pki->issue_client(till_common_name("S02", "T1"))});
    m_status_client->connect();
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    protocol::AgentStatus status;
    status.agent_version = "test";
    status.sent_at = protocol::format_rfc3339_utc_ms(now_ms);
    status.cert_not_after = protocol::format_rfc3339_utc_ms(now_ms + 20LL * 24 * 3600 * 1000);
    m_status_client->publish("pos/v1/S02/T1/status", protocol::encode_status(status), 1, true);
  }

  TempDir m_dir{"collector-reload"};
  std::unique_ptr<TestPki> m_pki;
  std::unique_ptr<MosquittoBroker> m_broker;
  std::unique_ptr<PubSubEmulator> m_emulator;
  std::unique_ptr<CollectorProcess> m_collector;
  std::unique_ptr<TestMqttClient> m_status_client;
};

// (1) The log level and an alert threshold change in the running collector: the alert list
// follows at once, the same process keeps publishing and acknowledging, nothing is lost.
TEST_F(CollectorReloadTest, AlertThresholdAndLogLevelApplyLive) {
  FakeTill till(*m_broker, *m_pki, "S01", "T1");
  till.send(reload_epoch, 1, 5);
  ASSERT_EQ(till.wait_ack(reload_epoch, 5, 15s), 5U) << m_collector->log();
  publish_status_expiring_in_20_days();
  ASSERT_TRUE(wait_until([&] { return has_alert("cert_expiry"); }, 15s,
                         "cert_expiry with the default 30 days"))
      << m_collector->log();
  const auto pid = m_collector->pid();

  edit_config([](std::string& text) {
    text = "log_level = \"debug\"\n" + text + "\n[alerts]\ncert_expiry_days = 10\n";
  });
  ASSERT_TRUE(reload(1)) << m_collector->log();
  EXPECT_EQ(last_result(), "applied") << m_collector->log();
  EXPECT_FALSE(has_alert("cert_expiry")) << "20 days left is beyond the new 10";
  const auto config = get_json("/v1/config");
  EXPECT_EQ(config.at("log_level").as_string(), "debug");
  EXPECT_EQ(config.at("alerts").at("cert_expiry_days").as_int64(), 10);
  EXPECT_NE(
      m_collector->log().find("config reload applied: changed: log_level, alerts.cert_expiry_days"),
      std::string::npos)
      << m_collector->log();
  const auto metrics = http_request(m_collector->port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("poscollector_config_reloads_total{result=\"applied\"} 1"),
            std::string::npos)
      << metrics;

  // Back to 30 days: the alert returns.
  edit_config([](std::string& text) {
    text.replace(text.find("cert_expiry_days = 10"), 21, "cert_expiry_days = 30");
  });
  ASSERT_TRUE(reload(2)) << m_collector->log();
  EXPECT_TRUE(has_alert("cert_expiry"));

  till.send(reload_epoch, 6, 5);
  ASSERT_EQ(till.wait_ack(reload_epoch, 10, 15s), 10U) << m_collector->log();
  EXPECT_EQ(m_emulator->pull_all(test_project, events_sub, 10, 20s).size(), 10U);
  EXPECT_TRUE(m_collector->running());
  EXPECT_EQ(m_collector->pid(), pid);
  EXPECT_EQ(m_collector->terminate(), 0);
}

// (2) A key that needs a restart refuses the whole reload; the old listen address still serves
// and the live threshold in the same file is not applied. (3) A broken file is invalid and the
// collector keeps running.
TEST_F(CollectorReloadTest, RestartOnlyKeyAndBrokenFileAreRefused) {
  const auto port = m_collector->port();
  const auto other_port = free_tcp_port();
  edit_config([&](std::string& text) {
    const std::string from = "listen = \"127.0.0.1:" + std::to_string(port) + "\"";
    text.replace(text.find(from), from.size(),
                 "listen = \"127.0.0.1:" + std::to_string(other_port) + "\"");
    text += "\n[alerts]\noffline_minutes = 1\n";
  });
  ASSERT_TRUE(reload(1)) << m_collector->log();
  EXPECT_EQ(last_result(), "refused");
  EXPECT_NE(m_collector->log().find("config reload: http.listen: cannot change without a restart"),
            std::string::npos)
      << m_collector->log();
  EXPECT_EQ(get_json("/v1/config").at("alerts").at("offline_minutes").as_int64(), 5)
      << "nothing half applied";
  EXPECT_EQ(http_request(other_port, "GET", "/readyz", "", "", 1s).status, 0)
      << "the new address is not served";

  edit_config([](std::string& text) { text += "\nthis is not toml [\n"; });
  ASSERT_TRUE(reload(2)) << m_collector->log();
  EXPECT_EQ(last_result(), "invalid");
  EXPECT_EQ(http_request(port, "GET", "/readyz").status, 200);
  const auto metrics = http_request(port, "GET", "/metrics").body;
  EXPECT_NE(metrics.find("poscollector_config_reloads_total{result=\"refused\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("poscollector_config_reloads_total{result=\"invalid\"} 1"),
            std::string::npos)
      << metrics;

  FakeTill till(*m_broker, *m_pki, "S01", "T1");
  till.send(reload_epoch, 1, 3);
  EXPECT_EQ(till.wait_ack(reload_epoch, 3, 15s), 3U) << m_collector->log();
  EXPECT_EQ(m_collector->terminate(), 0);
}

}  // namespace
}  // namespace pos::test
