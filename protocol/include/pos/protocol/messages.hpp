#pragma once
// Ack and status messages (SPEC "MQTT").

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "pos/protocol/result.hpp"

namespace pos::protocol {

/// Collector to agent: every event of `epoch` with seq <= through_seq is published.
struct Ack {
  std::uint64_t epoch = 0;
  std::uint64_t through_seq = 0;
  /// "Resend everything after through_seq now": the collector that now serves this till (after
  /// a broker or collector failover) has nothing of it in flight beyond through_seq, so waiting
  /// for the agent's ack timeout would only delay. An agent applies the ack as usual, then goes
  /// back to through_seq + 1 at once. Agents older than the flag ignore it (an unknown field) and
  /// resend at their ack timeout as before.
  bool resend = false;
  /// An ack of a replayed batch (topic `replay`, docs/replay.md): every event of that epoch with
  /// seq <= through_seq of the replay in progress is published again. Says nothing about the
  /// normal stream; an agent applies it only to its replay.
  bool replay = false;
  friend bool operator==(const Ack&, const Ack&) = default;
};

/// `{"epoch":"<16 hex>","through_seq":N}`, followed by `,"resend":true` and `,"replay":true` when
/// the flags are set (without them, byte for byte the ack of collectors before the flags existed).
std::string encode_ack(const Ack& ack);

/// Parses an ack (bounded: at most 1 KiB). Errors name the field: `ack.epoch: must be 16 hex
/// digits`, `ack.through_seq: must be an integer >= 0`, `ack.resend: must be true or false`. A
/// missing `resend` or `replay` is false. Unknown fields are ignored.
Result<Ack> parse_ack(std::string_view text);

enum class AgentState { online, offline };

/// The retained status message of an agent. Fields other than `state` are optional in parsing
/// (the last will carries only the state); unknown fields are kept in `extra`.
struct AgentStatus {
  AgentState state = AgentState::online;
  std::string agent_version;
  std::string sent_at;  ///< RFC 3339
  std::uint64_t backlog_events = 0;
  std::uint64_t backlog_bytes = 0;
  std::optional<std::string> oldest_unacked_at;  ///< null when the backlog is empty
  std::optional<std::string> last_ack_at;
  std::uint64_t ingested_total = 0;
  std::uint64_t rejected_total = 0;
  std::uint64_t db_bytes = 0;
  std::uint64_t disk_free_bytes = 0;
  /// The agent database's epoch and the highest seq of it the agent has seen acknowledged.
  /// Everything at or below it is in Pub/Sub, so a collector whose marks are missing or behind
  /// may adopt it as its mark (docs/collector.md, "Marks"). Absent from older agents and from
  /// the last will.
  std::optional<std::uint64_t> epoch;
  std::optional<std::uint64_t> acked_through;
  /// How often the agent's database moved to a new epoch because a collector had acknowledged
  /// seqs the database no longer held (restored or rolled-back disk), and when it last did.
  /// Absent from older agents and from the last will.
  std::optional<std::uint64_t> epoch_renewals;
  std::optional<std::string> epoch_renewed_at;  ///< RFC 3339
  /// The URI of the broker the agent is connected to (the one this message went through; an
  /// agent with several brokers fails over between them). Absent from older agents, from the
  /// last will and while not connected.
  std::optional<std::string> broker;
  /// When the till's MQTT client certificate expires (RFC 3339, its notAfter), read from the
  /// certificate file the agent uses now. Absent from older agents, from the last will and when
  /// the agent has no certificate.
  std::optional<std::string> cert_not_after;
  boost::json::object extra;  ///< further fields, passed through
};

/// The status as a JSON object (all SPEC fields, then `extra`).
boost::json::object status_to_json(const AgentStatus& status);
std::string encode_status(const AgentStatus& status);

/// Parses a status message (bounded: at most 64 KiB). Errors name the field.
Result<AgentStatus> parse_status(std::string_view text);

/// The last-will payload `{"state":"offline"}`.
std::string offline_will();

}  // namespace pos::protocol
