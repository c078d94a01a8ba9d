// Validation of POS events (SPEC "POS events") and the agent's payload lines.

#include "pos/protocol/event.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <span>
#include <vector>

#include "json_internal.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::protocol {

namespace json = boost::json;

namespace {

constexpr std::int64_t k_max_qty = 1'000'000;
constexpr std::int64_t k_max_money_minor = 1'000'000'000'000'000;
constexpr std::int64_t k_max_delta = 1'000'000'000;
constexpr std::int64_t k_int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::size_t k_max_pos_event_id = 128;
// A payload line is the event plus the agent's five fields.
constexpr std::size_t k_stamp_bytes = max_stamp_bytes;

using Names = std::span<const std::string_view>;

constexpr std::string_view k_event_types[] = {"sale", "return", "stock_change"};
constexpr std::string_view k_customer_types[] = {"new", "returning", "guest"};
constexpr std::string_view k_payment_methods[] = {"cash",    "card",    "qris",
                                                  "ewallet", "voucher", "other"};
constexpr std::string_view k_locations[] = {"floor", "backroom", "warehouse"};
constexpr std::string_view k_reasons[] = {"sale",         "return",     "receipt", "transfer_in",
                                          "transfer_out", "adjustment", "damage",  "count"};
constexpr std::string_view k_agent_fields[] = {"event_id", "seq", "received_at"};

Failure violation(std::string_view path, std::string_view rule) {
  std::string message;
  message.reserve(path.size() + 2 + rule.size());
  message.append(path).append(": ").append(rule);
  return fail(std::move(message));
}

std::string join_path(std::string_view parent, std::string_view key) {
  std::string path(parent);
  if (!path.empty()) {
    path.push_back('.');
  }
  path.append(key);
  return path;
}

std::string must_be_one_of(Names names) {
  std::string rule = "must be one of ";
  bool first = true;
  for (std::string_view name : names) {
    if (!first) {
      rule.append(", ");
    }
    first = false;
    rule.append(name);
  }
  return rule;
}

bool is_one_of(const json::value* v, Names names) noexcept {
  if (v == nullptr || !v->is_string()) {
    return false;
  }
  const std::string_view s = v->get_string();
  for (std::string_view name : names) {
    if (s == name) {
      return true;
    }
  }
  return false;
}

bool is_pos_event_id(const json::value& v) noexcept {
  if (!v.is_string()) {
    return false;
  }
  const std::string_view s = v.get_string();
  if (s.empty() || s.size() > k_max_pos_event_id) {
    return false;
  }
  for (char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '/' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool is_bounded_string(const json::value& v, std::size_t max_bytes) noexcept {
  return v.is_string() && !v.get_string().empty() && v.get_string().size() <= max_bytes;
}

std::string bounded_string_rule(std::size_t max_bytes) {
  return "must be a non-empty string of at most " + std::to_string(max_bytes) + " bytes";
}

enum class IntCheck { ok, low, high };

// Integers only (int64 or uint64 kinds); doubles such as 1.0 count as "low" (not an integer).
IntCheck check_int(const json::value& v, std::int64_t lo, std::int64_t hi, std::int64_t& out) {
  if (v.is_int64()) {
    out = v.get_int64();
  } else if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<std::uint64_t>(hi)) {
      return IntCheck::high;
    }
    out = static_cast<std::int64_t>(v.get_uint64());
  } else {
    return IntCheck::low;
  }
  if (out < lo) {
    return IntCheck::low;
  }
  if (out > hi) {
    return IntCheck::high;
  }
  return IntCheck::ok;
}

// A required integer in [lo, hi]: "must be an integer >= lo" or "must be at most hi".
Status require_int(const json::object& obj, std::string_view parent, std::string_view key,
                   std::int64_t lo, std::int64_t hi, std::int64_t& out) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr) {
    return violation(join_path(parent, key), "is required");
  }
  switch (check_int(*v, lo, hi, out)) {
    case IntCheck::ok:
      return {};
    case IntCheck::low:
      return violation(join_path(parent, key), "must be an integer >= " + std::to_string(lo));
    case IntCheck::high:
      return violation(join_path(parent, key), "must be at most " + std::to_string(hi));
  }
  return {};
}

