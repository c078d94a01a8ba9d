// The forwarder with the real SQLite outbox and the real Paho transport against a real mosquitto
// (TLS, client certificates, ACL); a test client plays the collector and acks as SPEC says.

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fstream>
#include <future>
#include <thread>

#include "pos/agent/forwarder.hpp"
#include "pos/agent/paho_transport.hpp"
#include "pos/agent/sqlite_outbox.hpp"
#include "pos/protocol/batch.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/messages.hpp"
#include "support/mosquitto.hpp"
#include "support/mqtt_client.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"

namespace pos::agent {
namespace {

using namespace std::chrono_literals;
using pos::test::wait_until;

constexpr const char* store = "S01";
constexpr const char* till = "T1";
constexpr const char* ack_topic = "pos/v1/S01/T1/ack";

std::int64_t rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stoll(line.substr(6));
    }
  }
  return -1;
}

/// Plays the collector: takes batches, tracks the highest contiguous seq, acks it (when enabled).
/// Keeps a persistent session and reconnects after a broker restart.
class TestCollector {
 public:
  TestCollector(const std::string& uri, const test::TestPki& pki, const test::CertKey& cert)
      : m_client({uri, "collector-test", pki.ca_cert(), cert, false, 3600, 5s}) {
    connect();
    m_thread = std::thread([this] { loop(); });
  }
  ~TestCollector() {
    m_stop = true;
    m_thread.join();
  }

  std::atomic<bool> acks_enabled{true};
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> duplicate_batches{0};
  std::atomic<std::uint64_t> gaps{0};
  std::atomic<std::uint64_t> epoch{0};

  void send_ack(std::uint64_t ack_epoch, std::uint64_t through) {
    m_client.publish(ack_topic, protocol::encode_ack({ack_epoch, through}));
  }
  test::TestMqttClient& client() { return m_client; }

 private:
  void connect() {
    m_client.connect();
    m_client.subscribe("pos/v1/+/+/batch");
  }

  void loop() {
    protocol::BatchDecoder decoder;
    while (!m_stop) {
      try {
        if (!m_client.connected()) {
          connect();
        }
        auto messages = m_client.wait_for_messages("pos/v1/+/+/batch", 1, 100ms);
        for (const auto& message : messages) {
          auto batch = decoder.decode(message.payload);
          if (!batch) {
            ADD_FAILURE() << batch.error().message;
            continue;
          }
          const auto& h = batch->header;
          epoch = h.epoch;
          ++batches;
          const auto last = h.first_seq + h.count - 1;
          if (h.first_seq > delivered + 1) {
            ++gaps;
          } else if (last <= delivered) {
            ++duplicate_batches;
          } else {
            delivered = last;
          }
        }
        if (!messages.empty() && acks_enabled && delivered > 0) {
          send_ack(epoch, delivered);
        }
      } catch (const std::exception&) {
        std::this_thread::sleep_for(100ms);
      }
    }
  }

  test::TestMqttClient m_client;
  std::atomic<bool> m_stop{false};
  std::thread m_thread;
};

class AgentForwardingTest : public ::testing::Test {
 protected:
  AgentForwardingTest()
      : m_pki_dir("pos-fwd-pki"),
        m_pki(m_pki_dir.path()),
        m_broker(m_pki),
        m_till_cert(m_pki.issue_client(test::till_common_name(store, till))),
        m_collector_cert(m_pki.issue_client(test::collector_common_name)),
        m_work(boost::asio::make_work_guard(m_io)) {
    m_io_thread = std::thread([this] { m_io.run(); });
    SqliteOutboxOptions o;
    o.path = m_data_dir.path() / "outbox.db";
    o.store_id = store;
    o.till_id = till;
    auto opened = SqliteOutbox::open(o, m_io.get_executor(), m_clock);
    if (!opened) {
      throw std::runtime_error(opened.error().message);
    }
    m_outbox = std::move(*opened);
    options.store_id = store;
    options.till_id = till;
    options.ack_timeout = 2s;
    options.status_payload = [] { return std::string(R"({"state":"online"})"); };
    options.offline_payload = [] { return std::string(R"({"state":"offline"})"); };
  }

