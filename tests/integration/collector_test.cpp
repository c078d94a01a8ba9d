// poscollector as a black box against a real mosquitto (TLS, client certificates, ACLs) and the
// real Pub/Sub emulator: exactly-once per till in order, duplicates, gaps, poison batches, Pub/Sub
// outages and collector crashes.

#include <gtest/gtest.h>

#include <sys/mount.h>
#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "collector_harness.hpp"
#include "pos/protocol/batch.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/ids.hpp"
#include "support/mqtt_client.hpp"
#include "support/postgres.hpp"
#include "support/seed.hpp"
#include "support/wait.hpp"

namespace pos::test {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t epoch_a = 0x0123456789abcdefULL;
constexpr std::uint64_t epoch_b = 0x1111222233334444ULL;

/// One broker, one emulator and one collector per test (each test runs in its own process).
class CollectorTest : public ::testing::Test {
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

  std::vector<PubSubMessage> pull_events(std::size_t count, std::chrono::milliseconds timeout) {
    return m_emulator->pull_all(test_project, events_sub, count, timeout);
  }
  std::vector<PubSubMessage> pull_dead_letters(std::size_t count,
                                               std::chrono::milliseconds timeout) {
    return m_emulator->pull_all(test_project, dlq_sub, count, timeout);
  }

  TempDir m_dir{"collector-test"};
  std::unique_ptr<TestPki> m_pki;
  std::unique_ptr<MosquittoBroker> m_broker;
  std::unique_ptr<PubSubEmulator> m_emulator;
  std::unique_ptr<CollectorProcess> m_collector;
};

std::uint64_t seq_of(const PubSubMessage& m) {
  return static_cast<std::uint64_t>(boost::json::parse(m.data).at("seq").as_int64());
}

// The dashboard and fleet API answer only to loopback names and the configured [http]
// allowed_hosts (DNS rebinding), never to a foreign page's Origin; HEAD gets no body.
TEST_F(CollectorTest, HttpAnswersOnlyItsOwnHostNamesAndNoForeignOrigin) {
  ASSERT_EQ(m_collector->terminate(), 0);
  // The harness's config ends in [http].
  std::ofstream(m_dir.path() / "collector" / "poscollector.toml", std::ios::app)
      << "allowed_hosts = [\"ops.fastyle.internal\"]\n";
  m_collector->start();
  const auto port = m_collector->port();
  const auto get = [&](const std::string& target,
                       const std::vector<std::pair<std::string, std::string>>& headers) {
    return http_request(port, "GET", target, "", "", 10s, headers);
  };
  EXPECT_EQ(get("/v1/fleet", {}).status, 200);
  EXPECT_EQ(get("/v1/fleet", {{"Host", "ops.fastyle.internal:" + std::to_string(port)}}).status,
            200);
  auto reply = get("/v1/fleet", {{"Host", "rebound.attacker.example:" + std::to_string(port)}});
  EXPECT_EQ(reply.status, 421) << reply.body;
  reply = get("/v1/fleet", {{"Origin", "https://attacker.example"}});
  EXPECT_EQ(reply.status, 403) << reply.body;
  // The page's own origin (what a browser sends on the dashboard's same-origin requests).
  EXPECT_EQ(get("/v1/fleet", {{"Host", "127.0.0.1:" + std::to_string(port)},
                              {"Origin", "http://127.0.0.1:" + std::to_string(port)}})
                .status,
            200);
  const auto head = http_request(port, "HEAD", "/");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  EXPECT_NE(head.headers.at("Content-Length"), "0");
}

// The optional health topic: each alert transition is published to it as it happens.
TEST(CollectorHealthTopic, AlertTransitionsArePublishedToTheHealthTopic) {
  TempDir dir{"collector-health"};
  std::filesystem::create_directories(dir.path() / "pki");
  TestPki pki(dir.path() / "pki");
  MosquittoBroker broker(pki);
  PubSubEmulator emulator;
  create_pubsub_resources(emulator);
  emulator.create_topic(test_project, "pos-health");
  emulator.create_subscription(test_project, "pos-health-sub", "pos-health", true);
  CollectorProcess collector(dir.path() / "collector", pki, broker.uri(), emulator.host_port(), {},
                             "collector-1", "[health]\ntopic = \"pos-health\"\n");
  collector.start();
  FakeTill till(broker, pki, "S01", "T1");
  const auto status = [](std::int64_t sent_at_ms) {
    return R"({"state":"online","agent_version":"0.1.0","sent_at":")" +
           protocol::format_rfc3339_utc_ms(sent_at_ms) +
           R"(","backlog_events":0,"backlog_bytes":0,"oldest_unacked_at":null,)"
           R"("last_ack_at":null,"ingested_total":0,"rejected_total":0,"db_bytes":0,)"
           R"("disk_free_bytes":1000000000})";
  };
  const auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  // A till clock an hour behind, twice running: clock_skew.
  till.send_status(status(now_ms() - 3'600'000));
  till.send_status(status(now_ms() - 3'600'000));
  auto raised = emulator.pull_all(test_project, "pos-health-sub", 1, 20s);
  ASSERT_EQ(raised.size(), 1U) << collector.log();
  EXPECT_EQ(raised[0].attributes["transition"], "raised");
  EXPECT_EQ(raised[0].attributes["rule"], "clock_skew");
  EXPECT_EQ(raised[0].attributes["store_id"], "S01");
  const auto data = boost::json::parse(raised[0].data).as_object();
  EXPECT_EQ(data.at("kind").as_string(), "alert");
  EXPECT_EQ(data.at("collector_id").as_string(), "collector-1");
  // The clock corrected: cleared.
  till.send_status(status(now_ms()));
  till.send_status(status(now_ms()));
  auto cleared = emulator.pull_all(test_project, "pos-health-sub", 1, 20s);
  ASSERT_EQ(cleared.size(), 1U) << collector.log();
  EXPECT_EQ(cleared[0].attributes["transition"], "cleared");
  EXPECT_EQ(cleared[0].attributes["rule"], "clock_skew");
  const auto metrics = http_request(collector.port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("poscollector_health_messages_total 2"), std::string::npos) << metrics;
}

