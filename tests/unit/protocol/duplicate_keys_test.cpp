// Duplicate object keys: RFC 8259 leaves their meaning to the reader (Boost.JSON keeps the last
// value, other readers the first), so a text with one is refused wherever it enters: events,
// payload lines, request bodies. And what the collector publishes is built from the validated
// values, never copied from the received text.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "pos/protocol/event.hpp"
#include "pos/protocol/ids.hpp"
#include "pos/protocol/messages.hpp"

namespace pos::protocol {
namespace {

namespace json = boost::json;

const std::string k_sale =
    R"({"type":"sale","pos_event_id":"R-1",)"
    R"("occurred_at":"2026-11-22T10:15:03.120+07:00","currency":"IDR",)"
    R"("customer":{"id":null,"type":"guest"},"lines":[{"sku":"A1",)"
    R"("category":"tops","qty":1,"unit_price_minor":100,)"
    R"("unit_cost_minor":50,"discount_minor":0}],"payment":{"method":"cash"}})";

std::string with(std::string text, std::string_view after, std::string_view insert) {
  text.insert(text.find(after) + after.size(), insert);
  return text;
}

constexpr std::uint64_t k_epoch = 0x0123456789abcdefULL;

std::string line_for(const std::string& event_text, std::uint64_t seq = 1) {
  auto event = parse_pos_event(event_text);
  EXPECT_TRUE(event) << event.error().message;
  return make_payload_line(*event,
                           AgentStamp{"S07", "T1", k_epoch, seq, "2026-11-22T03:15:03.120Z"});
}

TEST(DuplicateKeys, EventWithATopLevelKeyTwiceIsRefusedNamingTheKey) {
  const auto event = parse_pos_event(with(k_sale, "{", R"("type":"return",)"), {"S07", "T1"});
  ASSERT_FALSE(event);
  EXPECT_EQ(event.error().message, "type: duplicate key");
}

TEST(DuplicateKeys, NestedDuplicatesAreNamedByTheirPath) {
  auto event = parse_pos_event(with(k_sale, R"("customer":{)", R"("type":"new",)"));
  ASSERT_FALSE(event);
  EXPECT_EQ(event.error().message, "customer.type: duplicate key");
  event = parse_pos_event(with(k_sale, R"("lines":[{)", R"("qty":1000,)"));
  ASSERT_FALSE(event);
  EXPECT_EQ(event.error().message, "lines[0].qty: duplicate key");
  // In an unknown field, at any depth, and spelled with an escape.
  event = parse_pos_event(with(k_sale, "{", R"("x":[1,{"a":{"b":1,"\u0062":2}}],)"));
  ASSERT_FALSE(event);
  EXPECT_EQ(event.error().message, "x[1].a.b: duplicate key");
}

TEST(DuplicateKeys, SameKeyInSiblingObjectsIsFine) {
  const auto event = parse_pos_event(
      with(k_sale, R"("lines":[)",
           R"({"sku":"B","category":"c","qty":1,"unit_price_minor":1,"unit_cost_minor":1,)"
           R"("discount_minor":0,"x":{"a":1}},)"));
  ASSERT_TRUE(event) << event.error().message;
  EXPECT_EQ(event->fields().at("lines").as_array().size(), 2U);
}

// The forgery: store_id given twice, the last one matching the topic. Refused, naming the key.
TEST(DuplicateKeys, PayloadLineWithAStampFieldTwiceIsRefused) {
  const std::string line = line_for(k_sale);
  for (std::string_view key : {"store_id", "event_id", "type", "seq"}) {
    SCOPED_TRACE(key);
    const std::string value = json::serialize(json::parse(line).as_object().at(key));
    const std::string forged = "{\"" + std::string(key) +
                               "\":" + (key == "store_id" ? std::string("\"S99\"") : value) + "," +
                               line.substr(1);
    const auto parsed = parse_payload_line(forged, {"S07", "T1"});
    ASSERT_FALSE(parsed);
    EXPECT_NE(parsed.error().message.find(std::string(key) + ": duplicate key"), std::string::npos)
        << parsed.error().message;
  }
  EXPECT_TRUE(parse_payload_line(line, {"S07", "T1"}));
}

TEST(DuplicateKeys, BodyParseReportsTheFirstDuplicateOfEachElement) {
  const std::string body = "[" + k_sale + "," + with(k_sale, "{", R"("type":"return",)") + "," +
                           with(with(k_sale, "{", R"("a":1,"a":2,)"), "{", R"("b":1,"b":1,)") +
                           "," + k_sale + "]";
  std::vector<DuplicateKey> duplicates;
  const auto parsed = parse_json_bounded(body, EventLimits{}, {}, &duplicates);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->as_array().size(), 4U);
  ASSERT_EQ(duplicates.size(), 2U);
  EXPECT_EQ(duplicates[0].element, 1U);
  EXPECT_EQ(duplicates[0].path, "type");
  EXPECT_EQ(duplicates[1].element, 2U);
  EXPECT_EQ(duplicates[1].path, "b");
  EXPECT_EQ(duplicate_key_error(duplicates[0]), "type: duplicate key");
  // Without a list to report to, a duplicate fails the parse.
  const auto refused = parse_json_bounded(body, EventLimits{});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "body: [1].type: duplicate key");
}

