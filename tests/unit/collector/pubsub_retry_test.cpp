// The retry layer (PublishRetrier) over a scripted HttpSender.

#include "pubsub_retry.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pubsub_fakes.hpp"

namespace pos::collector::detail {
namespace {
using namespace std::chrono_literals;
using fakes::ListBackoff;
using fakes::run_until;
using fakes::ScriptedSender;

std::string retry_test_topic(Destination destination) {
  return destination == Destination::events ? "projects/p/topics/events" : "projects/p/topics/dead";
}

class PublishRetrierTest : public ::testing::Test {
 protected:
  std::shared_ptr<PublishRetrier> make(std::vector<std::chrono::milliseconds> delays) {
    return std::make_shared<PublishRetrier>(
        m_io.get_executor(), m_sender, retry_test_topic, [this, delays] {
          ++m_backoffs;
          return std::make_unique<ListBackoff>(delays, &m_delay_calls);
        });
  }

  boost::asio::io_context m_io;
  std::shared_ptr<ScriptedSender> m_sender = std::make_shared<ScriptedSender>(m_io);
  int m_backoffs = 0;
  int m_delay_calls = 0;
};

TEST_F(PublishRetrierTest, RetriesTransientFailuresAfterTheBackoffsDelays) {
  auto retrier = make({30ms, 60ms, 90ms});
  m_sender->script = {HttpReply{429, R"({"error":{"message":"quota"}})"},
                      HttpReply{503, "unavailable"}, fail("connect 127.0.0.1:1: refused"),
                      HttpReply{500, ""}};
  m_sender->default_ids = 2;
  std::optional<Status> done;
  retrier->publish(Destination::events, "BODY", 2, [&](Status s) { done = s; });
  EXPECT_FALSE(done) << "never inline";
  ASSERT_TRUE(run_until(m_io, [&] { return done.has_value(); }));
  ASSERT_TRUE(*done) << done->error().message;
  ASSERT_EQ(m_sender->sent.size(), 5u);
  for (const auto& sent : m_sender->sent) {
    EXPECT_EQ(sent.call.target, "/v1/projects/p/topics/events:publish");
    EXPECT_EQ(sent.call.body, "BODY") << "a retry resends the same body";
  }
  const std::vector<std::chrono::milliseconds> expected{30ms, 60ms, 90ms, 90ms};
  for (std::size_t i = 1; i < m_sender->sent.size(); ++i) {
    EXPECT_GE(m_sender->sent[i].at - m_sender->sent[i - 1].at, expected[i - 1]) << i;
  }
  EXPECT_EQ(m_backoffs, 1);
  EXPECT_EQ(m_delay_calls, 4);
  EXPECT_EQ(retrier->stats().attempts, 5u);
  EXPECT_EQ(retrier->stats().retried, 4u);
  EXPECT_EQ(retrier->stats().accepted, 1u);
  EXPECT_EQ(retrier->stats().messages_accepted, 2u);
  EXPECT_TRUE(retrier->healthy());
}

TEST_F(PublishRetrierTest, UnhealthyFromATransientFailureUntilTheNextSuccess) {
  auto retrier = make({1s});  // long enough to see it unhealthy before the retry succeeds
  m_sender->script = {HttpReply{503, ""}};
  std::optional<Status> done;
  retrier->publish(Destination::events, "B", 1, [&](Status s) { done = s; });
  ASSERT_TRUE(run_until(m_io, [&] { return retrier->stats().retried == 1; }));
  EXPECT_FALSE(retrier->healthy());
  ASSERT_TRUE(run_until(m_io, [&] { return done.has_value(); }));
  EXPECT_TRUE(retrier->healthy());
}

TEST_F(PublishRetrierTest, PermanentStatusFailsAtOnceWithPubSubsText) {
  auto retrier = make({1ms});
  m_sender->script = {HttpReply{404, R"({"error":{"code":404,"message":"Topic not found"}})"}};
  std::optional<Status> done;
  retrier->publish(Destination::dead_letter, "B", 1, [&](Status s) { done = s; });
  ASSERT_TRUE(run_until(m_io, [&] { return done.has_value(); }));
  ASSERT_FALSE(*done);
  const std::string text = done->error().message;
  EXPECT_NE(text.find("topic projects/p/topics/dead does not exist"), std::string::npos) << text;
  EXPECT_NE(text.find("Topic not found"), std::string::npos) << text;
  EXPECT_EQ(m_sender->sent.size(), 1u);
  EXPECT_EQ(m_backoffs, 0);
  EXPECT_EQ(retrier->stats().permanent_errors, 1u);
}

TEST_F(PublishRetrierTest, AnAnswerWithoutAnIdPerMessageIsRetried) {
  auto retrier = make({1ms});
  m_sender->script = {HttpReply{200, fakes::publish_ok_body(1)}, HttpReply{200, "not json"}};
  m_sender->default_ids = 3;
  std::optional<Status> done;
  retrier->publish(Destination::events, "B", 3, [&](Status s) { done = s; });
  ASSERT_TRUE(run_until(m_io, [&] { return done.has_value(); }));
  EXPECT_TRUE(*done);
  EXPECT_EQ(m_sender->sent.size(), 3u);
}

TEST_F(PublishRetrierTest, EachRequestHasItsOwnBackoff) {
  auto retrier = make({40ms, 400ms});
  m_sender->script = {HttpReply{503, ""}, HttpReply{503, ""}};
  std::optional<Status> first;
  std::optional<Status> second;
  retrier->publish(Destination::events, "FIRST", 1, [&](Status s) { first = s; });
  retrier->publish(Destination::events, "SECOND", 1, [&](Status s) { second = s; });
  ASSERT_TRUE(run_until(m_io, [&] { return first && second; }));
  EXPECT_EQ(m_backoffs, 2) << "a fresh backoff per request";
  EXPECT_EQ(m_delay_calls, 2);
  EXPECT_TRUE(*first);
  EXPECT_TRUE(*second);
}

TEST_F(PublishRetrierTest, ShutdownAbandonsARequestWaitingToRetry) {
  auto retrier = make({10s});  // long: the retry must still be waiting at shutdown()
  m_sender->script = {HttpReply{503, ""}};
  bool called = false;
  retrier->publish(Destination::events, "B", 1, [&](Status) { called = true; });
  ASSERT_TRUE(run_until(m_io, [&] { return retrier->stats().retried == 1; }));
  retrier->shutdown();
  EXPECT_EQ(m_sender->shutdowns, 1);
  // Runs the cancelled retry timer's handler (and anything else left) to completion.
  m_io.restart();
  m_io.run();
  EXPECT_FALSE(called);
  EXPECT_EQ(m_sender->sent.size(), 1u);
  retrier->publish(Destination::events, "LATE", 1, [&](Status) { called = true; });
  m_io.restart();
  m_io.run();
  EXPECT_FALSE(called);
  EXPECT_EQ(m_sender->sent.size(), 1u);
}

}  // namespace
}  // namespace pos::collector::detail
