// libFuzzer target: the event parser and the payload-line parser on untrusted text. An accepted
// event within the per-event limits (check_event_size), stamped with make_payload_line, must parse
// back as a payload line with the same type; measure_event must agree with the canonical text; an
// accepted payload line's published form (make_collected_line) is canonical JSON that parses back.
// Any text parse_event_id accepts must be exactly the id make_event_id makes of its parts.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pos/protocol/event.hpp"
#include "pos/protocol/ids.hpp"

namespace {

using namespace pos::protocol;

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

const EventLimits limits{64 * 1024, 16, 500, 1024};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const EventOwner owner{"S07", "T1"};

  if (auto id = parse_event_id(text)) {
    check(make_event_id(id->store_id, id->till_id, id->epoch, id->seq) == text);
  }

  auto line = parse_payload_line(text, owner, limits);
  if (line) {
    check(line->stamp.store_id == "S07" && line->stamp.till_id == "T1");
    const std::string data = make_collected_line(*line, "2026-11-22T03:15:04.000Z");
    auto published = parse_json_bounded(data, EventLimits{});
    check(published.has_value() && to_canonical_json(*published) == data);
  }

  auto event = parse_pos_event(text, {}, limits);
  if (!event) {
    return 0;
  }
  const std::string canonical = to_canonical_json(boost::json::value(event->fields()));
  auto value = parse_json_bounded(canonical, EventLimits{});
  check(value.has_value() && to_canonical_json(*value) == canonical);
  check(measure_event(*event).canonical_bytes == canonical.size());

  auto owned = parse_pos_event(text, owner, limits);
  if (!owned) {
    return 0;
  }
  const AgentStamp stamp{"S07", "T1", 0x0123456789abcdefULL, 42, "2026-11-22T03:15:03.120Z"};
  const std::string stamped = make_payload_line(*owned, stamp);
  auto back = parse_payload_line(stamped, owner, limits);
  // What the agent accepts, the collector parses; beyond the limits the agent rejects it.
  if (!check_event_size(*owned, limits)) {
    return 0;
  }
  check(back.has_value());
  check(back->event.type() == owned->type());
  check(back->stamp.seq == 42);
  return 0;
}