  ~AgentForwardingTest() override {
    stop_agent();
    m_outbox->stop();
    m_work.reset();
    m_io.stop();
    m_io_thread.join();
  }

  template <class F>
  auto on_io(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    boost::asio::post(m_io, [&task] { task(); });
    return result.get();
  }

  PahoTransportOptions transport_options(const std::string& ca_file = {}) const {
    PahoTransportOptions t;
    t.mqtt.uris = {m_broker.uri()};
    t.mqtt.client_id = "posagent-S01-T1";
    t.mqtt.ca_file = ca_file.empty() ? m_pki.ca_cert().string() : ca_file;
    t.mqtt.cert_file = m_till_cert.cert.string();
    t.mqtt.key_file = m_till_cert.key.string();
    t.mqtt.keepalive = 5s;
    t.mqtt.session_expiry = 3600s;
    t.mqtt.connect_timeout = 5s;
    t.will_topic = "pos/v1/S01/T1/status";
    t.will_payload = protocol::offline_will();
    return t;
  }

  void start_agent(const std::string& ca_file = {}) {
    on_io([&] {
      m_transport =
          std::make_unique<PahoTransport>(m_io.get_executor(), transport_options(ca_file));
      m_forwarder =
          std::make_unique<Forwarder>(m_io.get_executor(), *m_outbox, *m_transport, m_backoff,
                                      m_clock, nullptr, protocol::BatchEncoder(), options);
      m_forwarder->start();
      return 0;
    });
  }

  void stop_agent() {
    if (!m_forwarder) {
      return;
    }
    std::promise<void> stopped;
    boost::asio::post(m_io, [&] { m_forwarder->stop(500ms, [&] { stopped.set_value(); }); });
    EXPECT_EQ(stopped.get_future().wait_for(10s), std::future_status::ready);
    on_io([&] {
      m_forwarder.reset();
      m_transport.reset();
      return 0;
    });
  }

  ForwarderStats stats() {
    return on_io([&] { return m_forwarder->stats(); });
  }

  /// Appends `n` events in requests of up to 1000 and waits until they are committed.
  void append(std::size_t n) {
    while (n > 0) {
      const std::size_t chunk = std::min<std::size_t>(n, 1000);
      std::vector<protocol::PosEvent> events;
      events.reserve(chunk);
      for (std::size_t i = 0; i < chunk; ++i) {
        auto event = protocol::parse_pos_event(
            R"({"type":"sale","pos_event_id":"r-)" + std::to_string(m_next_event++) +
            R"(","occurred_at":"2026-11-22T10:15:03.120+07:00","currency":"IDR",)"
            R"("customer":{"id":null,"type":"guest"},"payment":{"method":"card"},)"
            R"("lines":[{"sku":"TSHIRT-BLK-M","category":"tops","qty":2,)"
            R"("unit_price_minor":149000,"unit_cost_minor":61000,"discount_minor":0}]})");
        ASSERT_TRUE(event) << event.error().message;
        events.push_back(std::move(*event));
      }
      std::promise<bool> done;
      m_outbox->append(std::move(events), [&](auto result) { done.set_value(result.has_value()); });
      ASSERT_TRUE(done.get_future().get());
      n -= chunk;
    }
  }

  std::uint64_t acked() const { return m_outbox->stats().acked_through; }
  std::uint64_t last_seq() const { return m_outbox->stats().last_seq; }

  test::TempDir m_pki_dir;
  test::TestPki m_pki;
  test::MosquittoBroker m_broker;
  test::CertKey m_till_cert;
  test::CertKey m_collector_cert;
  test::TempDir m_data_dir{"pos-fwd-data"};
  common::SystemClock m_clock;
  common::ExponentialBackoff m_backoff{50ms, 1s, 42};
  boost::asio::io_context m_io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> m_work;
  std::thread m_io_thread;
  std::unique_ptr<SqliteOutbox> m_outbox;
  std::unique_ptr<PahoTransport> m_transport;
  std::unique_ptr<Forwarder> m_forwarder;
  ForwarderOptions options;
  std::size_t m_next_event = 1;
};

