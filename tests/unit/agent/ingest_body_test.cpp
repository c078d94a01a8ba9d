// Request bodies of the ingest API: formats, whole-request errors and per-event rejections.

#include "pos/agent/ingest_body.hpp"

#include <gtest/gtest.h>

#include "test_events.hpp"

#include <string>

namespace pos::agent {
namespace {

const protocol::EventOwner k_owner{"S01", "T1"};

using test::sale;

Result<std::vector<BodyItem>, BodyError> parse(std::string_view type, std::string_view body,
                                               IngestBodyLimits limits = {}) {
  return parse_ingest_body(type, body, k_owner, limits);
}

TEST(IngestBody, OneObject) {
  auto items = parse("application/json", sale("R-1"));
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 1u);
  ASSERT_TRUE((*items)[0].event);
  EXPECT_EQ((*items)[0].event->pos_event_id(), "R-1");
}

TEST(IngestBody, JsonWithOrWithoutCharsetIsJson) {
  for (const char* type :
       {"application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8",
        "application/json; charset=\"utf-8\""}) {
    auto items = parse(type, sale("R-1"));
    ASSERT_TRUE(items) << type << ": " << items.error().message;
    EXPECT_EQ(items->size(), 1u);
  }
}

TEST(IngestBody, ArrayKeepsIndicesOfRejectedEvents) {
  const std::string body = "[" + sale("A") + "," + sale("B", 0) + ",42," + sale("C") + "]";
  auto items = parse("application/json", body);
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 4u);
  EXPECT_TRUE((*items)[0].event);
  ASSERT_FALSE((*items)[1].event);
  EXPECT_EQ((*items)[1].event.error().message, "lines[0].qty: must be an integer >= 1");
  ASSERT_FALSE((*items)[2].event);
  EXPECT_EQ((*items)[2].event.error().message, "event: must be a JSON object");
  ASSERT_TRUE((*items)[3].event);
  EXPECT_EQ((*items)[3].event->pos_event_id(), "C");
}

TEST(IngestBody, EmptyArrayHasNoItems) {
  auto items = parse("application/json", "[]");
  ASSERT_TRUE(items);
  EXPECT_TRUE(items->empty());
}

TEST(IngestBody, ForeignStoreIsRejectedPerEvent) {
  std::string event = sale("X");
  event.insert(1, R"("store_id":"S99",)");
  auto items = parse("application/json", "[" + event + "]");
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_FALSE((*items)[0].event);
  EXPECT_NE((*items)[0].event.error().message.find("store_id"), std::string::npos);
}

// A duplicated key would let a reader that keeps the first value see another event than the one
// validated: the event is rejected, naming the key; its neighbours are not affected.
TEST(IngestBody, DuplicateKeyRejectsThatEventNamingTheKey) {
  std::string forged = sale("X");
  forged.insert(1, R"("store_id":"S99","store_id":"S01",)");
  std::string nested = sale("Y");
  nested.insert(nested.find(R"("qty")"), R"("qty":3,)");
  auto items = parse("application/json", "[" + sale("A") + "," + forged + "," + nested + "]");
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 3u);
  EXPECT_TRUE((*items)[0].event);
  ASSERT_FALSE((*items)[1].event);
  EXPECT_EQ((*items)[1].event.error().message, "store_id: duplicate key");
  ASSERT_FALSE((*items)[2].event);
  EXPECT_EQ((*items)[2].event.error().message, "lines[0].qty: duplicate key");

  items = parse("application/json", forged);
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_FALSE((*items)[0].event);
  EXPECT_EQ((*items)[0].event.error().message, "store_id: duplicate key");

  items = parse("application/x-ndjson", sale("A") + "\n" + forged + "\n");
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 2u);
  EXPECT_TRUE((*items)[0].event);
  ASSERT_FALSE((*items)[1].event);
  EXPECT_EQ((*items)[1].event.error().message, "store_id: duplicate key");
}

