// The posagent program as an operator and a POS see it: the ingest API over real SQLite, the
// buffer limit, SIGTERM, the retained status, and the command line.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <thread>
#include <tuple>

#include "agent_harness.hpp"
#include "support/wait.hpp"

namespace pos::test {
namespace {

class AgentBinaryTest : public ::testing::Test {
 protected:
  // Shared by the suite, created in the first test's SetUp so that a failure to start them fails
  // that test (a throwing SetUpTestSuite would only mark the tests skipped).
  void SetUp() override {
    if (s_broker == nullptr) {
      s_dir = new TempDir("agent-binary");
      std::filesystem::create_directories(s_dir->path() / "pki");
      s_pki = new TestPki(s_dir->path() / "pki");
      s_broker = new MosquittoBroker(*s_pki);
    }
  }
  static void TearDownTestSuite() {
    delete s_broker;
    delete s_pki;
    delete s_dir;
  }

  static boost::json::object post(std::uint16_t port, const std::string& body,
                                  const std::string& type = "application/json") {
    const auto reply = http_request(port, "POST", "/v1/events", type, body);
    EXPECT_EQ(reply.status, 200) << reply.body;
    return boost::json::parse(reply.body).as_object();
  }

  static TempDir* s_dir;
  static TestPki* s_pki;
  static MosquittoBroker* s_broker;
};
TempDir* AgentBinaryTest::s_dir = nullptr;
TestPki* AgentBinaryTest::s_pki = nullptr;
MosquittoBroker* AgentBinaryTest::s_broker = nullptr;

TEST_F(AgentBinaryTest, IngestApiAnswersPerSpec) {
  AgentProcess agent(s_dir->path() / "api", *s_pki, s_broker->uri());
  agent.start();
  const auto port = agent.port();

  auto doc = post(port, sale_event("api-1"));
  EXPECT_EQ(doc.at("accepted").as_int64(), 1);
  const auto first_id = std::string(doc.at("results").at(0).at("event_id").as_string());
  EXPECT_TRUE(first_id.starts_with("S01-T1-")) << first_id;
  EXPECT_TRUE(first_id.ends_with("-1")) << first_id;

  // Idempotency: the same pos_event_id is a duplicate with the original event id.
  doc = post(port, sale_event("api-1"));
  EXPECT_EQ(doc.at("duplicates").as_int64(), 1);
  EXPECT_EQ(doc.at("results").at(0).at("event_id").as_string(), first_id);

  // Mixed array: per-event results with the field and the rule.
  std::string bad = sale_event("api-2");
  bad.replace(bad.find("\"qty\":1"), 7, "\"qty\":0");
  doc = post(port, "[" + sale_event("api-3") + "," + bad + ",42]");
  EXPECT_EQ(doc.at("accepted").as_int64(), 1);
  EXPECT_EQ(doc.at("rejected").as_int64(), 2);
  EXPECT_EQ(doc.at("results").at(1).at("status").as_string(), "rejected");
  EXPECT_EQ(doc.at("results").at(1).at("error").as_string(),
            "lines[0].qty: must be an integer >= 1");

  // Another till's event is rejected.
  doc = post(port, sale_event("api-4", "S02", "T1"));
  EXPECT_EQ(doc.at("rejected").as_int64(), 1);

  // NDJSON.
  doc = post(port, sale_event("api-5") + "\n" + sale_event("api-6") + "\n", "application/x-ndjson");
  EXPECT_EQ(doc.at("accepted").as_int64(), 2);

  // Whole-request errors store nothing.
  EXPECT_EQ(http_request(port, "POST", "/v1/events", "application/json", "{not json").status, 400);
  EXPECT_EQ(http_request(port, "POST", "/v1/events", "text/plain", sale_event("api-7")).status,
            415);
  std::string many = "[";
  for (int i = 0; i < 1001; ++i) {
    many += (i ? "," : "") + sale_event("many-" + std::to_string(i), "S01", "T1", 1);
  }
  many += "]";
  EXPECT_EQ(http_request(port, "POST", "/v1/events", "application/json", many).status, 413);
  EXPECT_EQ(http_request(port, "POST", "/v1/events", "application/json",
                         std::string(5 * 1024 * 1024, ' '))
                .status,
            413);
  const auto status = boost::json::parse(http_request(port, "GET", "/v1/status").body).as_object();
  EXPECT_EQ(status.at("last_seq").as_int64(), 4) << "only api-1, api-3, api-5, api-6 were stored";

  // Concurrent clients: 32 connections, every event accepted exactly once, seqs 5..644.
  std::vector<std::thread> clients;
  std::atomic<int> accepted{0};
  for (int c = 0; c < 32; ++c) {
    clients.emplace_back([&, c] {
      for (int r = 0; r < 20; ++r) {
        const auto reply =
            http_request(port, "POST", "/v1/events", "application/json",
                         sale_event("conc-" + std::to_string(c) + "-" + std::to_string(r)));
        if (reply.status == 200) {
          accepted += static_cast<int>(boost::json::parse(reply.body).at("accepted").as_int64());
        }
      }
    });
  }
  for (auto& t : clients) {
    t.join();
  }
  EXPECT_EQ(accepted.load(), 640);
  const auto after = boost::json::parse(http_request(port, "GET", "/v1/status").body).as_object();
  EXPECT_EQ(after.at("last_seq").as_int64(), 644);

  const auto metrics = http_request(port, "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("posagent_events_accepted_total"), std::string::npos);
  EXPECT_EQ(http_request(port, "GET", "/nope").status, 404);
  EXPECT_EQ(agent.terminate(), 0);
}

// PCI DSS: a card number never reaches the buffer (the database file) or the log.
TEST_F(AgentBinaryTest, CardNumbersNeverReachTheDatabaseOrTheLog) {
  AgentProcess agent(s_dir->path() / "pan", *s_pki, s_broker->uri());
  agent.start();
  std::string event = sale_event("pan-1");
  event.insert(event.find("\"payment\":{") + 11, "\"note\":\"card 5555 5555 5555 4444\",");
  auto doc = post(agent.port(), "[" + sale_event("pan-0") + "," + event + "]");
  EXPECT_EQ(doc.at("accepted").as_int64(), 1);
  EXPECT_EQ(doc.at("rejected").as_int64(), 1);
  const std::string error(doc.at("results").at(1).at("error").as_string());
  EXPECT_EQ(error.rfind("payment.note: contains a card number", 0), 0U) << error;
  EXPECT_EQ(agent.terminate(), 0);
  for (const auto& file : std::filesystem::directory_iterator(agent.data_dir())) {
    const auto text = read_text_file(file.path());
    EXPECT_EQ(text.find("5555 5555 5555 4444"), std::string::npos) << file.path();
  }
  EXPECT_EQ(agent.log().find("5555 5555 5555 4444"), std::string::npos);
  EXPECT_NE(read_text_file(agent.data_dir() / "outbox.db").find("pan-0"), std::string::npos)
      << "the check above proves nothing if the accepted event is not readable in the file";
}

TEST_F(AgentBinaryTest, BufferLimitAnswers503UntilAcksMakeRoom) {
  AckingCollector collector(*s_broker, *s_pki);
  collector.set_acking(false);
  AgentProcess agent(s_dir->path() / "full", *s_pki, s_broker->uri(), "S01", "T9", "",
                     "[buffer]\nmax_bytes = 1048576\n");
  agent.start();
  int stored = 0;
  HttpAnswer reply;
  for (int i = 0; i < 10'000; ++i) {
    std::string body = "[";
    for (int j = 0; j < 50; ++j) {
      body += (j ? "," : "") + sale_event("full-" + std::to_string(i * 50 + j), "S01", "T9");
    }
    body += "]";
    reply = http_request(agent.port(), "POST", "/v1/events", "application/json", body);
    if (reply.status != 200) {
      break;
    }
    stored += 50;
  }
  ASSERT_EQ(reply.status, 503) << reply.body;
  EXPECT_TRUE(reply.headers.contains("Retry-After"));
  EXPECT_GT(stored, 500);
  EXPECT_LT(stored, 10'000);

  collector.set_acking(true);
  // Batches are resent after the ack timeout; once acked, there is room again.
  ASSERT_TRUE(collector.wait_for_mark("S01", "T9", static_cast<std::uint64_t>(stored),
                                      std::chrono::seconds(30)))
      << agent.log();
  bool room = false;
  for (int i = 0; i < 100 && !room; ++i) {
    room = http_request(agent.port(), "POST", "/v1/events", "application/json",
                        sale_event("after-full", "S01", "T9"))
               .status == 200;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(room);
  EXPECT_EQ(agent.terminate(), 0);
}

TEST_F(AgentBinaryTest, SigtermDrainsPublishesOfflineAndExitsWithinSeconds) {
  AckingCollector collector(*s_broker, *s_pki);
  TestMqttClient watcher(TestMqttClientOptions{s_broker->uri(), "status-watcher", s_pki->ca_cert(),
                                               s_pki->issue_client(observer_common_name)});
  watcher.connect();
  watcher.subscribe("pos/v1/S03/T1/status", 1);
  AgentProcess agent(s_dir->path() / "term", *s_pki, s_broker->uri(), "S03", "T1");
  agent.start();
  const auto online = watcher.wait_for_messages(
      [](const MqttMessage& m) { return m.payload.find("\"online\"") != std::string::npos; }, 1,
      std::chrono::seconds(15));
  ASSERT_EQ(online.size(), 1U);
  const auto status = boost::json::parse(online[0].payload).as_object();
  for (const char* field :
       {"state", "agent_version", "sent_at", "backlog_events", "backlog_bytes", "oldest_unacked_at",
        "last_ack_at", "ingested_total", "rejected_total", "db_bytes", "disk_free_bytes"}) {
    EXPECT_TRUE(status.contains(field)) << field;
  }
  post(agent.port(), sale_event("term-1", "S03", "T1"));
  ASSERT_TRUE(collector.wait_for_mark("S03", "T1", 1, std::chrono::seconds(10)));

  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(agent.terminate(std::chrono::seconds(10)), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  const auto offline = watcher.wait_for_messages(
      [](const MqttMessage& m) { return m.payload.find("\"offline\"") != std::string::npos; }, 1,
      std::chrono::seconds(5));
  EXPECT_EQ(offline.size(), 1U);
}

// A web page in a browser on the till must not be able to post sales or read the status
// (cross-site fetch, DNS rebinding); a POS client without Content-Type gets 415.
TEST_F(AgentBinaryTest, CrossSiteAndForeignHostRequestsAreRefused) {
  AgentProcess agent(s_dir->path() / "cross-site", *s_pki, s_broker->uri());
  {
    std::ifstream in(agent.config_path());
    std::stringstream text;
    text << in.rdbuf();
    std::string config = text.str();
    const auto at = config.find("[ingest]\n");
    ASSERT_NE(at, std::string::npos);
    config.insert(at + 9, "allowed_origins = [\"http://pos.fastyle.internal:3000\"]\n");
    std::ofstream(agent.config_path()) << config;
  }
  agent.start();
  const auto port = agent.port();
  const auto sale = sale_event("xs-1");
  using Headers = std::vector<std::pair<std::string, std::string>>;
  const auto post = [&](const std::string& type, const Headers& headers) {
    return http_request(port, "POST", "/v1/events", type, sale, std::chrono::seconds(10), headers);
  };
  auto reply = post("", {});
  EXPECT_EQ(reply.status, 415) << reply.body;
  reply = post("text/plain", {{"Origin", "https://attacker.example"}});
  EXPECT_EQ(reply.status, 403) << reply.body;
  EXPECT_NE(reply.body.find("Origin"), std::string::npos) << reply.body;
  reply = post("application/json", {{"Origin", "https://attacker.example"}});
  EXPECT_EQ(reply.status, 403) << reply.body;
  reply = http_request(port, "GET", "/v1/status", "", "", std::chrono::seconds(10),
                       {{"Host", "rebound.attacker.example:" + std::to_string(port)}});
  EXPECT_EQ(reply.status, 421) << reply.body;
  EXPECT_NE(reply.body.find("Host"), std::string::npos) << reply.body;
  const auto status = boost::json::parse(http_request(port, "GET", "/v1/status").body).as_object();
  EXPECT_EQ(status.at("last_seq").as_int64(), 0) << "nothing refused may have been stored";

  reply = post("application/json", {{"Origin", "http://pos.fastyle.internal:3000"},
                                    {"Host", "localhost:" + std::to_string(port)}});
  EXPECT_EQ(reply.status, 200) << reply.body;
  const auto head = http_request(port, "HEAD", "/healthz");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(agent.terminate(), 0);
}

// Local processes holding every ingest connection (silent, the slowloris way) must not lock the
// POS out: with the default 256 connections held, a sale still gets in at once.
TEST_F(AgentBinaryTest, IdleConnectionsCannotLockThePosOut) {
  AgentProcess agent(s_dir->path() / "lockout", *s_pki, s_broker->uri());
  agent.start();
  boost::asio::io_context io;
  const boost::asio::ip::tcp::endpoint endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                                agent.port());
  std::vector<boost::asio::ip::tcp::socket> holders;
  for (int i = 0; i < 256; ++i) {
    holders.emplace_back(io);
    holders.back().connect(endpoint);
  }
  // The agent has accepted them: it is at its limit (ingest.max_connections, 256), counting this
  // metrics request, which takes the place of an idle holder as the POST below will.
  ASSERT_TRUE(wait_until(
      [&] {
        const auto metrics = http_request(agent.port(), "GET", "/metrics").body;
        return metric_value(metrics, "posagent_ingest_connections").value_or(0) >= 256;
      },
      std::chrono::seconds(10), "the agent holds 256 connections", std::chrono::milliseconds(50)));
  const auto begin = std::chrono::steady_clock::now();
  const auto reply = http_request(agent.port(), "POST", "/v1/events", "application/json",
                                  sale_event("lockout-1"), std::chrono::seconds(10));
  EXPECT_EQ(reply.status, 200) << reply.body;
  // Well under the 5 s head deadline that would free a slot anyway: an idle holder made room.
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(4));
  holders.clear();
}

/// Turns on the agent's spool directory (`{dir}/spool`, polled every 50 ms) in its config.
std::filesystem::path enable_spool(const AgentProcess& agent) {
  const auto spool = agent.config_path().parent_path() / "spool";
  auto text = read_text_file(agent.config_path());
  const auto at = text.find("[ingest]\n");
  text.insert(at + 9, "spool_dir = \"" + spool.string() +
                          "\"\nspool_poll_ms = 50\nspool_settle_ms = 100\n");
  std::ofstream(agent.config_path(), std::ios::trunc) << text;
  return spool;
}

/// Writes `text` as `dir/name` the way a POS should: a hidden temp file, then a rename.
void drop_file(const std::filesystem::path& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir / ("." + name), std::ios::binary | std::ios::trunc) << text;
  std::filesystem::rename(dir / ("." + name), dir / name);
}

::testing::AssertionResult wait_for_file(const std::filesystem::path& path,
                                         std::chrono::seconds limit) {
  return wait_until(
      [&] {
        std::error_code ec;
        return std::filesystem::exists(std::filesystem::symlink_status(path, ec));
      },
      limit, path.filename().string() + " in " + path.parent_path().filename().string() + "/",
      std::chrono::milliseconds(20));
}

std::string stock_event(const std::string& id, const std::string& store = "S05",
                        const std::string& till = "T1") {
  return R"({"type":"stock_change","pos_event_id":")" + id +
         R"(","occurred_at":"2026-11-22T10:15:03.120+07:00","sku":"TOP-1","location":"floor",)"
         R"("delta":-1,"reason":"count","store_id":")" +
         store + R"(","till_id":")" + till + R"("})";
}

