#pragma once
// Replaying a till's range (docs/replay.md): the command the collector sends a till on
// `{prefix}/{store}/{till}/cmd`, and the progress the till reports in its status (`replay`).

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pos/protocol/result.hpp"

namespace pos::protocol {

/// Longest replay id: ids are `[A-Za-z0-9_-]{1,64}`.
inline constexpr std::size_t max_replay_id = 64;

/// "Re-send the events you still hold in this range": either by seq (`from_seq`..`to_seq`) or by
/// the agent's `received_at` stamp (`from_ms`..`to_ms`, UNIX milliseconds), both bounds
/// inclusive. A command with an id the till has seen before does nothing new (idempotent).
struct ReplayCommand {
  std::string id;
  std::optional<std::uint64_t> from_seq;
  std::optional<std::uint64_t> to_seq;
  std::optional<std::int64_t> from_ms;
  std::optional<std::int64_t> to_ms;
  /// The database epoch the command was meant for (the till's last status): a till whose
  /// database has another epoch (replaced disk) refuses it. Absent: any epoch.
  std::optional<std::uint64_t> epoch;
  friend bool operator==(const ReplayCommand&, const ReplayCommand&) = default;
};

/// Checks a command: a valid id, exactly one range form with both bounds, from <= to, seqs >= 1.
/// Errors name the field (`replay.to_seq: must be >= from_seq`).
Status check_replay_command(const ReplayCommand& command);

/// `{"type":"replay","id":"...","from_seq":A,"to_seq":B}` or with `"from"`/`"to"` as RFC 3339 UTC.
std::string encode_replay_command(const ReplayCommand& command);

/// Parses and checks a command (bounded: at most 1 KiB). Errors name the field.
Result<ReplayCommand> parse_replay_command(std::string_view text);

/// A replay's state on the till: `running` (sending), `done` (every event of the range was
/// acknowledged by a collector as published again) or `refused` (`error` says why: the range is
/// no longer held, is empty, another replay is running, ...).
enum class ReplayState { running, done, refused };

/// "running", "done" or "refused".
std::string_view to_string(ReplayState state) noexcept;

/// What a till reports of its latest replay in its status message, field `replay`.
struct ReplayProgress {
  std::string id;
  ReplayState state = ReplayState::running;
  std::uint64_t epoch = 0;
  std::uint64_t from_seq = 0;  ///< the range resolved to seqs (0 when refused before that)
  std::uint64_t to_seq = 0;
  std::uint64_t replayed_through = 0;  ///< every seq of the range <= this is published again
  std::uint64_t events_total = 0;      ///< events in the range
  std::uint64_t events_replayed = 0;   ///< of them, published again so far
  std::string error;                   ///< why it was refused; empty otherwise
  std::string updated_at;              ///< RFC 3339
  friend bool operator==(const ReplayProgress&, const ReplayProgress&) = default;
};

boost::json::object replay_progress_to_json(const ReplayProgress& progress);

/// Parses the status field `replay`. Errors name the field (`status.replay.state: ...`).
Result<ReplayProgress> parse_replay_progress(const boost::json::value& value);

}  // namespace pos::protocol