TEST(IngestBody, NdjsonWithCrlfAndBlankLines) {
  const std::string body = sale("A") + "\r\n\r\n" + sale("B", 0) + "\r\n" + sale("C") + "\n";
  auto items = parse("application/x-ndjson", body);
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 3u);
  EXPECT_TRUE((*items)[0].event);
  EXPECT_EQ((*items)[0].line, 1u);
  EXPECT_FALSE((*items)[1].event);
  EXPECT_EQ((*items)[1].line, 3u);
  EXPECT_TRUE((*items)[2].event);
  EXPECT_EQ((*items)[2].line, 4u);
}

TEST(IngestBody, InvalidJsonNamesTheLine) {
  auto items = parse("application/json", "[\n" + sale("A") + ",\n{\"type\": }\n]");
  ASSERT_FALSE(items);
  EXPECT_EQ(items.error().status, 400);
  EXPECT_TRUE(items.error().message.starts_with("body: invalid JSON at line 3"))
      << items.error().message;

  auto nd = parse("application/x-ndjson", sale("A") + "\n" + sale("B") + "\nnot json\n");
  ASSERT_FALSE(nd);
  EXPECT_EQ(nd.error().status, 400);
  EXPECT_TRUE(nd.error().message.starts_with("body: invalid JSON at line 3")) << nd.error().message;
}

TEST(IngestBody, EmptyJsonBodyAndScalarAre400) {
  auto empty = parse("application/json", "");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().status, 400);
  auto scalar = parse("application/json", "\"sale\"");
  ASSERT_FALSE(scalar);
  EXPECT_EQ(scalar.error().status, 400);
  EXPECT_EQ(scalar.error().message, "body: must be a JSON object or an array of objects");
}

TEST(IngestBody, TooManyEventsIs413) {
  IngestBodyLimits limits;
  limits.max_events = 3;
  std::string array = "[";
  std::string ndjson;
  for (int i = 0; i < 4; ++i) {
    array += (i ? "," : "") + sale("E" + std::to_string(i));
    ndjson += sale("E" + std::to_string(i)) + "\n";
  }
  array += "]";
  for (auto [type, body] :
       {std::pair{"application/json", array}, std::pair{"application/x-ndjson", ndjson}}) {
    auto items = parse(type, body, limits);
    ASSERT_FALSE(items) << type;
    EXPECT_EQ(items.error().status, 413);
    EXPECT_EQ(items.error().message, "more than 3 events");
  }
  EXPECT_TRUE(parse("application/x-ndjson", sale("A") + "\n" + sale("B") + "\n", limits));
}

TEST(IngestBody, DefaultLimitIs1000Events) {
  std::string ndjson;
  for (int i = 0; i < 1001; ++i) {
    ndjson += "{}\n";
  }
  auto items = parse("application/x-ndjson", ndjson);
  ASSERT_FALSE(items);
  EXPECT_EQ(items.error().status, 413);
  EXPECT_EQ(items.error().message, "more than 1000 events");
}

TEST(IngestBody, TooLargeIs413) {
  IngestBodyLimits limits;
  limits.max_bytes = 100;
  auto items = parse("application/json", sale("A"), limits);
  ASSERT_FALSE(items);
  EXPECT_EQ(items.error().status, 413);
}

TEST(IngestBody, WrongContentTypeIs415) {
  auto items = parse("text/plain", sale("A"));
  ASSERT_FALSE(items);
  EXPECT_EQ(items.error().status, 415);
  EXPECT_EQ(items.error().message,
            "content type text/plain: use application/json or application/x-ndjson");
  auto latin = parse("application/json; charset=iso-8859-1", sale("A"));
  ASSERT_FALSE(latin);
  EXPECT_EQ(latin.error().status, 415);
  // No Content-Type is no longer taken for JSON: a browser's no-cors POST could send one.
  for (const char* absent : {"", " ", "; charset=utf-8"}) {
    auto missing = parse(absent, sale("A"));
    ASSERT_FALSE(missing) << "'" << absent << "'";
    EXPECT_EQ(missing.error().status, 415);
    EXPECT_EQ(missing.error().message,
              "content type missing: use application/json or application/x-ndjson");
  }
}

