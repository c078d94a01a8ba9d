#include "pos/collector/config.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "collector_test_support.hpp"
#include "packaged_config.hpp"
#include "pos/common/config_reader.hpp"

namespace pos::collector {
namespace {

std::string error_of(const std::string& text, const std::string& base = ".") {
  try {
    parse_collector_config(text, base);
  } catch (const common::StartupError& e) {
    return e.what();
  }
  return "";
}

TEST(CollectorConfigTest, MinimalConfigHasDefaults) {
  const auto c = parse_collector_config(test::minimal_collector_config());
  EXPECT_EQ(c.collector_id, "collector-1");
  EXPECT_EQ(c.data_dir, "/var/lib/poscollector");
  EXPECT_EQ(c.mqtt.topic_prefix, "pos/v1");
  EXPECT_EQ(c.mqtt.share_group, "pos-collectors");
  EXPECT_EQ(c.mqtt.client_id, "collector-1");
  EXPECT_EQ(c.sink.type, "pubsub");
  EXPECT_EQ(c.sink.topic, "pos-events");
  EXPECT_EQ(c.sink.dead_letter_topic, "pos-events-dlq");
  EXPECT_TRUE(c.sink.ordering);
  EXPECT_EQ(c.http.listen, "127.0.0.1:8412");
  EXPECT_EQ(c.limits.max_batch_bytes, 8U * 1024 * 1024);
  EXPECT_EQ(c.fleet.stale_after, std::chrono::seconds(90));
  EXPECT_EQ(c.shutdown.drain_timeout, std::chrono::milliseconds(5000));
}

TEST(CollectorConfigTest, EverySpecKeyIsAccepted) {
  test::TempDir dir;
  for (const char* name : {"ca.pem", "collector.pem", "collector.key"}) {
    std::ofstream(dir.path() / name) << "x";
  }
  std::filesystem::create_directories(dir.path() / "dicts");
  const auto c = parse_collector_config(R"(
collector_id = "collector-2"
data_dir = "data"
[mqtt]
uri = "ssl://broker.example:8883"
topic_prefix = "pos/v2"
share_group = "grp"
ca_file = "ca.pem"
cert_file = "collector.pem"
key_file = "collector.key"
[sink]
type = "file"
project = "fastyle-prod"
topic = "pos-events"
dead_letter_topic = "pos-events-dlq"
ordering = false
path = "out"
[dictionaries]
dir = "dicts"
[http]
listen = "127.0.0.1:0"
)",
                                        dir.path().string());
  EXPECT_EQ(c.data_dir, (dir.path() / "data").string());
  EXPECT_EQ(c.mqtt.ca_file, (dir.path() / "ca.pem").string());
  EXPECT_EQ(c.sink.path, (dir.path() / "out").string());
  EXPECT_EQ(c.dictionaries.dir, (dir.path() / "dicts").string());
  EXPECT_EQ(c.mqtt.share_group, "grp");
  EXPECT_FALSE(c.sink.ordering);
}

// SPEC: an array of URIs = take batches from every broker listed. The shared reader gives the
// list (its errors are tested with the agent's configuration).
TEST(CollectorConfigTest, UriMayBeAnArrayOfBrokers) {
  const auto c = parse_collector_config(R"(collector_id = "c"
data_dir = "/x"
[mqtt]
uri = ["mqtt://a.example:1883", "tcp://b.example:1883"]
[sink]
type = "file"
path = "/out"
)");
  EXPECT_EQ(c.mqtt.uris,
            (std::vector<std::string>{"mqtt://a.example:1883", "tcp://b.example:1883"}));
  EXPECT_NE(error_of(R"(collector_id = "c"
data_dir = "/x"
[mqtt]
uri = ["mqtt://a.example:1883", "mqtt://a.example:1883"]
)")
                .find("mqtt.uri[1]: is listed twice (also mqtt.uri[0])"),
            std::string::npos);
}

TEST(CollectorConfigTest, ErrorsNameTheKey) {
  EXPECT_NE(error_of(test::minimal_collector_config() + "[limits]\nmax_batch_byts = 5\n")
                .find("limits.max_batch_byts"),
            std::string::npos);
  EXPECT_NE(error_of("data_dir = \"/x\"\n[mqtt]\nuri = \"mqtt://h:1\"\n").find("collector_id"),
            std::string::npos);
  EXPECT_NE(error_of(test::minimal_collector_config() + "[fleet]\nstale_after_s = 0\n")
                .find("fleet.stale_after_s"),
            std::string::npos);
  EXPECT_NE(error_of(R"(collector_id = "c"
data_dir = "/x"
[mqtt]
uri = "mqtt://h:1"
)")
                .find("sink.project"),
            std::string::npos);
  EXPECT_NE(error_of(R"(collector_id = "c"
data_dir = "/x"
[mqtt]
uri = "mqtt://h:1"
[sink]
type = "file"
)")
                .find("sink.path"),
            std::string::npos);
  EXPECT_NE(error_of(test::minimal_collector_config() + "[http]\nlisten = \"localhost\"\n")
                .find("http.listen"),
            std::string::npos);
  EXPECT_NE(error_of(R"(collector_id = "c"
data_dir = "/x"
[mqtt]
uri = "mqtt://h:1"
reconnect_initial_ms = 5000
reconnect_max_ms = 4000
[sink]
project = "p"
)")
                .find("mqtt.reconnect_max_ms: must be >= mqtt.reconnect_initial_ms"),
            std::string::npos);
  EXPECT_NE(error_of("log_level = \"loud\"\n" + test::minimal_collector_config())
                .find("log_level: must be one of trace, debug, info, warn, error, off"),
            std::string::npos);
  EXPECT_NE(error_of(R"(collector_id = "c"
data_dir = "/x"
[mqtt]
uri = "ssl://h:1"
[sink]
project = "p"
)")
                .find("mqtt.ca_file"),
            std::string::npos);
  EXPECT_NE(error_of(R"(collector_id = "c"
data_dir = "/x"
[mqtt]
uri = "mqtt://h:1"
share_group = "a/b"
[sink]
project = "p"
)")
                .find("mqtt.share_group"),
            std::string::npos);
}

TEST(CollectorConfigTest, QuotedDottedKeyIsUnknownNotIgnored) {
  // One top-level key named "http.listen", not [http] listen: refused by name, not ignored.
  EXPECT_NE(error_of("\"http.listen\" = \"0.0.0.0:8412\"\n" + test::minimal_collector_config())
                .find("unknown key \"http.listen\""),
            std::string::npos);
}

TEST(CollectorConfigTest, HttpAllowedHostsAndOriginsAreReadAndChecked) {
  const auto defaults = parse_collector_config(test::minimal_collector_config());
  EXPECT_TRUE(defaults.http.allowed_hosts.empty());
  EXPECT_TRUE(defaults.http.allowed_origins.empty());
  const auto c = parse_collector_config(test::minimal_collector_config() + R"(
[http]
listen = "0.0.0.0:8412"
allowed_hosts = ["ops.fastyle.internal", "10.20.0.5"]
allowed_origins = ["https://grafana.fastyle.internal"]
)");
  EXPECT_EQ(c.http.allowed_hosts, (std::vector<std::string>{"ops.fastyle.internal", "10.20.0.5"}));
  EXPECT_EQ(c.http.allowed_origins, std::vector<std::string>{"https://grafana.fastyle.internal"});
  EXPECT_NE(error_of(test::minimal_collector_config() +
                     "[http]\nallowed_hosts = [\"ops.fastyle.internal:8412\"]\n")
                .find("http.allowed_hosts: 'ops.fastyle.internal:8412': "),
            std::string::npos);
  EXPECT_NE(error_of(test::minimal_collector_config() + "[http]\nallowed_origins = [\"*\"]\n")
                .find("http.allowed_origins: '*': "),
            std::string::npos);
}

TEST(CollectorConfigTest, SinkEndpointDefaultsToTheGlobalHostAndIsChecked) {
  EXPECT_EQ(parse_collector_config(test::minimal_collector_config()).sink.endpoint,
            "https://pubsub.googleapis.com");
  const auto regional =
      parse_collector_config(test::minimal_collector_config() +
                             "endpoint = \"https://europe-west1-pubsub.googleapis.com\"\n");
  EXPECT_EQ(regional.sink.endpoint, "https://europe-west1-pubsub.googleapis.com");
  // Plain http only to this machine (a test server or a local proxy): the OAuth2 token would
  // cross the network in clear.
  EXPECT_EQ(parse_collector_config(test::minimal_collector_config() +
                                   "endpoint = \"http://127.0.0.1:8681\"\n")
                .sink.endpoint,
            "http://127.0.0.1:8681");
  for (const char* bad : {"http://pubsub.example:80", "pubsub.googleapis.com",
                          "https://pubsub.googleapis.com/v1", "ftp://x"}) {
    EXPECT_NE(error_of(test::minimal_collector_config() + "endpoint = \"" + bad + "\"\n")
                  .find("sink.endpoint: "),
              std::string::npos)
        << bad;
  }
}

TEST(CollectorConfigTest, PackagedExampleIsValid) {
  const std::string path = std::string(POS_SOURCE_DIR) + "/packaging/poscollector.toml";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The example uses ssl:// with files that exist only on a real host: swap the uri.
  const auto pos = text.find("ssl://broker.example:8883");
  ASSERT_NE(pos, std::string::npos);
  text.replace(pos, std::string("ssl://broker.example:8883").size(), "mqtt://broker.example:1883");
  const auto c = parse_collector_config(text, "/etc/poscollector");
  EXPECT_EQ(c.collector_id, "collector-1");
  EXPECT_EQ(c.sink.project, "fastyle-prod");
  // The [marks] keys are listed with the code's defaults.
  for (const char* key : {"max_epochs_per_till = 8", "epoch_retention_days = 30"}) {
    EXPECT_NE(text.find(key), std::string::npos) << key;
  }
  EXPECT_EQ(c.marks.max_epochs_per_till, CollectorConfig{}.marks.max_epochs_per_till);
  EXPECT_EQ(c.marks.epoch_retention, CollectorConfig{}.marks.epoch_retention);
}

TEST(CollectorConfigTest, MarksEpochCapAndRetention) {
  auto c = parse_collector_config(test::minimal_collector_config());
  EXPECT_EQ(c.marks.max_epochs_per_till, 8U);
  EXPECT_EQ(c.marks.epoch_retention, std::chrono::hours(30 * 24));
  c = parse_collector_config(test::minimal_collector_config() +
                             "[marks]\nmax_epochs_per_till = 3\nepoch_retention_days = 2\n");
  EXPECT_EQ(c.marks.max_epochs_per_till, 3U);
  EXPECT_EQ(c.marks.epoch_retention, std::chrono::hours(48));
  EXPECT_NE(error_of(test::minimal_collector_config() + "[marks]\nmax_epochs_per_till = 1\n")
                .find("marks.max_epochs_per_till"),
            std::string::npos);
  EXPECT_NE(error_of(test::minimal_collector_config() + "[marks]\nepoch_retention_days = 0\n")
                .find("marks.epoch_retention_days"),
            std::string::npos);
}

}  // namespace
}  // namespace pos::collector