Status require_one_of(const json::object& obj, std::string_view parent, std::string_view key,
                      Names names) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr) {
    return violation(join_path(parent, key), "is required");
  }
  if (!is_one_of(v, names)) {
    return violation(join_path(parent, key), must_be_one_of(names));
  }
  return {};
}

Status require_string(const json::object& obj, std::string_view parent, std::string_view key,
                      std::size_t max_bytes) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr) {
    return violation(join_path(parent, key), "is required");
  }
  if (!is_bounded_string(*v, max_bytes)) {
    return violation(join_path(parent, key), bounded_string_rule(max_bytes));
  }
  return {};
}

const json::object* require_object(const json::object& obj, std::string_view key, Status& status) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr) {
    status = violation(key, "is required");
    return nullptr;
  }
  if (!v->is_object()) {
    status = violation(key, "must be an object");
    return nullptr;
  }
  return &v->get_object();
}

Status check_owner_field(const json::object& fields, std::string_view key, std::string_view own) {
  const json::value* v = fields.if_contains(key);
  if (v == nullptr) {
    return {};
  }
  if (!v->is_string()) {
    return violation(key, "must be a string");
  }
  if (!own.empty() && v->get_string() != own) {
    return violation(key, "does not match this agent (" + std::string(own) + ")");
  }
  return {};
}

Status check_common(const json::object& fields, const EventOwner& owner, EventType& type) {
  const json::value* v = fields.if_contains("type");
  if (v == nullptr) {
    return violation("type", "is required");
  }
  if (!is_one_of(v, k_event_types)) {
    return violation("type", must_be_one_of(k_event_types));
  }
  const std::string_view name = v->get_string();
  type = name == "sale"     ? EventType::sale
         : name == "return" ? EventType::return_event
                            : EventType::stock_change;

  v = fields.if_contains("pos_event_id");
  if (v == nullptr) {
    return violation("pos_event_id", "is required");
  }
  if (!is_pos_event_id(*v)) {
    return violation("pos_event_id", "must be 1-128 characters of [A-Za-z0-9._:/-]");
  }
  v = fields.if_contains("occurred_at");
  if (v == nullptr) {
    return violation("occurred_at", "is required");
  }
  if (!v->is_string() || !is_rfc3339(v->get_string())) {
    return violation("occurred_at", "must be an RFC 3339 date-time with offset");
  }
  if (auto s = check_owner_field(fields, "store_id", owner.store_id); !s) {
    return s;
  }
  if (auto s = check_owner_field(fields, "till_id", owner.till_id); !s) {
    return s;
  }
  for (std::string_view key : k_agent_fields) {
    if (fields.contains(key)) {
      return violation(key, "is set by the agent");
    }
  }
  return {};
}

Status check_line(const json::value& value, std::size_t index, const EventLimits& limits) {
  const std::string path = "lines[" + std::to_string(index) + "]";
  if (!value.is_object()) {
    return violation(path, "must be an object");
  }
  const json::object& line = value.get_object();
  if (auto s = require_string(line, path, "sku", limits.max_string_bytes); !s) {
    return s;
  }
  if (auto s = require_string(line, path, "category", limits.max_string_bytes); !s) {
    return s;
  }
  std::int64_t qty = 0, price = 0, cost = 0, discount = 0;
  if (auto s = require_int(line, path, "qty", 1, k_max_qty, qty); !s) {
    return s;
  }
  if (auto s = require_int(line, path, "unit_price_minor", 0, k_max_money_minor, price); !s) {
    return s;
  }
  if (auto s = require_int(line, path, "unit_cost_minor", 0, k_max_money_minor, cost); !s) {
    return s;
  }
  if (auto s = require_int(line, path, "discount_minor", 0, k_max_money_minor, discount); !s) {
    return s;
  }
  // discount <= qty * price without overflow: qty >= 1, discount and price <= 10^15.
  if ((discount + qty - 1) / qty > price) {
    return violation(path + ".discount_minor", "must be at most qty * unit_price_minor");
  }
  return {};
}

