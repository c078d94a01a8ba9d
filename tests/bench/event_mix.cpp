#include "event_mix.hpp"

#include <stdexcept>

#include "pos/protocol/event.hpp"

namespace pos::bench {

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
