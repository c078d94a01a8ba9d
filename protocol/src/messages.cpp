// Ack and status messages (SPEC "MQTT").

#include "pos/protocol/messages.hpp"

#include <boost/json/serialize.hpp>

#include "json_internal.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::protocol {

namespace json = boost::json;

namespace {

constexpr std::size_t k_max_ack_bytes = 1024;
constexpr std::size_t k_max_status_bytes = std::size_t{64} * 1024;
constexpr std::size_t k_max_depth = 16;

constexpr std::string_view k_known[] = {"state",          "agent_version",   "sent_at",
                                        "backlog_events", "backlog_bytes",   "oldest_unacked_at",
                                        "last_ack_at",    "ingested_total",  "rejected_total",
                                        "db_bytes",       "disk_free_bytes", "epoch",
                                        "acked_through",  "epoch_renewals",  "epoch_renewed_at",
                                        "broker",         "cert_not_after"};

std::uint64_t* counter_field(AgentStatus& status, std::string_view key) noexcept {
  if (key == "backlog_events") {
    return &status.backlog_events;
  }
  if (key == "backlog_bytes") {
    return &status.backlog_bytes;
  }
  if (key == "ingested_total") {
    return &status.ingested_total;
  }
  if (key == "rejected_total") {
    return &status.rejected_total;
  }
  if (key == "db_bytes") {
    return &status.db_bytes;
  }
  if (key == "disk_free_bytes") {
    return &status.disk_free_bytes;
  }
  return nullptr;
}

bool is_known(std::string_view key) noexcept {
  for (std::string_view k : k_known) {
    if (k == key) {
      return true;
    }
  }
  return false;
}

json::value nullable(const std::optional<std::string>& s) {
  json::value v;
  if (s) {
    v.emplace_string() = *s;
  }
  return v;
}

Status read_timestamp(const json::value& v, std::string_view key, bool nullable_field,
                      std::optional<std::string>& out) {
  if (nullable_field && v.is_null()) {
    out.reset();
    return {};
  }
  if (!v.is_string() || !is_rfc3339(v.get_string())) {
    return fail("status." + std::string(key) +
                (nullable_field ? ": must be null or an RFC 3339 date-time"
                                : ": must be an RFC 3339 date-time"));
  }
  out.emplace(v.get_string());
  return {};
}

}  // namespace

std::string encode_ack(const Ack& ack) {
  return R"({"epoch":")" + format_epoch(ack.epoch) + R"(","through_seq":)" +
         std::to_string(ack.through_seq) + (ack.resend ? R"(,"resend":true)" : "") +
         (ack.replay ? R"(,"replay":true})" : "}");
}

Result<Ack> parse_ack(std::string_view text) {
  auto parsed = detail::parse_json(text, k_max_ack_bytes, k_max_depth, "ack");
  if (!parsed) {
    return fail(std::move(parsed).error());
  }
  if (!parsed->is_object()) {
    return fail("ack: must be a JSON object");
  }
  const json::object& obj = parsed->get_object();
  Ack ack;
  const json::value* v = obj.if_contains("epoch");
  if (v == nullptr) {
    return fail("ack.epoch: is required");
  }
  if (!v->is_string()) {
    return fail("ack.epoch: must be 16 hex digits");
  }
  const auto epoch = parse_epoch(v->get_string());
  if (!epoch) {
    return fail("ack.epoch: must be 16 hex digits");
  }
  ack.epoch = *epoch;
  v = obj.if_contains("through_seq");
  if (v == nullptr) {
    return fail("ack.through_seq: is required");
  }
  if (!detail::read_uint(*v, ack.through_seq)) {
    return fail("ack.through_seq: must be an integer >= 0");
  }
  if (v = obj.if_contains("resend"); v != nullptr) {
    if (!v->is_bool()) {
      return fail("ack.resend: must be true or false");
    }
    ack.resend = v->get_bool();
  }
  if (v = obj.if_contains("replay"); v != nullptr) {
    if (!v->is_bool()) {
      return fail("ack.replay: must be true or false");
    }
    ack.replay = v->get_bool();
  }
  return ack;
}