TEST_F(AgentForwardingTest, ForwardsBatchesAndCollectorAcksThem) {
  TestCollector collector(m_broker.uri(), m_pki, m_collector_cert);
  test::TestMqttClient watcher({m_broker.uri(), "status-watcher", m_pki.ca_cert(),
                                m_pki.issue_client(test::observer_common_name), true, 0, 5s});
  watcher.connect();
  watcher.subscribe("pos/v1/+/+/status");
  append(2500);
  start_agent();
  ASSERT_TRUE(wait_until([&] { return acked() == 2500; }, 15s, "acked() == 2500")) << acked();
  EXPECT_EQ(collector.delivered, 2500U);
  EXPECT_EQ(collector.gaps, 0U);
  append(7);  // live events go as one small batch
  ASSERT_TRUE(wait_until([&] { return acked() == 2507; }, 5s, "acked() == 2507")) << acked();
  const auto s = stats();
  EXPECT_TRUE(s.connected);
  EXPECT_EQ(s.acked_through, 2507U);
  EXPECT_GE(s.batches_sent, 4U);
  EXPECT_LT(s.bytes_sent, s.raw_bytes_sent / 3) << "zstd should compress repetitive events";
  auto status = watcher.wait_for_messages("pos/v1/S01/T1/status", 1, 5s);
  ASSERT_FALSE(status.empty());
  EXPECT_EQ(status.front().payload, R"({"state":"online"})");
  stop_agent();
  status = watcher.wait_for_messages("pos/v1/S01/T1/status", 1, 5s);
  ASSERT_FALSE(status.empty());
  EXPECT_EQ(status.back().payload, R"({"state":"offline"})");
}

TEST_F(AgentForwardingTest, BrokerDownThenBackDeliversEverything) {
  TestCollector collector(m_broker.uri(), m_pki, m_collector_cert);
  append(1000);
  start_agent();
  ASSERT_TRUE(wait_until([&] { return acked() == 1000; }, 10s, "acked() == 1000")) << acked();
  m_broker.stop();
  const auto failures = stats().connect_failures;
  append(3000);  // the outbox keeps accepting while the uplink is down
  // Counted reconnect attempts that found the broker down, not a pause, before asserting that
  // nothing was acknowledged meanwhile.
  ASSERT_TRUE(wait_until([&] { return stats().connect_failures >= failures + 2; }, 10s,
                         "two failed reconnects while the broker is down"));
  EXPECT_FALSE(stats().connected);
  EXPECT_EQ(acked(), 1000U);
  m_broker.start();
  ASSERT_TRUE(wait_until([&] { return acked() == 4000; }, 20s, "acked() == 4000")) << acked();
  EXPECT_EQ(collector.delivered, 4000U);
  const auto s = stats();
  EXPECT_TRUE(s.connected);
  EXPECT_GE(s.reconnects, 1U);
  EXPECT_GE(s.connect_failures, 1U);
}

TEST_F(AgentForwardingTest, LostAckTimesOutAndResendsFromFirstUnacked) {
  options.ack_timeout = 300ms;
  TestCollector collector(m_broker.uri(), m_pki, m_collector_cert);
  collector.acks_enabled = false;
  append(200);
  start_agent();
  ASSERT_TRUE(
      wait_until([&] { return collector.delivered == 200; }, 5s, "collector.delivered == 200"));
  ASSERT_TRUE(wait_until([&] { return collector.duplicate_batches >= 1; }, 5s,
                         "collector.duplicate_batches >= 1"));
  EXPECT_GE(stats().resends, 1U);
  EXPECT_EQ(acked(), 0U);
  collector.acks_enabled = true;
  ASSERT_TRUE(wait_until([&] { return acked() == 200; }, 5s, "acked() == 200")) << acked();
  EXPECT_EQ(collector.gaps, 0U);
}