// One per-event limit (protocol::max_event_bytes, the collector's) for every body form: an
// event over it is rejected naming the limit, one exactly at it is accepted.
TEST(IngestBody, OversizeEventInAJsonArrayIsRejectedNamingTheLimit) {
  const std::size_t limit = protocol::max_event_bytes;
  const std::string body = "[" + sale("A") + "," + test::sized_sale("BIG", limit + 1) + "," +
                           test::sized_sale("AT", limit) + "]";
  ASSERT_LT(body.size(), IngestBodyLimits{}.max_bytes);
  auto items = parse("application/json", body);
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 3u);
  EXPECT_TRUE((*items)[0].event);
  ASSERT_FALSE((*items)[1].event) << "an event over the collector's per-event limit was accepted";
  EXPECT_EQ((*items)[1].event.error().message,
            "event: " + std::to_string(limit + 1) +
                " bytes (as stored) is larger than the limit of 1048576 bytes per event");
  EXPECT_TRUE((*items)[2].event) << (*items)[2].event.error().message;
}

TEST(IngestBody, OversizeSingleObjectIsRejected) {
  auto items = parse("application/json", test::sized_sale("BIG", protocol::max_event_bytes + 1));
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 1u);
  ASSERT_FALSE((*items)[0].event);
  EXPECT_NE((*items)[0].event.error().message.find("limit of 1048576 bytes per event"),
            std::string::npos);
}

// The limit is on the stored (canonical) form: a line within the limit as sent but larger once
// its numbers are written canonically (1.5 -> 1.5E0) would be refused by the collector.
TEST(IngestBody, LimitAppliesToTheStoredFormOfAnNdjsonLine) {
  IngestBodyLimits limits;
  limits.event.max_bytes = 4096;
  std::string event = sale("N");
  std::string numbers = R"(,"x":[)";
  while (event.size() + numbers.size() + 6 < 4000) {
    numbers += "1.5,";
  }
  numbers += "1.5]}";
  event = event.substr(0, event.size() - 1) + numbers;
  ASSERT_LE(event.size(), 4096u);
  for (const bool strict : {true, false}) {
    auto items = strict ? parse("application/x-ndjson", event + "\n", limits)
                        : parse_ndjson_items(event + "\n", k_owner, limits);
    ASSERT_TRUE(items) << items.error().message;
    ASSERT_EQ(items->size(), 1u);
    ASSERT_FALSE((*items)[0].event);
    EXPECT_NE((*items)[0].event.error().message.find("limit of 4096 bytes per event"),
              std::string::npos)
        << (*items)[0].event.error().message;
  }
}

// A single object may not nest deeper than the collector parses (the body's own limit is one
// level deeper to leave room for an array).
TEST(IngestBody, TooDeepSingleObjectIsRejected) {
  std::string deep = sale("D");
  std::string nest;
  for (std::size_t i = 0; i < protocol::max_event_depth; ++i) {
    nest += R"({"n":)";
  }
  nest += "1" + std::string(protocol::max_event_depth, '}');  // 17 levels with the event
  deep = deep.substr(0, deep.size() - 1) + R"(,"deep":)" + nest + "}";
  auto items = parse("application/json", deep);
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_FALSE((*items)[0].event) << "17 levels accepted";
  EXPECT_EQ((*items)[0].event.error().message, "event: nested deeper than 16 levels");
}

