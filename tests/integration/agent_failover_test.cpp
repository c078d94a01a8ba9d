// The real posagent with two real brokers (SPEC: `[mqtt] uri` as an array = brokers to fail over
// between): it starts at its own place in the list (till_hash), and when that broker dies
// (kill -9) it moves to the other one and delivers its unacknowledged events there. A
// collector stand-in reads from both brokers with one mark per till, as collectors sharing a
// mark store would.

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "agent_harness.hpp"
#include "pos/protocol/batch.hpp"
#include "pos/protocol/ids.hpp"
#include "pos/protocol/messages.hpp"
#include "pos/protocol/topics.hpp"
#include "support/wait.hpp"

namespace pos::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* k_prefix = "pos/v1";

/// Takes batches from every broker, keeps one mark per till across them (duplicates below it,
/// a gap beyond mark + 1 is not taken and answered with a resend ack) and acks on the broker the
/// batch came through, unless acking is paused. Reconnects to a broker that comes back.
/// Thread-safe.
class TwoBrokerCollector {
 public:
  TwoBrokerCollector(const std::array<const MosquittoBroker*, 2>& brokers, TestPki& pki) {
    const auto cert = pki.issue_client(collector_common_name);
    for (std::size_t i = 0; i < brokers.size(); ++i) {
      m_clients[i] = std::make_unique<TestMqttClient>(TestMqttClientOptions{
          brokers[i]->uri(), "failover-collector", pki.ca_cert(), cert, true, 0, 2s});
    }
    m_thread = std::thread([this] { loop(); });
  }
  ~TwoBrokerCollector() {
    m_stop = true;
    m_thread.join();
    for (auto& client : m_clients) {
      client->disconnect();
    }
  }

  struct Till {
    std::uint64_t epoch = 0;
    std::uint64_t mark = 0;
    std::array<std::uint64_t, 2> batches{};     ///< per broker
    std::array<std::uint64_t, 2> duplicates{};  ///< events at or below the mark, per broker
    std::uint64_t gaps = 0;
  };

  void set_acking(bool on) { m_acking = on; }
  /// Whether it is connected to broker `i` and subscribed there (what it misses before that is
  /// lost: its sessions start clean).
  bool subscribed(std::size_t i) const { return m_subscribed[i]; }
  Till till(const std::string& key) const {
    std::lock_guard lock(m_mutex);
    const auto it = m_tills.find(key);
    return it == m_tills.end() ? Till{} : it->second;
  }
  /// The last status payload the till published through broker `i` (empty: none).
  std::string status(std::size_t i, const std::string& key) const {
    std::lock_guard lock(m_mutex);
    const auto it = m_status[i].find(key);
    return it == m_status[i].end() ? std::string() : it->second;
  }

 private:
  void loop() {
    std::array<Clock::time_point, 2> next_try{};
    while (!m_stop) {
      for (std::size_t i = 0; i < m_clients.size(); ++i) {
        auto& client = *m_clients[i];
        if (!client.connected()) {
          m_subscribed[i] = false;
          if (Clock::now() < next_try[i]) {
            continue;
          }
          try {
            client.connect();
            client.subscribe(std::string(k_prefix) + "/+/+/batch");
            client.subscribe(std::string(k_prefix) + "/+/+/status");
            m_subscribed[i] = true;
          } catch (const std::exception&) {
            next_try[i] = Clock::now() + 200ms;
            continue;
          }
        }
        for (const auto& message :
             client.wait_for_messages(std::string(k_prefix) + "/#", 1, 20ms)) {
          try {
            handle(i, message);
          } catch (const std::exception&) {  // the broker went away while we acked
          }
        }
      }
    }
  }

  void handle(std::size_t i, const MqttMessage& message) {
    const auto topic = protocol::parse_topic(k_prefix, message.topic);
    if (!topic) {
      return;
    }
    const std::string key = topic->store_id + "/" + topic->till_id;
    if (topic->kind == protocol::TopicKind::status) {
      std::lock_guard lock(m_mutex);
      m_status[i][key] = message.payload;
      return;
    }
    if (topic->kind != protocol::TopicKind::batch) {
      return;
    }
    auto batch = protocol::BatchDecoder().decode(message.payload);
    if (!batch) {
      ADD_FAILURE() << batch.error().message;
      return;
    }
    const auto& h = batch->header;
    protocol::Ack ack;
    {
      std::lock_guard lock(m_mutex);
      auto& till = m_tills[key];
      if (till.epoch != h.epoch) {
        till = Till{};
        till.epoch = h.epoch;
      }
      ++till.batches[i];
      if (h.first_seq > till.mark + 1) {
        ++till.gaps;
        ack = {h.epoch, till.mark, true};  // nothing beyond the mark is in flight here
      } else {
        const std::uint64_t last = h.first_seq + h.count - 1;
        till.duplicates[i] += std::min(last, till.mark) + 1 - std::min(h.first_seq, till.mark + 1);
        till.mark = std::max(till.mark, last);
        ack = {h.epoch, till.mark, false};
      }
    }
    if (m_acking) {
      m_clients[i]->publish(std::string(k_prefix) + "/" + key + "/ack", protocol::encode_ack(ack));
    }
  }

  std::array<std::unique_ptr<TestMqttClient>, 2> m_clients;
  std::array<std::atomic<bool>, 2> m_subscribed{};
  std::atomic<bool> m_acking{true};
  std::atomic<bool> m_stop{false};
  mutable std::mutex m_mutex;
  std::map<std::string, Till> m_tills;
  std::array<std::map<std::string, std::string>, 2> m_status;
  std::thread m_thread;
};

boost::json::object agent_status(std::uint16_t port) {
  const auto reply = http_request(port, "GET", "/v1/status");
  if (reply.status != 200) {
    return {};
  }
  return boost::json::parse(reply.body).as_object();
}

