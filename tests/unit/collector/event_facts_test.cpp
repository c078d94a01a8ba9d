#include "pos/collector/event_facts.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <utility>

#include "kpi_test_support.hpp"

namespace pos::collector {
namespace {

TEST(EventDigestTest, KeepsEveryFactAndSurvivesMovesOfShortText) {
  // Short text stays in std::string's inline buffer, which a move copies: views must not dangle.
  test::Published sale;
  sale.pos_event_id = "p";
  sale.store_id = "S1";
  sale.till_id = "T";
  sale.currency = "X";
  sale.customer_type = "new";
  sale.lines = {test::Line{"a", 3, 7, 2, 1}, test::Line{"bb", 1, 9, 4, 0}};
  EventReader reader;
  const auto read = reader.read(test::published_json(sale));
  ASSERT_TRUE(read) << read.error().message;

  EventDigest first(*read);
  EventDigest moved(std::move(first));
  std::vector<EventDigest> many;
  many.push_back(std::move(moved));
  many.emplace_back(*read);  // reallocation moves the first one again
  std::vector<SaleLineFacts> lines;
  const EventFacts kept = many[0].facts(lines);
  EXPECT_EQ(kept.kind, EventKind::sale);
  EXPECT_EQ(kept.event_id, read->event_id);
  EXPECT_EQ(kept.store_id, "S1");
  EXPECT_EQ(kept.till_id, "T");
  EXPECT_EQ(kept.pos_event_id, "p");
  EXPECT_EQ(kept.occurred_at, sale.occurred_at);
  EXPECT_EQ(kept.currency, "X");
  EXPECT_EQ(kept.customer_type, "new");
  EXPECT_EQ(kept.occurred_ms, test::ms(sale.occurred_at));
  EXPECT_EQ(kept.received_ms, test::ms(sale.received_at));
  ASSERT_EQ(kept.lines.size(), 2U);
  EXPECT_EQ(kept.lines[0].category, "a");
  EXPECT_EQ(kept.lines[0].qty, 3);
  EXPECT_EQ(kept.lines[0].unit_price_minor, 7);
  EXPECT_EQ(kept.lines[0].unit_cost_minor, 2);
  EXPECT_EQ(kept.lines[0].discount_minor, 1);
  EXPECT_EQ(kept.lines[1].category, "bb");
  EXPECT_GT(many[0].bytes(), sizeof(EventDigest));
}

TEST(ExtractEventFactsTest, TakesTheStampFromApartWhenGiven) {
  // The collector's parsed event object has no stamp fields: they are in protocol::StampedEvent.
  const auto event = boost::json::parse(R"({"type":"return","pos_event_id":"R-9",
    "occurred_at":"2026-11-22T10:15:03.120+07:00","currency":"IDR",
    "customer":{"id":null,"type":"guest"},
    "lines":[{"sku":"SKU-1","category":"tops","qty":1,"unit_price_minor":150000,
              "unit_cost_minor":60000,"discount_minor":0}]})")
                         .as_object();
  std::vector<SaleLineFacts> lines;
  const auto without = extract_event_facts(event, lines);
  ASSERT_FALSE(without);
  EXPECT_EQ(without.error().message, "received_at: missing or not RFC 3339");

  const StampFacts stamp{"S07-T1-00000000000000aa-4", "S07", "T1", "2026-11-22T03:15:04.000Z"};
  const auto facts = extract_event_facts(event, lines, stamp);
  ASSERT_TRUE(facts) << facts.error().message;
  EXPECT_EQ(facts->kind, EventKind::return_event);
  EXPECT_EQ(facts->event_id, stamp.event_id);
  EXPECT_EQ(facts->store_id, "S07");
  EXPECT_EQ(facts->till_id, "T1");
  EXPECT_EQ(facts->received_ms, test::ms("2026-11-22T03:15:04.000Z"));
  EXPECT_EQ(facts->occurred_ms, test::ms("2026-11-22T10:15:03.120+07:00"));
  ASSERT_EQ(facts->lines.size(), 1U);
  EXPECT_EQ(facts->lines[0].unit_price_minor, 150000);

  const StampFacts bad_time{"x", "S07", "T1", "yesterday"};
  const auto refused = extract_event_facts(event, lines, bad_time);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "received_at: missing or not RFC 3339");
}

}  // namespace
}  // namespace pos::collector

namespace pos::collector {
namespace {

TEST(StockFactsTest, StockFieldsAreReadAndKeptByTheDigest) {
  const StampFacts stamp{"WH01-T1-00000000000000aa-4", "WH01", "T1", "2026-11-22T03:15:04.000Z"};
  const auto event = boost::json::parse(R"({"type":"stock_change","pos_event_id":"mv-1",
    "occurred_at":"2026-11-22T10:15:03.120+07:00","sku":"TOP-1","location":"warehouse",
    "delta":-3,"reason":"transfer_out","on_hand_after":17,"category":"tops"})")
                         .as_object();
  std::vector<SaleLineFacts> lines;
  const auto facts = extract_event_facts(event, lines, stamp);
  ASSERT_TRUE(facts) << facts.error().message;
  EventDigest digest(*facts);
  // The facts view the digest's strings: the digest must outlive them.
  const EventDigest held(digest);
  const EventFacts kept = held.facts(lines);
  EXPECT_EQ(kept.kind, EventKind::stock_change);
  EXPECT_EQ(kept.store_id, "WH01");
  EXPECT_EQ(kept.stock.sku, "TOP-1");
  EXPECT_EQ(kept.stock.category, "tops");
  EXPECT_EQ(kept.stock.location, StockLocation::warehouse);
  EXPECT_EQ(kept.stock.delta, -3);
  EXPECT_EQ(kept.stock.on_hand_after, std::optional<std::int64_t>(17));
  EXPECT_FALSE(kept.replay);

  auto without = event;
  without.erase("on_hand_after");
  without.erase("category");
  const auto plain = extract_event_facts(without, lines, stamp);
  ASSERT_TRUE(plain);
  EXPECT_FALSE(EventDigest(*plain).facts(lines).stock.on_hand_after.has_value());

  EventFacts replayed = *plain;
  replayed.replay = true;
  EXPECT_TRUE(EventDigest(replayed).facts(lines).replay);

  for (const auto& [field, value, message] :
       {std::tuple<const char*, boost::json::value, const char*>{"delta", 0,
                                                                 "delta: not a non-zero integer"},
        {"location", "shelf", "location: missing or not floor, backroom or warehouse"},
        {"on_hand_after", -1, "on_hand_after: not an integer >= 0"},
        {"sku", "", "sku: missing"}}) {
    auto bad = event;
    bad[field] = value;
    const auto refused = extract_event_facts(bad, lines, stamp);
    ASSERT_FALSE(refused) << field;
    EXPECT_EQ(refused.error().message, message);
  }
}

TEST(StockFactsTest, SaleLinesCarryTheirSku) {
  test::Published sale;
  sale.lines = {test::Line{"tops", 1, 7, 2, 0}};
  EventReader reader;
  const auto read = reader.read(test::published_json(sale));
  ASSERT_TRUE(read) << read.error().message;
  std::vector<SaleLineFacts> lines;
  const EventDigest held(*read);
  const auto kept = held.facts(lines);
  ASSERT_EQ(kept.lines.size(), 1U);
  EXPECT_EQ(kept.lines[0].sku, "SKU-0");
  EXPECT_EQ(kept.lines[0].category, "tops");
}

}  // namespace
}  // namespace pos::collector
