#include "pos/fleetemu/batch_source.hpp"

#include <utility>

#include "pos/protocol/ids.hpp"

namespace pos::fleetemu {
namespace {

constexpr const char* categories[] = {"tops",      "bottoms",     "dresses",
                                      "outerwear", "accessories", "shoes"};
constexpr const char* sku_prefix[] = {"TOP", "BTM", "DRS", "OUT", "ACC", "SHO"};
// Typical IDR price points per category (the POS sends whole rupiah as minor units).
constexpr std::uint64_t base_price[] = {149'000, 249'000, 399'000, 599'000, 99'000, 449'000};
constexpr const char* customer_types[] = {"new", "returning", "returning", "guest"};
constexpr const char* payments[] = {"cash", "card", "qris", "qris", "ewallet", "voucher"};
constexpr const char* locations[] = {"floor", "backroom", "warehouse"};
constexpr const char* reasons[] = {"receipt",    "transfer_in", "transfer_out",
                                   "adjustment", "damage",      "count"};

std::string two_digits(std::uint64_t v) {
  return (v < 10 ? "0" : "") + std::to_string(v);
}

}  // namespace

// splitmix64: small, fast and good enough for an event mix.
std::uint64_t EventMix::pick(std::uint64_t n) noexcept {
  m_state += 0x9E3779B97F4A7C15ULL;
  std::uint64_t z = m_state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return (z ^ (z >> 31)) % n;
}

std::string EventMix::next_event() {
  ++m_receipt;
  const std::string at = "2026-11-" + two_digits(1 + pick(28)) + "T" + two_digits(10 + pick(12)) +
                         ":" + two_digits(pick(60)) + ":" + two_digits(pick(60)) + "." +
                         std::to_string(100 + pick(900)) + "+07:00";
  const std::uint64_t kind = pick(100);
  if (kind >= 88) {
    const std::uint64_t c = pick(6);
    auto delta = static_cast<std::int64_t>(1 + pick(24));
    const std::string reason = reasons[pick(6)];
    if (reason == "transfer_out" || reason == "damage") {
      delta = -delta;
    }
    return R"({"type":"stock_change","pos_event_id":"MV-)" + std::to_string(m_receipt) +
           R"(","occurred_at":")" + at + R"(","sku":")" + sku_prefix[c] + "-" +
           std::to_string(1000 + pick(400)) + R"(","location":")" + locations[pick(3)] +
           R"(","delta":)" + std::to_string(delta) + R"(,"reason":")" + reason +
           R"(","on_hand_after":)" + std::to_string(pick(200)) + "}";
  }
  const bool is_return = kind >= 80;
  const std::string customer = customer_types[pick(4)];
  std::string e = R"({"type":")" + std::string(is_return ? "return" : "sale") +
                  R"(","pos_event_id":"RC-)" + std::to_string(m_receipt) + R"(","occurred_at":")" +
                  at + R"(","currency":"IDR","customer":{"id":)" +
                  (customer == "guest" ? std::string("null")
                                       : "\"CU-" + std::to_string(100000 + pick(900000)) + "\"") +
                  R"(,"type":")" + customer + R"("},"lines":[)";
  const std::uint64_t lines = is_return ? 1 + pick(2) : 1 + pick(5);
  for (std::uint64_t i = 0; i < lines; ++i) {
    const std::uint64_t c = pick(6);
    const std::uint64_t qty = 1 + (pick(10) == 0 ? pick(3) : 0);
    const std::uint64_t price = base_price[c] + pick(10) * 10'000;
    const std::uint64_t discount = pick(4) == 0 ? qty * price / 10 : 0;
    if (i != 0) {
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
    e += R"(,"original_pos_event_id":"RC-)" + std::to_string(1 + pick(m_receipt)) + "\"";
  }
  return e + "}";
}

BatchSource::BatchSource(std::vector<protocol::PosEvent> pool, protocol::BatchEncoder encoder,
                         std::shared_ptr<const protocol::Dictionary> dictionary)
    : m_pool(std::move(pool)), m_encoder(std::move(encoder)), m_dictionary(std::move(dictionary)) {}

Result<BatchSource> BatchSource::create(std::uint64_t seed, std::size_t pool_size,
                                        const std::string& dictionary_file) {
  std::shared_ptr<const protocol::Dictionary> dictionary;
  if (!dictionary_file.empty()) {
    auto loaded = protocol::Dictionary::load_file(dictionary_file);
    if (!loaded) {
      return fail("--dictionary: " + loaded.error().message);
    }
    dictionary = std::move(*loaded);
  }
  EventMix mix(seed);
  std::vector<protocol::PosEvent> pool;
  pool.reserve(pool_size == 0 ? 1 : pool_size);
  for (std::size_t i = 0; i < std::max<std::size_t>(pool_size, 1); ++i) {
    const auto text = mix.next_event();
    auto event = protocol::parse_pos_event(text);
    if (!event) {
      return fail("event mix: " + event.error().message + ": " + text);
    }
    pool.push_back(std::move(*event));
  }
  return BatchSource(std::move(pool), protocol::BatchEncoder(3, dictionary), dictionary);
}

std::vector<std::string> BatchSource::lines(std::string_view store_id, std::string_view till_id,
                                            std::uint64_t epoch, std::uint64_t first_seq,
                                            std::uint32_t count, std::uint64_t offset,
                                            const std::string& received_at) const {
  std::vector<std::string> out;
  out.reserve(count);
  protocol::AgentStamp stamp{std::string(store_id), std::string(till_id), epoch, 0, received_at};
  for (std::uint32_t i = 0; i < count; ++i) {
    stamp.seq = first_seq + i;
    const auto& event = m_pool[(offset + stamp.seq) % m_pool.size()];
    out.push_back(protocol::make_payload_line(event, stamp));
  }
  return out;
}

Result<std::string> BatchSource::batch(std::string_view store_id, std::string_view till_id,
                                       std::uint64_t epoch, std::uint64_t first_seq,
                                       std::uint32_t count, std::uint64_t offset,
                                       const std::string& received_at) {
  const auto payload = lines(store_id, till_id, epoch, first_seq, count, offset, received_at);
  return m_encoder.encode(epoch, first_seq, payload);
}

std::uint32_t BatchSource::dictionary_id() const noexcept {
  return m_dictionary ? m_dictionary->id() : 0;
}

}  // namespace pos::fleetemu
