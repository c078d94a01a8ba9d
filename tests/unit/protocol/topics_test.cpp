#include "pos/protocol/topics.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace pos::protocol {
namespace {

TEST(Topics, KindNames) {
  EXPECT_EQ(to_string(TopicKind::batch), "batch");
  EXPECT_EQ(to_string(TopicKind::ack), "ack");
  EXPECT_EQ(to_string(TopicKind::status), "status");
  EXPECT_EQ(to_string(TopicKind::replay), "replay");
  EXPECT_EQ(to_string(TopicKind::cmd), "cmd");
}

TEST(Topics, BuildAndParse) {
  for (TopicKind kind :
       {TopicKind::batch, TopicKind::ack, TopicKind::status, TopicKind::replay, TopicKind::cmd}) {
    const auto topic = make_topic("pos/v1", "S07", "T1", kind);
    ASSERT_TRUE(topic.has_value()) << topic.error().message;
    EXPECT_EQ(*topic, "pos/v1/S07/T1/" + std::string(to_string(kind)));
    const auto parsed = parse_topic("pos/v1", *topic);
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
    EXPECT_EQ(parsed->store_id, "S07");
    EXPECT_EQ(parsed->till_id, "T1");
    EXPECT_EQ(parsed->kind, kind);
  }
  EXPECT_EQ(make_topic("fastyle", "S-07", "WH_1", TopicKind::ack).value(), "fastyle/S-07/WH_1/ack");
}

TEST(Topics, PrefixRules) {
  EXPECT_TRUE(check_topic_prefix("pos/v1").has_value());
  EXPECT_TRUE(check_topic_prefix(std::string(128, 'p')).has_value());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "topic_prefix: must be 1-128 characters"},
      {std::string(129, 'p'), "topic_prefix: must be 1-128 characters"},
      {"$SYS", "topic_prefix: must not start with '$'"},
      {"pos/+", "topic_prefix: must not contain '+', '#' or NUL"},
      {"pos/#", "topic_prefix: must not contain '+', '#' or NUL"},
      {std::string("pos\0v1", 6), "topic_prefix: must not contain '+', '#' or NUL"},
      {"/pos", "topic_prefix: must not have an empty level"},
      {"pos/", "topic_prefix: must not have an empty level"},
      {"pos//v1", "topic_prefix: must not have an empty level"},
  };
  for (const auto& [prefix, expected] : cases) {
    const Status status = check_topic_prefix(prefix);
    ASSERT_FALSE(status.has_value()) << prefix;
    EXPECT_EQ(status.error().message, expected);
    const auto topic = make_topic(prefix, "S07", "T1", TopicKind::batch);
    ASSERT_FALSE(topic.has_value());
    EXPECT_EQ(topic.error().message, expected);
  }
}

TEST(Topics, MakeRejectsBadIds) {
  const std::vector<std::pair<std::string, std::string>> stores = {
      {"S/7", "store_id"},
      {"S+7", "store_id"},
      {"S#7", "store_id"},
      {std::string(33, 's'), "store_id"},
      {"", "store_id"}};
  for (const auto& [id, what] : stores) {
    const auto topic = make_topic("pos/v1", id, "T1", TopicKind::batch);
    ASSERT_FALSE(topic.has_value()) << id;
    EXPECT_EQ(topic.error().message, what + ": must match [A-Za-z0-9_-]{1,32}");
  }
  const auto topic = make_topic("pos/v1", "S07", "T+", TopicKind::batch);
  ASSERT_FALSE(topic.has_value());
  EXPECT_EQ(topic.error().message, "till_id: must match [A-Za-z0-9_-]{1,32}");
}

TEST(Topics, ParseRejectsBadTopics) {
  const std::string shape = "topic: must be pos/v1/{store}/{till}/{kind}";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"pos/v2/S07/T1/batch", "topic: not under the prefix pos/v1"},
      {"pos/v10/S07/T1/batch", "topic: not under the prefix pos/v1"},
      {"pos/v1", "topic: not under the prefix pos/v1"},
      {"pos/v1/", shape},
      {"xpos/v1/S07/T1/batch", "topic: not under the prefix pos/v1"},
      {"pos/v1/S07/batch", shape},
      {"pos/v1/S07/T1/batch/x", shape},
      {"pos/v1/S07/T1/foo",
       "topic: unknown kind 'foo' (must be one of batch, ack, status, replay, cmd)"},
      {"pos/v1/S07/T1/", "topic: unknown kind '' (must be one of batch, ack, status, replay, cmd)"},
      {"pos/v1/S07/T1/Batch",
       "topic: unknown kind 'Batch' (must be one of batch, ack, status, replay, cmd)"},
      {"pos/v1/S+7/T1/batch", "topic store_id: must match [A-Za-z0-9_-]{1,32}"},
      {"pos/v1//T1/batch", "topic store_id: must match [A-Za-z0-9_-]{1,32}"},
      {"pos/v1/S07/#/batch", "topic till_id: must match [A-Za-z0-9_-]{1,32}"},
      {"pos/v1/S07/" + std::string(33, 't') + "/batch",
       "topic till_id: must match [A-Za-z0-9_-]{1,32}"},
  };
  for (const auto& [topic, expected] : cases) {
    const auto parsed = parse_topic("pos/v1", topic);
    ASSERT_FALSE(parsed.has_value()) << topic;
    EXPECT_EQ(parsed.error().message, expected) << topic;
  }
}

TEST(Topics, SharedSubscription) {
  EXPECT_EQ(shared_batch_subscription("pos-collectors", "pos/v1").value(),
            "$share/pos-collectors/pos/v1/+/+/batch");
  auto sub = shared_batch_subscription("pos/collectors", "pos/v1");
  ASSERT_FALSE(sub.has_value());
  EXPECT_EQ(sub.error().message, "share_group: must match [A-Za-z0-9_-]{1,32}");
  sub = shared_batch_subscription("g", "pos/#");
  ASSERT_FALSE(sub.has_value());
  EXPECT_EQ(sub.error().message, "topic_prefix: must not contain '+', '#' or NUL");
}

}  // namespace
}  // namespace pos::protocol