// Events that together take more than the whole buffer could never be stored: the body fails
// with 413 in every form; rejected events do not count.
TEST(IngestBody, BodyLargerThanTheWholeBufferIs413) {
  IngestBodyLimits limits;
  limits.max_stored_bytes = 700;
  const std::string three = sale("A") + "\n" + sale("B") + "\n" + sale("C") + "\n";
  for (auto [type, body] :
       {std::pair{"application/x-ndjson", three},
        std::pair{"application/json", "[" + sale("A") + "," + sale("B") + "," + sale("C") + "]"},
        std::pair{"application/json", test::sized_sale("A", 701)}}) {
    auto items = parse(type, body, limits);
    ASSERT_FALSE(items) << type;
    EXPECT_EQ(items.error().status, 413);
    EXPECT_NE(items.error().message.find("more than the whole buffer holds (buffer.max_bytes = "
                                         "700)"),
              std::string::npos)
        << items.error().message;
  }
  auto items = parse_ndjson_items(three, k_owner, limits);
  ASSERT_FALSE(items);
  EXPECT_EQ(items.error().status, 413);
  EXPECT_TRUE(parse("application/x-ndjson", sale("A") + "\n" + sale("B", 0) + "\n", limits));
}

TEST(IngestBody, NdjsonItemsReportEveryBadLine) {
  const std::string text = sale("A") + "\nnot json\n" + sale("B", 0) + "\n" + sale("C") + "\n";
  auto items = parse_ndjson_items(text, k_owner, {});
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 4u);
  EXPECT_TRUE((*items)[0].event);
  ASSERT_FALSE((*items)[1].event);
  EXPECT_EQ((*items)[1].line, 2u);
  EXPECT_TRUE((*items)[1].event.error().message.starts_with("body: invalid JSON at line 2"));
  ASSERT_FALSE((*items)[2].event);
  EXPECT_EQ((*items)[2].event.error().message, "lines[0].qty: must be an integer >= 1");
  EXPECT_TRUE((*items)[3].event);
}

}  // namespace
}  // namespace pos::agent

namespace pos::agent {
namespace {

// A sale whose payment carries a card number in a free-text field, as a careless POS writes it.
std::string sale_with_card(const std::string& id, const std::string& note) {
  std::string event = sale(id);
  const auto at = event.find("\"payment\":{");
  event.insert(at + 11, "\"note\":\"" + note + "\",");
  return event;
}

TEST(IngestBodyCardNumbers, EventWithACardNumberIsRejectedNamingTheFieldInEveryBodyForm) {
  const std::string bad = sale_with_card("P-1", "4111 1111 1111 1111");
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {"application/json", bad},
      {"application/json", "[" + sale("P-0") + "," + bad + "]"},
      {"application/x-ndjson", sale("P-0") + "\n" + bad + "\n"}};
  for (const auto& [type, body] : bodies) {
    auto items = parse(type, body);
    ASSERT_TRUE(items) << items.error().message;
    const auto& item = items->back();
    ASSERT_FALSE(item.event) << type;
    EXPECT_EQ(item.event.error().message.rfind("payment.note: contains a card number", 0), 0U)
        << item.event.error().message;
    EXPECT_EQ(item.event.error().message.find("4111"), std::string::npos);
  }
}

TEST(IngestBodyCardNumbers, MaskPolicyStoresTheMaskedNumberOnly) {
  IngestBodyLimits limits;
  limits.card_numbers = CardNumberPolicy::mask;
  auto items = parse("application/json", sale_with_card("P-1", "4111-1111-1111-1111"), limits);
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_TRUE((*items)[0].event) << (*items)[0].event.error().message;
  const auto line = protocol::make_payload_line(
      *(*items)[0].event, protocol::AgentStamp{"S01", "T1", 1, 1, "2026-11-22T03:00:00.000Z"});
  EXPECT_NE(line.find("4111-11**-****-1111"), std::string::npos) << line;
  EXPECT_EQ(line.find("4111-1111-1111-1111"), std::string::npos) << line;
}

TEST(IngestBodyCardNumbers, OrderNumbersAndProductCodesPass) {
  auto items =
      parse("application/json",
            sale_with_card("P-1", "order 2026-000123 EAN 8991002101104 +62 812-3456-7890"));
  ASSERT_TRUE(items) << items.error().message;
  EXPECT_TRUE((*items)[0].event) << (*items)[0].event.error().message;
}

}  // namespace
}  // namespace pos::agent
