#pragma once
// Published-event JSON for the live-view tests (SPEC "Pub/Sub output": the payload line plus
// collected_at and schema_version), built field by field so that each test states its numbers.

#include <cstdint>
#include <string>
#include <vector>

#include "pos/protocol/event.hpp"

namespace pos::collector::test {

struct Line {
  std::string category = "tops";
  std::int64_t qty = 1;
  std::int64_t unit_price_minor = 100'000;
  std::int64_t unit_cost_minor = 40'000;
  std::int64_t discount_minor = 0;
};

struct Published {
  std::string type = "sale";
  std::string pos_event_id = "r-1";
  std::string occurred_at = "2026-11-22T10:15:03.120+07:00";
  std::string received_at = "2026-11-22T03:15:03.500Z";
  std::string store_id = "S01";
  std::string till_id = "T1";
  std::string currency = "IDR";
  std::string customer_type = "guest";
  std::vector<Line> lines = {Line{}};
  std::uint64_t seq = 1;
};

inline std::string published_json(const Published& e) {
  std::string out = R"({"type":")" + e.type + R"(","pos_event_id":")" + e.pos_event_id +
                    R"(","occurred_at":")" + e.occurred_at + '"';
  if (e.type == "stock_change") {
    out += R"(,"sku":"TOP-1","location":"floor","delta":-1,"reason":"sale")";
  } else {
    out += R"(,"currency":")" + e.currency + R"(","customer":{"id":null,"type":")" +
           e.customer_type + R"("},"lines":[)";
    for (std::size_t i = 0; i < e.lines.size(); ++i) {
      const auto& l = e.lines[i];
      out += (i > 0 ? "," : "") + std::string(R"({"sku":"SKU-)") + std::to_string(i) +
             R"(","category":")" + l.category + R"(","qty":)" + std::to_string(l.qty) +
             R"(,"unit_price_minor":)" + std::to_string(l.unit_price_minor) +
             R"(,"unit_cost_minor":)" + std::to_string(l.unit_cost_minor) +
             R"(,"discount_minor":)" + std::to_string(l.discount_minor) + "}";
    }
    out += R"(],"payment":{"method":"cash"})";
  }
  out += R"(,"event_id":")" + e.store_id + "-" + e.till_id + "-00000000000000aa-" +
         std::to_string(e.seq) + R"(","seq":)" + std::to_string(e.seq) + R"(,"store_id":")" +
         e.store_id + R"(","till_id":")" + e.till_id + R"(","received_at":")" + e.received_at +
         R"(","collected_at":"2026-11-22T03:15:04.000Z","schema_version":1})";
  return out;
}

/// UNIX ms of an RFC 3339 text known to be valid.
inline std::int64_t ms(const std::string& rfc3339) {
  return protocol::parse_rfc3339_ms(rfc3339).value();
}

}  // namespace pos::collector::test