TEST_F(CollectorTest, SeveralTillsArriveOnceInPerTillOrderWithAttributes) {
  std::vector<std::unique_ptr<FakeTill>> tills;
  for (const char* till : {"T1", "T2"}) {
    tills.push_back(std::make_unique<FakeTill>(*m_broker, *m_pki, "S01", till));
  }
  tills.push_back(std::make_unique<FakeTill>(*m_broker, *m_pki, "S02", "T1"));
  for (std::uint64_t first = 1; first <= 100; first += 25) {
    for (auto& till : tills) {
      till->send(epoch_a, first, 25);
    }
  }
  for (auto& till : tills) {
    EXPECT_EQ(till->wait_ack(epoch_a, 100, 30s), 100U) << m_collector->log();
  }
  const auto messages = pull_events(300, 30s);
  ASSERT_EQ(messages.size(), 300U);
  std::set<std::string> ids;
  std::map<std::string, std::uint64_t> last_seq;
  for (const auto& m : messages) {
    const auto event = boost::json::parse(m.data).as_object();
    const std::string store(event.at("store_id").as_string());
    const std::string till(event.at("till_id").as_string());
    const auto seq = seq_of(m);
    EXPECT_TRUE(ids.insert(m.attributes.at("event_id")).second) << "duplicate " << m.data;
    EXPECT_EQ(m.attributes.at("event_id"), protocol::make_event_id(store, till, epoch_a, seq));
    EXPECT_EQ(m.attributes.at("event_type"), "sale");
    EXPECT_EQ(m.attributes.at("store_id"), store);
    EXPECT_EQ(m.attributes.at("till_id"), till);
    EXPECT_EQ(m.attributes.at("schema_version"), "1");
    EXPECT_EQ(m.ordering_key, std::string(store).append("/").append(till));
    EXPECT_EQ(event.at("schema_version").as_int64(), 1);
    EXPECT_TRUE(event.contains("collected_at"));
    EXPECT_EQ(event.at("pos_event_id").as_string(),
              std::string("ev-").append(store).append("-").append(till).append("-").append(
                  std::to_string(seq)));
    EXPECT_EQ(event.at("lines").as_array().size(), 2U);
    auto& last = last_seq[m.ordering_key];
    EXPECT_EQ(seq, last + 1) << "out of order for " << m.ordering_key;
    last = seq;
  }
}

TEST_F(CollectorTest, DuplicatesOverlapsAndEpochChangesPublishEachEventOnce) {
  FakeTill till(*m_broker, *m_pki, "S03", "T1");
  till.send(epoch_a, 1, 10);
  ASSERT_EQ(till.wait_ack(epoch_a, 10, 20s), 10U) << m_collector->log();
  till.send(epoch_a, 1, 10);  // the same batch again: acked at once, not republished
  till.send(epoch_a, 6, 10);  // overlapping: only 11..15 are new
  ASSERT_EQ(till.wait_ack(epoch_a, 15, 20s), 15U);
  till.send(epoch_b, 1, 5);  // a new database on the till: a new epoch starts at 1
  ASSERT_EQ(till.wait_ack(epoch_b, 5, 20s), 5U);
  auto messages = pull_events(20, 20s);
  const auto more = pull_events(1, 2s);
  messages.insert(messages.end(), more.begin(), more.end());
  ASSERT_EQ(messages.size(), 20U);
  std::set<std::string> ids;
  for (const auto& m : messages) {
    EXPECT_TRUE(ids.insert(m.attributes.at("event_id")).second) << m.attributes.at("event_id");
  }
}

TEST_F(CollectorTest, GapIsNeitherPublishedNorAckedUntilFilled) {
  FakeTill till(*m_broker, *m_pki, "S04", "T1");
  till.send(epoch_a, 1, 5);
  ASSERT_EQ(till.wait_ack(epoch_a, 5, 20s), 5U) << m_collector->log();
  ASSERT_EQ(pull_events(5, 20s).size(), 5U);
  till.send(epoch_a, 8, 3);  // 6 and 7 missing
  EXPECT_EQ(till.wait_ack(epoch_a, 6, 3s), 5U) << "a gap was acked";
  EXPECT_TRUE(pull_events(1, 2s).empty()) << "a gap was published";
  till.send(epoch_a, 6, 5);  // go-back-N fills it
  EXPECT_EQ(till.wait_ack(epoch_a, 10, 20s), 10U);
  const auto messages = pull_events(5, 20s);
  ASSERT_EQ(messages.size(), 5U);
  EXPECT_EQ(seq_of(messages.front()), 6U);
  EXPECT_EQ(seq_of(messages.back()), 10U);
}

