// Invalid POS events: one mutation of a valid base event each, with the exact error expected.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pos/protocol/event.hpp"

namespace pos::protocol {
namespace {

namespace json = boost::json;

constexpr const char* k_valid_sale = R"({"type":"sale","pos_event_id":"R-0001",
  "occurred_at":"2026-11-22T10:15:03.120+07:00","currency":"IDR",
  "customer":{"id":"C42","type":"returning"},
  "lines":[{"sku":"SKU-1","category":"tops","qty":2,"unit_price_minor":150000,
            "unit_cost_minor":60000,"discount_minor":10000},
           {"sku":"SKU-2","category":"shoes","qty":1,"unit_price_minor":500000,
            "unit_cost_minor":200000,"discount_minor":0}],
  "payment":{"method":"qris"}})";
constexpr const char* k_return = R"({"type":"return","pos_event_id":"RT-7",
  "occurred_at":"2026-11-23T09:00:00Z","currency":"IDR","original_pos_event_id":"R-0001",
  "customer":{"id":null,"type":"guest"},
  "lines":[{"sku":"SKU-1","category":"tops","qty":1,"unit_price_minor":150000,
            "unit_cost_minor":60000,"discount_minor":5000}],
  "payment":{"method":"cash"}})";
constexpr const char* k_valid_stock = R"({"type":"stock_change","pos_event_id":"M-9",
  "occurred_at":"2026-11-22T03:15:03Z","sku":"SKU-1","location":"floor","delta":-2,
  "reason":"sale","on_hand_after":5})";

const EventOwner k_input_owner{"S07", "T1"};

struct Mutation {
  std::string name;
  const char* base;
  std::string parent;  // JSON pointer of the object to change ("" = root)
  std::string key;
  std::optional<std::string> value;  // JSON text; nullopt erases the key
  std::string expected;
};

std::string apply(const Mutation& m) {
  json::value doc = json::parse(m.base);
  json::value& parent = m.parent.empty() ? doc : doc.at_pointer(m.parent);
  if (m.value) {
    parent.as_object()[m.key] = json::parse(*m.value);
  } else {
    parent.as_object().erase(m.key);
  }
  return json::serialize(doc);
}

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

std::string many_lines(std::size_t n) {
  std::string out = "[";
  for (std::size_t i = 0; i < n; ++i) {
    if (i != 0) {
      out += ',';
    }
    out += R"({"sku":"A","category":"B","qty":1,"unit_price_minor":1,"unit_cost_minor":1,)"
           R"("discount_minor":0})";
  }
  return out + "]";
}