Status check_sale_or_return(const json::object& fields, EventType type, const EventLimits& limits) {
  const json::value* v = fields.if_contains("currency");
  if (v == nullptr) {
    return violation("currency", "is required");
  }
  const bool currency_ok = v->is_string() && v->get_string().size() == 3 &&
                           std::all_of(v->get_string().begin(), v->get_string().end(),
                                       [](char c) { return c >= 'A' && c <= 'Z'; });
  if (!currency_ok) {
    return violation("currency", "must be 3 uppercase letters (ISO 4217)");
  }

  Status status;
  const json::object* customer = require_object(fields, "customer", status);
  if (customer == nullptr) {
    return status;
  }
  v = customer->if_contains("id");
  if (v == nullptr) {
    return violation("customer.id", "is required");
  }
  if (!v->is_null() && !is_bounded_string(*v, limits.max_string_bytes)) {
    return violation("customer.id", "must be null or a non-empty string of at most " +
                                        std::to_string(limits.max_string_bytes) + " bytes");
  }
  if (auto s = require_one_of(*customer, "customer", "type", k_customer_types); !s) {
    return s;
  }

  v = fields.if_contains("lines");
  if (v == nullptr) {
    return violation("lines", "is required");
  }
  if (!v->is_array() || v->get_array().empty() || v->get_array().size() > limits.max_lines) {
    return violation("lines",
                     "must be an array of 1 to " + std::to_string(limits.max_lines) + " lines");
  }
  const json::array& lines = v->get_array();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (auto s = check_line(lines[i], i, limits); !s) {
      return s;
    }
  }

  const json::object* payment = require_object(fields, "payment", status);
  if (payment == nullptr) {
    return status;
  }
  if (auto s = require_one_of(*payment, "payment", "method", k_payment_methods); !s) {
    return s;
  }

  if (type == EventType::return_event) {
    v = fields.if_contains("original_pos_event_id");
    if (v != nullptr && !is_pos_event_id(*v)) {
      return violation("original_pos_event_id", "must be 1-128 characters of [A-Za-z0-9._:/-]");
    }
  }
  return {};
}

Status check_stock_change(const json::object& fields, const EventLimits& limits) {
  if (auto s = require_string(fields, "", "sku", limits.max_string_bytes); !s) {
    return s;
  }
  if (auto s = require_one_of(fields, "", "location", k_locations); !s) {
    return s;
  }
  const json::value* v = fields.if_contains("delta");
  if (v == nullptr) {
    return violation("delta", "is required");
  }
  std::int64_t delta = 0;
  if (check_int(*v, -k_max_delta, k_max_delta, delta) == IntCheck::ok) {
    if (delta == 0) {
      return violation("delta", "must be a non-zero integer");
    }
  } else if (v->is_int64() || v->is_uint64()) {
    return violation("delta", "must be between -" + std::to_string(k_max_delta) + " and " +
                                  std::to_string(k_max_delta));
  } else {
    return violation("delta", "must be a non-zero integer");
  }
  if (auto s = require_one_of(fields, "", "reason", k_reasons); !s) {
    return s;
  }
  if (fields.contains("on_hand_after")) {
    std::int64_t on_hand = 0;
    if (auto s = require_int(fields, "", "on_hand_after", 0, k_int64_max, on_hand); !s) {
      return s;
    }
  }
  return {};
}

Status check_string_field(const json::object& obj, std::string_view key, std::string& out) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr) {
    return violation(key, "is required");
  }
  if (!v->is_string()) {
    return violation(key, "must be a string");
  }
  out.assign(v->get_string().data(), v->get_string().size());
  return {};
}