TEST_F(CollectorTest, PoisonBatchesGoToDeadLettersAndTheTillKeepsFlowing) {
  FakeTill till(*m_broker, *m_pki, "S05", "T1");
  protocol::BatchEncoder encoder;
  std::uint64_t next = 1;
  std::size_t expected_dead = 0;
  auto good = [&](std::uint32_t count) {
    till.send(epoch_a, next, count);
    next += count;
    ASSERT_EQ(till.wait_ack(epoch_a, next - 1, 20s), next - 1) << m_collector->log();
  };
  good(3);

  // Header-level garbage: no epoch to ack, but dead-lettered and nothing else blocks.
  for (const std::string& garbage : {std::string("not a batch"), std::string(36, '\0'),
                                     std::string("POSB\x02", 5) + std::string(40, 'x')}) {
    till.send_raw(garbage);
    ++expected_dead;
  }
  good(2);

  // Batches whose header is valid but whose body is not: dead-lettered whole and acked.
  auto lines = stamped_lines("S05", "T1", epoch_a, next, 3);
  auto corrupted = *encoder.encode(epoch_a, next, lines);
  corrupted[corrupted.size() - 6] ^= 0x55;  // checksum fails
  till.send_raw(corrupted);
  ++expected_dead;
  next += 3;
  EXPECT_EQ(till.wait_ack(epoch_a, next - 1, 20s), next - 1) << m_collector->log();

  auto wrong_count = *encoder.encode(epoch_a, next, lines);  // lines stamped with other seqs
  till.send_raw(wrong_count);
  next += 3;
  EXPECT_EQ(till.wait_ack(epoch_a, next - 1, 20s), next - 1) << m_collector->log();
  expected_dead += 3;  // each line's seq disagrees with the header: three dead events

  // Events claiming another store, on this till's topic: dead-lettered, the rest published.
  auto mixed = stamped_lines("S05", "T1", epoch_a, next, 3);
  mixed[1] = stamped_lines("S06", "T1", epoch_a, next + 1, 1)[0];
  till.send_raw(*encoder.encode(epoch_a, next, mixed));
  next += 3;
  EXPECT_EQ(till.wait_ack(epoch_a, next - 1, 20s), next - 1) << m_collector->log();
  ++expected_dead;
  good(4);

  // Every kind of malformed envelope from the protocol's bad-input table, each built from a valid
  // batch at `next`. `acked` is the number of seqs the collector may acknowledge for it: a batch
  // whose header is readable is dead-lettered and acked through its header's range; one whose
  // header is not is dead-lettered only (there is no epoch to ack).
  struct Mutation {
    const char* what;
    std::uint32_t acked;
    void (*apply)(std::string&);
  };
  const Mutation mutations[] = {
      {"version", 0, [](std::string& b) { b[4] = 9; }},
      {"codec", 0, [](std::string& b) { b[5] = 7; }},
      {"reserved", 0, [](std::string& b) { b[6] = 1; }},
      {"dictionary codec without id", 0, [](std::string& b) { b[5] = 2; }},
      {"dictionary id without codec", 0, [](std::string& b) { b[8] = 5; }},
      {"first_seq 0", 0, [](std::string& b) { std::fill(b.begin() + 20, b.begin() + 28, '\0'); }},
      {"count 0", 0, [](std::string& b) { std::fill(b.begin() + 28, b.begin() + 32, '\0'); }},
      {"count larger than the lines", 3, [](std::string& b) { b[28] = 3; }},
      {"truncated frame", 2, [](std::string& b) { b.resize(b.size() - 10); }},
      {"trailing bytes", 2, [](std::string& b) { b += "xx"; }},
      {"raw_len mismatch", 2, [](std::string& b) { b[32] = static_cast<char>(b[32] - 1); }},
      {"raw_len over the limit", 2,
       [](std::string& b) { std::fill(b.begin() + 32, b.begin() + 36, '\x7f'); }},
  };
  for (const auto& mutation : mutations) {
    SCOPED_TRACE(mutation.what);
    auto batch = *encoder.encode(epoch_a, next, stamped_lines("S05", "T1", epoch_a, next, 2));
    mutation.apply(batch);
    till.send_raw(batch);
    ++expected_dead;
    if (mutation.acked > 0) {
      next += mutation.acked;
      EXPECT_EQ(till.wait_ack(epoch_a, next - 1, 20s), next - 1) << m_collector->log();
    }
  }
  good(2);

  const auto dead = pull_dead_letters(expected_dead, 30s);
  EXPECT_EQ(dead.size(), expected_dead);
  for (const auto& m : dead) {
    EXPECT_FALSE(m.attributes.at("error").empty());
  }
  bool named_store = false;
  for (const auto& m : dead) {
    named_store = named_store || m.attributes.at("error").find("store_id") != std::string::npos;
  }
  EXPECT_TRUE(named_store) << "the foreign-store event's error should name store_id";
  const auto events = pull_events(3 + 2 + 2 + 4 + 2, 30s);
  EXPECT_EQ(events.size(), 13U);
}

