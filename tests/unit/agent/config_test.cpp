#include "pos/agent/config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "packaged_config.hpp"
#include "pos/common/config_reader.hpp"
#include "pos/protocol/event.hpp"

namespace pos::agent {
namespace {

namespace fs = std::filesystem;

class AgentConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = fs::temp_directory_path() / ("agent-config-" + std::to_string(::getpid()));
    fs::create_directories(m_dir);
    for (const char* name : {"ca.pem", "till.pem", "till.key"}) {
      std::ofstream(m_dir / name) << "x";
    }
  }
  void TearDown() override { fs::remove_all(m_dir); }

  std::string base() const { return m_dir.string(); }

  static std::string minimal(std::string_view extra = "") {
    return std::string(R"(store_id = "S07"
till_id = "T1"
data_dir = "data"
)") + std::string(extra) +
           R"(
[mqtt]
uri = "ssl://broker.example:8883"
ca_file = "ca.pem"
cert_file = "till.pem"
key_file = "till.key"
)";
  }

  void expect_error(std::string_view text, std::string_view fragment) {
    try {
      parse_agent_config(text, base());
      FAIL() << "expected a StartupError containing: " << fragment;
    } catch (const common::StartupError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << "message: " << e.what();
    }
  }

  fs::path m_dir;
};

TEST_F(AgentConfigTest, MinimalConfigGetsDocumentedDefaults) {
  const auto c = parse_agent_config(minimal(), base());
  EXPECT_EQ(c.store_id, "S07");
  EXPECT_EQ(c.till_id, "T1");
  EXPECT_EQ(c.data_dir, (m_dir / "data").string());
  EXPECT_EQ(c.ingest.listen, "127.0.0.1:8411");
  EXPECT_EQ(c.ingest.max_events_per_request, 1000U);
  EXPECT_EQ(c.ingest.max_request_bytes, 4U * 1024 * 1024);
  EXPECT_EQ(c.buffer.max_bytes, 2147483648ULL);
  EXPECT_EQ(c.buffer.retention, std::chrono::hours(72));
  EXPECT_EQ(c.mqtt.topic_prefix, "pos/v1");
  EXPECT_EQ(c.mqtt.ca_file, (m_dir / "ca.pem").string());
  EXPECT_EQ(c.mqtt.client_id, "posagent-S07-T1");
  EXPECT_TRUE(c.forward.dictionary_file.empty());
  EXPECT_EQ(c.forward.batch_max_events, 1000U);
  EXPECT_EQ(c.forward.ack_timeout, std::chrono::seconds(10));
  EXPECT_EQ(c.forward.ack_timeout_max, std::chrono::seconds(120));
}

TEST_F(AgentConfigTest, OverridesAreRead) {
  const auto c = parse_agent_config(minimal(R"(
[ingest]
listen = "127.0.0.1:9000"
spool_dir = "spool"
[buffer]
max_bytes = 10485760
[forward]
batch_delay_ms = 5
rate_limit_kbps = 256
rate_limit_schedule = ["08:00-22:00"]
)"),
                                    base());
  EXPECT_EQ(c.ingest.listen, "127.0.0.1:9000");
  EXPECT_EQ(c.ingest.spool_dir, (m_dir / "spool").string());
  EXPECT_EQ(c.buffer.max_bytes, 10485760U);
  EXPECT_EQ(c.forward.batch_delay, std::chrono::milliseconds(5));
  EXPECT_EQ(c.forward.rate_limit_kbps, 256U);
  ASSERT_EQ(c.forward.rate_limit_schedule.size(), 1U);
}

TEST_F(AgentConfigTest, ErrorsNameTheKey) {
  expect_error(minimal("colour = \"red\"\n"), "unknown key colour");
  expect_error(minimal("[ingest]\nlisten_on = \"x\"\n"), "unknown key ingest.listen_on");
  expect_error(R"(till_id = "T1"
data_dir = "d")",
               "store_id: is required");
  expect_error(minimal("").replace(0, 16, "store_id = \"S/7\""), "store_id: must match");
  expect_error(minimal("[buffer]\nmax_bytes = \"big\"\n"), "buffer.max_bytes: must be an integer");
  expect_error(minimal("[forward]\nwindow_batches = 0\n"),
               "forward.window_batches: must be between 1 and 64 (got 0)");
  expect_error(minimal("log_level = \"loud\"\n"), "log_level: must be one of");
  expect_error(minimal("[forward]\ndictionary_file = \"missing.dict\"\n"),
               "forward.dictionary_file: file not found");
  expect_error("store_id = ", "config:1");
  expect_error(minimal("[forward]\nrate_limit_schedule = [\"25:00-10:00\"]\n"),
               "forward.rate_limit_schedule: ");
  expect_error(minimal("[ingest]\nlisten = \"localhost:8411\"\n"), "ingest.listen: ");
  expect_error(minimal("[forward]\nack_timeout_ms = 20000\nack_timeout_max_ms = 15000\n"),
               "forward.ack_timeout_max_ms: must be >= forward.ack_timeout_ms");
  expect_error(minimal("[forward]\nreconnect_initial_ms = 5000\nreconnect_max_ms = 4000\n"),
               "forward.reconnect_max_ms: must be >= forward.reconnect_initial_ms");
  expect_error(minimal("[forward]\nreconnect_initial_ms = 5\n"),
               "forward.reconnect_initial_ms: must be between 10 and 600000 (got 5)");
}