// Reads and checks the agent's fields of a payload line into `stamp` and `event_id`.
Status read_stamp(const json::object& obj, const EventOwner& owner, AgentStamp& stamp,
                  std::string& event_id) {
  if (auto s = check_string_field(obj, "event_id", event_id); !s) {
    return s;
  }
  const json::value* v = obj.if_contains("seq");
  if (v == nullptr) {
    return violation("seq", "is required");
  }
  std::int64_t seq = 0;
  if (check_int(*v, 1, k_int64_max, seq) != IntCheck::ok) {
    return violation("seq", "must be an integer >= 1");
  }
  stamp.seq = static_cast<std::uint64_t>(seq);
  if (auto s = check_string_field(obj, "store_id", stamp.store_id); !s) {
    return s;
  }
  if (auto s = check_id("store_id", stamp.store_id); !s) {
    return s;
  }
  if (auto s = check_string_field(obj, "till_id", stamp.till_id); !s) {
    return s;
  }
  if (auto s = check_id("till_id", stamp.till_id); !s) {
    return s;
  }
  if (auto s = check_string_field(obj, "received_at", stamp.received_at); !s) {
    return s;
  }
  if (!is_rfc3339(stamp.received_at)) {
    return violation("received_at", "must be an RFC 3339 date-time with offset");
  }

  // The epoch sits at the same offset in the event id and in the legacy one (till_key() keeps the
  // length); is_event_id_of() then checks the whole id.
  const std::size_t prefix = stamp.store_id.size() + stamp.till_id.size() + 2;
  const std::string_view id = event_id;
  bool id_ok = id.size() > prefix + 17;
  if (id_ok) {
    const auto epoch = parse_epoch(id.substr(prefix, 16));
    id_ok = epoch.has_value();
    if (id_ok) {
      stamp.epoch = *epoch;
    }
  }
  if (!id_ok || !is_event_id_of(id, stamp.store_id, stamp.till_id, stamp.epoch, stamp.seq)) {
    return violation("event_id", "must be {store_id}-{till_id}-{epoch}-{seq} of this line");
  }
  if (!owner.store_id.empty() && owner.store_id != stamp.store_id) {
    return violation("store_id", "does not match the topic (" + std::string(owner.store_id) + ")");
  }
  if (!owner.till_id.empty() && owner.till_id != stamp.till_id) {
    return violation("till_id", "does not match the topic (" + std::string(owner.till_id) + ")");
  }
  return {};
}

}  // namespace

std::string_view to_string(EventType type) noexcept {
  switch (type) {
    case EventType::sale:
      return "sale";
    case EventType::return_event:
      return "return";
    case EventType::stock_change:
      return "stock_change";
  }
  return "sale";
}

Result<PosEvent> validate_pos_event(json::object fields, const EventOwner& owner,
                                    const EventLimits& limits) {
  EventType type = EventType::sale;
  if (auto s = check_common(fields, owner, type); !s) {
    return fail(s.error());
  }
  const Status s = type == EventType::stock_change ? check_stock_change(fields, limits)
                                                   : check_sale_or_return(fields, type, limits);
  if (!s) {
    return fail(s.error());
  }
  std::string pos_event_id(fields.at("pos_event_id").get_string());
  return PosEvent(type, std::move(pos_event_id), std::move(fields));
}

Result<PosEvent> parse_pos_event(std::string_view text, const EventOwner& owner,
                                 const EventLimits& limits) {
  std::vector<DuplicateKey> duplicates;
  auto parsed =
      detail::parse_json(text, limits.max_bytes, limits.max_depth, "event", {}, &duplicates);
  if (!parsed) {
    return fail(std::move(parsed).error());
  }
  if (!duplicates.empty()) {
    return fail(duplicate_key_error(duplicates.front()));
  }
  if (!parsed->is_object()) {
    return fail("event: must be a JSON object");
  }
  return validate_pos_event(std::move(parsed->get_object()), owner, limits);
}

JsonMeasure measure_event(const PosEvent& event) {
  return detail::measure_object(event.fields());
}

Status check_event_size(const PosEvent& event, const EventLimits& limits) {
  return check_event_size(measure_event(event), limits);
}

Status check_event_size(const JsonMeasure& measure, const EventLimits& limits) {
  if (measure.depth > limits.max_depth) {
    return fail("event: nested deeper than " + std::to_string(limits.max_depth) + " levels");
  }
  if (measure.canonical_bytes > limits.max_bytes) {
    return fail("event: " + std::to_string(measure.canonical_bytes) +
                " bytes (as stored) is larger than the limit of " +
                std::to_string(limits.max_bytes) + " bytes per event");
  }
  return {};
}

PayloadTemplate make_payload_template(const PosEvent& event, std::string_view store_id,
                                      std::string_view till_id, std::string_view received_at) {
  using detail::MergedMember;
  const json::object& fields = event.fields();
  constexpr std::size_t k_stack_members = 32;
  MergedMember stack[k_stack_members];
  std::vector<MergedMember> heap;
  MergedMember* members = stack;
  if (fields.size() + 5 > k_stack_members) {
    heap.resize(fields.size() + 5);
    members = heap.data();
  }
  std::size_t n = 0;
  for (const auto& kv : fields) {
    const std::string_view key = kv.key();
    // The stamp's ids replace the POS's own (validation checked that they match).
    if (key != "store_id" && key != "till_id") {
      members[n++] = MergedMember{key, &kv.value(), {}, 0};
    }
  }
  members[n++] = MergedMember{"event_id", nullptr, {}, 1};
  members[n++] = MergedMember{"seq", nullptr, {}, 2};
  members[n++] = MergedMember{"store_id", nullptr, store_id, 0};
  members[n++] = MergedMember{"till_id", nullptr, till_id, 0};
  members[n++] = MergedMember{"received_at", nullptr, received_at, 0};
  PayloadTemplate out;
  out.m_text.reserve(512);
  std::size_t offsets[2] = {0, 0};
  detail::append_canonical_members(out.m_text, std::span(members, n), offsets);
  out.m_event_id_at = offsets[0];
  out.m_seq_at = offsets[1];
  return out;
}