TEST_F(CollectorTest, PubSubOutageAcksNothingAndLosesNothing) {
  FakeTill till(*m_broker, *m_pki, "S07", "T1");
  till.send(epoch_a, 1, 10);
  ASSERT_EQ(till.wait_ack(epoch_a, 10, 20s), 10U) << m_collector->log();
  ASSERT_EQ(pull_events(10, 20s).size(), 10U);

  m_emulator->stop();
  till.send(epoch_a, 11, 20);
  const auto down_until = std::chrono::steady_clock::now() + 12s;
  while (std::chrono::steady_clock::now() < down_until) {
    EXPECT_EQ(till.wait_ack(epoch_a, 11, 1s), 10U) << "acked while Pub/Sub was down";
  }
  const auto ready = http_request(m_collector->port(), "GET", "/readyz");
  EXPECT_NE(ready.status, 200) << "ready while the sink is unreachable";

  m_emulator->start();
  create_pubsub_resources(*m_emulator);  // the emulator keeps state in memory only
  // Like the agent's go-back-N, resend until acked.
  std::uint64_t acked = 10;
  for (int i = 0; i < 20 && acked < 30; ++i) {
    till.send(epoch_a, 11, 20);
    acked = till.wait_ack(epoch_a, 30, 3s);
  }
  EXPECT_EQ(acked, 30U) << m_collector->log();
  const auto after = pull_events(20, 30s);
  std::set<std::uint64_t> seqs;
  for (const auto& m : after) {
    seqs.insert(seq_of(m));
  }
  ASSERT_EQ(seqs.size(), 20U) << m_collector->log();
  EXPECT_EQ(*seqs.begin(), 11U);
  EXPECT_EQ(*seqs.rbegin(), 30U);
}

TEST_F(CollectorTest, KillNineDuringFlowLosesNothing) {
  AgentProcess agent(m_dir.path() / "agent", *m_pki, m_broker->uri(), "S08", "T1");
  agent.start();
  std::atomic<bool> stop{false};
  std::atomic<int> accepted{0};
  std::thread pos([&] {
    for (int i = 0; !stop; ++i) {
      std::string body;
      for (int j = 0; j < 5; ++j) {
        body += sale_event("k9-" + std::to_string(i) + "-" + std::to_string(j), "S08", "T1") + "\n";
      }
      const auto reply =
          http_request(agent.port(), "POST", "/v1/events", "application/x-ndjson", body);
      if (reply.status == 200) {
        accepted += static_cast<int>(boost::json::parse(reply.body).at("accepted").as_int64());
      }
      std::this_thread::sleep_for(10ms);
    }
  });
  const unsigned seed = test_seed();  // the kill times; POS_TEST_SEED replays them
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  for (int round = 0; round < 10; ++round) {
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(200, 1200)(rng)));
    m_collector->kill9();
    m_collector->start();
  }
  stop = true;
  pos.join();
  const auto total = static_cast<std::size_t>(accepted.load());
  ASSERT_GT(total, 100U);

  std::map<std::string, int> seen;
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  while (seen.size() < total && std::chrono::steady_clock::now() < deadline) {
    for (const auto& m : pull_events(total, 5s)) {
      ++seen[m.attributes.at("event_id")];
    }
  }
  std::size_t duplicates = 0;
  for (const auto& [id, count] : seen) {
    duplicates += static_cast<std::size_t>(count - 1);
  }
  std::cout << "[ info ] collector kill -9 x10: " << total << " events accepted, " << seen.size()
            << " distinct published, " << duplicates << " duplicates (publish-then-crash window)\n";
  EXPECT_EQ(seen.size(), total) << "events missing after collector crashes\n" << m_collector->log();
  EXPECT_EQ(agent.terminate(), 0);
}

// [marks] type = "postgres": the collector keeps its marks in a real PostgreSQL server, which is
// restarted under load. While it is down no mark commits, so the collector pauses intake and says
// so in /readyz; once it is back the collector reconnects, commits what it published and goes on.
// Every accepted event reaches Pub/Sub, none twice (the collector itself never restarted).
TEST_F(CollectorTest, PostgresMarksRideOutAServerRestartUnderLoad) {
  test::PostgresServer postgres;
  ASSERT_EQ(m_collector->terminate(), 0);
  std::ofstream(m_dir.path() / "collector" / "poscollector.toml", std::ios::app)
      << "[marks]\ntype = \"postgres\"\ndsn = \"" << postgres.dsn() << "\"\n";
  m_collector->start();

  AgentProcess agent(m_dir.path() / "agent", *m_pki, m_broker->uri(), "S09", "T1");
  agent.start();
  std::atomic<bool> stop{false};
  std::atomic<int> accepted{0};
  std::thread pos([&] {
    for (int i = 0; !stop; ++i) {
      std::string body;
      for (int j = 0; j < 5; ++j) {
        body += sale_event("pg-" + std::to_string(i) + "-" + std::to_string(j), "S09", "T1") + "\n";
      }
      const auto reply =
          http_request(agent.port(), "POST", "/v1/events", "application/x-ndjson", body);
      if (reply.status == 200) {
        accepted += static_cast<int>(boost::json::parse(reply.body).at("accepted").as_int64());
      }
      std::this_thread::sleep_for(10ms);
    }
  });
  const auto readyz = [&] { return http_request(m_collector->port(), "GET", "/readyz", "", ""); };
  std::this_thread::sleep_for(1500ms);
  postgres.stop();
  EXPECT_TRUE(test::wait_until(
      [&] {
        const auto r = readyz();
        return r.status == 503 && r.body.find("mark store") != std::string::npos;
      },
      30s, "/readyz to report the mark store down"));
  std::this_thread::sleep_for(2s);
  postgres.start();
  EXPECT_TRUE(test::wait_until([&] { return readyz().status == 200; }, 60s,
                               "/readyz to recover with the server"));
  std::this_thread::sleep_for(1s);
  stop = true;
  pos.join();
  const auto total = static_cast<std::size_t>(accepted.load());
  ASSERT_GT(total, 50U);

  std::map<std::string, int> seen;
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  while (seen.size() < total && std::chrono::steady_clock::now() < deadline) {
    for (const auto& m : pull_events(total, 5s)) {
      ++seen[m.attributes.at("event_id")];
    }
  }
  std::size_t duplicates = 0;
  for (const auto& [id, count] : seen) {
    duplicates += static_cast<std::size_t>(count - 1);
  }
  std::cout << "[ info ] postgres restart under load: " << total << " events accepted, "
            << seen.size() << " distinct published, " << duplicates << " duplicates\n";
  EXPECT_EQ(seen.size(), total) << "events missing\n" << m_collector->log();
  EXPECT_EQ(duplicates, 0U);
  EXPECT_NE(m_collector->log().find("pausing intake"), std::string::npos);
  EXPECT_EQ(agent.terminate(), 0);
}

