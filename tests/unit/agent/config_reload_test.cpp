// Which agent keys a configuration reload applies live and which need a restart: each row changes
// one key of a real configuration text and checks how the diff classifies it.

#include "pos/agent/config_reload.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace pos::agent {
namespace {

/// Every key of a packaged TOML file ("section.key"), commented-out keys ("# key = ...") included.
std::vector<std::string> packaged_keys(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> keys;
  std::string section;
  std::string line;
  const std::regex table(R"(^\[([a-z_]+)\])");
  const std::regex key(R"(^(?:# )?([a-z_]+) *= )");
  std::smatch match;
  while (std::getline(in, line)) {
    if (std::regex_search(line, match, table)) {
      section = match[1];
    } else if (std::regex_search(line, match, key)) {
      keys.push_back(section.empty() ? std::string(match[1])
                                     : section + "." + std::string(match[1]));
    }
  }
  return keys;
}

namespace fs = std::filesystem;

struct KeyCase {
  std::string section;  ///< "" for top-level keys
  std::string line;     ///< the TOML line that changes the key
  std::string key;      ///< the name the diff reports
  bool live;
  /// A key whose default follows this one (mqtt.client_id is posagent-{store}-{till}).
  std::string derived = "";
};

class AgentConfigReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = fs::temp_directory_path() / ("agent-reload-" + std::to_string(::getpid()));
    fs::create_directories(m_dir);
    for (const char* name : {"ca.pem", "ca2.pem", "till.pem", "till.key", "dict.zstd"}) {
      std::ofstream(m_dir / name) << "x";
    }
  }
  void TearDown() override { fs::remove_all(m_dir); }

  /// A valid configuration with `line` ("key = value") set in `section` (replacing the base's).
  AgentConfig parse_with(const std::string& section = "", const std::string& line = "") const {
    std::map<std::string, std::map<std::string, std::string>> sections{
        {"", {{"store_id", "\"S07\""}, {"till_id", "\"T1\""}, {"data_dir", "\"data\""}}},
        {"ingest", {}},
        {"buffer", {}},
        {"mqtt",
         {{"uri", "\"ssl://broker.example:8883\""},
          {"ca_file", "\"ca.pem\""},
          {"cert_file", "\"till.pem\""},
          {"key_file", "\"till.key\""}}},
        {"forward", {}},
        {"shutdown", {}}};
    std::string rest = line;
    while (!rest.empty()) {
      const auto end = rest.find('\n');
      const auto one = rest.substr(0, end);
      rest = end == std::string::npos ? "" : rest.substr(end + 1);
      const auto eq = one.find(" = ");
      sections[section][one.substr(0, eq)] = one.substr(eq + 3);
    }
    std::string text;
    for (const auto& [name, keys] : sections) {
      text += name.empty() ? "" : "[" + name + "]\n";
      for (const auto& [key, value] : keys) {
        text += key + " = " + value + "\n";
      }
    }
    return parse_agent_config(text, m_dir.string());
  }

  fs::path m_dir;
};

