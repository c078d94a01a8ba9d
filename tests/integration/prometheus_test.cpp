// The packaged Prometheus setup (packaging/prometheus) against real processes: Debian's
// prometheus server, with the packaged scrape config (intervals shortened to 1 s, the target
// pointed at the test's collector) and the packaged rules, scrapes a real poscollector; a real
// posagent reports its certificate's expiry (the collector raises cert_expiry: the test sets
// [alerts] cert_expiry_days far ahead) and FastyleTillCertificateExpiry fires; then the agent
// stops (it publishes its offline status), the collector raises till_offline after
// [alerts] offline_minutes, and FastyleTillOffline fires for that till.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "agent_harness.hpp"
#include "collector_harness.hpp"
#include "pos/common/certificate_expiry.hpp"
#include "pos/protocol/event.hpp"
#include "support/mosquitto.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/pubsub_emulator.hpp"
#include "support/wait.hpp"

namespace pos::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

const std::filesystem::path packaged_dir =
    std::filesystem::path(POS_SOURCE_DIR) / "packaging/prometheus";

void replace_once(std::string& text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  if (at == std::string::npos) {
    throw std::runtime_error("packaging/prometheus/prometheus.yml no longer holds: " + from);
  }
  text.replace(at, from.size(), to);
}

/// The packaged prometheus.yml with 1 s intervals and the collector on `port` as its only target;
/// written into `dir` with a copy of the packaged rules beside it (the config names them relative).
std::filesystem::path render_config(const std::filesystem::path& dir, std::uint16_t port) {
  std::string config = read_text_file(packaged_dir / "prometheus.yml");
  replace_once(config, "scrape_interval: 15s", "scrape_interval: 1s");
  replace_once(config, "evaluation_interval: 15s", "evaluation_interval: 1s");
  const auto targets = config.find("      - targets:");
  if (targets == std::string::npos) {
    throw std::runtime_error("packaging/prometheus/prometheus.yml has no targets list");
  }
  config.resize(targets);
  config += "      - targets: ['127.0.0.1:" + std::to_string(port) + "']\n";
  std::filesystem::copy_file(packaged_dir / "poscollector.rules.yml",
                             dir / "poscollector.rules.yml");
  const auto path = dir / "prometheus.yml";
  std::ofstream(path) << config;
  return path;
}

/// A Prometheus server on a free loopback port, stopped by process id.
class PrometheusServer {
 public:
  PrometheusServer(const std::filesystem::path& dir, const std::filesystem::path& config)
      : m_port(free_tcp_port()),
        m_process({"prometheus", "--config.file=" + config.string(),
                   "--storage.tsdb.path=" + (dir / "tsdb").string(),
                   "--web.listen-address=127.0.0.1:" + std::to_string(m_port)},
                  dir / "prometheus.log") {
    if (!wait_until([&] { return http_request(m_port, "GET", "/-/ready").status == 200; }, 30s,
                    "prometheus to be ready", 100ms)) {
      throw std::runtime_error("prometheus did not start: " +
                               read_text_file(dir / "prometheus.log"));
    }
  }
  /// The `data` member of an API answer, or nothing when the server did not answer 200.
  std::optional<json::value> api(const std::string& target) {
    const auto answer = http_request(m_port, "GET", target);
    if (answer.status != 200) {
      return std::nullopt;
    }
    return json::parse(answer.body).as_object().at("data");
  }
  /// The alerts named `name` in the given state ("pending" or "firing").
  std::vector<json::object> alerts(const std::string& name, const std::string& state) {
    std::vector<json::object> found;
    if (auto data = api("/api/v1/alerts")) {
      for (const auto& alert : data->as_object().at("alerts").as_array()) {
        const auto& object = alert.as_object();
        if (object.at("labels").as_object().at("alertname").as_string() == name &&
            object.at("state").as_string() == state) {
          found.push_back(object);
        }
      }
    }
    return found;
  }
  /// True once the rule groups were evaluated after `up` of the collector read 1.
  bool scraped_and_evaluated() {
    const auto up = api("/api/v1/query?query=up%7Bjob%3D%22poscollector%22%7D%3D%3D1");
    if (!up || up->as_object().at("result").as_array().empty()) {
      return false;
    }
    const auto rules = api("/api/v1/rules");
    if (!rules) {
      return false;
    }
    for (const auto& group : rules->as_object().at("groups").as_array()) {
      if (group.as_object().at("lastEvaluation").as_string().starts_with("0001-")) {
        return false;
      }
    }
    return true;
  }

 private:
  std::uint16_t m_port;
  ChildProcess m_process;
};