/// sale_event(id) padded with an unknown field so that its canonical JSON (the agent's stored
/// form before the stamp) is exactly `canonical_bytes` long.
std::string sized_sale_event(const std::string& id, const std::string& store,
                             const std::string& till, std::size_t canonical_bytes) {
  const std::string base = sale_event(id, store, till);
  const auto size = protocol::to_canonical_json(boost::json::parse(base)).size();
  return base.substr(0, base.size() - 1) + R"(,"note":")" +
         std::string(canonical_bytes - size - 10, 'x') + "\"}";
}

// One per-event limit, the collector's: an event exactly at protocol::max_event_bytes is accepted
// by the real agent and published by the real collector; one byte more is rejected at ingest
// with the limit named, and so is one the collector's line limit refuses (it used to be accepted
// in a JSON array, then dead-lettered).
TEST_F(CollectorTest, EventAtThePerEventLimitIsPublishedAndOneOverIsRejectedAtIngest) {
  AgentProcess agent(m_dir.path() / "agent", *m_pki, m_broker->uri(), "S10", "T1");
  agent.start();
  const std::string body =
      "[" + sized_sale_event("at-limit", "S10", "T1", protocol::max_event_bytes) + "," +
      sized_sale_event("over-limit", "S10", "T1", protocol::max_event_bytes + 1) + "," +
      sized_sale_event("dead-letter", "S10", "T1",
                       protocol::max_event_bytes + protocol::max_stamp_bytes) +
      "]";
  const auto reply = http_request(agent.port(), "POST", "/v1/events", "application/json", body);
  ASSERT_EQ(reply.status, 200) << reply.body.substr(0, 500);
  const auto doc = boost::json::parse(reply.body).as_object();
  const auto& results = doc.at("results").as_array();
  ASSERT_EQ(results.size(), 3U);
  EXPECT_EQ(results[0].at("status").as_string(), "accepted") << reply.body;
  EXPECT_EQ(results[1].at("status").as_string(), "rejected") << reply.body;
  EXPECT_EQ(results[2].at("status").as_string(), "rejected") << reply.body;
  EXPECT_NE(reply.body.find("is larger than the limit of 1048576 bytes per event"),
            std::string::npos)
      << reply.body;

  const auto messages = pull_events(1, 30s);
  ASSERT_EQ(messages.size(), 1U) << m_collector->log();
  const auto event = boost::json::parse(messages[0].data).as_object();
  EXPECT_EQ(event.at("pos_event_id").as_string(), "at-limit");
  EXPECT_EQ(
      event.at("note").as_string().size(),
      std::string(sized_sale_event("at-limit", "S10", "T1", protocol::max_event_bytes)).size() -
          sale_event("at-limit", "S10", "T1").size() - 10);
  EXPECT_TRUE(pull_dead_letters(1, 3s).empty()) << m_collector->log();
  EXPECT_EQ(agent.terminate(), 0);
}

