// Replaying a till's range end to end (docs/replay.md): the real mosquitto with the production
// ACL, the Pub/Sub emulator, a real collector and real agents under possim load. The operator's
// request goes to the collector's HTTP API, the command to the till over MQTT, the till re-sends
// from its database, and the collector publishes each event again with replay="true" while the
// normal stream goes on exactly once.

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <iostream>
#include <set>
#include <thread>

#include "e2e_harness.hpp"
#include "integration/agent_harness.hpp"
#include "subscription_checker.hpp"
#include "support/wait.hpp"

namespace pos::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

std::uint64_t status_uint(Till& till, const char* key) {
  const auto status = till.status();
  const auto* v = status ? status->if_contains(key) : nullptr;
  return v != nullptr && v->is_int64() ? static_cast<std::uint64_t>(v->as_int64()) : 0;
}

HttpAnswer post_replay(CollectorProcess& collector, const std::string& body) {
  return http_request(collector.port(), "POST", "/v1/replays", "application/json", body);
}

// The collector's entry for replay `id` of `till`, or an empty object.
json::object replay_entry(CollectorProcess& collector, const std::string& till,
                          const std::string& id) {
  const auto answer = http_request(collector.port(), "GET", "/v1/replays?till=" + till);
  if (answer.status != 200) {
    return {};
  }
  boost::system::error_code ec;
  const auto doc = json::parse(answer.body, ec);
  if (ec || !doc.is_object()) {
    return {};
  }
  for (const auto& entry : doc.at("replays").as_array()) {
    if (entry.as_object().at("id").as_string() == id) {
      return entry.as_object();
    }
  }
  return {};
}

std::string state_of(const json::object& entry) {
  const auto* state = entry.if_contains("state");
  return state != nullptr && state->is_string() ? std::string(state->as_string()) : "";
}

std::string replay_id(const HttpAnswer& answer) {
  boost::system::error_code ec;
  const auto doc = json::parse(answer.body, ec);
  if (ec || !doc.is_object() || !doc.as_object().contains("id")) {
    return {};
  }
  return std::string(doc.as_object().at("id").as_string());
}

double agent_metric(Till& till, const std::string& name) {
  const auto answer = http_request(till.port(), "GET", "/metrics");
  return metric_value(answer.body, name).value_or(-1);
}

