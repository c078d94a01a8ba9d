// The queue layer (KeyedQueues: per-ordering-key queues, batching, pacing) over a publisher that
// holds each request until the test answers it.

#include "pubsub_queue.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pubsub_fakes.hpp"

namespace pos::collector::detail {
namespace {
using namespace std::chrono_literals;
using fakes::HeldPublisher;
using fakes::run_until;

class KeyedQueuesTest : public ::testing::Test {
 protected:
  // Requests a test left unanswered hold the queues (their completion keeps them alive), and the
  // queues hold the publisher: dropping them ends that cycle (LeakSanitizer found it).
  void TearDown() override { m_publisher->held.clear(); }

  std::shared_ptr<KeyedQueues> make(QueueConfig config) {
    return std::make_shared<KeyedQueues>(m_io.get_executor(), config, m_publisher);
  }

  // One call of messages "{name}#0", "{name}#1", ... for `keys` (one message per entry); its
  // outcome lands in m_outcomes[name].
  std::vector<QueuedMessage> call(const std::string& name, const std::vector<std::string>& keys) {
    auto queued = std::make_shared<QueuedCall>();
    queued->remaining = keys.size();
    queued->on_outcome = [this, name](Status status) { m_outcomes.emplace(name, status); };
    std::vector<QueuedMessage> messages;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      messages.push_back({keys[i], "\"" + name + "#" + std::to_string(i) + "\"", 100, queued});
    }
    return messages;
  }

  bool ok(const std::string& name) const {
    auto it = m_outcomes.find(name);
    return it != m_outcomes.end() && it->second.has_value();
  }
  std::optional<std::string> error(const std::string& name) const {
    auto it = m_outcomes.find(name);
    if (it == m_outcomes.end() || it->second) {
      return std::nullopt;
    }
    return it->second.error().message;
  }

  static QueueConfig one_per_batch() {
    QueueConfig config;
    config.limits.max_messages = 1;
    config.batch_delay = 10s;
    return config;
  }