TEST_F(AgentConfigTest, QuotedDottedKeyIsUnknownNotIgnored) {
  // `"buffer.max_bytes" = 1` is one top-level key whose name contains a dot, not
  // buffer.max_bytes: it must be refused by name, not silently ignored.
  expect_error(minimal("\"buffer.max_bytes\" = 1\n"), "unknown key \"buffer.max_bytes\"");
  expect_error(minimal("[ingest]\n\"spool.dir\" = \"x\"\n"), "unknown key ingest.\"spool.dir\"");
}

TEST_F(AgentConfigTest, AllowedOriginsAreReadAndChecked) {
  EXPECT_TRUE(parse_agent_config(minimal(), base()).ingest.allowed_origins.empty());
  const auto c = parse_agent_config(
      minimal("[ingest]\nallowed_origins = [\"http://pos.fastyle.internal:3000\"]\n"), base());
  EXPECT_EQ(c.ingest.allowed_origins, std::vector<std::string>{"http://pos.fastyle.internal:3000"});
  expect_error(minimal("[ingest]\nallowed_origins = [\"pos.fastyle.internal\"]\n"),
               "ingest.allowed_origins: 'pos.fastyle.internal': ");
  expect_error(minimal("[ingest]\nallowed_origins = [\"http://pos.fastyle.internal/\"]\n"),
               "ingest.allowed_origins: 'http://pos.fastyle.internal/': ");
  expect_error(minimal("[ingest]\nallowed_hosts = [\"pos\"]\n"),
               "unknown key ingest.allowed_hosts");
}

// Limits that the rest of the system cannot honour are refused at startup, naming the key: an
// event over the collector's per-event limit would be dead-lettered, and a request over the
// writer queue's bound would be answered 503 forever.
TEST_F(AgentConfigTest, LimitsAboveWhatTheSystemTakesAreRefused) {
  const auto c = parse_agent_config(minimal(), base());
  EXPECT_EQ(c.ingest.max_event_bytes, protocol::max_event_bytes);
  EXPECT_EQ(parse_agent_config(minimal("[ingest]\nmax_event_bytes = 65536\n"), base())
                .ingest.max_event_bytes,
            65536U);
  expect_error(minimal("[ingest]\nmax_event_bytes = 1048577\n"),
               "ingest.max_event_bytes: must be at most 1048576, the collector's per-event limit "
               "(got 1048577)");
  EXPECT_EQ(parse_agent_config(minimal("[ingest]\nmax_events_per_request = 50000\n"), base())
                .ingest.max_events_per_request,
            50000U);
  expect_error(minimal("[ingest]\nmax_events_per_request = 50001\n"),
               "ingest.max_events_per_request: must be at most 50000, the events the buffer "
               "takes in one commit (got 50001)");
}

TEST_F(AgentConfigTest, TlsFilesAreRequiredForSsl) {
  std::string text = minimal();
  text.replace(text.find("ca_file = \"ca.pem\""), 18, "ca_file = \"nope.pem\"");
  expect_error(text, "mqtt.ca_file: file not found");
  expect_error(R"(store_id = "S07"
till_id = "T1"
data_dir = "d"
[mqtt]
uri = "ssl://b:8883"
)",
               "mqtt.ca_file: is required with an ssl:// uri");
  expect_error(R"(store_id = "S07"
till_id = "T1"
data_dir = "d"
[mqtt]
uri = "http://b"
)",
               "mqtt.uri: must start with ssl://, mqtts://, mqtt:// or tcp://");
}