struct CommandRun {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs posctl with `args` (stdout and stderr captured apart) in `dir`.
CommandRun posctl(const std::filesystem::path& dir, const std::vector<std::string>& args) {
  static int counter = 0;
  const std::string stem = (dir / ("posctl-" + std::to_string(++counter))).string();
  std::string command = std::string("exec '") + POSCTL_BIN + "'";
  for (const auto& a : args) {
    command += " '" + a + "'";
  }
  command += " >'" + stem + ".out' 2>'" + stem + ".err'";
  ChildProcess child({"/bin/sh", "-c", command}, stem + ".log");
  CommandRun run;
  run.code = child.wait();
  run.out = read_text_file(stem + ".out");
  run.err = read_text_file(stem + ".err");
  return run;
}

bool is_replay(const PubSubMessage& m) {
  const auto it = m.attributes.find("replay");
  return it != m.attributes.end() && it->second == "true";
}

TEST(ReplayE2E, ATillReplaysItsRangeAgainWhileTheNormalStreamStaysExactlyOnce) {
  E2eSystem system;
  system.start_load(40);
  Till& till = system.till(0);
  ASSERT_TRUE(wait_until([&] { return status_uint(till, "acked_through") >= 40; }, 60s,
                         "the first till has 40 events acknowledged", 200ms));
  const std::uint64_t from_seq = 5;
  const std::uint64_t to_seq = 34;

  // Refused: the range is not acknowledged yet (far beyond what the till holds).
  const auto ahead =
      post_replay(system.collector(),
                  R"({"till":")" + till.name() + R"(","from_seq":1000000,"to_seq":1000010})");
  ASSERT_EQ(ahead.status, 202) << ahead.body;
  const std::string ahead_id = replay_id(ahead);
  ASSERT_TRUE(wait_until(
      [&] {
        return state_of(replay_entry(system.collector(), till.name(), ahead_id)) == "refused";
      },
      30s, "the till refuses a range it has not acknowledged", 200ms));
  const auto refused = replay_entry(system.collector(), till.name(), ahead_id);
  EXPECT_NE(std::string(refused.at("error").as_string()).find("not acknowledged yet"),
            std::string::npos)
      << json::serialize(refused);

  // Bad requests name the field.
  const auto bad = post_replay(system.collector(),
                               R"({"till":")" + till.name() + R"(","from_seq":9,"to_seq":3})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("to_seq"), std::string::npos) << bad.body;
  EXPECT_EQ(http_request(system.collector().port(), "POST", "/v1/replays", "text/plain",
                         R"({"till":"S01/T1","from_seq":1,"to_seq":2})")
                .status,
            415);

  const std::string range = R"(","from_seq":)" + std::to_string(from_seq) + R"(,"to_seq":)" +
                            std::to_string(to_seq) + "}";
  const auto accepted = post_replay(system.collector(), R"({"till":")" + till.name() + range);
  ASSERT_EQ(accepted.status, 202) << accepted.body;
  const std::string id = replay_id(accepted);
  ASSERT_TRUE(wait_until(
      [&] { return state_of(replay_entry(system.collector(), till.name(), id)) == "done"; }, 60s,
      "the replay is done", 200ms));
  const auto done = replay_entry(system.collector(), till.name(), id);
  EXPECT_EQ(done.at("progress").as_object().at("events_replayed").as_int64(),
            static_cast<std::int64_t>(to_seq - from_seq + 1))
      << json::serialize(done);

  // The same request again is the same replay: answered from what the till reported.
  const auto again = post_replay(system.collector(), R"({"till":")" + till.name() + range);
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(replay_id(again), id);

  // The retained command reaches the till again after a restart; the till recognises it.
  EXPECT_EQ(till.terminate(), 0);
  till.start();
  ASSERT_TRUE(wait_until([&] { return agent_metric(till, "posagent_replay_commands_total") >= 1; },
                         30s, "the restarted till received the retained command", 200ms));
  EXPECT_EQ(agent_metric(till, "posagent_replays_completed_total"), 0)
      << "a command seen before must not replay again (the counter is per run)";

  // The operator's tool: the same through posctl, following the progress to the end.
  const std::string url = "http://127.0.0.1:" + std::to_string(system.collector().port());
  const auto usage =
      posctl(system.dir(), {"replay", "--url", url, "--till", till.name(), "--from-seq", "35"});
  EXPECT_EQ(usage.code, 2);
  EXPECT_NE(usage.err.find("--to-seq is required with --from-seq"), std::string::npos) << usage.err;
  const auto run = posctl(system.dir(), {"replay", "--url", url, "--till", till.name(),
                                         "--from-seq", "35", "--to-seq", "38", "--wait"});
  EXPECT_EQ(run.code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find(": done, 4 of 4 events published again (seqs 35..38)"), std::string::npos)
      << run.out;

  const auto result = system.finish("replay under load");
  std::vector<PubSubMessage> normal;
  std::vector<PubSubMessage> replayed;
  for (const auto& m : result.messages) {
    (is_replay(m) ? replayed : normal).push_back(m);
  }
  // The normal stream: every accepted event exactly once, in order; the marks never moved back.
  auto report = check_delivery(read_accepted_log(system.accepted_log()), normal);
  EXPECT_TRUE(report.ok(false)) << report.counts() << '\n' << report.findings();
  EXPECT_GT(report.accepted, 100U);

  // The replay: exactly the range of that till, once each, in seq order, same event ids.
  std::map<std::string, std::string> original;  // event_id -> data without collected_at
  auto without_collected_at = [](const std::string& data) {
    auto doc = json::parse(data).as_object();
    doc.erase("collected_at");
    return json::serialize(doc);
  };
  for (const auto& m : normal) {
    original[m.attributes.at("event_id")] = without_collected_at(m.data);
  }
  std::vector<std::uint64_t> seqs;
  for (const auto& m : replayed) {
    const auto doc = json::parse(m.data).as_object();
    EXPECT_EQ(m.attributes.at("store_id") + "/" + m.attributes.at("till_id"), till.name());
    EXPECT_EQ(m.ordering_key, till.name());
    seqs.push_back(static_cast<std::uint64_t>(doc.at("seq").as_int64()));
    const auto it = original.find(m.attributes.at("event_id"));
    ASSERT_NE(it, original.end()) << m.attributes.at("event_id") << " was never published before";
    EXPECT_EQ(without_collected_at(m.data), it->second) << "a replayed event differs";
  }
  std::vector<std::uint64_t> expected;
  for (std::uint64_t s = from_seq; s <= 38; ++s) {
    expected.push_back(s);
  }
  EXPECT_EQ(seqs, expected) << "replayed seqs, in delivery order";
  std::cout << "[ e2e      ] replay: " << replayed.size() << " events published again, "
            << normal.size() << " normal messages\n";
}

}  // namespace
}  // namespace pos::test
