#pragma once
// Event texts shared by the agent's unit tests.

#include <string>

namespace pos::agent::test {

/// A valid one-line `sale` with this pos_event_id; qty 0 makes it invalid
/// (`lines[0].qty: must be an integer >= 1`).
inline std::string sale(const std::string& id, int qty = 1) {
  return R"({"type":"sale","pos_event_id":")" + id +
         R"(","occurred_at":"2026-11-22T10:15:03.120+07:00","currency":"IDR",)"
         R"("customer":{"id":"C42","type":"returning"},)"
         R"("lines":[{"sku":"SKU-1","category":"tops","qty":)" +
         std::to_string(qty) +
         R"(,"unit_price_minor":150000,"unit_cost_minor":60000,"discount_minor":0}],)"
         R"("payment":{"method":"qris"}})";
}

}  // namespace pos::agent::test
