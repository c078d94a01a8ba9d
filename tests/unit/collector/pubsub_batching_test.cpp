#include "pubsub_batching.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <deque>
#include <string>
#include <vector>

#include "pubsub_http.hpp"

namespace pos::collector::detail {
namespace {

TEST(PubSubBatching, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");
}

TEST(PubSubBatching, Base64UrlHasNoPaddingAndUrlAlphabet) {
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url_encode("\xfb\xff\xbf"), "-_-_");
}

TEST(PubSubBatching, EncodesDataAttributesAndOrderingKey) {
  OutMessage message{"{\"a\":1}", {{"event_id", "s1-t1-7-3"}, {"store_id", "s1"}}, "s1/t1"};
  const auto value = boost::json::parse(encode_message(message, true)).as_object();
  EXPECT_EQ(value.at("data").as_string(), base64_encode("{\"a\":1}"));
  EXPECT_EQ(value.at("attributes").at("event_id").as_string(), "s1-t1-7-3");
  EXPECT_EQ(value.at("orderingKey").as_string(), "s1/t1");

  const auto without = boost::json::parse(encode_message(message, false)).as_object();
  EXPECT_FALSE(without.contains("orderingKey"));
  const auto bare = boost::json::parse(encode_message(OutMessage{"x", {}, ""}, true)).as_object();
  EXPECT_FALSE(bare.contains("attributes"));
  EXPECT_FALSE(bare.contains("orderingKey"));
  EXPECT_EQ(message_billing_bytes(message), 7u + 5u + 8u + 9u + 8u + 2u);
}

// encode_message writes its JSON by hand: it must be the very text Boost.JSON writes for the
// same object, whatever the attributes hold (quotes, backslashes, control and non-ASCII chars) and
// whatever the data's length modulo 3.
TEST(PubSubBatching, EncodedMessageIsTheTextBoostJsonWrites) {
  const auto reference = [](const OutMessage& m, bool with_ordering_key) {
    boost::json::object out;
    out["data"] = base64_encode(m.data);
    if (!m.attributes.empty()) {
      boost::json::object attributes;
      for (const auto& [key, value] : m.attributes) {
        attributes[key] = value;
      }
      out["attributes"] = std::move(attributes);
    }
    if (with_ordering_key && !m.ordering_key.empty()) {
      out["orderingKey"] = m.ordering_key;
    }
    return boost::json::serialize(out);
  };
  const std::vector<OutMessage> messages = {
      {"", {}, ""},
      {"a", {{"k", "v"}}, "S1/T1"},
      {"ab", {{"error", "bad \"quote\" and \\ back\nslash\t\x01"}, {"store_id", "S07"}}, "S07/T1"},
      {"abc\n\xff\x00", {{"note", "caf\xc3\xa9 \xe2\x82\xac"}}, "k\"ey"},
      {std::string(1000, '\x7f'), {}, "S2/T9"},
  };
  for (const auto& m : messages) {
    for (bool with_key : {true, false}) {
      EXPECT_EQ(encode_message(m, with_key), reference(m, with_key)) << m.data.size() << " bytes";
    }
  }
}

TEST(PubSubBatching, BatchCountRespectsMessageAndByteLimits) {
  const auto size = [](std::size_t s) { return s; };
  const BatchLimits limits{3, 100};
  EXPECT_EQ(batch_count(std::vector<std::size_t>{}, limits, size), 0u);
  EXPECT_EQ(batch_count(std::vector<std::size_t>{10, 10, 10, 10}, limits, size), 3u);
  // 15 overhead + 40 + 1 + 40 = 96 fits; a third would not.
  EXPECT_EQ(batch_count(std::vector<std::size_t>{40, 40, 40}, limits, size), 2u);
  // A single message over the limit still goes, alone.
  EXPECT_EQ(batch_count(std::deque<std::size_t>{500, 1}, limits, size), 1u);
  EXPECT_EQ(batch_count(std::vector<std::size_t>{84}, limits, size), 1u);
  EXPECT_EQ(batch_count(std::vector<std::size_t>{84, 1}, limits, size), 1u);
}

TEST(PubSubBatching, SplitsAThousandPlusMessagesIntoApiSizedRequests) {
  std::deque<std::size_t> sizes(2500, 100);
  const BatchLimits limits{1000, 9 * 1024 * 1024};
  std::vector<std::size_t> batches;
  while (!sizes.empty()) {
    const auto n = batch_count(sizes, limits, [](std::size_t s) { return s; });
    batches.push_back(n);
    sizes.erase(sizes.begin(), sizes.begin() + static_cast<std::ptrdiff_t>(n));
  }
  EXPECT_EQ(batches, (std::vector<std::size_t>{1000, 1000, 500}));
  EXPECT_TRUE(batch_full(1000, 10, limits));
  EXPECT_TRUE(batch_full(1, 9 * 1024 * 1024, limits));
  EXPECT_FALSE(batch_full(999, 1000, limits));
}

TEST(PubSubBatching, ClassifiesStatuses) {
  EXPECT_EQ(classify_status(200), Outcome::ok);
  for (unsigned s : {401u, 408u, 409u, 429u, 499u, 500u, 502u, 503u, 504u}) {
    EXPECT_EQ(classify_status(s), Outcome::retryable) << s;
  }
  for (unsigned s : {400u, 403u, 404u, 413u})
    EXPECT_EQ(classify_status(s), Outcome::permanent) << s;
}

TEST(PubSubBatching, ParsesPublishResponses) {
  EXPECT_EQ(*parse_publish_response(R"({"messageIds":["1","2","3"]})"), 3u);
  EXPECT_FALSE(parse_publish_response("{}"));
  EXPECT_FALSE(parse_publish_response("<html>"));
}

TEST(PubSubBatching, ErrorMessagesNameTheTopicAndQuotePubSub) {
  const std::string body =
      R"({"error":{"code":404,"message":"Topic not found","status":"NOT_FOUND"}})";
  const auto text = publish_error("projects/p/topics/missing", 404, body);
  EXPECT_NE(text.find("topic projects/p/topics/missing does not exist"), std::string::npos);
  EXPECT_NE(text.find("Topic not found"), std::string::npos);
  const auto long_text = publish_error("projects/p/topics/t", 400, std::string(5000, 'x'));
  EXPECT_LT(long_text.size(), 700u);
}

TEST(PubSubBatching, PacingIntervalFollowsTheRate) {
  EXPECT_EQ(pacing_interval(900 * 1024, 900 * 1024), std::chrono::seconds(1));
  EXPECT_EQ(pacing_interval(450 * 1024, 900 * 1024), std::chrono::milliseconds(500));
  EXPECT_EQ(pacing_interval(1 << 20, 0), std::chrono::nanoseconds(0));
}

TEST(PubSubHttp, ParsesUrlsAndHostPorts) {
  auto url = parse_url("https://oauth2.googleapis.com/token");
  ASSERT_TRUE(url);
  EXPECT_TRUE(url->origin.tls);
  EXPECT_EQ(url->origin.host, "oauth2.googleapis.com");
  EXPECT_EQ(url->origin.port, "443");
  EXPECT_EQ(url->target, "/token");
  EXPECT_EQ(url->origin.to_string(), "https://oauth2.googleapis.com");

  auto local = parse_url("http://127.0.0.1:8080");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->origin.port, "8080");
  EXPECT_EQ(local->target, "/");

  auto emulator = parse_host_port("[::1]:8085");
  ASSERT_TRUE(emulator);
  EXPECT_EQ(emulator->host, "::1");
  EXPECT_FALSE(parse_host_port("localhost"));
  EXPECT_FALSE(parse_host_port("localhost:99999"));
  EXPECT_FALSE(parse_url("ftp://x/"));
}

}  // namespace
}  // namespace pos::collector::detail
