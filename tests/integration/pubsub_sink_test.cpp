// PubSubSink against Google's real Pub/Sub emulator.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pos/collector/pubsub_sink.hpp"
#include "support/pubsub_emulator.hpp"
#include "support/wait.hpp"

namespace pos::collector {
namespace {
using namespace std::chrono_literals;
namespace json = boost::json;

constexpr const char* project = "test-project";

class PubSubSinkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { s_emulator = std::make_unique<test::PubSubEmulator>(); }
  static void TearDownTestSuite() { s_emulator.reset(); }

  void SetUp() override {
    if (!s_emulator->running()) {
      s_emulator->start();
    }
    const std::string suffix = std::to_string(++s_counter);
    m_topic = "events-" + suffix;
    m_dlq = "dead-letters-" + suffix;
    m_sub = "sub-" + suffix;
  }

  void create(bool ordering = true) {
    s_emulator->create_topic(project, m_topic);
    s_emulator->create_topic(project, m_dlq);
    s_emulator->create_subscription(project, m_sub, m_topic, ordering);
  }

  PubSubConfig config(bool ordering = true) {
    PubSubConfig c;
    c.project = project;
    c.topic = m_topic;
    c.dead_letter_topic = m_dlq;
    c.ordering = ordering;
    c.emulator_host = s_emulator->host_port();
    c.retry_initial = 50ms;
    c.retry_cap = 500ms;
    return c;
  }

  template <class Predicate>
  ::testing::AssertionResult run_until(Predicate done, std::chrono::milliseconds timeout,
                                       std::string_view what) {
    return pos::test::run_until(m_io, done, timeout, what, 20ms);
  }

  static OutMessage message(const std::string& key, int seq) {
    json::object data{{"key", key}, {"seq", seq}};
    return OutMessage{json::serialize(data),
                      {{"event_id", key + "-" + std::to_string(seq)}, {"store_id", "s1"}},
                      key};
  }

  // Pulls `count` messages and checks per-key order and contents; returns them by key.
  std::map<std::string, std::vector<int>> pull_and_check(std::size_t count) {
    auto pulled = s_emulator->pull_all(project, m_sub, count, 60s);
    EXPECT_EQ(pulled.size(), count);
    std::map<std::string, std::vector<int>> by_key;
    for (const auto& m : pulled) {
      const auto data = json::parse(m.data).as_object();
      const std::string key(data.at("key").as_string());
      const int seq = static_cast<int>(data.at("seq").as_int64());
      EXPECT_EQ(m.attributes.at("event_id"), key + "-" + std::to_string(seq));
      EXPECT_EQ(m.attributes.at("store_id"), "s1");
      by_key[key].push_back(seq);
    }
    return by_key;
  }

  static inline std::unique_ptr<test::PubSubEmulator> s_emulator;
  static inline int s_counter = 0;
  boost::asio::io_context m_io;
  std::string m_topic, m_dlq, m_sub;
};

TEST_F(PubSubSinkTest, PublishesBatchedInOrderPerKey) {
  create();
  PubSubSink sink(m_io.get_executor(), config());
  EXPECT_EQ(sink.endpoint(), "http://" + s_emulator->host_port());
  const std::vector<std::string> keys{"s1/t1", "s1/t2", "s2/t1"};
  std::map<std::string, int> next_seq;
  std::map<std::string, std::vector<int>> completions;
  int completed = 0;
  int call_index = 0;
  for (int sent = 0; sent < 2500; sent += 50, ++call_index) {
    const std::string& key = keys[static_cast<std::size_t>(call_index) % keys.size()];
    std::vector<OutMessage> messages;
    for (int i = 0; i < 50; ++i) {
      messages.push_back(message(key, next_seq[key]++));
    }
    sink.publish(Destination::events, std::move(messages), [&, key, call_index](Status status) {
      EXPECT_TRUE(status) << status.error().message;
      completions[key].push_back(call_index);
      ++completed;
    });
  }
  EXPECT_GT(sink.pending_bytes(), 2500u * 50);
  ASSERT_TRUE(run_until([&] { return completed == 50; }, 60s, "completed == 50"));
  EXPECT_EQ(sink.pending_bytes(), 0u);
  EXPECT_TRUE(sink.healthy());
  for (const auto& [key, calls] : completions) {
    EXPECT_TRUE(std::is_sorted(calls.begin(), calls.end())) << key;
  }

  const auto stats = sink.stats();
  EXPECT_EQ(stats.messages_published, 2500u);
  EXPECT_LE(stats.requests_ok, 12u) << "requests are batched";
  EXPECT_GE(stats.requests_ok, 3u);

  auto pulled = s_emulator->pull_all(project, m_sub, 2500, 60s);
  ASSERT_EQ(pulled.size(), 2500u);
  std::map<std::string, std::vector<int>> by_key;
  for (const auto& m : pulled) {
    const auto data = json::parse(m.data).as_object();
    const std::string key(data.at("key").as_string());
    EXPECT_EQ(m.ordering_key, key);
    EXPECT_EQ(m.attributes.at("event_id"), key + "-" + std::to_string(data.at("seq").as_int64()));
    by_key[key].push_back(static_cast<int>(data.at("seq").as_int64()));
  }
  ASSERT_EQ(by_key.size(), 3u);
  for (const auto& [key, seqs] : by_key) {
    ASSERT_EQ(static_cast<int>(seqs.size()), next_seq[key]) << key;
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      EXPECT_EQ(seqs[i], static_cast<int>(i)) << key;
    }
  }
}

