#pragma once
// MQTT topic names (SPEC "MQTT"): `{prefix}/{store}/{till}/{batch|ack|status}`, and the replay
// topics `replay` (agent to collector: re-sent batches) and `cmd` (collector to agent: commands);
// see docs/replay.md.

#include <string>
#include <string_view>

#include "pos/protocol/result.hpp"

namespace pos::protocol {

enum class TopicKind { batch, ack, status, replay, cmd };

/// "batch", "ack", "status", "replay" or "cmd".
std::string_view to_string(TopicKind kind) noexcept;

struct TillTopic {
  std::string store_id;
  std::string till_id;
  TopicKind kind = TopicKind::batch;
};

/// Checks a topic prefix: 1-128 characters, levels separated by '/', no empty level, no `+`, `#`,
/// NUL, and not starting with `$`.
Status check_topic_prefix(std::string_view prefix);

/// Builds `{prefix}/{store}/{till}/{kind}`. Fails when an id or the prefix is invalid.
Result<std::string> make_topic(std::string_view prefix, std::string_view store_id,
                               std::string_view till_id, TopicKind kind);

/// Parses a topic under `prefix` into store, till and kind. Fails with a clear error for another
/// prefix, a wrong number of levels, an invalid id or an unknown kind.
Result<TillTopic> parse_topic(std::string_view prefix, std::string_view topic);

/// `$share/{group}/{prefix}/+/+/batch`: the collectors' shared subscription. `group` must be a
/// valid id.
Result<std::string> shared_batch_subscription(std::string_view group, std::string_view prefix);

/// `$share/{group}/{prefix}/+/+/replay`: the collectors' shared subscription to replayed batches.
Result<std::string> shared_replay_subscription(std::string_view group, std::string_view prefix);

}  // namespace pos::protocol
