#pragma once
// The agent's health as data: the SPEC status message, GET /v1/status, Prometheus metrics and the
// human summary of `posagent status`. Pure functions of a snapshot, so they are easy to test.

#include <cstdint>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "pos/agent/outbox.hpp"
#include "pos/agent/replayer.hpp"
#include "pos/common/config_reload.hpp"
#include "pos/protocol/messages.hpp"

namespace pos::agent {

/// Everything the status and metrics report, gathered by the app at one moment.
struct AgentSnapshot {
  std::int64_t now_ms = 0;
  std::string store_id;
  std::string till_id;
  OutboxStats outbox;
  bool broker_connected = false;
  std::string broker;  ///< URI of the broker connected to; empty while not connected
  std::uint64_t ingest_requests_total = 0;
  std::uint64_t ingested_total = 0;      ///< events accepted since start
  std::uint64_t rejected_total = 0;      ///< events rejected since start
  std::uint64_t duplicates_total = 0;    ///< duplicate events since start
  std::uint64_t unavailable_total = 0;   ///< requests answered 503
  std::uint64_t ingest_connections = 0;  ///< open ingest HTTP connections now
  std::uint64_t batches_sent_total = 0;
  std::uint64_t events_sent_total = 0;
  std::uint64_t bytes_sent_total = 0;      ///< compressed batch bytes published
  std::uint64_t raw_bytes_sent_total = 0;  ///< payload bytes before compression
  std::uint64_t resends_total = 0;
  std::uint64_t resend_requests_total = 0;  ///< acks with the resend flag that made it rewind
  std::int64_t ack_timeout_ms = 0;          ///< the forwarder's adapted ack timeout
  std::uint64_t acks_received_total = 0;
  std::uint64_t reconnects_total = 0;
  std::uint64_t disk_free_bytes = 0;
  std::uint64_t spool_files_done_total = 0;     ///< spool files stored (moved to done/)
  std::uint64_t spool_files_failed_total = 0;   ///< spool files moved to failed/
  std::uint64_t spool_files_refused_total = 0;  ///< of those: not regular files (links, ...)
  std::uint64_t spool_done_pruned_total = 0;    ///< files deleted from done/ after retention
  /// notAfter of the MQTT client certificate (Unix ms); empty without TLS or when unreadable.
  std::optional<std::int64_t> cert_not_after_ms;
  /// The latest replay (docs/replay.md), reported in the status as `replay`; its counters.
  std::optional<protocol::ReplayProgress> replay;
  ReplayerStats replay_stats;
  std::string log_level;              ///< in force (a reload may have changed it)
  std::uint64_t rate_limit_kbps = 0;  ///< the upload cap in force; 0: none
  common::ReloadStats reloads;        ///< configuration reloads (SIGHUP) since start
};

/// The SPEC status message for this snapshot (`state` online or offline).
protocol::AgentStatus make_status(const AgentSnapshot& snapshot, protocol::AgentState state);

/// GET /v1/status: the status message's fields plus `store_id`, `till_id`, `epoch`,
/// `broker_connected`, `broker` (null while not connected), `last_seq`, `acked_through`,
/// `oldest_unacked_age_s`, and `config` (`log_level`, `rate_limit_kbps` in force, the reload
/// counts by result and the last reload's `result`, `at` and `message`; docs/agent.md).
std::string status_document(const AgentSnapshot& snapshot);

/// GET /metrics in Prometheus text format (names prefixed `posagent_`).
std::string metrics_text(const AgentSnapshot& snapshot);

/// A few lines for a terminal from a /v1/status document; tolerates missing fields.
std::string human_summary(const boost::json::object& status);

/// Free bytes for unprivileged users on the file system holding `path` (0 when unknown).
std::uint64_t disk_free_bytes(const std::string& path);

}  // namespace pos::agent
