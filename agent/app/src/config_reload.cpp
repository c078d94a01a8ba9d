#include "pos/agent/config_reload.hpp"

#include <array>

#include "pos/common/mqtt_reload_keys.hpp"

namespace pos::agent {
namespace {

using Config = AgentConfig;
using Target = AgentReloadTarget;

void apply_upload_limit(Target& target, const Config& config) {
  target.upload_limit(config);
}

// NOLINTBEGIN(bugprone-macro-parentheses): the macro's `member` is a member path, not an expression
#define LIVE(name, member, apply) POS_RELOAD_KEY(Config, Target, name, member, apply)
#define RESTART(name, member) POS_RELOAD_KEY(Config, Target, name, member, nullptr)

/// One row per key; a key that becomes live gets its apply function instead of RESTART.
constexpr std::array reload_key_table{
    RESTART("store_id", store_id),
    RESTART("till_id", till_id),
    RESTART("data_dir", data_dir),
    LIVE("log_level", log_level, (common::apply_log_level<Config, Target>)),
    RESTART("ingest.listen", ingest.listen),
    RESTART("ingest.spool_dir", ingest.spool_dir),
    RESTART("ingest.max_events_per_request", ingest.max_events_per_request),
    RESTART("ingest.max_request_bytes", ingest.max_request_bytes),
    RESTART("ingest.max_event_bytes", ingest.max_event_bytes),
    RESTART("ingest.max_connections", ingest.max_connections),
    RESTART("ingest.allowed_origins", ingest.allowed_origins),
    RESTART("ingest.card_numbers", ingest.card_numbers),
    RESTART("ingest.spool_poll_ms", ingest.spool_poll),
    RESTART("ingest.spool_settle_ms", ingest.spool_settle),
    RESTART("buffer.max_bytes", buffer.max_bytes),
    RESTART("buffer.retention_hours", buffer.retention),
    POS_MQTT_RELOAD_KEYS(Config, Target),
    RESTART("forward.dictionary_file", forward.dictionary_file),
    RESTART("forward.zstd_level", forward.zstd_level),
    RESTART("forward.batch_max_events", forward.batch_max_events),
    RESTART("forward.batch_max_bytes", forward.batch_max_bytes),
    RESTART("forward.batch_delay_ms", forward.batch_delay),
    RESTART("forward.window_batches", forward.window_batches),
    RESTART("forward.ack_timeout_ms", forward.ack_timeout),
    RESTART("forward.ack_timeout_max_ms", forward.ack_timeout_max),
    RESTART("forward.reconnect_initial_ms", forward.reconnect_initial),
    RESTART("forward.reconnect_max_ms", forward.reconnect_max),
    RESTART("forward.heartbeat_s", forward.heartbeat),
    LIVE("forward.rate_limit_kbps", forward.rate_limit_kbps, apply_upload_limit),
    LIVE("forward.rate_limit_schedule", forward.rate_limit_schedule, apply_upload_limit),
    LIVE("shutdown.drain_timeout_ms", shutdown.drain_timeout, (common::adopt_only<Config, Target>)),
};

#undef LIVE
#undef RESTART
// NOLINTEND(bugprone-macro-parentheses)

}  // namespace

std::span<const AgentReloadKey> agent_reload_keys() {
  return reload_key_table;
}

}  // namespace pos::agent