  boost::asio::io_context m_io;
  std::shared_ptr<HeldPublisher> m_publisher = std::make_shared<HeldPublisher>();
  std::map<std::string, Status> m_outcomes;
};

TEST_F(KeyedQueuesTest, APartialBatchWaitsForTheDelayAndTakesWhatCameMeanwhile) {
  QueueConfig config;
  config.batch_delay = 30ms;
  auto queues = make(config);
  const auto start = std::chrono::steady_clock::now();
  queues->enqueue(Destination::events, call("a", {"K"}));
  queues->enqueue(Destination::events, call("b", {"K"}));
  queues->enqueue(Destination::events, call("c", {"K", "K"}));
  EXPECT_EQ(queues->pending_bytes(), 4 * 5u);
  ASSERT_TRUE(run_until(m_io, [&] { return !m_publisher->held.empty(); }));
  EXPECT_GE(m_publisher->held[0].at - start, 30ms);
  ASSERT_EQ(m_publisher->held.size(), 1u);
  EXPECT_EQ(m_publisher->held[0].body, R"({"messages":["a#0","b#0","c#0","c#1"]})");
  EXPECT_EQ(m_publisher->held[0].count, 4u);
  m_publisher->complete(0);
  EXPECT_TRUE(ok("a") && ok("b") && ok("c"));
  EXPECT_EQ(queues->pending_bytes(), 0u);
}

TEST_F(KeyedQueuesTest, AFullBatchGoesAtOnce) {
  QueueConfig config;
  config.limits.max_messages = 2;
  config.batch_delay = 10s;
  auto queues = make(config);
  queues->enqueue(Destination::dead_letter, call("a", {"K", "K", "K"}));
  ASSERT_EQ(m_publisher->held.size(), 1u);
  EXPECT_EQ(m_publisher->held[0].destination, Destination::dead_letter);
  EXPECT_EQ(m_publisher->held[0].count, 2u);
}

TEST_F(KeyedQueuesTest, AKeyHasOneRequestInFlightAndKeysAreIndependent) {
  auto queues = make(one_per_batch());
  queues->enqueue(Destination::events, call("a1", {"A"}));
  queues->enqueue(Destination::events, call("a2", {"A"}));
  queues->enqueue(Destination::events, call("b1", {"B"}));
  queues->enqueue(Destination::events, call("b2", {"B"}));
  ASSERT_EQ(m_publisher->held.size(), 2u);
  EXPECT_EQ(m_publisher->held[0].body, R"({"messages":["a1#0"]})");
  EXPECT_EQ(m_publisher->held[1].body, R"({"messages":["b1#0"]})");
  EXPECT_EQ(queues->in_flight(), 2u);
  m_publisher->complete(1);  // B goes on while A is still outstanding
  EXPECT_TRUE(ok("b1"));
  ASSERT_EQ(m_publisher->held.size(), 3u);
  EXPECT_EQ(m_publisher->held[2].body, R"({"messages":["b2#0"]})");
  m_publisher->complete(0);
  ASSERT_EQ(m_publisher->held.size(), 4u);
  EXPECT_EQ(m_publisher->held[3].body, R"({"messages":["a2#0"]})");
}

TEST_F(KeyedQueuesTest, APermanentErrorFailsTheKeysQueuedCallsWhileOtherKeysContinue) {
  auto queues = make(one_per_batch());
  for (const std::string name : {"a1", "a2", "a3"}) {
    queues->enqueue(Destination::events, call(name, {"A"}));
  }
  queues->enqueue(Destination::events, call("b1", {"B"}));
  queues->enqueue(Destination::events, call("b2", {"B"}));
  ASSERT_EQ(m_publisher->held.size(), 2u);
  m_publisher->complete(0, fail("publish to t: HTTP 400: bad"));
  for (const std::string name : {"a1", "a2", "a3"}) {
    ASSERT_TRUE(error(name)) << name;
    EXPECT_EQ(*error(name), "publish to t: HTTP 400: bad");
  }
  EXPECT_EQ(m_publisher->held.size(), 2u) << "a2 and a3 are failed unsent";
  EXPECT_EQ(queues->pending_bytes(), 2 * 6u) << "b1, b2";
  m_publisher->complete(1);
  ASSERT_EQ(m_publisher->held.size(), 3u);
  m_publisher->complete(2);
  EXPECT_TRUE(ok("b1") && ok("b2"));
  // The key is usable again for calls made after the failure.
  queues->enqueue(Destination::events, call("a4", {"A"}));
  ASSERT_EQ(m_publisher->held.size(), 4u);
  EXPECT_EQ(m_publisher->held[3].body, R"({"messages":["a4#0"]})");
  m_publisher->complete(3);
  EXPECT_TRUE(ok("a4"));
  EXPECT_EQ(queues->pending_bytes(), 0u);
}

TEST_F(KeyedQueuesTest, ACallFailedOnOneKeyIsNotSentOnAnother) {
  auto queues = make(one_per_batch());
  queues->enqueue(Destination::events, call("x", {"B"}));
  queues->enqueue(Destination::events, call("both", {"A", "B"}));
  ASSERT_EQ(m_publisher->held.size(), 2u);  // x#0 on B, both#0 on A
  m_publisher->complete(1, fail("permanent"));
  EXPECT_TRUE(error("both"));
  m_publisher->complete(0);
  EXPECT_TRUE(ok("x"));
  EXPECT_EQ(m_publisher->held.size(), 2u) << "both#1 on B was dropped unsent";
  EXPECT_EQ(queues->pending_bytes(), 0u);
}

TEST_F(KeyedQueuesTest, ACallOverSeveralKeysIsOkAtItsLastAcceptedMessage) {
  auto queues = make(one_per_batch());
  queues->enqueue(Destination::events, call("both", {"A", "B"}));
  ASSERT_EQ(m_publisher->held.size(), 2u);
  m_publisher->complete(0);
  EXPECT_TRUE(m_outcomes.empty());
  m_publisher->complete(1);
  EXPECT_TRUE(ok("both"));
}

TEST_F(KeyedQueuesTest, WithoutOrderingRequestsGoInParallelUpToTheLimit) {
  auto config = one_per_batch();
  config.ordering = false;
  config.max_requests_in_flight = 2;
  auto queues = make(config);
  queues->enqueue(Destination::events, call("a", {"A", "A", "B"}));
  ASSERT_EQ(m_publisher->held.size(), 2u) << "one queue, two in flight";
  m_publisher->complete(0);
  ASSERT_EQ(m_publisher->held.size(), 3u);
  m_publisher->complete(2);
  m_publisher->complete(1);
  EXPECT_TRUE(ok("a"));
}

TEST_F(KeyedQueuesTest, TheInFlightLimitHoldsOverAllKeys) {
  auto config = one_per_batch();
  config.max_requests_in_flight = 1;
  auto queues = make(config);
  queues->enqueue(Destination::events, call("a", {"A"}));
  queues->enqueue(Destination::events, call("b", {"B"}));
  ASSERT_EQ(m_publisher->held.size(), 1u);
  m_publisher->complete(0);
  ASSERT_EQ(m_publisher->held.size(), 2u);
  EXPECT_EQ(m_publisher->held[1].body, R"({"messages":["b#0"]})");
}

TEST_F(KeyedQueuesTest, PacingSpacesAKeysRequestsByItsBytesAndSlowsNoOtherKey) {
  auto config = one_per_batch();
  config.key_bytes_per_second = 1000;  // 100 billing bytes a message: 100 ms apart
  auto queues = make(config);
  queues->enqueue(Destination::events, call("a1", {"A"}));
  queues->enqueue(Destination::events, call("a2", {"A"}));
  ASSERT_EQ(m_publisher->held.size(), 1u);
  m_publisher->complete(0);
  queues->enqueue(Destination::events, call("b1", {"B"}));
  ASSERT_EQ(m_publisher->held.size(), 2u) << "B is not paced by A";
  ASSERT_TRUE(run_until(m_io, [&] { return m_publisher->held.size() == 3; }));
  EXPECT_EQ(m_publisher->held[2].body, R"({"messages":["a2#0"]})");
  EXPECT_GE(m_publisher->held[2].at - m_publisher->held[0].at, 100ms);
}

TEST_F(KeyedQueuesTest, DrainSendsPartialBatchesAtOnce) {
  QueueConfig config;
  config.batch_delay = 10s;
  auto queues = make(config);
  queues->enqueue(Destination::events, call("a", {"A"}));
  queues->enqueue(Destination::events, call("b", {"B"}));
  EXPECT_TRUE(m_publisher->held.empty());
  queues->drain();
  EXPECT_EQ(m_publisher->held.size(), 2u);
}

TEST_F(KeyedQueuesTest, ShutdownDropsEverythingWithoutOutcomes) {
  auto queues = make(one_per_batch());
  queues->enqueue(Destination::events, call("a1", {"A"}));
  queues->enqueue(Destination::events, call("a2", {"A"}));
  queues->shutdown();
  EXPECT_EQ(m_publisher->shutdowns, 1);
  EXPECT_EQ(queues->pending_bytes(), 0u);
  m_publisher->complete(0);
  queues->enqueue(Destination::events, call("late", {"A"}));
  m_io.run();
  EXPECT_TRUE(m_outcomes.empty());
  EXPECT_EQ(m_publisher->held.size(), 1u);
}

}  // namespace
}  // namespace pos::collector::detail