// collector.db lost between two runs: the collector takes each till's mark from the
// acked_through in the till's retained status and the till keeps flowing, nothing lost.
TEST_F(CollectorTest, LostMarkDatabaseIsRecoveredFromTheTillsStatus) {
  AgentProcess agent(m_dir.path() / "agent", *m_pki, m_broker->uri(), "S09", "T1");
  agent.start();
  const auto post = [&](const std::string& prefix, int count) {
    std::string body;
    for (int i = 0; i < count; ++i) {
      body += sale_event(prefix + std::to_string(i), "S09", "T1") + "\n";
    }
    const auto reply =
        http_request(agent.port(), "POST", "/v1/events", "application/x-ndjson", body);
    ASSERT_EQ(reply.status, 200) << reply.body;
  };
  // The precondition of the recovery: the till's retained status reports acked_through 20 (a
  // status goes out every 5 s in the harness). Waited for, not slept for.
  test::TestMqttClient watcher(
      test::TestMqttClientOptions{m_broker->uri(), "status-watcher", m_pki->ca_cert(),
                                  m_pki->issue_client(test::observer_common_name)});
  watcher.connect();
  watcher.subscribe("pos/v1/S09/T1/status", 1);
  post("before-", 20);
  ASSERT_EQ(pull_events(20, 30s).size(), 20U) << m_collector->log();
  const auto acked_20 = watcher.wait_for_messages(
      [](const test::MqttMessage& m) {
        return m.payload.find("\"acked_through\":20") != std::string::npos;
      },
      1, 20s);
  ASSERT_EQ(acked_20.size(), 1U) << "no status with acked_through 20";
  watcher.disconnect();
  ASSERT_EQ(m_collector->terminate(), 0);
  const auto data = m_dir.path() / "collector" / "data";
  for (const char* name : {"collector.db", "collector.db-wal", "collector.db-shm"}) {
    std::filesystem::remove(data / name);
  }
  m_collector->start();
  post("after-", 20);
  std::map<std::string, int> seen;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (seen.size() < 20 && std::chrono::steady_clock::now() < deadline) {
    for (const auto& m : pull_events(20, 5s)) {
      ++seen[m.attributes.at("event_id")];
    }
  }
  ASSERT_EQ(seen.size(), 20U) << "the till did not resume after collector.db was lost\n"
                              << m_collector->log();
  for (const auto& [id, count] : seen) {
    EXPECT_EQ(count, 1) << id;
    EXPECT_GT(std::stoull(id.substr(id.rfind('-') + 1)), 20U) << id << " was published again";
  }
  EXPECT_NE(m_collector->log().find("adopting 20"), std::string::npos) << m_collector->log();
  EXPECT_EQ(agent.terminate(), 0);
}

/// The collector's data_dir on a small tmpfs of its own, which the test fills to make SQLite's
/// commits fail (SQLITE_FULL) and then frees again.
class CollectorDiskFullTest : public CollectorTest {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(m_data);
    ASSERT_EQ(::mount("tmpfs", m_data.c_str(), "tmpfs", 0, "size=8m"), 0)
        << "mount tmpfs on " << m_data << ": " << std::strerror(errno);
    m_mounted = true;
    CollectorTest::SetUp();
  }
  void TearDown() override {
    if (m_collector) {
      m_collector->terminate();
    }
    if (m_mounted) {
      ::umount2(m_data.c_str(), MNT_DETACH);
    }
  }

  /// Writes a file until the filesystem is full.
  void fill() {
    std::ofstream out(m_data / "filler", std::ios::binary);
    const std::string block(64 * 1024, 'x');
    while (out.write(block.data(), static_cast<std::streamsize>(block.size())) && out.flush()) {
    }
  }

  std::string metrics() { return http_request(m_collector->port(), "GET", "/metrics").body; }
  /// The value of an unlabelled metric, -1 when absent.
  double metric(const std::string& name) { return metric_value(metrics(), name).value_or(-1); }
  ::testing::AssertionResult wait_metric(const std::string& name, double at_least,
                                         std::chrono::milliseconds timeout) {
    return wait_until([&] { return metric(name) >= at_least; }, timeout,
                      name + " >= " + std::to_string(at_least), 50ms);
  }

  std::filesystem::path m_data = m_dir.path() / "collector" / "data";
  bool m_mounted = false;
};