namespace pos::collector {
namespace {

const char* const k_identities =
    "collector_id = \"collector-1\"\ndata_dir = \"/var/lib/poscollector\"\n"
    "[mqtt]\nuri = \"mqtt://broker.example:1883\"\n[sink]\nproject = \"fastyle-prod\"\n";

// One source for every default: the reader's fallbacks are the struct's defaults...
TEST(CollectorConfigDefaults, ReaderFallbacksAreTheStructDefaults) {
  const auto parsed = parse_collector_config(k_identities, "/etc/poscollector");
  CollectorConfig expected;
  expected.collector_id = "collector-1";
  expected.data_dir = "/var/lib/poscollector";
  expected.mqtt.uris = {"mqtt://broker.example:1883"};
  expected.mqtt.client_id = "collector-1";
  expected.sink.project = "fastyle-prod";
  EXPECT_TRUE(parsed.mqtt == expected.mqtt) << "[mqtt]";
  EXPECT_TRUE(parsed.sink == expected.sink) << "[sink]";
  EXPECT_TRUE(parsed.dictionaries == expected.dictionaries) << "[dictionaries]";
  EXPECT_TRUE(parsed.limits == expected.limits) << "[limits]";
  EXPECT_TRUE(parsed.marks == expected.marks) << "[marks]";
  EXPECT_TRUE(parsed.fleet == expected.fleet) << "[fleet]";
  EXPECT_TRUE(parsed.http == expected.http) << "[http]";
  EXPECT_TRUE(parsed.alerts == expected.alerts) << "[alerts]";
  EXPECT_TRUE(parsed.kpis == expected.kpis) << "[kpis]";
  EXPECT_TRUE(parsed.shutdown == expected.shutdown) << "[shutdown]";
  EXPECT_TRUE(parsed == expected) << "a fallback in collector/app/src/config.cpp differs from "
                                     "collector/app/include/.../config.hpp";
}

// ...and the packaged poscollector.toml states exactly them (identities and endpoints aside).
TEST(CollectorConfigDefaults, PackagedExampleStatesExactlyTheDefaults) {
  const std::string path = "packaging/poscollector.toml";
  const std::string text = pos::test::packaged_config_without_tls("poscollector.toml");
  const auto packaged = parse_collector_config(text, "/etc/poscollector");
  const auto defaults = parse_collector_config(k_identities, "/etc/poscollector");
  EXPECT_TRUE(packaged.mqtt == defaults.mqtt) << "[mqtt] of " << path;
  EXPECT_TRUE(packaged.sink == defaults.sink) << "[sink] of " << path;
  EXPECT_TRUE(packaged.dictionaries == defaults.dictionaries) << "[dictionaries] of " << path;
  EXPECT_TRUE(packaged.limits == defaults.limits) << "[limits] of " << path;
  EXPECT_TRUE(packaged.marks == defaults.marks) << "[marks] of " << path;
  EXPECT_TRUE(packaged.fleet == defaults.fleet) << "[fleet] of " << path;
  EXPECT_TRUE(packaged.http == defaults.http) << "[http] of " << path;
  EXPECT_TRUE(packaged.alerts == defaults.alerts) << "[alerts] of " << path;
  EXPECT_TRUE(packaged.kpis == defaults.kpis) << "[kpis] of " << path;
  EXPECT_TRUE(packaged.stock == defaults.stock) << "[stock] of " << path;
  EXPECT_TRUE(packaged.shutdown == defaults.shutdown) << "[shutdown] of " << path;
  EXPECT_TRUE(packaged == defaults) << path;
}

TEST(CollectorConfigDefaults, SpecMarksKeysAreAcceptedAndPostgresNeedsADsn) {
  const std::string base = k_identities;
  EXPECT_EQ(parse_collector_config(base + "[marks]\ntype = \"sqlite\"\ndsn = \"\"\n").marks.type,
            "sqlite");
  const auto pg = parse_collector_config(
      base + "[marks]\ntype = \"postgres\"\ndsn = \"postgresql://c@db/pos\"\n");
  EXPECT_EQ(pg.marks.type, "postgres");
  EXPECT_EQ(pg.marks.dsn, "postgresql://c@db/pos");
  EXPECT_NE(error_of(base + "[marks]\ntype = \"postgres\"\n").find("marks.dsn: is required"),
            std::string::npos);
  EXPECT_NE(error_of(base + "[marks]\ntype = \"redis\"\n").find("marks.type: must be"),
            std::string::npos);
  EXPECT_NE(error_of(base + "[marks]\ndsn = \"postgresql://c@db/pos\"\n").find("marks.dsn:"),
            std::string::npos);
}

}  // namespace
}  // namespace pos::collector

