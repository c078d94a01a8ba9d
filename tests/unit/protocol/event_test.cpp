// Valid POS events, payload lines and to_string.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "pos/protocol/event.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::protocol {
namespace {

namespace json = boost::json;

constexpr const char* k_sale = R"({"type":"sale","pos_event_id":"R-0001",
  "occurred_at":"2026-11-22T10:15:03.120+07:00","currency":"IDR",
  "customer":{"id":"C42","type":"returning","tier":"gold"},
  "lines":[{"sku":"SKU-1","category":"tops","qty":2,"unit_price_minor":150000,
            "unit_cost_minor":60000,"discount_minor":300000,"size":"M"}],
  "payment":{"method":"card","terminal":"EDC-3"}})";
constexpr const char* k_stock = R"({"type":"stock_change","pos_event_id":"M-9",
  "occurred_at":"2026-11-22T03:15:03Z","sku":"SKU-1","location":"backroom","delta":-2,
  "reason":"transfer_out"})";

const EventOwner k_owner{"S07", "T1"};

PosEvent must_parse(std::string_view text, const EventOwner& owner = k_owner) {
  auto event = parse_pos_event(text, owner);
  if (!event) {
    ADD_FAILURE() << event.error().message;
  }
  return std::move(event).value();
}

std::vector<std::string> keys(const json::object& obj) {
  std::vector<std::string> out;
  for (const auto& kv : obj) {
    out.emplace_back(kv.key());
  }
  return out;
}

TEST(Event, ToString) {
  EXPECT_EQ(to_string(EventType::sale), "sale");
  EXPECT_EQ(to_string(EventType::return_event), "return");
  EXPECT_EQ(to_string(EventType::stock_change), "stock_change");
}

TEST(Event, ValidSaleKeepsNestedUnknownFields) {
  const PosEvent event = must_parse(k_sale);
  EXPECT_EQ(event.type(), EventType::sale);
  EXPECT_EQ(event.pos_event_id(), "R-0001");
  EXPECT_EQ(event.fields(), json::parse(k_sale).as_object());
  EXPECT_EQ(event.fields().at("customer").at("tier"), "gold");
  EXPECT_EQ(event.fields().at("lines").at(0).at("size"), "M");
  EXPECT_EQ(event.fields().at("payment").at("terminal"), "EDC-3");
}

TEST(Event, UnknownFieldsKeptInOriginalOrder) {
  const std::string text =
      R"({"zeta":1,"type":"stock_change","alpha":{"b":[1,2.5,"x"],"a":null},"pos_event_id":"M/1:2.3_4",)"
      R"("occurred_at":"2026-11-22T03:15:03.5-05:30","sku":"A","location":"warehouse","delta":7,)"
      R"("reason":"receipt","mid":true,"store_id":"S07","till_id":"T1"})";
  const PosEvent event = must_parse(text);
  EXPECT_EQ(
      keys(event.fields()),
      (std::vector<std::string>{"zeta", "type", "alpha", "pos_event_id", "occurred_at", "sku",
                                "location", "delta", "reason", "mid", "store_id", "till_id"}));
  EXPECT_EQ(event.fields(), json::parse(text).as_object());
}

TEST(Event, NullCustomerIdAndReturnWithOriginal) {
  json::value doc = json::parse(k_sale);
  doc.at("customer").as_object()["id"] = nullptr;
  doc.as_object()["type"] = "return";
  doc.as_object()["original_pos_event_id"] = "R-0001";
  const PosEvent event = must_parse(json::serialize(doc));
  EXPECT_EQ(event.type(), EventType::return_event);
  EXPECT_TRUE(event.fields().at("customer").at("id").is_null());
  EXPECT_EQ(event.fields().at("original_pos_event_id"), "R-0001");
}

