#include "pos/simulator/event_mix.hpp"

#include <array>
#include <string_view>

#include "pos/simulator/traffic_model.hpp"

namespace pos::simulator {
namespace {

constexpr std::array<std::string_view, 4> k_customer_types = {"new", "returning", "returning",
                                                              "guest"};
constexpr std::array<std::string_view, 3> k_locations = {"floor", "backroom", "warehouse"};
constexpr std::array<std::string_view, 6> k_reasons = {"receipt",    "transfer_in", "transfer_out",
                                                       "adjustment", "damage",      "count"};

std::string two_digits(std::uint64_t v) {
  return (v < 10 ? "0" : "") + std::to_string(v);
}

}  // namespace

EventMix::EventMix(std::uint64_t seed, std::uint64_t catalogue_seed)
    : m_catalogue(catalogue_seed), m_rng(derive_seed(seed, "event-mix")) {}

std::string EventMix::next_event() {
  ++m_receipt;
  const std::string at = "2026-11-" + two_digits(1 + m_rng.below(28)) + "T" +
                         two_digits(10 + m_rng.below(12)) + ":" + two_digits(m_rng.below(60)) +
                         ":" + two_digits(m_rng.below(60)) + "." +
                         std::to_string(100 + m_rng.below(900)) + "+07:00";
  const std::uint64_t kind = m_rng.below(100);
  if (kind >= 88) {
    const Sku& sku = m_catalogue.skus()[m_catalogue.pick(m_rng)];
    auto delta = static_cast<std::int64_t>(1 + m_rng.below(24));
    const std::string_view reason = k_reasons[m_rng.below(k_reasons.size())];
    if (reason == "transfer_out" || reason == "damage") {
      delta = -delta;
    }
    return R"({"type":"stock_change","pos_event_id":"MV-)" + std::to_string(m_receipt) +
           R"(","occurred_at":")" + at + R"(","sku":")" + sku.id + R"(","location":")" +
           std::string(k_locations[m_rng.below(k_locations.size())]) + R"(","delta":)" +
           std::to_string(delta) + R"(,"reason":")" + std::string(reason) +
           R"(","on_hand_after":)" + std::to_string(m_rng.below(200)) + "}";
  }
  const bool is_return = kind >= 80;
  const std::string_view customer = k_customer_types[m_rng.below(k_customer_types.size())];
  std::string e =
      R"({"type":")" + std::string(is_return ? "return" : "sale") + R"(","pos_event_id":"RC-)" +
      std::to_string(m_receipt) + R"(","occurred_at":")" + at +
      R"(","currency":"IDR","customer":{"id":)" +
      (customer == "guest" ? std::string("null")
                           : "\"CU-" + std::to_string(100000 + m_rng.below(900000)) + "\"") +
      R"(,"type":")" + std::string(customer) + R"("},"lines":[)";
  const std::size_t lines =
      is_return ? 1 + m_rng.below(2) : 1 + pick_weighted(m_rng, MixConstants::line_count_weights);
  for (std::size_t i = 0; i < lines; ++i) {
    const Sku& sku = m_catalogue.skus()[m_catalogue.pick(m_rng)];
    const std::uint64_t qty = 1 + (m_rng.below(10) == 0 ? m_rng.below(3) : 0);
    const auto price = static_cast<std::uint64_t>(sku.price);
    const std::uint64_t discount = m_rng.below(4) == 0 ? qty * price / 10 : 0;
    if (i != 0) {
      e += ',';
    }
    e += R"({"sku":")" + sku.id + R"(","category":")" +
         std::string(m_catalogue.categories()[sku.category].name) + R"(","qty":)" +
         std::to_string(qty) + R"(,"unit_price_minor":)" + std::to_string(price) +
         R"(,"unit_cost_minor":)" + std::to_string(sku.cost) + R"(,"discount_minor":)" +
         std::to_string(discount) + "}";
  }
  e += R"(],"payment":{"method":")" +
       std::string(
           MixConstants::payment_methods[pick_weighted(m_rng, MixConstants::payment_weights)]) +
       "\"}";
  if (is_return) {
    e += R"(,"original_pos_event_id":"RC-)" + std::to_string(1 + m_rng.below(m_receipt)) + "\"";
  }
  return e + "}";
}

}  // namespace pos::simulator
