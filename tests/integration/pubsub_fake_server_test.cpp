// PubSubSink against a scripted fake Pub/Sub server (tests/support/fake_pubsub_server.hpp): the
// answers the real emulator never gives (401, 429, 5xx, connections dropped, answers too late,
// a permanent error for one ordering key).

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pos/collector/pubsub_sink.hpp"
#include "support/fake_pubsub_server.hpp"

namespace pos::collector {
namespace {
using namespace std::chrono_literals;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

// Unsets an environment variable for the scope (PUBSUB_EMULATOR_HOST would win over endpoint).
class ScopedUnsetEnv {
 public:
  explicit ScopedUnsetEnv(const char* name) : m_name(name) {
    if (const char* value = std::getenv(name)) {
      m_saved = value;
    }
    ::unsetenv(name);
  }
  ~ScopedUnsetEnv() {
    if (m_saved) {
      ::setenv(m_name, m_saved->c_str(), 1);
    }
  }
  ScopedUnsetEnv(const ScopedUnsetEnv&) = delete;
  ScopedUnsetEnv& operator=(const ScopedUnsetEnv&) = delete;

 private:
  const char* m_name;
  std::optional<std::string> m_saved;
};

class FakePubSubSinkTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!m_key_file.empty()) {
      std::filesystem::remove(m_key_file);
    }
  }

  // Plain HTTP without auth, as with the emulator.
  PubSubConfig config() {
    PubSubConfig c;
    c.project = "test-project";
    c.topic = "events";
    c.dead_letter_topic = "dead-letters";
    c.emulator_host = m_server.host_port();
    c.batch_delay = 1ms;
    c.retry_initial = 10ms;
    c.retry_cap = 10s;
    return c;
  }

  // The endpoint path: a service-account key whose token_uri is the fake's token endpoint.
  PubSubConfig auth_config() {
    m_key_file = std::filesystem::temp_directory_path() /
                 ("fake-pubsub-key-" + std::to_string(::getpid()) + ".json");
    test::write_service_account_key(m_key_file, m_server.token_uri());
    PubSubConfig c = config();
    c.emulator_host.clear();
    c.endpoint = m_server.url();
    c.credentials_file = m_key_file.string();
    return c;
  }

  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 20s) {
    const auto deadline = Clock::now() + timeout;
    while (!done() && Clock::now() < deadline) {
      m_io.restart();
      m_io.run_for(10ms);
    }
    return done();
  }

  static OutMessage message(const std::string& key, int seq) {
    json::object data{{"key", key}, {"seq", seq}};
    return OutMessage{json::serialize(data), {{"event_id", key + "-" + std::to_string(seq)}}, key};
  }

  // Publishes one call and runs until its `done`; returns its status.
  Status publish_one(PubSubSink& sink, std::vector<OutMessage> messages) {
    std::optional<Status> done;
    sink.publish(Destination::events, std::move(messages), [&](Status s) { done = s; });
    if (!run_until([&] { return done.has_value(); })) {
      return fail("no answer within 20 s");
    }
    return *done;
  }

  static int seq_of(const test::PubSubMessage& m) {
    return static_cast<int>(json::parse(m.data).as_object().at("seq").as_int64());
  }

  test::FakePubSubServer m_server;
  boost::asio::io_context m_io;
  std::filesystem::path m_key_file;
};

TEST_F(FakePubSubSinkTest, ARejectedTokenIsReplacedAndTheRequestResentAtOnce) {
  ScopedUnsetEnv no_emulator("PUBSUB_EMULATOR_HOST");
  m_server.require_tokens(true);
  auto c = auth_config();
  // A resend through the retry layer's backoff instead would wait up to 10 minutes (and come
  // within 2 s only by a chance of 1 in 300).
  c.retry_initial = 600s;
  c.retry_cap = 600s;
  PubSubSink sink(m_io.get_executor(), c);
  EXPECT_EQ(sink.endpoint(), m_server.url());
  auto first = publish_one(sink, {message("S1/T1", 0)});
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(m_server.tokens_issued(), 1);

  m_server.revoke_tokens();
  auto second = publish_one(sink, {message("S1/T1", 1)});
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(m_server.tokens_issued(), 2) << "a new token was fetched after the 401";
  const auto publishes = m_server.publishes();
  ASSERT_EQ(publishes.size(), 3u);
  EXPECT_EQ(publishes[0].authorization, "Bearer fake-token-1");
  EXPECT_EQ(publishes[0].status, 200u);
  EXPECT_EQ(publishes[1].authorization, "Bearer fake-token-1");
  EXPECT_EQ(publishes[1].status, 401u);
  EXPECT_EQ(publishes[2].authorization, "Bearer fake-token-2");
  EXPECT_EQ(publishes[2].status, 200u);
  EXPECT_EQ(publishes[2].messages.at(0).data, publishes[1].messages.at(0).data);
  EXPECT_LT(publishes[2].at - publishes[1].at, 2s) << "resent at once, not after a backoff";
  EXPECT_EQ(sink.stats().requests_sent, 3u);
  EXPECT_EQ(sink.stats().requests_ok, 2u);
  EXPECT_TRUE(sink.healthy());
}