std::vector<Mutation> mutations() {
  const std::string k_id_rule = "must be 1-128 characters of [A-Za-z0-9._:/-]";
  const std::string k_time_rule = "must be an RFC 3339 date-time with offset";
  const std::string k_string_rule = "must be a non-empty string of at most 1024 bytes";
  const std::string k_lines_rule = "lines: must be an array of 1 to 500 lines";
  const char* s = k_valid_sale;
  const char* r = k_return;
  const char* m = k_valid_stock;
  const std::nullopt_t erase = std::nullopt;
  return {
      {"type_missing", s, "", "type", erase, "type: is required"},
      {"type_unknown", s, "", "type", R"("refund")",
       "type: must be one of sale, return, stock_change"},
      {"type_number", s, "", "type", "1", "type: must be one of sale, return, stock_change"},
      {"type_case", s, "", "type", R"("Sale")", "type: must be one of sale, return, stock_change"},
      {"id_missing", s, "", "pos_event_id", erase, "pos_event_id: is required"},
      {"id_empty", s, "", "pos_event_id", R"("")", "pos_event_id: " + k_id_rule},
      {"id_too_long", s, "", "pos_event_id", quoted(std::string(129, 'a')),
       "pos_event_id: " + k_id_rule},
      {"id_space", s, "", "pos_event_id", R"("R 1")", "pos_event_id: " + k_id_rule},
      {"id_number", s, "", "pos_event_id", "123", "pos_event_id: " + k_id_rule},
      {"time_missing", s, "", "occurred_at", erase, "occurred_at: is required"},
      {"time_no_offset", s, "", "occurred_at", R"("2026-11-22T10:15:03")",
       "occurred_at: " + k_time_rule},
      {"time_feb29", s, "", "occurred_at", R"("2026-02-29T10:00:00Z")",
       "occurred_at: " + k_time_rule},
      {"time_number", s, "", "occurred_at", "1700000000", "occurred_at: " + k_time_rule},
      {"store_other", s, "", "store_id", R"("S08")", "store_id: does not match this agent (S07)"},
      {"till_other", s, "", "till_id", R"("T2")", "till_id: does not match this agent (T1)"},
      {"store_number", s, "", "store_id", "7", "store_id: must be a string"},
      {"event_id_set", s, "", "event_id", R"("x")", "event_id: is set by the agent"},
      {"seq_set", s, "", "seq", "1", "seq: is set by the agent"},
      {"received_at_set", m, "", "received_at", R"("2026-11-22T03:15:03Z")",
       "received_at: is set by the agent"},
      {"currency_missing", s, "", "currency", erase, "currency: is required"},
      {"currency_lower", s, "", "currency", R"("idr")",
       "currency: must be 3 uppercase letters (ISO 4217)"},
      {"currency_long", s, "", "currency", R"("IDRR")",
       "currency: must be 3 uppercase letters (ISO 4217)"},
      {"customer_missing", s, "", "customer", erase, "customer: is required"},
      {"customer_string", s, "", "customer", R"("C42")", "customer: must be an object"},
      {"customer_id_missing", s, "/customer", "id", erase, "customer.id: is required"},
      {"customer_id_empty", s, "/customer", "id", R"("")",
       "customer.id: must be null or a non-empty string of at most 1024 bytes"},
      {"customer_id_number", s, "/customer", "id", "42",
       "customer.id: must be null or a non-empty string of at most 1024 bytes"},
      {"customer_type_unknown", s, "/customer", "type", R"("vip")",
       "customer.type: must be one of new, returning, guest"},
      {"customer_type_missing", s, "/customer", "type", erase, "customer.type: is required"},
      {"lines_missing", s, "", "lines", erase, "lines: is required"},
      {"lines_empty", s, "", "lines", "[]", k_lines_rule},
      {"lines_too_many", s, "", "lines", many_lines(501), k_lines_rule},
      {"lines_object", s, "", "lines", "{}", k_lines_rule},
      {"line_not_object", s, "", "lines",
       R"([{"sku":"A","category":"B","qty":1,"unit_price_minor":1,"unit_cost_minor":1,"discount_minor":0},"x"])",
       "lines[1]: must be an object"},
      {"sku_missing", s, "/lines/0", "sku", erase, "lines[0].sku: is required"},
      {"sku_empty", s, "/lines/0", "sku", R"("")", "lines[0].sku: " + k_string_rule},
      {"category_too_long", s, "/lines/0", "category", quoted(std::string(1025, 'c')),
       "lines[0].category: " + k_string_rule},
      {"qty_zero", s, "/lines/0", "qty", "0", "lines[0].qty: must be an integer >= 1"},
      {"qty_double", s, "/lines/0", "qty", "1.0", "lines[0].qty: must be an integer >= 1"},
      {"qty_string", s, "/lines/0", "qty", R"("2")", "lines[0].qty: must be an integer >= 1"},
      {"qty_huge", s, "/lines/0", "qty", "1000001", "lines[0].qty: must be at most 1000000"},
      {"price_negative", s, "/lines/1", "unit_price_minor", "-1",
       "lines[1].unit_price_minor: must be an integer >= 0"},
      {"price_exponent", s, "/lines/0", "unit_price_minor", "1e3",
       "lines[0].unit_price_minor: must be an integer >= 0"},
      {"price_huge", s, "/lines/0", "unit_price_minor", "1000000000000001",
       "lines[0].unit_price_minor: must be at most 1000000000000000"},
      {"price_uint64", s, "/lines/0", "unit_price_minor", "18446744073709551615",
       "lines[0].unit_price_minor: must be at most 1000000000000000"},
      {"cost_missing", s, "/lines/0", "unit_cost_minor", erase,
       "lines[0].unit_cost_minor: is required"},
      {"cost_null", s, "/lines/0", "unit_cost_minor", "null",
       "lines[0].unit_cost_minor: must be an integer >= 0"},
      {"discount_negative", s, "/lines/0", "discount_minor", "-5",
       "lines[0].discount_minor: must be an integer >= 0"},
      {"discount_over_total", s, "/lines/0", "discount_minor", "300001",
       "lines[0].discount_minor: must be at most qty * unit_price_minor"},
      {"payment_missing", s, "", "payment", erase, "payment: is required"},
      {"payment_string", s, "", "payment", R"("cash")", "payment: must be an object"},
      {"payment_method", s, "/payment", "method", R"("bitcoin")",
       "payment.method: must be one of cash, card, qris, ewallet, voucher, other"},
      {"payment_method_missing", s, "/payment", "method", erase, "payment.method: is required"},
      {"return_original_empty", r, "", "original_pos_event_id", R"("")",
       "original_pos_event_id: " + k_id_rule},
      {"return_original_bad", r, "", "original_pos_event_id", R"("R#1")",
       "original_pos_event_id: " + k_id_rule},
      {"return_qty_negative", r, "/lines/0", "qty", "-1", "lines[0].qty: must be an integer >= 1"},
      {"return_discount", r, "/lines/0", "discount_minor", "150001",
       "lines[0].discount_minor: must be at most qty * unit_price_minor"},
      {"stock_sku_missing", m, "", "sku", erase, "sku: is required"},
      {"stock_sku_number", m, "", "sku", "5", "sku: " + k_string_rule},
      {"stock_location", m, "", "location", R"("shelf")",
       "location: must be one of floor, backroom, warehouse"},
      {"stock_delta_zero", m, "", "delta", "0", "delta: must be a non-zero integer"},
      {"stock_delta_double", m, "", "delta", "1.5", "delta: must be a non-zero integer"},
      {"stock_delta_missing", m, "", "delta", erase, "delta: is required"},
      {"stock_delta_huge", m, "", "delta", "1000000001",
       "delta: must be between -1000000000 and 1000000000"},
      {"stock_delta_huge_negative", m, "", "delta", "-1000000001",
       "delta: must be between -1000000000 and 1000000000"},
      {"stock_reason", m, "", "reason", R"("theft")",
       "reason: must be one of sale, return, receipt, transfer_in, transfer_out, adjustment, "
       "damage, count"},
      {"stock_on_hand_negative", m, "", "on_hand_after", "-1",
       "on_hand_after: must be an integer >= 0"},
      {"stock_on_hand_null", m, "", "on_hand_after", "null",
       "on_hand_after: must be an integer >= 0"},
      {"stock_time_bad", m, "", "occurred_at", R"("2026-11-22T03:15:03+7:00")",
       "occurred_at: " + k_time_rule},
  };
}

