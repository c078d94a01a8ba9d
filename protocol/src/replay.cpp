// Replay command and progress messages (docs/replay.md).

#include "pos/protocol/replay.hpp"

#include <boost/json/serialize.hpp>

#include "json_internal.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::protocol {

namespace json = boost::json;

namespace {

constexpr std::size_t k_max_command_bytes = 1024;
constexpr std::size_t k_max_command_depth = 4;

Status read_seq(const json::object& obj, std::string_view key, std::optional<std::uint64_t>& out) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr) {
    return {};
  }
  std::uint64_t seq = 0;
  if (!detail::read_uint(*v, seq)) {
    return fail("replay." + std::string(key) + ": must be an integer >= 1");
  }
  out = seq;
  return {};
}

Status read_time(const json::object& obj, std::string_view key, std::optional<std::int64_t>& out) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr) {
    return {};
  }
  std::optional<std::int64_t> ms;
  if (v->is_string()) {
    ms = parse_rfc3339_ms(v->get_string());
  }
  if (!ms) {
    return fail("replay." + std::string(key) + ": must be an RFC 3339 date-time");
  }
  out = ms;
  return {};
}

}  // namespace

Status check_replay_command(const ReplayCommand& c) {
  if (!is_valid_id(c.id, max_replay_id)) {
    return fail("replay.id: must match [A-Za-z0-9_-]{1,64}");
  }
  const bool by_seq = c.from_seq || c.to_seq;
  const bool by_time = c.from_ms || c.to_ms;
  if (by_seq == by_time) {
    return fail("replay: give either from_seq and to_seq, or from and to");
  }
  if (by_seq) {
    if (!c.from_seq || !c.to_seq) {
      return fail(c.from_seq ? "replay.to_seq: is required" : "replay.from_seq: is required");
    }
    if (*c.from_seq == 0) {
      return fail("replay.from_seq: must be an integer >= 1");
    }
    if (*c.to_seq < *c.from_seq) {
      return fail("replay.to_seq: must be >= from_seq");
    }
    return {};
  }
  if (!c.from_ms || !c.to_ms) {
    return fail(c.from_ms ? "replay.to: is required" : "replay.from: is required");
  }
  if (*c.to_ms < *c.from_ms) {
    return fail("replay.to: must not be before from");
  }
  return {};
}

std::string encode_replay_command(const ReplayCommand& c) {
  json::object obj;
  obj.emplace("type", "replay");
  obj.emplace("id", c.id);
  if (c.from_seq) {
    obj.emplace("from_seq", *c.from_seq);
  }
  if (c.to_seq) {
    obj.emplace("to_seq", *c.to_seq);
  }
  if (c.from_ms) {
    obj.emplace("from", format_rfc3339_utc_ms(*c.from_ms));
  }
  if (c.to_ms) {
    obj.emplace("to", format_rfc3339_utc_ms(*c.to_ms));
  }
  if (c.epoch) {
    obj.emplace("epoch", format_epoch(*c.epoch));
  }
  return json::serialize(obj);
}