std::int64_t status_field(std::uint16_t port, const char* field) {
  const auto reply = http_request(port, "GET", "/v1/status");
  if (reply.status != 200) {
    return -1;
  }
  return boost::json::parse(reply.body).at(field).to_number<std::int64_t>();
}

// A spool file with more events than the buffer's writer queue takes (50,000) can never be
// stored: it goes to failed/ with the reason, and the files after it still flow (it was retried
// forever at full CPU, blocking every later file).
TEST_F(AgentBinaryTest, SpoolFileOverTheWriterQueueGoesToFailedAndLaterFilesFlow) {
  AgentProcess agent(s_dir->path() / "spool-queue", *s_pki, s_broker->uri(), "S05", "T1");
  const auto spool = enable_spool(agent);
  agent.start();
  std::string big;
  for (int i = 0; i < 50'001; ++i) {
    big += stock_event("big-" + std::to_string(i)) + "\n";
  }
  drop_file(spool, "a-big.ndjson", big);
  drop_file(spool, "b-small.ndjson", stock_event("small-1") + "\n" + stock_event("small-2") + "\n");
  ASSERT_TRUE(wait_for_file(spool / "done" / "b-small.ndjson", std::chrono::seconds(60)))
      << agent.log();
  ASSERT_TRUE(wait_for_file(spool / "failed" / "a-big.ndjson", std::chrono::seconds(5)));
  const auto report = read_text_file(spool / "failed" / "a-big.ndjson.errors");
  EXPECT_NE(report.find("more than 50000 events"), std::string::npos) << report;
  EXPECT_EQ(status_field(agent.port(), "last_seq"), 2);
  EXPECT_EQ(agent.terminate(), 0);
}