TEST(Event, SaleKeepsOriginalPosEventIdAsUnknownField) {
  json::value doc = json::parse(k_sale);
  doc.as_object()["original_pos_event_id"] = "not a valid id #";
  const PosEvent event = must_parse(json::serialize(doc));
  EXPECT_EQ(event.fields().at("original_pos_event_id"), "not a valid id #");
}

TEST(Event, StockChangeWithAndWithoutOnHand) {
  const PosEvent without = must_parse(k_stock);
  EXPECT_EQ(without.type(), EventType::stock_change);
  EXPECT_FALSE(without.fields().contains("on_hand_after"));
  json::value doc = json::parse(k_stock);
  doc.as_object()["on_hand_after"] = 0;
  doc.as_object()["delta"] = 1'000'000'000;
  const PosEvent with = must_parse(json::serialize(doc));
  EXPECT_EQ(with.fields().at("on_hand_after"), 0);
}

TEST(Event, BoundaryValuesAccepted) {
  json::value doc = json::parse(k_sale);
  json::object& line = doc.at("lines").at(0).as_object();
  line["qty"] = 1'000'000;
  line["unit_price_minor"] = 1'000'000'000'000'000;
  line["discount_minor"] = 1'000'000'000'000'000;
  line["unit_cost_minor"] = 0;
  EXPECT_TRUE(parse_pos_event(json::serialize(doc), k_owner).has_value());
  line["unit_price_minor"] = 0;
  line["discount_minor"] = 0;
  EXPECT_TRUE(parse_pos_event(json::serialize(doc), k_owner).has_value());
}

TEST(Event, EmptyOwnerAcceptsAnyStoreAndTill) {
  json::value doc = json::parse(k_stock);
  doc.as_object()["store_id"] = "S99";
  doc.as_object()["till_id"] = "WH";
  EXPECT_TRUE(parse_pos_event(json::serialize(doc)).has_value());
  EXPECT_FALSE(parse_pos_event(json::serialize(doc), k_owner).has_value());
}

TEST(Event, ValidateTakesObject) {
  auto event = validate_pos_event(json::parse(k_stock).as_object(), k_owner);
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->pos_event_id(), "M-9");
}

AgentStamp stamp_of(std::string store, std::string till, std::uint64_t seq) {
  AgentStamp stamp;
  stamp.store_id = std::move(store);
  stamp.till_id = std::move(till);
  stamp.epoch = 0x0123456789abcdefULL;
  stamp.seq = seq;
  stamp.received_at = "2026-11-22T03:15:03.120Z";
  return stamp;
}

TEST(PayloadLine, RoundTrip) {
  for (const char* text : {k_sale, k_stock}) {
    const PosEvent event = must_parse(text);
    const AgentStamp stamp = stamp_of("S07", "T1", 42);
    const std::string line = make_payload_line(event, stamp);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_EQ(to_canonical_json(json::parse(line)), line);
    const json::object parsed_line = json::parse(line).as_object();
    EXPECT_EQ(parsed_line.at("event_id"), "S07-T1-0123456789abcdef-42");
    EXPECT_EQ(parsed_line.at("seq"), 42);

    const auto back = parse_payload_line(line, k_owner);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->event.type(), event.type());
    EXPECT_EQ(back->event.pos_event_id(), event.pos_event_id());
    EXPECT_EQ(back->event.fields(), event.fields());
    EXPECT_EQ(back->stamp.store_id, stamp.store_id);
    EXPECT_EQ(back->stamp.till_id, stamp.till_id);
    EXPECT_EQ(back->stamp.epoch, stamp.epoch);
    EXPECT_EQ(back->stamp.seq, stamp.seq);
    EXPECT_EQ(back->stamp.received_at, stamp.received_at);
    EXPECT_EQ(back->event_id, "S07-T1-0123456789abcdef-42");
    EXPECT_EQ(make_payload_line(back->event, back->stamp), line);
  }
}