namespace pos::collector {
namespace {

TEST(CollectorConfigStock, ThresholdsPerCategoryBoundAndErrorsNamingTheKey) {
  const auto defaults = parse_collector_config(test::minimal_collector_config());
  EXPECT_EQ(defaults.stock.thresholds.low_default, 5);
  EXPECT_TRUE(defaults.stock.thresholds.categories.empty());
  EXPECT_EQ(defaults.stock.max_items, 200'000U);
  const auto c = parse_collector_config(test::minimal_collector_config() + R"(
[stock]
low_threshold = 4
max_items = 1000
snapshot_interval_s = 2
[stock.categories]
dresses = 2
accessories = 12
)");
  EXPECT_EQ(c.stock.thresholds.low_default, 4);
  EXPECT_EQ(c.stock.thresholds.of("dresses"), 2);
  EXPECT_EQ(c.stock.thresholds.of("accessories"), 12);
  EXPECT_EQ(c.stock.thresholds.of("tops"), 4);
  EXPECT_EQ(c.stock.max_items, 1000U);
  EXPECT_EQ(c.stock.snapshot_interval, std::chrono::seconds(2));
  const auto error_text = [](const std::string& text) {
    try {
      parse_collector_config(text);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_text(test::minimal_collector_config() + "[stock]\nlow_threshold = -1\n")
                .find("stock.low_threshold"),
            std::string::npos);
  EXPECT_NE(error_text(test::minimal_collector_config() + "[stock.categories]\ntops = \"x\"\n")
                .find("stock.categories.tops"),
            std::string::npos);
  EXPECT_NE(error_text(test::minimal_collector_config() + "[stock.categories]\n\"t shirts\" = 3\n")
                .find("stock.categories"),
            std::string::npos);
  EXPECT_NE(error_text(test::minimal_collector_config() + "[stock]\nmax_items = 0\n")
                .find("stock.max_items"),
            std::string::npos);
}

}  // namespace
}  // namespace pos::collector