json::object status_to_json(const AgentStatus& status) {
  json::object obj;
  obj.reserve(std::size(k_known) + status.extra.size());
  obj.emplace("state", status.state == AgentState::online ? "online" : "offline");
  obj.emplace("agent_version", status.agent_version);
  obj.emplace("sent_at", status.sent_at);
  obj.emplace("backlog_events", status.backlog_events);
  obj.emplace("backlog_bytes", status.backlog_bytes);
  obj.emplace("oldest_unacked_at", nullable(status.oldest_unacked_at));
  obj.emplace("last_ack_at", nullable(status.last_ack_at));
  obj.emplace("ingested_total", status.ingested_total);
  obj.emplace("rejected_total", status.rejected_total);
  obj.emplace("db_bytes", status.db_bytes);
  obj.emplace("disk_free_bytes", status.disk_free_bytes);
  if (status.epoch) {
    obj.emplace("epoch", format_epoch(*status.epoch));
  }
  if (status.acked_through) {
    obj.emplace("acked_through", *status.acked_through);
  }
  if (status.epoch_renewals) {
    obj.emplace("epoch_renewals", *status.epoch_renewals);
    obj.emplace("epoch_renewed_at", nullable(status.epoch_renewed_at));
  }
  if (status.broker) {
    obj.emplace("broker", *status.broker);
  }
  if (status.cert_not_after) {
    obj.emplace("cert_not_after", *status.cert_not_after);
  }
  for (const auto& kv : status.extra) {
    if (!is_known(kv.key())) {
      obj.emplace(kv.key(), kv.value());
    }
  }
  return obj;
}

std::string encode_status(const AgentStatus& status) {
  return json::serialize(status_to_json(status));
}

Result<AgentStatus> parse_status(std::string_view text) {
  auto parsed = detail::parse_json(text, k_max_status_bytes, k_max_depth, "status");
  if (!parsed) {
    return fail(std::move(parsed).error());
  }
  if (!parsed->is_object()) {
    return fail("status: must be a JSON object");
  }
  json::object& obj = parsed->get_object();
  AgentStatus status;
  const json::value* v = obj.if_contains("state");
  if (v == nullptr) {
    return fail("status.state: is required");
  }
  if (v->is_string() && v->get_string() == "online") {
    status.state = AgentState::online;
  } else if (v->is_string() && v->get_string() == "offline") {
    status.state = AgentState::offline;
  } else {
    return fail("status.state: must be one of online, offline");
  }
  for (auto& kv : obj) {
    const std::string_view key = kv.key();
    const json::value& value = kv.value();
    if (key == "state") {
      continue;
    }
    if (key == "agent_version") {
      if (!value.is_string()) {
        return fail("status.agent_version: must be a string");
      }
      status.agent_version.assign(value.get_string().data(), value.get_string().size());
    } else if (key == "sent_at") {
      std::optional<std::string> sent_at;
      if (auto s = read_timestamp(value, key, false, sent_at); !s) {
        return fail(s.error());
      }
      status.sent_at = std::move(*sent_at);
    } else if (key == "oldest_unacked_at") {
      if (auto s = read_timestamp(value, key, true, status.oldest_unacked_at); !s) {
        return fail(s.error());
      }
    } else if (key == "last_ack_at") {
      if (auto s = read_timestamp(value, key, true, status.last_ack_at); !s) {
        return fail(s.error());
      }
    } else if (key == "epoch") {
      if (!value.is_string()) {
        return fail("status.epoch: must be 16 hex digits");
      }
      const auto epoch = parse_epoch(value.get_string());
      if (!epoch) {
        return fail("status.epoch: must be 16 hex digits");
      }
      status.epoch = *epoch;
    } else if (key == "acked_through") {
      std::uint64_t acked = 0;
      if (!detail::read_uint(value, acked)) {
        return fail("status.acked_through: must be an integer >= 0");
      }
      status.acked_through = acked;
    } else if (key == "epoch_renewals") {
      std::uint64_t renewals = 0;
      if (!detail::read_uint(value, renewals)) {
        return fail("status.epoch_renewals: must be an integer >= 0");
      }
      status.epoch_renewals = renewals;
    } else if (key == "epoch_renewed_at") {
      if (auto s = read_timestamp(value, key, true, status.epoch_renewed_at); !s) {
        return fail(s.error());
      }
    } else if (key == "cert_not_after") {
      if (auto s = read_timestamp(value, key, false, status.cert_not_after); !s) {
        return fail(s.error());
      }
    } else if (key == "broker") {
      if (!value.is_string()) {
        return fail("status.broker: must be a string");
      }
      status.broker.emplace(value.get_string().data(), value.get_string().size());
    } else if (std::uint64_t* counter = counter_field(status, key); counter != nullptr) {
      if (!detail::read_uint(value, *counter)) {
        return fail("status." + std::string(key) + ": must be an integer >= 0");
      }
    } else {
      status.extra.emplace(key, std::move(kv.value()));
    }
  }
  return status;
}

std::string offline_will() {
  return R"({"state":"offline"})";
}

}  // namespace pos::protocol