TEST(PayloadLine, IdsWithDashesAndEmptyOwner) {
  const PosEvent event = must_parse(k_stock, {});
  const AgentStamp stamp = stamp_of("S-07", "T-1", 1);
  const std::string line = make_payload_line(event, stamp);
  const auto back = parse_payload_line(line, {});
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->event_id, "S.07-T-1-0123456789abcdef-1");
  EXPECT_EQ(back->stamp.store_id, "S-07");
  EXPECT_EQ(back->stamp.epoch, 0x0123456789abcdefULL);
}

// Lines stored by an agent before the '-' -> '.' encoding of the store id carry the old event id;
// the collector still accepts them (and only for the ids in the line).
TEST(PayloadLine, LegacyEventIdOfADashedStoreIsAccepted) {
  const PosEvent event = must_parse(k_stock, {});
  json::object obj = json::parse(make_payload_line(event, stamp_of("S-07", "T1", 3))).as_object();
  obj["event_id"] = "S-07-T1-0123456789abcdef-3";
  const auto back = parse_payload_line(to_canonical_json(obj), {});
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->event_id, "S-07-T1-0123456789abcdef-3");
  EXPECT_EQ(back->stamp.epoch, 0x0123456789abcdefULL);
  obj["event_id"] = "S-07-T1-0123456789abcdef-4";
  EXPECT_FALSE(parse_payload_line(to_canonical_json(obj), {}).has_value());
  obj["event_id"] = "S.07-T1-0123456789abcdef-3";
  obj["store_id"] = "S";
  obj["till_id"] = "07-T1";
  EXPECT_FALSE(parse_payload_line(to_canonical_json(obj), {}).has_value());
}

TEST(PayloadLine, PosStoreIdIsReplacedByStamp) {
  json::value doc = json::parse(k_stock);
  doc.as_object()["store_id"] = "S07";
  const PosEvent event = must_parse(json::serialize(doc));
  const std::string line = make_payload_line(event, stamp_of("S07", "T1", 3));
  EXPECT_EQ(line.find("S07\",\"store_id"), std::string::npos);
  const auto back = parse_payload_line(line, k_owner);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_FALSE(back->event.fields().contains("store_id"));
}

// The line must be the canonical JSON of the event merged with the stamp, wherever the POS's own
// keys sort relative to the five agent keys (before all, between, after all; store_id present).
TEST(PayloadLine, EqualsCanonicalOfMergedObject) {
  json::value first = json::parse(k_sale);
  first.as_object()["a_first"] = json::array{1, "x", nullptr};
  first.as_object()["f_between"] = json::object{{"z", 1}, {"a", 2}};
  first.as_object()["s_after_seq"] = true;
  first.as_object()["zz_last"] = -1.5;
  first.as_object()["store_id"] = "S07";
  json::value stock = json::parse(k_stock);
  stock.as_object()["till_id"] = "T1";
  for (const json::value& doc : {first, stock, json::parse(k_sale)}) {
    const PosEvent event = must_parse(json::serialize(doc));
    for (std::uint64_t seq : {1ULL, 9ULL, 10ULL, 123456789012ULL}) {
      const AgentStamp stamp = stamp_of("S07", "T1", seq);
      json::object merged = doc.as_object();
      merged["event_id"] = make_event_id("S07", "T1", stamp.epoch, seq);
      merged["seq"] = seq;
      merged["store_id"] = "S07";
      merged["till_id"] = "T1";
      merged["received_at"] = stamp.received_at;
      const std::string line = make_payload_line(event, stamp);
      EXPECT_EQ(line, to_canonical_json(merged));
      const PayloadTemplate prepared = make_payload_template(event, "S07", "T1", stamp.received_at);
      std::string rendered = "prefix";
      const std::string id = make_event_id("S07", "T1", stamp.epoch, seq);
      prepared.render(rendered, id, seq);
      EXPECT_EQ(rendered, "prefix" + line);
      EXPECT_EQ(prepared.rendered_size(id.size(), std::to_string(seq).size()), line.size());
    }
  }
}