TEST(EventBadInput, BaseEventsAreValid) {
  for (const char* base : {k_valid_sale, k_return, k_valid_stock}) {
    const auto event = parse_pos_event(base, k_input_owner);
    EXPECT_TRUE(event.has_value()) << (event ? "" : event.error().message);
  }
}

TEST(EventBadInput, EachMutationIsRejectedWithItsError) {
  const auto cases = mutations();
  ASSERT_GE(cases.size(), 45u);
  for (const Mutation& m : cases) {
    SCOPED_TRACE(m.name);
    const std::string text = apply(m);
    const auto parsed = parse_pos_event(text, k_input_owner);
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().message, m.expected);
    const auto validated = validate_pos_event(json::parse(text).as_object(), k_input_owner);
    ASSERT_FALSE(validated.has_value());
    EXPECT_EQ(validated.error().message, m.expected);
  }
}

TEST(EventBadInput, FirstViolationIsReported) {
  json::value doc = json::parse(k_valid_sale);
  doc.at_pointer("/lines/1").as_object()["qty"] = 0;
  doc.as_object()["currency"] = "rp";
  const auto parsed = parse_pos_event(json::serialize(doc), k_input_owner);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().message, "currency: must be 3 uppercase letters (ISO 4217)");
}

TEST(EventBadInput, CustomLimits) {
  EventLimits limits;
  limits.max_lines = 1;
  auto parsed = parse_pos_event(k_valid_sale, k_input_owner, limits);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().message, "lines: must be an array of 1 to 1 lines");
  limits.max_lines = 2;
  limits.max_string_bytes = 2;
  parsed = parse_pos_event(k_valid_sale, k_input_owner, limits);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().message,
            "customer.id: must be null or a non-empty string of at most 2 bytes");
  parsed = parse_pos_event(k_return, k_input_owner, limits);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().message, "lines[0].sku: must be a non-empty string of at most 2 bytes");
}