void PayloadTemplate::render(std::string& out, std::string_view event_id, std::uint64_t seq) const {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, seq);
  (void)ec;
  const std::string_view text = m_text;
  out.reserve(out.size() + rendered_size(event_id.size(), static_cast<std::size_t>(end - digits)));
  out.append(text.substr(0, m_event_id_at));
  out.append("\"event_id\":");
  append_json_string(out, event_id);
  out.append(text.substr(m_event_id_at, m_seq_at - m_event_id_at));
  out.append("\"seq\":");
  out.append(digits, end);
  out.append(text.substr(m_seq_at));
}

std::string make_payload_line(const PosEvent& event, const AgentStamp& stamp) {
  std::string out;
  make_payload_template(event, stamp.store_id, stamp.till_id, stamp.received_at)
      .render(out, make_event_id(stamp.store_id, stamp.till_id, stamp.epoch, stamp.seq), stamp.seq);
  return out;
}

std::string make_collected_line(const StampedEvent& event, std::string_view collected_at) {
  using detail::MergedMember;
  static const json::value k_schema_version(1);
  const json::object& fields = event.event.fields();
  constexpr std::size_t k_stack_members = 32;
  constexpr std::size_t k_added = 7;
  MergedMember stack[k_stack_members];
  std::vector<MergedMember> heap;
  MergedMember* members = stack;
  if (fields.size() + k_added > k_stack_members) {
    heap.resize(fields.size() + k_added);
    members = heap.data();
  }
  std::size_t n = 0;
  for (const auto& kv : fields) {
    const std::string_view key = kv.key();
    if (key != "store_id" && key != "till_id" && key != "collected_at" && key != "schema_version") {
      members[n++] = MergedMember{key, &kv.value(), {}, 0};
    }
  }
  const json::value seq(event.stamp.seq);
  members[n++] = MergedMember{"event_id", nullptr, event.event_id, 0};
  members[n++] = MergedMember{"seq", &seq, {}, 0};
  members[n++] = MergedMember{"store_id", nullptr, event.stamp.store_id, 0};
  members[n++] = MergedMember{"till_id", nullptr, event.stamp.till_id, 0};
  members[n++] = MergedMember{"received_at", nullptr, event.stamp.received_at, 0};
  members[n++] = MergedMember{"collected_at", nullptr, collected_at, 0};
  members[n++] = MergedMember{"schema_version", &k_schema_version, {}, 0};
  std::string out;
  out.reserve(512);
  detail::append_canonical_members(out, std::span(members, n), {});
  return out;
}

Result<StampedEvent> parse_payload_line(std::string_view line, const EventOwner& owner,
                                        const EventLimits& limits, json::storage_ptr storage) {
  auto parsed = detail::parse_json(line, limits.max_bytes + k_stamp_bytes, limits.max_depth, "line",
                                   std::move(storage));
  if (!parsed) {
    return fail(std::move(parsed).error());
  }
  if (!parsed->is_object()) {
    return fail("line: must be a JSON object");
  }
  json::object& fields = parsed->get_object();
  AgentStamp stamp;
  std::string event_id;
  if (auto s = read_stamp(fields, owner, stamp, event_id); !s) {
    return fail(s.error());
  }
  for (std::string_view key : {"event_id", "seq", "store_id", "till_id", "received_at"}) {
    fields.stable_erase(key);
  }
  auto event =
      validate_pos_event(std::move(fields), EventOwner{stamp.store_id, stamp.till_id}, limits);
  if (!event) {
    return fail(std::move(event).error());
  }
  return StampedEvent{std::move(event).value(), std::move(stamp), std::move(event_id)};
}

}  // namespace pos::protocol