std::string status_broker(std::uint16_t port) {
  const auto status = agent_status(port);
  const auto* broker = status.if_contains("broker");
  return broker != nullptr && broker->is_string() ? std::string(broker->get_string()) : "";
}

std::uint64_t status_acked(std::uint16_t port) {
  const auto status = agent_status(port);
  const auto* acked = status.if_contains("acked_through");
  return acked != nullptr && acked->is_number() ? acked->to_number<std::uint64_t>() : 0;
}

void post_events(std::uint16_t port, const std::string& till, int from, int count) {
  std::string body = "[";
  for (int i = from; i < from + count; ++i) {
    body += (i == from ? "" : ",") + sale_event("fo-" + std::to_string(i), "S01", till);
  }
  const auto reply = http_request(port, "POST", "/v1/events", "application/json", body + "]");
  ASSERT_EQ(reply.status, 200) << reply.body;
  ASSERT_EQ(boost::json::parse(reply.body).at("accepted").as_int64(), count) << reply.body;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

TEST(AgentFailover, StartsAtItsPlaceInTheListAndFailsOverToTheOtherBrokerOnKill9) {
  TempDir dir("agent-failover");
  std::filesystem::create_directories(dir.path() / "pki");
  TestPki pki(dir.path() / "pki");
  MosquittoBroker a(pki);
  MosquittoBroker b(pki);
  const std::array<const MosquittoBroker*, 2> brokers = {&a, &b};
  // A till whose rotated order starts at the second entry, so that the rotation shows.
  std::string till;
  for (int t = 1; t <= 20 && till.empty(); ++t) {
    if (protocol::till_hash("S01", "T" + std::to_string(t)) % 2 == 1) {
      till = "T" + std::to_string(t);
    }
  }
  ASSERT_FALSE(till.empty());
  const std::string key = "S01/" + till;
  TwoBrokerCollector collector(brokers, pki);
  ASSERT_TRUE(wait_until([&] { return collector.subscribed(0) && collector.subscribed(1); }, 10s,
                         "the collector on both brokers"));
  AgentProcess agent(dir.path() / "till", pki, toml_uri_array({a.uri(), b.uri()}), "S01", till);
  agent.start();
  const auto port = agent.port();

  // Broker B first: the till's place in the list [A, B].
  ASSERT_TRUE(wait_until([&] { return status_broker(port) == b.uri(); }, 15s,
                         "the agent connected to broker B, its first in order"))
      << agent.log();
  post_events(port, till, 1, 50);
  ASSERT_TRUE(wait_until([&] { return status_acked(port) == 50; }, 10s, "50 acked through B"));
  EXPECT_EQ(collector.till(key).batches[0], 0U) << "nothing went through broker A";
  ASSERT_TRUE(
      wait_until([&] { return !collector.status(1, key).empty(); }, 10s, "a status through B"));
  EXPECT_NE(collector.status(1, key).find("\"broker\":\"" + b.uri() + "\""), std::string::npos)
      << collector.status(1, key);

  // 51-100 reach the collector through B, but their acks do not come back before B dies.
  collector.set_acking(false);
  post_events(port, till, 51, 50);
  ASSERT_TRUE(wait_until([&] { return collector.till(key).mark == 100; }, 10s,
                         "51-100 received through B"));
  EXPECT_EQ(status_acked(port), 50U);

  b.kill9();
  const auto killed = Clock::now();
  post_events(port, till, 101, 50);  // taken while the agent fails over
  collector.set_acking(true);
  ASSERT_TRUE(wait_until([&] { return status_broker(port) == a.uri(); }, 20s,
                         "the agent connected to broker A"))
      << agent.log();
  const double to_connect = seconds_since(killed);
  ASSERT_TRUE(wait_until([&] { return status_acked(port) == 150; }, 20s, "150 acked through A"))
      << status_acked(port) << "\n"
      << agent.log();
  const double to_acked = seconds_since(killed);
  spdlog::info(
      "failover after kill -9 of broker B: connected to A in {:.2f} s, all 150 events "
      "acknowledged in {:.2f} s",
      to_connect, to_acked);
  EXPECT_LT(to_connect, 5.0);
  EXPECT_LT(to_acked, 10.0);
  auto received = collector.till(key);
  EXPECT_EQ(received.mark, 150U);
  EXPECT_EQ(received.gaps, 0U);
  EXPECT_GE(received.batches[0], 1U);
  // The unacknowledged 51-100 went out again through A (the collector already had them).
  EXPECT_GE(received.duplicates[0], 50U);
  ASSERT_TRUE(wait_until(
      [&] {
        return collector.status(0, key).find("\"broker\":\"" + a.uri() + "\"") != std::string::npos;
      },
      10s, "a status through A naming A"));
  const auto status = agent_status(port);
  EXPECT_EQ(status.at("broker_connected"), true);
  EXPECT_GE(status.at("reconnects_total").as_int64(), 1);

  // And back: B returns, A dies.
  b.start();
  ASSERT_TRUE(wait_until([&] { return collector.subscribed(1); }, 10s, "the collector back on B"));
  a.kill9();
  post_events(port, till, 151, 10);
  ASSERT_TRUE(
      wait_until([&] { return status_broker(port) == b.uri(); }, 20s, "the agent back on broker B"))
      << agent.log();
  ASSERT_TRUE(wait_until([&] { return status_acked(port) == 160; }, 20s, "160 acked through B"));
  received = collector.till(key);
  EXPECT_EQ(received.mark, 160U);
  EXPECT_EQ(received.gaps, 0U);
  EXPECT_EQ(agent.terminate(), 0);
}

}  // namespace
}  // namespace pos::test