struct RawCase {
  std::string name;
  std::string text;
  std::string expected;
};

TEST(EventBadInput, RawTextIsRejected) {
  std::string deep = R"({"type":"sale","x":)";
  for (int i = 0; i < 16; ++i) {
    deep += "[";
  }
  for (int i = 0; i < 16; ++i) {
    deep += "]";
  }
  deep += "}";
  const std::string sale = k_valid_sale;
  const std::vector<RawCase> cases = {
      {"empty", "", "event: invalid JSON (incomplete JSON) at offset 0"},
      {"whitespace", "  \n", "event: invalid JSON (incomplete JSON) at offset 3"},
      {"truncated", sale.substr(0, 40), "event: invalid JSON (incomplete JSON) at offset 40"},
      {"array", "[" + sale + "]", "event: must be a JSON object"},
      {"string", R"("sale")", "event: must be a JSON object"},
      {"null", "null", "event: must be a JSON object"},
      {"syntax", R"({"type":"sale",})", "event: invalid JSON (syntax error) at offset 15"},
      {"single_quotes", "{'type':'sale'}", "event: invalid JSON (syntax error) at offset 1"},
      {"trailing_data", sale + " {}",
       "event: invalid JSON (extra data) at offset " + std::to_string(sale.size() + 1)},
      {"too_deep", deep, "event: nested deeper than 16 levels"},
      {"nan", R"({"x":NaN})", "event: invalid JSON (syntax error) at offset 5"},
      {"overflow", R"({"x":1e400})", "event: invalid JSON (exponent overflow) at offset 10"},
      {"bad_utf8", "{\"x\":\"\xff\"}", "event: invalid JSON (syntax error) at offset 6"},
      {"comment", "{} // c", "event: invalid JSON (extra data) at offset 3"},
  };
  for (const RawCase& c : cases) {
    SCOPED_TRACE(c.name);
    const auto parsed = parse_pos_event(c.text, k_input_owner);
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().message, c.expected);
  }
}

TEST(EventBadInput, OversizeIsRejectedBeforeParsing) {
  EventLimits limits;
  limits.max_bytes = 100;
  const auto parsed = parse_pos_event(std::string(101, '{'), k_input_owner, limits);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().message, "event: larger than the limit of 100 bytes");
}

TEST(EventBadInput, DepthLimitIsExact) {
  EventLimits limits;
  limits.max_depth = 3;
  const std::string base =
      R"("type":"stock_change","pos_event_id":"M","occurred_at":"2026-11-22T03:15:03Z","sku":"A","location":"floor","delta":1,"reason":"count")";
  EXPECT_TRUE(parse_pos_event("{" + base + R"(,"x":[[1]]})", {}, limits).has_value());
  const auto parsed = parse_pos_event("{" + base + R"(,"x":[[[1]]]})", {}, limits);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().message, "event: nested deeper than 3 levels");
}

}  // namespace
}  // namespace pos::protocol