TEST_F(PubSubSinkTest, SurvivesAnEmulatorRestartWithoutLoss) {
  create();
  PubSubSink sink(m_io.get_executor(), config());
  int completed = 0;
  sink.publish(Destination::events, {message("s1/t1", 0)}, [&](Status s) {
    EXPECT_TRUE(s);
    ++completed;
  });
  ASSERT_TRUE(run_until([&] { return completed == 1; }, 30s, "completed == 1"));

  s_emulator->stop();
  std::vector<std::string> errors;
  for (int call = 0; call < 10; ++call) {
    const std::string key = call % 2 == 0 ? "s1/t1" : "s1/t2";
    std::vector<OutMessage> messages;
    for (int i = 0; i < 10; ++i) {
      messages.push_back(message(key, 1 + call / 2 * 10 + i));
    }
    sink.publish(Destination::events, std::move(messages), [&](Status s) {
      if (!s) {
        errors.push_back(s.error().message);
      }
      ++completed;
    });
  }
  // Counted failed attempts against the stopped emulator, not a pause, before asserting that
  // nothing completed.
  const auto retried_before = sink.stats().requests_retried;
  ASSERT_TRUE(run_until([&] { return sink.stats().requests_retried >= retried_before + 3; }, 30s,
                        "three failed attempts while Pub/Sub is down"));
  EXPECT_EQ(completed, 1) << "nothing completes while Pub/Sub is down";
  EXPECT_FALSE(sink.healthy());
  EXPECT_GT(sink.pending_bytes(), 0u);
  EXPECT_GT(sink.stats().requests_retried, 0u);

  // The io_context is idle here, so the sink cannot hit the restarted emulator before the topic
  // exists again (the emulator loses its state on restart).
  s_emulator->start();
  create();
  ASSERT_TRUE(run_until([&] { return completed == 11; }, 60s, "completed == 11"));
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_TRUE(sink.healthy());
  EXPECT_EQ(sink.pending_bytes(), 0u);

  const auto by_key = pull_and_check(100);
  ASSERT_EQ(by_key.size(), 2u);
  for (const auto& [key, seqs] : by_key) {
    ASSERT_EQ(seqs.size(), 50u) << key;
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      EXPECT_EQ(seqs[i], static_cast<int>(i) + 1) << key;
    }
  }
}

TEST_F(PubSubSinkTest, MissingTopicIsAPermanentErrorNamingIt) {
  s_emulator->create_topic(project, m_topic);
  PubSubSink sink(m_io.get_executor(), config());
  std::optional<Status> dead_letter;
  std::optional<Status> event;
  sink.publish(Destination::dead_letter, {message("s1/t1", 0), message("s1/t1", 1)},
               [&](Status s) { dead_letter = s; });
  sink.publish(Destination::events, {message("s1/t1", 0)}, [&](Status s) { event = s; });
  ASSERT_TRUE(run_until([&] { return dead_letter && event; }, 30s, "dead_letter && event"));
  EXPECT_TRUE(*event);
  ASSERT_FALSE(*dead_letter);
  const std::string text = dead_letter->error().message;
  EXPECT_NE(text.find("projects/test-project/topics/" + m_dlq), std::string::npos) << text;
  EXPECT_NE(text.find("does not exist"), std::string::npos) << text;
  EXPECT_NE(text.find("404"), std::string::npos) << text;
  EXPECT_EQ(sink.stats().permanent_errors, 1u);
  EXPECT_EQ(sink.pending_bytes(), 0u);
}

TEST_F(PubSubSinkTest, WithoutOrderingSendsSeveralRequestsInFlight) {
  create(false);
  auto c = config(false);
  c.max_batch_messages = 100;
  PubSubSink sink(m_io.get_executor(), c);
  int completed = 0;
  std::vector<int> order;
  for (int call = 0; call < 30; ++call) {
    std::vector<OutMessage> messages;
    for (int i = 0; i < 100; ++i) {
      messages.push_back(message("s9/t9", call * 100 + i));
    }
    sink.publish(Destination::events, std::move(messages), [&, call](Status s) {
      EXPECT_TRUE(s);
      order.push_back(call);
      ++completed;
    });
  }
  ASSERT_TRUE(run_until([&] { return completed == 30; }, 60s, "completed == 30"));
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end())) << "same key: call order";
  EXPECT_EQ(sink.stats().requests_ok, 30u);
  auto pulled = s_emulator->pull_all(project, m_sub, 3000, 60s);
  EXPECT_EQ(pulled.size(), 3000u);
  for (const auto& m : pulled) {
    EXPECT_TRUE(m.ordering_key.empty());
  }
}

TEST_F(PubSubSinkTest, StopDrainsOutstandingCalls) {
  create();
  PubSubSink sink(m_io.get_executor(), config());
  bool published = false;
  bool stopped = false;
  sink.publish(Destination::events, {message("s1/t1", 0)},
               [&](Status s) { published = s.has_value(); });
  sink.stop(10s, [&] { stopped = true; });
  std::optional<Status> late;
  sink.publish(Destination::events, {message("s1/t1", 1)}, [&](Status s) { late = s; });
  ASSERT_TRUE(run_until([&] { return stopped && late; }, 30s, "stopped && late"));
  EXPECT_TRUE(published);
  EXPECT_FALSE(*late);
}

}  // namespace
}  // namespace pos::collector