struct Tamper {
  std::string name;
  std::string key;
  json::value value;  // null with erase = true removes the key
  bool erase;
  std::string expected;
};

TEST(PayloadLine, TamperedLinesAreRejected) {
  const std::string line = make_payload_line(must_parse(k_sale), stamp_of("S07", "T1", 5));
  const std::string id_rule = "event_id: must be {store_id}-{till_id}-{epoch}-{seq} of this line";
  const std::vector<Tamper> cases = {
      {"event_id_missing", "event_id", nullptr, true, "event_id: is required"},
      {"event_id_number", "event_id", 5, false, "event_id: must be a string"},
      {"event_id_epoch_not_hex", "event_id", "S07-T1-0123456789abcdeg-5", false, id_rule},
      {"event_id_epoch_short", "event_id", "S07-T1-0123456789abcde-5", false, id_rule},
      {"event_id_upper_epoch", "event_id", "S07-T1-0123456789ABCDEF-5", false, id_rule},
      {"event_id_short", "event_id", "S07-T1-5", false, id_rule},
      {"event_id_seq", "event_id", "S07-T1-0123456789abcdef-6", false, id_rule},
      {"seq_changed", "seq", 6, false, id_rule},
      {"seq_missing", "seq", nullptr, true, "seq: is required"},
      {"seq_zero", "seq", 0, false, "seq: must be an integer >= 1"},
      {"seq_string", "seq", "5", false, "seq: must be an integer >= 1"},
      {"store_changed", "store_id", "S08", false, id_rule},
      {"store_missing", "store_id", nullptr, true, "store_id: is required"},
      {"store_invalid", "store_id", "S 7", false, "store_id: must match [A-Za-z0-9_-]{1,32}"},
      {"till_invalid", "till_id", "T/1", false, "till_id: must match [A-Za-z0-9_-]{1,32}"},
      {"received_missing", "received_at", nullptr, true, "received_at: is required"},
      {"received_bad", "received_at", "yesterday", false,
       "received_at: must be an RFC 3339 date-time with offset"},
      {"event_invalid", "currency", "idr", false,
       "currency: must be 3 uppercase letters (ISO 4217)"},
      {"event_type_missing", "type", nullptr, true, "type: is required"},
  };
  for (const Tamper& t : cases) {
    SCOPED_TRACE(t.name);
    json::object obj = json::parse(line).as_object();
    if (t.erase) {
      obj.erase(t.key);
    } else {
      obj[t.key] = t.value;
    }
    const auto parsed = parse_payload_line(json::serialize(obj), k_owner);
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().message, t.expected);
  }
}

TEST(PayloadLine, EpochIsTakenFromEventId) {
  // The line alone cannot prove its epoch: the collector compares it with the batch header.
  const std::string line = make_payload_line(must_parse(k_stock), stamp_of("S07", "T1", 5));
  json::object obj = json::parse(line).as_object();
  obj["event_id"] = "S07-T1-00000000000000ff-5";
  const auto parsed = parse_payload_line(json::serialize(obj), k_owner);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(parsed->stamp.epoch, 0xffu);
}

TEST(PayloadLine, OwnerFromTopicMustMatch) {
  const std::string line = make_payload_line(must_parse(k_stock), stamp_of("S08", "T1", 5));
  auto parsed = parse_payload_line(line, k_owner);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().message, "store_id: does not match the topic (S07)");
  parsed = parse_payload_line(line, {"S08", "T2"});
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().message, "till_id: does not match the topic (T2)");
  EXPECT_TRUE(parse_payload_line(line, {"S08", "T1"}).has_value());
}

TEST(PayloadLine, RawTextErrors) {
  auto parsed = parse_payload_line("[1]", k_owner);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().message, "line: must be a JSON object");
  parsed = parse_payload_line("{\"a\":", k_owner);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().message, "line: invalid JSON (incomplete JSON) at offset 5");
}

}  // namespace
}  // namespace pos::protocol