// A request whose events are more than the whole buffer holds can never be stored: 413 naming
// buffer.max_bytes, not a 503 that the POS would retry forever.
TEST_F(AgentBinaryTest, RequestLargerThanTheWholeBufferIs413) {
  AgentProcess agent(s_dir->path() / "request-buffer", *s_pki, s_broker->uri(), "S05", "T4", "",
                     "[buffer]\nmax_bytes = 1048576\n");
  agent.start();
  std::string body;
  for (int i = 0; body.size() < 1'200'000; ++i) {
    body += sale_event("wide-" + std::to_string(i), "S05", "T4", 50) + "\n";
  }
  const auto reply = http_request(agent.port(), "POST", "/v1/events", "application/x-ndjson", body);
  EXPECT_EQ(reply.status, 413) << reply.body;
  EXPECT_NE(reply.body.find("buffer.max_bytes = 1048576"), std::string::npos) << reply.body;
  EXPECT_EQ(post(agent.port(), sale_event("small", "S05", "T4")).at("accepted").as_int64(), 1);
  EXPECT_EQ(agent.terminate(), 0);
}

// A spool file whose events are more than the whole buffer (buffer.max_bytes) holds can never be
// stored: it goes to failed/ with the reason instead of being retried forever as `full`.
TEST_F(AgentBinaryTest, SpoolFileLargerThanTheWholeBufferGoesToFailed) {
  AgentProcess agent(s_dir->path() / "spool-buffer", *s_pki, s_broker->uri(), "S05", "T3", "",
                     "[buffer]\nmax_bytes = 1048576\n");
  const auto spool = enable_spool(agent);
  agent.start();
  std::string big;
  for (int i = 0; big.size() < 1'200'000; ++i) {
    big += stock_event("huge-" + std::to_string(i), "S05", "T3") + "\n";
  }
  drop_file(spool, "a-huge.ndjson", big);
  drop_file(spool, "b-fits.ndjson", stock_event("fits-1", "S05", "T3") + "\n");
  ASSERT_TRUE(wait_for_file(spool / "done" / "b-fits.ndjson", std::chrono::seconds(20)))
      << agent.log();
  ASSERT_TRUE(wait_for_file(spool / "failed" / "a-huge.ndjson", std::chrono::seconds(5)));
  const auto report = read_text_file(spool / "failed" / "a-huge.ndjson.errors");
  EXPECT_NE(report.find("buffer.max_bytes"), std::string::npos) << report;
  EXPECT_EQ(status_field(agent.port(), "last_seq"), 1);
  EXPECT_EQ(agent.terminate(), 0);
}

