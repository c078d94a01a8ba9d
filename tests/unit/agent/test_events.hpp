#pragma once
// Event texts shared by the agent's unit tests.

#include <cstddef>
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

/// A valid `sale` whose canonical JSON (as the agent stores it, before its stamp) is exactly
/// `canonical_bytes` long, padded with an unknown field `note`. `canonical_bytes` must be at least
/// the size of sale(id) plus 10.
inline std::string sized_sale(const std::string& id, std::size_t canonical_bytes) {
  const std::string base = sale(id);
  // Keys and values of sale() need no escaping and it has no whitespace, so its canonical form
  // has its size; `,"note":""` adds 10 bytes plus the padding.
  const std::size_t padding = canonical_bytes - base.size() - 10;
  return base.substr(0, base.size() - 1) + R"(,"note":")" + std::string(padding, 'x') + "\"}";
}

}  // namespace pos::agent::test