TEST_F(AgentConfigReloadTest, EveryKeyIsClassifiedUnderItsTomlName) {
  const std::vector<KeyCase> cases{
      {"", "log_level = \"debug\"", "log_level", true},
      {"forward", "rate_limit_kbps = 64", "forward.rate_limit_kbps", true},
      {"forward", "rate_limit_schedule = [\"08:00-20:00\"]", "forward.rate_limit_schedule", true},
      {"shutdown", "drain_timeout_ms = 500", "shutdown.drain_timeout_ms", true},
      {"", "store_id = \"S08\"", "store_id", false, "mqtt.client_id"},
      {"", "till_id = \"T2\"", "till_id", false, "mqtt.client_id"},
      {"", "data_dir = \"data2\"", "data_dir", false},
      {"ingest", "listen = \"127.0.0.1:9000\"", "ingest.listen", false},
      {"ingest", "spool_dir = \"spool\"", "ingest.spool_dir", false},
      {"ingest", "max_events_per_request = 10", "ingest.max_events_per_request", false},
      {"ingest", "max_request_bytes = 2048", "ingest.max_request_bytes", false},
      {"ingest", "max_event_bytes = 2048", "ingest.max_event_bytes", false},
      {"ingest", "max_connections = 3", "ingest.max_connections", false},
      {"ingest", "allowed_origins = [\"http://pos.local:8080\"]", "ingest.allowed_origins", false},
      {"ingest", "card_numbers = \"mask\"", "ingest.card_numbers", false},
      {"ingest", "spool_poll_ms = 50", "ingest.spool_poll_ms", false},
      {"ingest", "spool_settle_ms = 50", "ingest.spool_settle_ms", false},
      {"buffer", "max_bytes = 2097152", "buffer.max_bytes", false},
      {"buffer", "retention_hours = 1", "buffer.retention_hours", false},
      {"mqtt", "topic_prefix = \"pos/v2\"", "mqtt.topic_prefix", false},
      {"mqtt", "client_id = \"other\"", "mqtt.client_id", false},
      {"mqtt", "keepalive_s = 10", "mqtt.keepalive_s", false},
      {"mqtt", "session_expiry_s = 10", "mqtt.session_expiry_s", false},
      {"mqtt", "connect_timeout_s = 3", "mqtt.connect_timeout_s", false},
      {"forward", "dictionary_file = \"dict.zstd\"", "forward.dictionary_file", false},
      {"forward", "zstd_level = 5", "forward.zstd_level", false},
      {"forward", "batch_max_events = 10", "forward.batch_max_events", false},
      {"forward", "batch_max_bytes = 8192", "forward.batch_max_bytes", false},
      {"forward", "batch_delay_ms = 5", "forward.batch_delay_ms", false},
      {"forward", "window_batches = 2", "forward.window_batches", false},
      {"forward", "ack_timeout_max_ms = 200000", "forward.ack_timeout_max_ms", false},
      {"forward", "reconnect_max_ms = 30000", "forward.reconnect_max_ms", false},
      {"forward", "reconnect_initial_ms = 100", "forward.reconnect_initial_ms", false},
      {"forward", "ack_timeout_ms = 5000", "forward.ack_timeout_ms", false},
      {"forward", "heartbeat_s = 10", "forward.heartbeat_s", false},
  };
  const auto running = parse_with();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.line);
    const auto next = parse_with(c.section, c.line);
    const auto diff = common::diff_config(agent_reload_keys(), running, next);
    EXPECT_FALSE(diff.unlisted);
    EXPECT_EQ(diff.live, c.live ? std::vector<std::string>{c.key} : std::vector<std::string>{});
    std::vector<std::string> restart;
    if (!c.live) {
      restart.push_back(c.key);
    }
    if (!c.derived.empty()) {
      restart.push_back(c.derived);
    }
    EXPECT_EQ(diff.restart, restart);
    EXPECT_EQ(diff.applicable(), c.live);
  }
}

// The mqtt section's keys that the lines above cannot change alone (uri and the TLS files come
// together in the base text).
TEST_F(AgentConfigReloadTest, BrokerAndTlsFilesNeedARestart) {
  const auto running = parse_with();
  auto next = running;
  next.mqtt.uris = {"ssl://other.example:8883"};
  next.mqtt.ca_file = (m_dir / "ca2.pem").string();
  next.mqtt.cert_file = "/x.pem";
  next.mqtt.key_file = "/x.key";
  const auto diff = common::diff_config(agent_reload_keys(), running, next);
  EXPECT_EQ(diff.restart, (std::vector<std::string>{"mqtt.uri", "mqtt.ca_file", "mqtt.cert_file",
                                                    "mqtt.key_file"}));
  EXPECT_FALSE(diff.unlisted);
}

TEST_F(AgentConfigReloadTest, ApplyAdoptsOnlyLiveKeysAndCallsEachApplyOnce) {
  auto running = parse_with();
  auto next =
      parse_with("forward", "rate_limit_kbps = 64\nrate_limit_schedule = [\"08:00-20:00\"]");
  next.log_level = "warn";
  std::vector<std::string> calls;
  AgentReloadTarget target{
      .log_level = [&](const AgentConfig& c) { calls.push_back("log " + c.log_level); },
      .upload_limit =
          [&](const AgentConfig& c) {
            calls.push_back("limit " + std::to_string(c.forward.rate_limit_kbps) + " " +
                            std::to_string(c.forward.rate_limit_schedule.size()));
          },
  };
  common::apply_config(agent_reload_keys(), running, next, target);
  EXPECT_EQ(calls, (std::vector<std::string>{"log warn", "limit 64 1"}));
  EXPECT_EQ(running, next);
}

// A key added to the packaged configuration needs a row in the reload table (restart-only unless
// it has an apply function); a missing row would refuse every reload that changes the key without
// naming it.
TEST(AgentPackagedConfigReloadTest, EveryPackagedKeyHasARow) {
  const auto keys = packaged_keys(std::string(POS_SOURCE_DIR) + "/packaging/posagent.toml");
  ASSERT_GT(keys.size(), 20U);
  std::vector<std::string> rows;
  for (const auto& row : agent_reload_keys()) {
    rows.emplace_back(row.name);
  }
  for (const auto& key : keys) {
    EXPECT_NE(std::find(rows.begin(), rows.end(), key), rows.end()) << key << " has no row";
  }
}

}  // namespace
}  // namespace pos::agent