// The spool never follows a symbolic link: a link planted as failed/x.ndjson.errors pointing at
// the agent's database is replaced by the report (the database keeps every unacked event), and
// a symlinked input file is refused into failed/ with the reason, its target untouched.
TEST_F(AgentBinaryTest, SpoolSymlinksNeverRedirectWritesOrReads) {
  AgentProcess agent(s_dir->path() / "spool-links", *s_pki, s_broker->uri(), "S05", "T2");
  const auto spool = enable_spool(agent);
  agent.start();
  std::string body = "[";
  for (int i = 0; i < 5; ++i) {
    body += (i ? "," : "") + stock_event("kept-" + std::to_string(i), "S05", "T2");
  }
  EXPECT_EQ(post(agent.port(), body + "]").at("accepted").as_int64(), 5);

  std::filesystem::create_symlink(agent.db_path(), spool / "failed" / "x.ndjson.errors");
  const auto outside = s_dir->path() / "spool-links" / "outside.ndjson";
  const std::string outside_text = stock_event("via-link", "S05", "T2") + "\n";
  std::ofstream(outside) << outside_text;
  std::filesystem::create_symlink(outside, spool / "y.ndjson");
  drop_file(spool, "x.ndjson", "not json\n");

  ASSERT_TRUE(wait_for_file(spool / "failed" / "x.ndjson", std::chrono::seconds(15)))
      << agent.log();
  // The report replaced the link; the database was not written through it.
  EXPECT_FALSE(std::filesystem::is_symlink(spool / "failed" / "x.ndjson.errors"));
  EXPECT_NE(read_text_file(spool / "failed" / "x.ndjson.errors").find("line 1: "),
            std::string::npos);
  EXPECT_TRUE(read_text_file(agent.db_path()).starts_with(std::string("SQLite format 3\0", 16)))
      << "outbox.db was overwritten through the link";
  // The symlinked input moved as a link, with a report; its target was neither read nor moved.
  EXPECT_TRUE(wait_for_file(spool / "failed" / "y.ndjson", std::chrono::seconds(15)))
      << agent.log();
  EXPECT_TRUE(std::filesystem::is_symlink(spool / "failed" / "y.ndjson"));
  EXPECT_NE(read_text_file(spool / "failed" / "y.ndjson.errors").find("symbolic link"),
            std::string::npos);
  EXPECT_EQ(read_text_file(outside), outside_text);
  const auto metrics = http_request(agent.port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("\nposagent_spool_files_refused_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\nposagent_spool_files_failed_total 2\n"), std::string::npos);

  EXPECT_EQ(agent.terminate(), 0);
  agent.start();
  EXPECT_EQ(status_field(agent.port(), "last_seq"), 5) << agent.log();
  EXPECT_EQ(status_field(agent.port(), "backlog_events"), 5);
  EXPECT_EQ(agent.terminate(), 0);
}

