// The agent's promise under kill -9: every event answered `accepted` is in its database after a
// restart, and is later forwarded, every seq exactly once past the collector's dedup mark.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "agent_harness.hpp"
#include "support/seed.hpp"

namespace pos::test {
namespace {

struct Accepted {
  std::mutex mutex;
  std::map<std::string, std::string> event_ids;  ///< pos_event_id -> event_id
  std::size_t answered_requests = 0;
  std::size_t failed_requests = 0;
};

/// Posts batches of 1-20 events until `stop`, recording every event answered accepted.
void post_until_stopped(std::uint16_t port, int client, int round, std::atomic<bool>& stop,
                        Accepted& accepted) {
  std::mt19937 rng(static_cast<unsigned>(round * 100 + client));
  for (int request = 0; !stop; ++request) {
    const int count = std::uniform_int_distribution<int>(1, 20)(rng);
    std::vector<std::string> ids;
    std::string body = "[";
    for (int i = 0; i < count; ++i) {
      ids.push_back("r" + std::to_string(round) + "-c" + std::to_string(client) + "-q" +
                    std::to_string(request) + "-" + std::to_string(i));
      body += (i ? "," : "") + sale_event(ids.back());
    }
    body += "]";
    const auto reply =
        http_request(port, "POST", "/v1/events", "application/json", body, std::chrono::seconds(5));
    std::lock_guard lock(accepted.mutex);
    if (reply.status != 200) {
      ++accepted.failed_requests;
      continue;
    }
    ++accepted.answered_requests;
    const auto doc = boost::json::parse(reply.body).as_object();
    for (const auto& result : doc.at("results").as_array()) {
      const auto& r = result.as_object();
      if (r.at("status").as_string() == "accepted") {
        const auto index = static_cast<std::size_t>(r.at("index").as_int64());
        accepted.event_ids[ids.at(index)] = std::string(r.at("event_id").as_string());
      }
    }
  }
}

TEST(AgentDurability, KillNineDuringBurstsLosesNothingAcceptedAndForwardsEverySeqOnce) {
  TempDir dir("agent-durability");
  std::filesystem::create_directories(dir.path() / "pki");
  TestPki pki(dir.path() / "pki");
  MosquittoBroker broker(pki);
  AckingCollector collector(broker, pki);
  AgentProcess agent(dir.path() / "till", pki, broker.uri());

  const unsigned seed = test_seed();  // the kill times; POS_TEST_SEED replays them
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  Accepted accepted;
  constexpr int rounds = 20;
  for (int round = 0; round < rounds; ++round) {
    agent.start();
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int client = 0; client < 4; ++client) {
      clients.emplace_back(
          [&, client, round] { post_until_stopped(agent.port(), client, round, stop, accepted); });
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(30, 400)(rng)));
    agent.kill9();
    stop = true;
    for (auto& t : clients) {
      t.join();
    }
  }
  ASSERT_GT(accepted.event_ids.size(), 100U) << "too few events accepted to mean anything";

  // After a restart, every accepted event is known to the agent: re-posting it is a duplicate
  // carrying the original event id.
  agent.start();
  std::vector<std::string> ids;
  for (const auto& [pos_id, event_id] : accepted.event_ids) {
    ids.push_back(pos_id);
  }
  for (std::size_t first = 0; first < ids.size(); first += 500) {
    std::string body;
    const std::size_t last = std::min(ids.size(), first + 500);
    for (std::size_t i = first; i < last; ++i) {
      body += sale_event(ids[i]) + "\n";
    }
    const auto reply =
        http_request(agent.port(), "POST", "/v1/events", "application/x-ndjson", body);
    ASSERT_EQ(reply.status, 200) << reply.body;
    const auto doc = boost::json::parse(reply.body).as_object();
    ASSERT_EQ(doc.at("duplicates").as_int64(), static_cast<std::int64_t>(last - first))
        << reply.body;
    for (const auto& result : doc.at("results").as_array()) {
      const auto& r = result.as_object();
      const auto index = first + static_cast<std::size_t>(r.at("index").as_int64());
      EXPECT_EQ(r.at("event_id").as_string(), accepted.event_ids[ids[index]]);
    }
  }

  // Everything committed is forwarded: seqs 1..last with no gap, each accepted event among them.
  const auto status = boost::json::parse(http_request(agent.port(), "GET", "/v1/status").body);
  const auto last_seq = static_cast<std::uint64_t>(status.at("last_seq").as_int64());
  ASSERT_GE(last_seq, accepted.event_ids.size());
  ASSERT_TRUE(collector.wait_for_mark("S01", "T1", last_seq, std::chrono::seconds(60)))
      << "collector mark " << collector.till("S01", "T1").mark << " of " << last_seq << "\n"
      << agent.log();
  const auto received = collector.till("S01", "T1");
  ASSERT_EQ(received.lines.size(), last_seq);
  EXPECT_EQ(received.lines.begin()->first, 1U);
  EXPECT_EQ(received.lines.rbegin()->first, last_seq);
  std::set<std::string> forwarded;
  for (const auto& [seq, line] : received.lines) {
    const auto event = boost::json::parse(line).as_object();
    EXPECT_EQ(event.at("seq").as_int64(), static_cast<std::int64_t>(seq));
    forwarded.insert(std::string(event.at("pos_event_id").as_string()));
  }
  EXPECT_EQ(forwarded.size(), last_seq) << "a pos_event_id was stored twice";
  for (const auto& [pos_id, event_id] : accepted.event_ids) {
    EXPECT_TRUE(forwarded.contains(pos_id)) << pos_id << " accepted but never forwarded";
  }
  std::cout << "[ info ] " << rounds << " kill -9 rounds: " << accepted.event_ids.size()
            << " events accepted, " << last_seq << " committed, " << received.duplicates
            << " resent events dropped by the collector mark\n";
  EXPECT_EQ(agent.terminate(), 0);
}

}  // namespace
}  // namespace pos::test