// SPEC: `[mqtt] uri` is a string or an array of URIs (brokers to fail over between, in order).
TEST_F(AgentConfigTest, UriIsAStringOrAnArrayOfBrokers) {
  std::string text = minimal();
  const std::string line = "uri = \"ssl://broker.example:8883\"";
  const auto with_uri = [&](const std::string& uri) {
    std::string t = text;
    return t.replace(t.find(line), line.size(), "uri = " + uri);
  };
  EXPECT_EQ(parse_agent_config(text, base()).mqtt.uris,
            std::vector<std::string>{"ssl://broker.example:8883"});
  EXPECT_EQ(parse_agent_config(with_uri(R"(["ssl://a.example:8883"])"), base()).mqtt.uris,
            std::vector<std::string>{"ssl://a.example:8883"});
  const auto two = parse_agent_config(
      with_uri("[\n  \"ssl://a.example:8883\",\n  \"mqtts://b.example:8883\",\n]"), base());
  EXPECT_EQ(two.mqtt.uris,
            (std::vector<std::string>{"ssl://a.example:8883", "mqtts://b.example:8883"}));
  EXPECT_TRUE(common::uses_tls(two.mqtt));
  EXPECT_EQ(two.mqtt.ca_file, (m_dir / "ca.pem").string());
  std::vector<std::string> sixteen;
  std::string array = "[";
  for (int i = 0; i < 16; ++i) {
    sixteen.push_back("ssl://b" + std::to_string(i) + ".example:8883");
    array += (i == 0 ? "\"" : ", \"") + sixteen.back() + "\"";
  }
  EXPECT_EQ(parse_agent_config(with_uri(array + "]"), base()).mqtt.uris, sixteen);
  const auto plain = parse_agent_config(R"(store_id = "S07"
till_id = "T1"
data_dir = "d"
[mqtt]
uri = ["mqtt://127.0.0.1:1883", "tcp://127.0.0.1:1884"]
)",
                                        base());
  EXPECT_EQ(plain.mqtt.uris,
            (std::vector<std::string>{"mqtt://127.0.0.1:1883", "tcp://127.0.0.1:1884"}));
  EXPECT_FALSE(common::uses_tls(plain.mqtt));
}

TEST_F(AgentConfigTest, UriErrorsNameTheKeyOrTheEntry) {
  const std::string text = minimal();
  const std::string line = "uri = \"ssl://broker.example:8883\"";
  std::string seventeen = "[";
  for (int i = 0; i < 17; ++i) {
    seventeen += (i == 0 ? "\"ssl://b" : ", \"ssl://b") + std::to_string(i) + ".example:8883\"";
  }
  seventeen += "]";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[]", "mqtt.uri: must name at least one broker"},
      {seventeen, "mqtt.uri: at most 16 brokers (got 17)"},
      {"5", "mqtt.uri: must be a string or an array of strings"},
      {R"("")", "mqtt.uri: must not be empty"},
      {R"("http://b.example")", "mqtt.uri: must start with ssl://, mqtts://, mqtt:// or tcp://"},
      {R"("ssl://")", "mqtt.uri: must name a host after ssl://"},
      {R"(["ssl://a.example:8883", 5])", "mqtt.uri[1]: must be a string"},
      {R"([["ssl://a.example:8883"]])", "mqtt.uri[0]: must be a string"},
      {R"(["ssl://a.example:8883", ""])", "mqtt.uri[1]: must not be empty"},
      {R"(["ssl://a.example:8883", "ws://b.example:8080"])",
       "mqtt.uri[1]: must start with ssl://, mqtts://, mqtt:// or tcp://"},
      {R"(["broker.example:8883"])",
       "mqtt.uri[0]: must start with ssl://, mqtts://, mqtt:// or tcp://"},
      {R"(["ssl://a.example:8883", "ssl://:8883"])", "mqtt.uri[1]: must name a host after ssl://"},
      {R"(["ssl://a.example:8883", "ssl://b.example:8883", "ssl://a.example:8883"])",
       "mqtt.uri[2]: is listed twice (also mqtt.uri[0])"},
      {R"(["ssl://a.example:8883", "mqtt://b.example:1883"])",
       "mqtt.uri[1]: is plain but mqtt.uri[0] uses TLS: all brokers must use TLS (ssl://, "
       "mqtts://) or none (mqtt://, tcp://)"},
      {R"(["tcp://a.example:1883", "mqtts://b.example:8883"])",
       "mqtt.uri[1]: uses TLS but mqtt.uri[0] is plain: all brokers must use TLS (ssl://, "
       "mqtts://) or none (mqtt://, tcp://)"},
  };
  for (const auto& [uri, expected] : cases) {
    std::string t = text;
    t.replace(t.find(line), line.size(), "uri = " + uri);
    try {
      parse_agent_config(t, base());
      ADD_FAILURE() << "accepted uri = " << uri;
    } catch (const common::StartupError& e) {
      EXPECT_EQ(std::string(e.what()), "config: " + expected) << "uri = " << uri;
    }
  }
}

TEST_F(AgentConfigTest, PlainMqttNeedsNoCertificates) {
  const auto c = parse_agent_config(R"(store_id = "S07"
till_id = "T1"
data_dir = "/var/lib/posagent"
[mqtt]
uri = "mqtt://127.0.0.1:1883"
)",
                                    base());
  EXPECT_EQ(c.data_dir, "/var/lib/posagent");
  EXPECT_TRUE(c.mqtt.ca_file.empty());
}

}  // namespace
}  // namespace pos::agent

namespace pos::agent {
namespace {

TEST(AgentConfigCardNumbers, RejectByDefaultMaskOnRequestAnythingElseNamed) {
  const std::string base =
      "store_id = \"S01\"\ntill_id = \"T1\"\ndata_dir = \"d\"\n"
      "[mqtt]\nuri = \"mqtt://127.0.0.1:1883\"\n";
  EXPECT_EQ(parse_agent_config(base).ingest.card_numbers, CardNumberPolicy::reject);
  EXPECT_EQ(parse_agent_config(base + "[ingest]\ncard_numbers = \"mask\"\n").ingest.card_numbers,
            CardNumberPolicy::mask);
  try {
    parse_agent_config(base + "[ingest]\ncard_numbers = \"drop\"\n");
    FAIL() << "accepted card_numbers = drop";
  } catch (const common::StartupError& e) {
    EXPECT_NE(std::string(e.what()).find("ingest.card_numbers: must be \"reject\" or \"mask\""),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace pos::agent

namespace pos::agent {
namespace {

// One source for every default: the values the reader falls back to are the struct's, and the
// packaged posagent.toml states exactly those values (only identities and endpoints differ).
TEST(AgentConfigDefaults, ReaderFallbacksAreTheStructDefaults) {
  const auto parsed = parse_agent_config(
      "store_id = \"S07\"\ntill_id = \"T1\"\ndata_dir = \"/var/lib/posagent\"\n"
      "[mqtt]\nuri = \"mqtt://broker.example:1883\"\n",
      "/etc/posagent");
  AgentConfig expected;
  expected.store_id = "S07";
  expected.till_id = "T1";
  expected.data_dir = "/var/lib/posagent";
  expected.mqtt.uris = {"mqtt://broker.example:1883"};
  expected.mqtt.client_id = "posagent-S07-T1";
  EXPECT_TRUE(parsed == expected) << "a reader fallback in agent/app/src/config.cpp differs from "
                                     "agent/app/include/pos/agent/config.hpp";
  EXPECT_TRUE(parsed.ingest == expected.ingest) << "[ingest]";
  EXPECT_TRUE(parsed.buffer == expected.buffer) << "[buffer]";
  EXPECT_TRUE(parsed.mqtt == expected.mqtt) << "[mqtt]";
  EXPECT_TRUE(parsed.forward == expected.forward) << "[forward]";
  EXPECT_TRUE(parsed.shutdown == expected.shutdown) << "[shutdown]";
}

TEST(AgentConfigDefaults, PackagedExampleStatesExactlyTheDefaults) {
  const std::string path = "packaging/posagent.toml";
  const std::string text = pos::test::packaged_config_without_tls("posagent.toml");
  const auto packaged = parse_agent_config(text, "/etc/posagent");
  const auto defaults = parse_agent_config(
      "store_id = \"S07\"\ntill_id = \"T1\"\ndata_dir = \"/var/lib/posagent\"\n"
      "[mqtt]\nuri = \"mqtt://broker.example:1883\"\n",
      "/etc/posagent");
  EXPECT_TRUE(packaged.ingest == defaults.ingest) << "[ingest] of " << path;
  EXPECT_TRUE(packaged.buffer == defaults.buffer) << "[buffer] of " << path;
  EXPECT_TRUE(packaged.mqtt == defaults.mqtt) << "[mqtt] of " << path;
  EXPECT_TRUE(packaged.forward == defaults.forward) << "[forward] of " << path;
  EXPECT_TRUE(packaged.shutdown == defaults.shutdown) << "[shutdown] of " << path;
  EXPECT_TRUE(packaged == defaults) << path;
}

}  // namespace
}  // namespace pos::agent