// SPEC: 2 for a configuration error. A setting that names an unusable file or value is one, and
// `run` must say so exactly as `check-config` does (a certificate that is not one used to pass
// check-config, and `run` then kept reconnecting).
TEST_F(AgentBinaryTest, RunAndCheckConfigAgreeOnUnusableSettings) {
  const auto dir = s_dir->path() / "agree";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "corrupt.dict") << "not a zstd dictionary";
  std::ofstream(dir / "garbage.pem") << "not a certificate\n";
  const auto till = s_pki->issue_client(till_common_name("S01", "T1"));
  const auto other = s_pki->issue_client(till_common_name("S01", "T9"));
  const std::string ids =
      "store_id = \"S01\"\ntill_id = \"T1\"\ndata_dir = \"" + (dir / "data").string() + "\"\n";
  const std::string plain = ids + "[mqtt]\nuri = \"mqtt://127.0.0.1:1\"\n";
  const auto tls = [&](const std::filesystem::path& ca, const std::filesystem::path& cert,
                       const std::filesystem::path& key) {
    return ids + "[mqtt]\nuri = \"" + s_broker->uri() + "\"\nca_file = \"" + ca.string() +
           "\"\ncert_file = \"" + cert.string() + "\"\nkey_file = \"" + key.string() + "\"\n";
  };
  const auto garbage = dir / "garbage.pem";
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"dictionary.toml", plain + "[forward]\ndictionary_file = \"corrupt.dict\"\n",
       "forward.dictionary_file"},
      {"schedule.toml",
       plain + "[forward]\nrate_limit_kbps = 64\nrate_limit_schedule = [\"25:00-26:00\"]\n",
       "forward.rate_limit_schedule"},
      {"certificate.toml", tls(s_pki->ca_cert(), garbage, till.key), "mqtt.cert_file"},
      {"ca.toml", tls(garbage, till.cert, till.key), "mqtt.ca_file"},
      {"key.toml", tls(s_pki->ca_cert(), till.cert, garbage), "mqtt.key_file"},
      {"other-key.toml", tls(s_pki->ca_cert(), till.cert, other.key), "does not belong"},
      {"brokers.toml",
       ids + "[mqtt]\nuri = [\"" + s_broker->uri() + "\", \"mqtt://127.0.0.1:1\"]\n",
       "mqtt.uri[1]: is plain but mqtt.uri[0] uses TLS"},
  };
  for (const auto& [name, text, key] : cases) {
    std::ofstream(dir / name) << text;
    expect_same_startup_error(POSAGENT_BIN, dir / name, key);
  }
}