TEST(PrometheusTest, ThePackagedRulesFireCertificateExpiryAndTillOfflineForARealTill) {
  if (!find_executable("prometheus")) {
    FAIL() << "prometheus is missing: install the Debian package 'prometheus' "
              "(./scripts/install-deps does)";
  }
  TempDir dir{"prometheus-test"};
  std::filesystem::create_directories(dir.path() / "pki");
  std::filesystem::create_directories(dir.path() / "prometheus");
  TestPki pki(dir.path() / "pki");
  MosquittoBroker broker(pki);
  PubSubEmulator emulator;
  create_pubsub_resources(emulator);
  CollectorProcess collector(dir.path() / "collector", pki, broker.uri(), emulator.host_port(), {},
                             "collector-1",
                             "[alerts]\noffline_minutes = 1\ncert_expiry_days = 3650\n");
  collector.start();
  AgentProcess agent(dir.path() / "agent", pki, broker.uri(), "S07", "T1");
  agent.start();
  const auto fleet_says = [&](const std::string& state) {
    const auto answer = http_request(collector.port(), "GET", "/v1/fleet");
    return answer.status == 200 && answer.body.find("\"till_id\":\"T1\"") != std::string::npos &&
           answer.body.find("\"state\":\"" + state + "\"") != std::string::npos;
  };
  ASSERT_TRUE(wait_until([&] { return fleet_says("online"); }, 30s, "the till online", 100ms))
      << collector.log();

  PrometheusServer prometheus(dir.path() / "prometheus",
                              render_config(dir.path() / "prometheus", collector.port()));
  ASSERT_TRUE(wait_until([&] { return prometheus.scraped_and_evaluated(); }, 30s,
                         "a scrape of the collector and a rule evaluation", 250ms));
  EXPECT_TRUE(prometheus.alerts("FastyleTillOffline", "firing").empty());
  EXPECT_TRUE(prometheus.alerts("FastyleTillOffline", "pending").empty());
  EXPECT_TRUE(prometheus.alerts("FastyleCollectorNotReady", "pending").empty());

  // The agent's status carries its certificate's notAfter; the collector shows it and alerts.
  const auto agent_status = json::parse(http_request(agent.port(), "GET", "/v1/status").body);
  // AgentProcess had TestPki issue the till's certificate: files "client-" + the CN with '/' as
  // '_'.
  const auto not_after_ms = common::certificate_not_after_ms(pki.dir() / "client-S07_T1.crt");
  ASSERT_TRUE(not_after_ms) << not_after_ms.error().message;
  const std::string expected_not_after = protocol::format_rfc3339_utc_ms(*not_after_ms);
  EXPECT_EQ(agent_status.at("cert_not_after").as_string(), expected_not_after);
  const auto fleet = json::parse(http_request(collector.port(), "GET", "/v1/fleet").body);
  const auto& row = fleet.at("tills").as_array().at(0).as_object();
  EXPECT_EQ(row.at("cert_not_after").as_string(), expected_not_after);
  EXPECT_GE(row.at("cert_days_left").as_int64(), 360);
  ASSERT_TRUE(wait_until(
      [&] { return !prometheus.alerts("FastyleTillCertificateExpiry", "firing").empty(); }, 30s,
      "FastyleTillCertificateExpiry to fire", 250ms));
  EXPECT_EQ(prometheus.alerts("FastyleTillCertificateExpiry", "firing")
                .front()
                .at("labels")
                .as_object()
                .at("till_id")
                .as_string(),
            "T1");

  ASSERT_EQ(agent.terminate(), 0) << agent.log();
  ASSERT_TRUE(wait_until([&] { return fleet_says("offline"); }, 30s, "the till offline", 100ms));
  // The collector raises till_offline one minute (offline_minutes) after the offline status;
  // Prometheus fires within a scrape and an evaluation of that.
  ASSERT_TRUE(wait_until([&] { return !prometheus.alerts("FastyleTillOffline", "firing").empty(); },
                         120s, "FastyleTillOffline to fire", 500ms))
      << collector.log();
  const auto firing = prometheus.alerts("FastyleTillOffline", "firing");
  ASSERT_EQ(firing.size(), 1U);
  const auto& labels = firing.front().at("labels").as_object();
  EXPECT_EQ(labels.at("store_id").as_string(), "S07");
  EXPECT_EQ(labels.at("till_id").as_string(), "T1");
  EXPECT_EQ(labels.at("severity").as_string(), "critical");
  EXPECT_EQ(firing.front().at("annotations").as_object().at("summary").as_string(),
            "Till S07/T1 is offline");
}

}  // namespace
}  // namespace pos::test