TEST(DuplicateKeys, ManyKeysAreCheckedWithoutQuadraticTime) {
  std::string text = "{";
  for (int i = 0; i < 50'000; ++i) {
    text += "\"k" + std::to_string(i) + "\":0,";
  }
  text += "\"k17\":1}";
  EventLimits limits;
  limits.max_bytes = text.size();
  const auto parsed = parse_json_bounded(text, limits);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message, "body: k17: duplicate key");
}

TEST(DuplicateKeys, StatusMessagesWithDuplicateKeysAreRefused) {
  AgentStatus status;
  status.agent_version = "1.2.3";
  status.sent_at = "2026-11-22T03:15:03.120Z";
  const std::string text = encode_status(status);
  EXPECT_TRUE(parse_status(text));
  EXPECT_FALSE(parse_status(with(text, "{", R"("agent_version":"9",)")));
}

// What the collector publishes: canonical JSON built from the validated values, with
// collected_at and schema_version; never the received bytes.
TEST(CollectedLine, IsBuiltFromTheValidatedValues) {
  // The same event with whitespace and an escaped key: valid, but not the agent's canonical form.
  std::string line = line_for(with(k_sale, "{", R"("note":"x",)"));
  line.replace(line.find("\"note\""), 6, "\"\\u006eote\" ");
  const auto parsed = parse_payload_line(line, {"S07", "T1"});
  ASSERT_TRUE(parsed) << parsed.error().message;
  const std::string data = make_collected_line(*parsed, "2026-11-22T03:15:04.000Z");
  EXPECT_EQ(to_canonical_json(json::parse(data)), data);
  auto expected = json::parse(line_for(with(k_sale, "{", R"("note":"x",)"))).as_object();
  expected["collected_at"] = "2026-11-22T03:15:04.000Z";
  expected["schema_version"] = 1;
  EXPECT_EQ(json::parse(data), json::value(expected));
}

TEST(CollectedLine, ThePosOwnCollectedAtAndSchemaVersionAreReplaced) {
  const auto parsed = parse_payload_line(
      line_for(with(k_sale, "{", R"("schema_version":7,"collected_at":"x",)")), {"S07", "T1"});
  ASSERT_TRUE(parsed) << parsed.error().message;
  const auto data = json::parse(make_collected_line(*parsed, "2026-11-22T03:15:04.000Z"));
  EXPECT_EQ(data.at("schema_version"), 1);
  EXPECT_EQ(data.at("collected_at"), "2026-11-22T03:15:04.000Z");
  EXPECT_EQ(data.at("event_id").as_string(), make_event_id("S07", "T1", k_epoch, 1).c_str());
}

}  // namespace
}  // namespace pos::protocol