TEST_F(FakePubSubSinkTest, A401ThatPersistsIsRetriedWithBackoffAndAFreshTokenEachTime) {
  ScopedUnsetEnv no_emulator("PUBSUB_EMULATOR_HOST");
  m_server.add_rule(test::answer(401, 3));
  PubSubSink sink(m_io.get_executor(), auth_config());
  auto status = publish_one(sink, {message("S1/T1", 0)});
  ASSERT_TRUE(status) << status.error().message;
  const auto publishes = m_server.publishes();
  ASSERT_EQ(publishes.size(), 4u);
  for (std::size_t i = 0; i < publishes.size(); ++i) {
    EXPECT_EQ(publishes[i].authorization, "Bearer fake-token-" + std::to_string(i + 1)) << i;
    EXPECT_EQ(publishes[i].status, i < 3 ? 401u : 200u) << i;
  }
  EXPECT_EQ(m_server.tokens_issued(), 4);
  // Attempt, resend (auth layer), then the retry layer's attempt and its resend.
  EXPECT_EQ(sink.stats().requests_sent, 4u);
  EXPECT_EQ(sink.stats().requests_retried, 3u);
}

TEST_F(FakePubSubSinkTest, TooManyRequestsIsRetriedUntilAcceptedWithTheSameMessages) {
  m_server.add_rule(test::answer(429, 2));
  PubSubSink sink(m_io.get_executor(), config());
  auto status = publish_one(sink, {message("S1/T1", 0), message("S1/T1", 1)});
  ASSERT_TRUE(status) << status.error().message;
  const auto publishes = m_server.publishes();
  ASSERT_EQ(publishes.size(), 3u);
  for (const auto& publish : publishes) {
    ASSERT_EQ(publish.messages.size(), 2u);
    EXPECT_EQ(seq_of(publish.messages[0]), 0);
    EXPECT_EQ(seq_of(publish.messages[1]), 1);
    EXPECT_EQ(publish.messages[0].ordering_key, "S1/T1");
    EXPECT_EQ(publish.messages[0].attributes.at("event_id"), "S1/T1-0");
  }
  EXPECT_EQ(publishes[0].status, 429u);
  EXPECT_EQ(publishes[1].status, 429u);
  EXPECT_EQ(publishes[2].status, 200u);
  EXPECT_EQ(m_server.accepted("events").size(), 2u);
  const auto stats = sink.stats();
  EXPECT_EQ(stats.requests_sent, 3u);
  EXPECT_EQ(stats.requests_retried, 2u);
  EXPECT_EQ(stats.requests_ok, 1u);
  EXPECT_EQ(stats.messages_published, 2u);
  EXPECT_TRUE(sink.healthy());
  EXPECT_EQ(sink.pending_bytes(), 0u);
}

TEST_F(FakePubSubSinkTest, ServerErrorsAreRetriedWithGrowingDelays) {
  const std::vector<unsigned> errors{500, 502, 503, 504, 503, 500, 502, 503, 504};
  for (const unsigned status : errors) {
    m_server.add_rule(test::answer(status));
  }
  PubSubSink sink(m_io.get_executor(), config());  // retry_initial 10 ms, retry_cap 10 s
  std::optional<Status> done;
  sink.publish(Destination::events, {message("S1/T1", 0)}, [&](Status s) { done = s; });
  ASSERT_TRUE(run_until([&] { return m_server.publishes().size() >= 2; }));
  EXPECT_FALSE(sink.healthy()) << "unhealthy while the server fails";
  ASSERT_TRUE(run_until([&] { return done.has_value(); }, 60s));
  ASSERT_TRUE(*done) << done->error().message;
  EXPECT_TRUE(sink.healthy());
  const auto publishes = m_server.publishes();
  ASSERT_EQ(publishes.size(), errors.size() + 1);
  for (std::size_t i = 0; i < errors.size(); ++i) {
    EXPECT_EQ(publishes[i].status, errors[i]) << i;
  }
  EXPECT_EQ(sink.stats().requests_retried, errors.size());
  // Full jitter: the n-th delay is uniform in [0, 10 ms * 2^n], so single delays may be short;
  // each stays under its (growing) ceiling, and the last four together (ceilings 320 ms to
  // 2.56 s) exceed 150 ms but for a chance of about 3e-5. Without growth they would total
  // about 40 ms.
  std::vector<std::chrono::milliseconds> gaps;
  for (std::size_t i = 1; i < publishes.size(); ++i) {
    gaps.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(publishes[i].at -
                                                                         publishes[i - 1].at));
  }
  for (std::size_t n = 0; n < gaps.size(); ++n) {
    EXPECT_LE(gaps[n], std::chrono::milliseconds(10 << n) + 150ms) << "delay " << n;
  }
  const auto late = gaps[5] + gaps[6] + gaps[7] + gaps[8];
  EXPECT_GT(late, 150ms) << "delays grow: " << gaps[0].count() << ", " << gaps[1].count()
                         << ", ... " << gaps[8].count() << " ms";
}