Result<ReplayCommand> parse_replay_command(std::string_view text) {
  auto parsed = detail::parse_json(text, k_max_command_bytes, k_max_command_depth, "replay");
  if (!parsed) {
    return fail(std::move(parsed).error());
  }
  if (!parsed->is_object()) {
    return fail("replay: must be a JSON object");
  }
  const json::object& obj = parsed->get_object();
  const json::value* type = obj.if_contains("type");
  if (type == nullptr || !type->is_string() || type->get_string() != "replay") {
    return fail("replay.type: must be \"replay\"");
  }
  ReplayCommand c;
  const json::value* id = obj.if_contains("id");
  if (id == nullptr || !id->is_string()) {
    return fail("replay.id: must match [A-Za-z0-9_-]{1,64}");
  }
  c.id.assign(id->get_string().data(), id->get_string().size());
  for (const auto& [key, out] : {std::pair{"from_seq", &c.from_seq}, {"to_seq", &c.to_seq}}) {
    if (auto s = read_seq(obj, key, *out); !s) {
      return fail(s.error());
    }
  }
  for (const auto& [key, out] : {std::pair{"from", &c.from_ms}, {"to", &c.to_ms}}) {
    if (auto s = read_time(obj, key, *out); !s) {
      return fail(s.error());
    }
  }
  if (const json::value* epoch = obj.if_contains("epoch"); epoch != nullptr) {
    auto parsed_epoch = epoch->is_string() ? parse_epoch(epoch->get_string())
                                           : Result<std::uint64_t>(fail("not a string"));
    if (!parsed_epoch) {
      return fail("replay.epoch: must be 16 hex digits");
    }
    c.epoch = *parsed_epoch;
  }
  if (auto s = check_replay_command(c); !s) {
    return fail(s.error());
  }
  return c;
}

std::string_view to_string(ReplayState state) noexcept {
  switch (state) {
    case ReplayState::running:
      return "running";
    case ReplayState::done:
      return "done";
    case ReplayState::refused:
      return "refused";
  }
  return "running";
}

json::object replay_progress_to_json(const ReplayProgress& p) {
  json::object obj;
  obj.emplace("id", p.id);
  obj.emplace("state", to_string(p.state));
  obj.emplace("epoch", format_epoch(p.epoch));
  obj.emplace("from_seq", p.from_seq);
  obj.emplace("to_seq", p.to_seq);
  obj.emplace("replayed_through", p.replayed_through);
  obj.emplace("events_total", p.events_total);
  obj.emplace("events_replayed", p.events_replayed);
  obj.emplace("error", p.error);
  obj.emplace("updated_at", p.updated_at);
  return obj;
}

Result<ReplayProgress> parse_replay_progress(const json::value& value) {
  if (!value.is_object()) {
    return fail("status.replay: must be an object");
  }
  const json::object& obj = value.get_object();
  ReplayProgress p;
  auto text = [&](std::string_view key, std::string& out) -> Status {
    const json::value* v = obj.if_contains(key);
    if (v == nullptr || !v->is_string() || v->get_string().size() > 1024) {
      return fail("status.replay." + std::string(key) + ": must be a string (at most 1024 bytes)");
    }
    out.assign(v->get_string().data(), v->get_string().size());
    return {};
  };
  std::string state;
  std::string epoch;
  for (const auto& [key, out] : {std::pair{"id", &p.id},
                                 {"state", &state},
                                 {"epoch", &epoch},
                                 {"error", &p.error},
                                 {"updated_at", &p.updated_at}}) {
    if (auto s = text(key, *out); !s) {
      return fail(s.error());
    }
  }
  if (!is_valid_id(p.id, max_replay_id)) {
    return fail("status.replay.id: must match [A-Za-z0-9_-]{1,64}");
  }
  if (state == "running") {
    p.state = ReplayState::running;
  } else if (state == "done") {
    p.state = ReplayState::done;
  } else if (state == "refused") {
    p.state = ReplayState::refused;
  } else {
    return fail("status.replay.state: must be one of running, done, refused");
  }
  const auto parsed_epoch = parse_epoch(epoch);
  if (!parsed_epoch) {
    return fail("status.replay.epoch: must be 16 hex digits");
  }
  p.epoch = *parsed_epoch;
  for (const auto& [key, out] : {std::pair{"from_seq", &p.from_seq},
                                 {"to_seq", &p.to_seq},
                                 {"replayed_through", &p.replayed_through},
                                 {"events_total", &p.events_total},
                                 {"events_replayed", &p.events_replayed}}) {
    const json::value* v = obj.if_contains(key);
    if (v == nullptr || !detail::read_uint(*v, *out)) {
      return fail("status.replay." + std::string(key) + ": must be an integer >= 0");
    }
  }
  return p;
}

}  // namespace pos::protocol