TEST_F(AgentBinaryTest, CommandLine) {
  const auto dir = s_dir->path() / "cli";
  std::filesystem::create_directories(dir);
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), POSAGENT_BIN);
    ChildProcess p(args, dir / "out.log");
    return p.wait();
  };
  EXPECT_EQ(run({"--version"}), 0);
  EXPECT_NE(read_text_file(dir / "out.log").find("posagent 0."), std::string::npos);
  std::ofstream(dir / "bad.toml") << "store_id = \"S01\"\ntill_id = \"T1\"\ndata_dir = \"d\"\n"
                                  << "[mqtt]\nuri = \"mqtt://127.0.0.1:1\"\ncolour = 1\n";
  EXPECT_EQ(run({"check-config", "--config", (dir / "bad.toml").string()}), 2);
  EXPECT_NE(read_text_file(dir / "out.log").find("unknown key mqtt.colour"), std::string::npos);
  std::ofstream(dir / "good.toml") << "store_id = \"S01\"\ntill_id = \"T1\"\ndata_dir = \"d\"\n"
                                   << "[mqtt]\nuri = \"mqtt://127.0.0.1:1\"\n";
  EXPECT_EQ(run({"check-config", "--config", (dir / "good.toml").string()}), 0);
  EXPECT_EQ(run({"run"}), 2);
  EXPECT_EQ(run({"status", "--url", "http://127.0.0.1:1"}), 1);

  AgentProcess agent(s_dir->path() / "cli-agent", *s_pki, s_broker->uri(), "S04", "T2");
  agent.start();
  EXPECT_EQ(run({"status", "--url", "http://127.0.0.1:" + std::to_string(agent.port())}), 0);
  const auto out = read_text_file(dir / "out.log");
  EXPECT_NE(out.find("S04/T2"), std::string::npos) << out;
  EXPECT_NE(out.find("backlog"), std::string::npos) << out;
  EXPECT_EQ(agent.terminate(), 0);
}

}  // namespace
}  // namespace pos::test