TEST_F(FakePubSubSinkTest, AConnectionClosedWithoutAnswerAndAnAnswerTooLateAreRetried) {
  m_server.add_rule(test::answer(0));
  m_server.add_rule(test::answer(503).after(3s));
  auto c = config();
  c.request_timeout = 300ms;
  PubSubSink sink(m_io.get_executor(), c);
  auto status = publish_one(sink, {message("S1/T1", 0)});
  ASSERT_TRUE(status) << status.error().message;
  const auto publishes = m_server.publishes();
  ASSERT_EQ(publishes.size(), 3u);
  EXPECT_EQ(publishes[2].status, 200u);
  EXPECT_EQ(sink.stats().requests_retried, 2u);
  EXPECT_EQ(m_server.accepted("events").size(), 1u);
}

TEST_F(FakePubSubSinkTest, APermanentErrorOnOneOrderingKeyFailsOnlyThatKeysCalls) {
  const std::string bad = "S1/T9";
  m_server.add_rule(test::answer(400, -1).for_key(bad).with_body(
      R"({"error":{"code":400,"message":"Invalid ordering key","status":"INVALID_ARGUMENT"}})"));
  auto c = config();
  c.max_batch_messages = 5;
  PubSubSink sink(m_io.get_executor(), c);
  const std::vector<std::string> keys{"S1/T1", bad, "S1/T2"};
  constexpr int calls_per_key = 6;
  std::map<std::string, std::vector<int>> completed;  // key -> call numbers in completion order
  std::map<std::string, std::vector<Status>> results;
  int outstanding = 0;
  for (int call = 0; call < calls_per_key; ++call) {
    for (const auto& key : keys) {
      std::vector<OutMessage> messages;
      for (int i = 0; i < 5; ++i) {
        messages.push_back(message(key, call * 5 + i));
      }
      ++outstanding;
      sink.publish(Destination::events, std::move(messages), [&, key, call](Status s) {
        completed[key].push_back(call);
        results[key].push_back(s);
        --outstanding;
      });
    }
  }
  ASSERT_TRUE(run_until([&] { return outstanding == 0; }));

  for (const auto& key : keys) {
    ASSERT_EQ(completed[key].size(), static_cast<std::size_t>(calls_per_key)) << key;
    EXPECT_TRUE(std::is_sorted(completed[key].begin(), completed[key].end())) << key;
  }
  for (const auto& status : results[bad]) {
    ASSERT_FALSE(status);
    const std::string text = status.error().message;
    EXPECT_NE(text.find("projects/test-project/topics/events"), std::string::npos) << text;
    EXPECT_NE(text.find("HTTP 400"), std::string::npos) << text;
    EXPECT_NE(text.find("Invalid ordering key"), std::string::npos) << text;
  }
  const auto publishes = m_server.publishes();
  std::optional<Clock::time_point> failed_at;
  std::size_t bad_requests = 0;
  for (const auto& publish : publishes) {
    if (publish.messages.front().ordering_key == bad) {
      ++bad_requests;
      failed_at = publish.at;
    }
  }
  EXPECT_EQ(bad_requests, 1u) << "the key's later calls are failed unsent";
  ASSERT_TRUE(failed_at);
  std::size_t good_after_failure = 0;
  for (const auto& publish : publishes) {
    if (publish.messages.front().ordering_key != bad && publish.at > *failed_at) {
      ++good_after_failure;
    }
  }
  EXPECT_GT(good_after_failure, 0u) << "the other keys went on after the failure";

  std::map<std::string, std::vector<int>> accepted;
  for (const auto& m : m_server.accepted("events")) {
    accepted[m.ordering_key].push_back(seq_of(m));
  }
  EXPECT_EQ(accepted.count(bad), 0u);
  for (const std::string key : {"S1/T1", "S1/T2"}) {
    for (const auto& status : results[key]) {
      EXPECT_TRUE(status) << key << ": " << status.error().message;
    }
    ASSERT_EQ(accepted[key].size(), 5u * calls_per_key) << key;
    for (std::size_t i = 0; i < accepted[key].size(); ++i) {
      EXPECT_EQ(accepted[key][i], static_cast<int>(i)) << key;
    }
  }
  EXPECT_EQ(sink.stats().permanent_errors, 1u);
  EXPECT_EQ(sink.pending_bytes(), 0u);
}

}  // namespace
}  // namespace pos::collector