TEST_F(AgentForwardingTest, DuplicateOutOfOrderAndForeignAcksAreHarmless) {
  TestCollector collector(m_broker.uri(), m_pki, m_collector_cert);
  append(300);
  start_agent();
  ASSERT_TRUE(wait_until([&] { return acked() == 300; }, 10s, "acked() == 300")) << acked();
  const std::uint64_t epoch = m_outbox->epoch();
  const auto ignored_before = stats().acks_ignored;
  collector.send_ack(epoch, 300);        // duplicate
  collector.send_ack(epoch, 100);        // out of order
  collector.send_ack(epoch ^ 1, 5000);   // another epoch
  collector.send_ack(epoch, 1'000'000);  // beyond anything sent
  collector.client().publish(ack_topic, "{\"epoch\":1}");
  ASSERT_TRUE(wait_until([&] { return stats().acks_ignored >= ignored_before + 5; }, 5s,
                         "stats().acks_ignored >= ignored_before + 5"));
  EXPECT_EQ(acked(), 300U);
  append(100);
  ASSERT_TRUE(wait_until([&] { return acked() == 400; }, 10s, "acked() == 400")) << acked();
  EXPECT_EQ(collector.delivered, 400U);
}

TEST_F(AgentForwardingTest, AckSentWhileAgentOfflineArrivesThroughPersistentSession) {
  TestCollector collector(m_broker.uri(), m_pki, m_collector_cert);
  collector.acks_enabled = false;
  append(50);
  start_agent();
  ASSERT_TRUE(
      wait_until([&] { return collector.delivered == 50; }, 5s, "collector.delivered == 50"));
  stop_agent();
  collector.send_ack(m_outbox->epoch(), 50);  // queued by the broker in the agent's session
  EXPECT_EQ(acked(), 0U);
  start_agent();
  ASSERT_TRUE(wait_until([&] { return acked() == 50; }, 10s, "acked() == 50")) << acked();
}

TEST_F(AgentForwardingTest, WrongCaIsRefused) {
  test::TempDir other_dir("pos-fwd-other-pki");
  test::TestPki other(other_dir.path());
  start_agent(other.ca_cert().string());
  ASSERT_TRUE(wait_until([&] { return stats().connect_failures >= 2; }, 10s,
                         "stats().connect_failures >= 2"));
  EXPECT_FALSE(stats().connected);
}

TEST_F(AgentForwardingTest, MemoryStaysFlatDuringLongDrain) {
  constexpr std::size_t backlog = 200'000;
  append(backlog);
  TestCollector collector(m_broker.uri(), m_pki, m_collector_cert);
  const auto rss_before = rss_kib();
  std::int64_t rss_peak = rss_before;
  const auto started = std::chrono::steady_clock::now();
  start_agent();
  ASSERT_TRUE(wait_until(
      [&] {
        rss_peak = std::max(rss_peak, rss_kib());
        return acked() == backlog;
      },
      40s, "the backlog acknowledged"))
      << acked();
  const auto seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto s = stats();
  const auto db_mib = static_cast<double>(m_outbox->stats().db_bytes) / (1024.0 * 1024.0);
  spdlog::info(
      "drained {} events ({:.1f} MiB raw, {:.1f} MiB sent, db {:.1f} MiB) in {:.1f} s; "
      "RSS {} -> peak {} KiB",
      backlog, s.raw_bytes_sent / 1048576.0, s.bytes_sent / 1048576.0, db_mib, seconds, rss_before,
      rss_peak);
  EXPECT_EQ(collector.delivered, backlog);
  EXPECT_GT(s.raw_bytes_sent, 50U * 1024 * 1024);
  EXPECT_LT(rss_peak - rss_before, 48 * 1024) << "memory must not grow with the backlog";
}

}  // namespace
}  // namespace pos::agent
