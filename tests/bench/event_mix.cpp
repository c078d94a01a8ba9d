#include "event_mix.hpp"

#include <stdexcept>

#include "pos/protocol/event.hpp"

namespace pos::bench {

namespace {

constexpr const char* categories[] = {"tops",      "bottoms",     "dresses",
                                      "outerwear", "accessories", "shoes"};
constexpr const char* sku_prefix[] = {"TOP", "BTM", "DRS", "OUT", "ACC", "SHO"};
// Typical IDR price points per category, in minor units (IDR has no minor unit in practice, the
// POS sends whole rupiah).
constexpr std::uint64_t base_price[] = {149'000, 249'000, 399'000, 599'000, 99'000, 449'000};
constexpr const char* customer_types[] = {"new", "returning", "returning", "guest"};
constexpr const char* payments[] = {"cash", "card", "qris", "qris", "ewallet", "voucher"};
constexpr const char* locations[] = {"floor", "backroom", "warehouse"};
constexpr const char* reasons[] = {"receipt",    "transfer_in", "transfer_out",
                                   "adjustment", "damage",      "count"};

std::string two(std::uint64_t v) {
  return (v < 10 ? "0" : "") + std::to_string(v);
}

}  // namespace

std::string EventMix::next_event() {
  ++m_receipt;
  const std::string at = "2026-11-" + two(1 + pick(28)) + "T" + two(10 + pick(12)) + ":" +
                         two(pick(60)) + ":" + two(pick(60)) + "." +
                         std::to_string(100 + pick(900)) + "+07:00";
  const std::uint64_t kind = pick(100);
  if (kind >= 88) {
    const std::uint64_t c = pick(6);
    std::int64_t delta = static_cast<std::int64_t>(1 + pick(24));
    const char* reason = reasons[pick(6)];
    if (std::string_view(reason) == "transfer_out" || std::string_view(reason) == "damage") {
      delta = -delta;
    }
    return R"({"type":"stock_change","pos_event_id":"MV-)" + std::to_string(m_receipt) +
           R"(","occurred_at":")" + at + R"(","sku":")" + sku_prefix[c] + "-" +
           std::to_string(1000 + pick(400)) + R"(","location":")" + locations[pick(3)] +
           R"(","delta":)" + std::to_string(delta) + R"(,"reason":")" + reason +
           R"(","on_hand_after":)" + std::to_string(pick(200)) + "}";
  }
  const bool is_return = kind >= 80;
  const char* customer = customer_types[pick(4)];
  std::string e = R"({"type":")" + std::string(is_return ? "return" : "sale") +
                  R"(","pos_event_id":"RC-)" + std::to_string(m_receipt) + R"(","occurred_at":")" +
                  at + R"(","currency":"IDR","customer":{"id":)" +
                  (std::string_view(customer) == "guest"
                       ? std::string("null")
                       : "\"CU-" + std::to_string(100000 + pick(900000)) + "\"") +
                  R"(,"type":")" + customer + R"("},"lines":[)";
  const std::uint64_t lines = is_return ? 1 + pick(2) : 1 + pick(5);
  for (std::uint64_t i = 0; i < lines; ++i) {
    const std::uint64_t c = pick(6);
    const std::uint64_t qty = 1 + (pick(10) == 0 ? pick(3) : 0);
    const std::uint64_t price = base_price[c] + pick(10) * 10'000;
    const std::uint64_t discount = pick(4) == 0 ? qty * price / 10 : 0;
    if (i) {
      e += ',';
    }
    e += R"({"sku":")" + std::string(sku_prefix[c]) + "-" + std::to_string(1000 + pick(400)) +
         R"(","category":")" + categories[c] + R"(","qty":)" + std::to_string(qty) +
         R"(,"unit_price_minor":)" + std::to_string(price) + R"(,"unit_cost_minor":)" +
         std::to_string(price * 45 / 100) + R"(,"discount_minor":)" + std::to_string(discount) +
         "}";
  }
  e += R"(],"payment":{"method":")" + std::string(payments[pick(6)]) + "\"}";
  if (is_return) {
    e += R"(,"original_pos_event_id":"RC-)" + std::to_string(pick(m_receipt)) + "\"";
  }
  return e + "}";
}

std::vector<std::string> make_payload_lines(std::size_t n, std::uint64_t seed, std::uint64_t epoch,
                                            std::uint64_t first_seq) {
  EventMix mix(seed);
  std::vector<std::string> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string text = mix.next_event();
    auto event = protocol::parse_pos_event(text);
    if (!event) {
      throw std::runtime_error("event mix: " + event.error().message + ": " + text);
    }
    protocol::AgentStamp stamp{
        "S07", "T1", epoch, first_seq + i,
        protocol::format_rfc3339_utc_ms(1'795'000'000'000 + static_cast<std::int64_t>(i) * 1500)};
    out.push_back(protocol::make_payload_line(*event, stamp));
  }
  return out;
}

}  // namespace pos::bench