// Disk full under collector.db: the batch is published but its mark cannot be committed. The
// collector then takes no batch (the till's resends are neither published again nor acked) and
// is not ready, until space is freed: the retried commit acks what was published, once.
TEST_F(CollectorDiskFullTest, FullDiskPausesIntakeWithoutDuplicatesUntilSpaceIsFreed) {
  FakeTill till(*m_broker, *m_pki, "S07", "T1");
  till.send(epoch_a, 1, 5);
  ASSERT_EQ(till.wait_ack(epoch_a, 5, 20s), 5U) << m_collector->log();
  ASSERT_EQ(pull_events(5, 20s).size(), 5U);

  fill();
  till.send(epoch_a, 6, 5);
  ASSERT_TRUE(wait_metric("poscollector_commit_failures_total", 1, 20s)) << m_collector->log();
  EXPECT_TRUE(wait_metric("poscollector_intake_paused", 1, 5s)) << metrics();
  const auto ready = http_request(m_collector->port(), "GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("mark store"), std::string::npos) << ready.body;
  // The agent resends after its ack timeout.
  for (int i = 0; i < 3; ++i) {
    till.send(epoch_a, 6, 5);
    EXPECT_EQ(till.wait_ack(epoch_a, 6, 1s), 5U) << "acked while the mark store cannot commit";
  }
  ASSERT_TRUE(wait_metric("poscollector_batches_received_total", 1 + 1 + 3, 10s)) << metrics();
  EXPECT_TRUE(wait_metric("poscollector_batches_dropped_paused_total", 3, 10s)) << metrics();
  EXPECT_TRUE(wait_metric("poscollector_commit_retries_total", 1, 10s)) << metrics();
  auto events = pull_events(100, 3s);
  EXPECT_EQ(events.size(), 5U) << "published again while the mark store cannot commit";

  std::filesystem::remove(m_data / "filler");
  EXPECT_EQ(till.wait_ack(epoch_a, 10, 20s), 10U) << m_collector->log();
  EXPECT_EQ(metric("poscollector_intake_paused"), 0);
  EXPECT_EQ(http_request(m_collector->port(), "GET", "/readyz").status, 200);
  till.send(epoch_a, 6, 7);  // 6..10 are duplicates now, 11 and 12 new
  EXPECT_EQ(till.wait_ack(epoch_a, 12, 20s), 12U) << m_collector->log();
  for (auto& m : pull_events(100, 3s)) {
    events.push_back(std::move(m));
  }
  std::map<std::uint64_t, int> published;
  for (const auto& m : events) {
    ++published[seq_of(m)];
  }
  ASSERT_EQ(published.size(), 7U) << m_collector->log();
  for (const auto& [seq, count] : published) {
    EXPECT_EQ(count, 1) << "seq " << seq << " published " << count << " times";
    EXPECT_GE(seq, 6U);
  }
  EXPECT_NE(m_collector->log().find("pausing intake"), std::string::npos);
  EXPECT_NE(m_collector->log().find("resuming intake"), std::string::npos);
}

// Store "A-B" with till "C" and store "A" with till "B-C", in the same epoch, used to publish the
// same event ids ("A-B-C-{epoch}-{seq}"): downstream deduplication by event_id would drop one
// till's sales as duplicates of the other's. A line of an older agent (the legacy id) is still
// published, with its id as it was.
TEST_F(CollectorTest, DashedIdsThatUsedToCollideGetDistinctEventIds) {
  FakeTill first(*m_broker, *m_pki, "A-B", "C");
  FakeTill second(*m_broker, *m_pki, "A", "B-C");
  first.send(epoch_a, 1, 3);
  second.send(epoch_a, 1, 3);
  EXPECT_EQ(first.wait_ack(epoch_a, 3, 30s), 3U) << m_collector->log();
  EXPECT_EQ(second.wait_ack(epoch_a, 3, 30s), 3U) << m_collector->log();

  auto legacy = stamped_lines("A-B", "C", epoch_a, 4, 1, "ev");
  const std::string new_id = protocol::make_event_id("A-B", "C", epoch_a, 4);
  const std::string legacy_id = "A-B-C-" + protocol::format_epoch(epoch_a) + "-4";
  const auto at = legacy[0].find(new_id);
  ASSERT_NE(at, std::string::npos) << legacy[0];
  legacy[0].replace(at, new_id.size(), legacy_id);
  protocol::BatchEncoder encoder;
  const auto batch = encoder.encode(epoch_a, 4, legacy);
  ASSERT_TRUE(batch.has_value()) << batch.error().message;
  first.send_raw(*batch);
  EXPECT_EQ(first.wait_ack(epoch_a, 4, 30s), 4U) << m_collector->log();

  const auto messages = pull_events(7, 30s);
  ASSERT_EQ(messages.size(), 7U) << m_collector->log();
  std::set<std::string> ids;
  for (const auto& m : messages) {
    const auto event = boost::json::parse(m.data).as_object();
    const std::string store(event.at("store_id").as_string());
    const std::string till(event.at("till_id").as_string());
    const auto seq = seq_of(m);
    EXPECT_TRUE(ids.insert(m.attributes.at("event_id")).second)
        << "event id shared by two tills: " << m.attributes.at("event_id");
    EXPECT_EQ(event.at("event_id").as_string(), m.attributes.at("event_id"));
    EXPECT_EQ(m.attributes.at("event_id"),
              seq == 4 ? legacy_id : protocol::make_event_id(store, till, epoch_a, seq));
  }
  EXPECT_EQ(ids.size(), 7U);
  EXPECT_TRUE(pull_dead_letters(1, 500ms).empty());
}

// docs/operations.md, "Drain a dead till's database", with real agents and the production broker
// configuration: the dead till's copied database is drained with a drain certificate (CN
// S07/T1/drain, the drain block of pos-acl added and the broker reloaded) while the replacement
// till, same ids, keeps selling. Neither takes the other's session; every sale of both arrives
// once.
TEST_F(CollectorTest, DrainCertificateDrainsADeadTillsDatabaseBesideItsReplacement) {
  const auto sales = [](AgentProcess& agent, const std::string& prefix, int count) {
    for (int i = 1; i <= count; ++i) {
      const auto reply = http_request(agent.port(), "POST", "/v1/events", "application/json",
                                      sale_event(prefix + std::to_string(i), "S07", "T1"));
      ASSERT_EQ(reply.status, 200) << reply.body;
      ASSERT_NE(reply.body.find("\"accepted\":1"), std::string::npos) << reply.body;
    }
  };
  const auto backlog = [](AgentProcess& agent) {
    const auto reply = http_request(agent.port(), "GET", "/v1/status", "", "");
    if (reply.status != 200) {
      return std::int64_t{-1};
    }
    return boost::json::parse(reply.body).at("backlog_events").as_int64();
  };
  // The till that dies never reached the broker: its 5 sales exist only in its database.
  const std::string nowhere = "ssl://localhost:" + std::to_string(free_tcp_port());
  AgentProcess dead(m_dir.path() / "dead", *m_pki, nowhere, "S07", "T1");
  dead.start();
  sales(dead, "old-", 5);
  dead.kill9();

  AgentProcess replacement(m_dir.path() / "replacement", *m_pki, m_broker->uri(), "S07", "T1");
  replacement.start();
  sales(replacement, "new-", 3);

  m_broker->append_acl_and_reload(m_broker->drain_acl_block("S07", "T1"));
  AgentProcess drain(m_dir.path() / "drain", *m_pki, m_broker->uri(), "S07", "T1");
  std::filesystem::copy(dead.data_dir(), drain.data_dir(),
                        std::filesystem::copy_options::recursive);
  const auto drain_cert = m_pki->issue_client("S07/T1/drain");
  std::string config = read_text_file(drain.config_path());
  const auto till_cert = m_pki->issue_client(till_common_name("S07", "T1"));
  for (const auto& [from, to] :
       {std::pair{till_cert.cert, drain_cert.cert}, std::pair{till_cert.key, drain_cert.key}}) {
    const auto at = config.find(from.string());
    ASSERT_NE(at, std::string::npos) << config;
    config.replace(at, from.string().size(), to.string());
  }
  std::ofstream(drain.config_path()) << config;
  drain.start();
  for (int i = 4; i <= 5; ++i) {
    const auto reply = http_request(replacement.port(), "POST", "/v1/events", "application/json",
                                    sale_event("new-" + std::to_string(i), "S07", "T1"));
    EXPECT_EQ(reply.status, 200) << reply.body;
  }

  std::map<std::string, int> seen;
  std::set<std::string> event_ids;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (seen.size() < 10 && std::chrono::steady_clock::now() < deadline) {
    for (const auto& m : pull_events(10, 2s)) {
      ++seen[std::string(boost::json::parse(m.data).at("pos_event_id").as_string())];
      event_ids.insert(m.attributes.at("event_id"));
    }
  }
  ASSERT_EQ(seen.size(), 10U) << "drain log:\n"
                              << drain.log() << "\nreplacement log:\n"
                              << replacement.log() << "\ncollector log:\n"
                              << m_collector->log();
  for (const auto& [id, count] : seen) {
    EXPECT_EQ(count, 1) << id;
  }
  EXPECT_EQ(event_ids.size(), 10U);
  const auto drained_by = std::chrono::steady_clock::now() + 30s;
  while ((backlog(drain) != 0 || backlog(replacement) != 0) &&
         std::chrono::steady_clock::now() < drained_by) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(backlog(drain), 0) << drain.log();
  EXPECT_EQ(backlog(replacement), 0) << replacement.log();
  EXPECT_TRUE(replacement.running());
  EXPECT_TRUE(drain.running());
  // Neither agent lost its session to the other while the drain ran.
  const auto broker_log = read_text_file(m_broker->log_path());
  EXPECT_EQ(broker_log.find("already connected, closing old connection"), std::string::npos)
      << broker_log;
  EXPECT_EQ(drain.terminate(), 0);
  EXPECT_EQ(replacement.terminate(), 0);
}

}  // namespace
}  // namespace pos::test

namespace pos::test {
namespace {

// SPEC: 2 for a configuration error. A setting that names an unusable file is one, and `run` must
// say so exactly as `check-config` does (a certificate that is not one used to pass check-config,
// and `run` then kept reconnecting).
TEST(CollectorCommandLine, RunAndCheckConfigAgreeOnUnusableFiles) {
  TempDir dir("collector-agree");
  std::filesystem::create_directories(dir.path() / "pki");
  TestPki pki(dir.path() / "pki");
  const auto collector = pki.issue_client(collector_common_name);
  std::filesystem::create_directories(dir.path() / "dicts");
  std::ofstream(dir.path() / "dicts" / "corrupt.dict") << "not a zstd dictionary";
  std::ofstream(dir.path() / "key.json") << R"({"type": "not a service account"})";
  std::ofstream(dir.path() / "garbage.pem") << "not a certificate\n";
  const std::string head = "collector_id = \"collector-1\"\ndata_dir = \"" +
                           (dir.path() / "data").string() + "\"\n[mqtt]\n";
  const std::string plain = head + "uri = \"mqtt://127.0.0.1:1\"\n";
  const std::string file_sink =
      "[sink]\ntype = \"file\"\npath = \"" + (dir.path() / "out").string() + "\"\n";
  const auto tls = [&](const std::filesystem::path& cert) {
    return head + "uri = \"ssl://127.0.0.1:1\"\nca_file = \"" + pki.ca_cert().string() +
           "\"\ncert_file = \"" + cert.string() + "\"\nkey_file = \"" + collector.key.string() +
           "\"\n" + file_sink;
  };
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"dictionary.toml", plain + file_sink + "[dictionaries]\ndir = \"dicts\"\n",
       "dictionaries.dir"},
      {"credentials.toml",
       plain + "[sink]\nproject = \"fastyle-test\"\ncredentials_file = \"key.json\"\n", "key.json"},
      {"certificate.toml", tls(dir.path() / "garbage.pem"), "mqtt.cert_file"},
  };
  for (const auto& [name, text, key] : cases) {
    std::ofstream(dir.path() / name) << text;
    expect_same_startup_error(POSCOLLECTOR_BIN, dir.path() / name, key);
  }
}

}  // namespace
}  // namespace pos::test
