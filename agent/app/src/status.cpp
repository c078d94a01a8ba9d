#include "pos/agent/status.hpp"

#include <sys/statvfs.h>

#include <boost/json/serialize.hpp>
#include <sstream>

#include "pos/common/prometheus_text.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::agent {
namespace {

std::optional<std::string> rfc3339(std::optional<std::int64_t> ms) {
  if (!ms) {
    return std::nullopt;
  }
  return protocol::format_rfc3339_utc_ms(*ms);
}

void metric(std::ostringstream& out, std::string_view name, std::string_view type,
            std::string_view help, double value) {
  common::PrometheusWriter writer(out, "posagent_");
  writer.family(name, help, type);
  writer.sample(name, {}, value);
}

/// `config` of /v1/status: the live settings in force and what the reloads did.
boost::json::object config_document(const AgentSnapshot& s) {
  boost::json::object doc;
  doc["log_level"] = s.log_level;
  doc["rate_limit_kbps"] = s.rate_limit_kbps;
  common::append_reload_json(doc, s.reloads);
  return doc;
}

}  // namespace

protocol::AgentStatus make_status(const AgentSnapshot& s, protocol::AgentState state) {
  protocol::AgentStatus status;
  status.state = state;
  status.agent_version = POS_VERSION;
  status.sent_at = protocol::format_rfc3339_utc_ms(s.now_ms);
  status.backlog_events = s.outbox.backlog_events;
  status.backlog_bytes = s.outbox.backlog_bytes;
  status.oldest_unacked_at = rfc3339(s.outbox.oldest_unacked_received_ms);
  status.last_ack_at = rfc3339(s.outbox.last_ack_ms);
  status.ingested_total = s.ingested_total;
  status.rejected_total = s.rejected_total;
  status.db_bytes = s.outbox.db_bytes;
  status.disk_free_bytes = s.disk_free_bytes;
  status.epoch = s.outbox.epoch;
  status.acked_through = s.outbox.acked_through;
  status.epoch_renewals = s.outbox.epoch_renewals;
  status.epoch_renewed_at = rfc3339(s.outbox.epoch_renewed_ms);
  if (!s.broker.empty()) {
    status.broker = s.broker;
  }
  status.cert_not_after = rfc3339(s.cert_not_after_ms);
  if (s.replay) {
    status.extra["replay"] = protocol::replay_progress_to_json(*s.replay);
  }
  return status;
}

std::string status_document(const AgentSnapshot& s) {
  auto doc = protocol::status_to_json(make_status(s, protocol::AgentState::online));
  doc["store_id"] = s.store_id;
  doc["till_id"] = s.till_id;
  doc["broker_connected"] = s.broker_connected;
  if (s.broker.empty()) {
    doc["broker"] = nullptr;
  }
  doc["last_seq"] = s.outbox.last_seq;
  if (s.outbox.previous_epoch != 0) {
    doc["previous_epoch"] = protocol::format_epoch(s.outbox.previous_epoch);
  }
  if (s.outbox.oldest_unacked_received_ms) {
    doc["oldest_unacked_age_s"] =
        std::max<std::int64_t>(0, (s.now_ms - *s.outbox.oldest_unacked_received_ms) / 1000);
  } else {
    doc["oldest_unacked_age_s"] = nullptr;
  }
  doc["duplicates_total"] = s.duplicates_total;
  doc["batches_sent_total"] = s.batches_sent_total;
  doc["reconnects_total"] = s.reconnects_total;
  doc["config"] = config_document(s);
  return boost::json::serialize(doc);
}

std::string metrics_text(const AgentSnapshot& s) {
  std::ostringstream out;
  out.precision(17);
  const auto d = [](std::uint64_t v) { return static_cast<double>(v); };
  metric(out, "ingest_requests_total", "counter", "HTTP ingest requests",
         d(s.ingest_requests_total));
  metric(out, "events_accepted_total", "counter", "Events accepted and committed",
         d(s.ingested_total));
  metric(out, "events_rejected_total", "counter", "Events rejected by validation",
         d(s.rejected_total));
  metric(out, "events_duplicate_total", "counter", "Events answered duplicate",
         d(s.duplicates_total));
  metric(out, "ingest_unavailable_total", "counter", "Requests answered 503",
         d(s.unavailable_total));
  metric(out, "ingest_connections", "gauge",
         "Open ingest HTTP connections (at ingest.max_connections a new one replaces the idlest)",
         d(s.ingest_connections));
  metric(out, "backlog_events", "gauge", "Events not yet acknowledged", d(s.outbox.backlog_events));
  metric(out, "backlog_bytes", "gauge", "Payload bytes not yet acknowledged",
         d(s.outbox.backlog_bytes));
  const double oldest_age =
      s.outbox.oldest_unacked_received_ms
          ? static_cast<double>(s.now_ms - *s.outbox.oldest_unacked_received_ms) / 1000.0
          : 0.0;
  metric(out, "oldest_unacked_age_seconds", "gauge", "Age of the oldest unacknowledged event",
         oldest_age);
  metric(out, "last_seq", "gauge", "Highest committed seq", d(s.outbox.last_seq));
  metric(out, "acked_through", "gauge", "Highest acknowledged seq", d(s.outbox.acked_through));
  metric(out, "epoch_renewals_total", "counter",
         "Moves to a new epoch because the collector was ahead of the database (restored disk)",
         d(s.outbox.epoch_renewals));
  metric(out, "commits_total", "counter", "Group commits (fsyncs) of ingest",
         d(s.outbox.commits_total));
  metric(out, "pruned_total", "counter", "Acknowledged events pruned after retention",
         d(s.outbox.pruned_total));
  metric(out, "spool_files_done_total", "counter", "Spool files stored and moved to done/",
         d(s.spool_files_done_total));
  metric(out, "spool_files_failed_total", "counter", "Spool files moved to failed/",
         d(s.spool_files_failed_total));
  metric(out, "spool_files_refused_total", "counter",
         "Spool entries refused as not regular files (symbolic links, ...)",
         d(s.spool_files_refused_total));
  metric(out, "spool_done_pruned_total", "counter",
         "Files deleted from spool done/ after retention", d(s.spool_done_pruned_total));
  metric(out, "batches_sent_total", "counter", "Batches published", d(s.batches_sent_total));
  metric(out, "events_sent_total", "counter", "Events published (resends included)",
         d(s.events_sent_total));
  metric(out, "bytes_sent_total", "counter", "Compressed batch bytes published",
         d(s.bytes_sent_total));
  metric(out, "raw_bytes_sent_total", "counter", "Batch payload bytes before compression",
         d(s.raw_bytes_sent_total));
  metric(out, "resends_total", "counter", "Go-back-N resends", d(s.resends_total));
  metric(out, "resend_requests_total", "counter",
         "Acks with the resend flag (a collector took the till over) that made the agent resend",
         d(s.resend_requests_total));
  metric(out, "ack_timeout_seconds", "gauge",
         "Ack timeout now in force (adapted to the acks' pace, floor forward.ack_timeout_ms)",
         static_cast<double>(s.ack_timeout_ms) / 1000.0);
  metric(out, "acks_received_total", "counter", "Acks that advanced the mark",
         d(s.acks_received_total));
  metric(out, "reconnects_total", "counter", "Broker reconnects", d(s.reconnects_total));
  metric(out, "broker_connected", "gauge", "1 when connected to the broker",
         s.broker_connected ? 1.0 : 0.0);
  if (s.cert_not_after_ms) {
    metric(out, "certificate_expiry_timestamp_seconds", "gauge",
           "notAfter of the MQTT client certificate (Unix time)",
           static_cast<double>(*s.cert_not_after_ms) / 1000.0);
  }
  metric(out, "replay_commands_total", "counter",
         "Replay commands received (repeated and invalid ones included)",
         d(s.replay_stats.commands));
  metric(out, "replays_refused_total", "counter", "Replays refused or stopped",
         d(s.replay_stats.refused));
  metric(out, "replays_completed_total", "counter", "Replays done", d(s.replay_stats.completed));
  metric(out, "replay_events_total", "counter",
         "Events a collector acknowledged as published again by a replay",
         d(s.replay_stats.events_replayed));
  metric(out, "db_bytes", "gauge", "SQLite database and WAL size", d(s.outbox.db_bytes));
  metric(out, "disk_free_bytes", "gauge", "Free bytes on the data directory's file system",
         d(s.disk_free_bytes));
  metric(out, "upload_limit_kbps", "gauge",
         "Upload cap in force (forward.rate_limit_kbps; 0: none)", d(s.rate_limit_kbps));
  common::PrometheusWriter writer(out, "posagent_");
  common::append_reload_metrics(writer, s.reloads);
  return out.str();
}

std::string human_summary(const boost::json::object& status) {
  const auto text = [&](std::string_view key) -> std::string {
    const auto* v = status.if_contains(key);
    if (v == nullptr || v->is_null()) {
      return "-";
    }
    if (v->is_string()) {
      return std::string(v->get_string());
    }
    return boost::json::serialize(*v);
  };
  std::ostringstream out;
  out << "till          " << text("store_id") << '/' << text("till_id") << "  (agent "
      << text("agent_version") << ", epoch " << text("epoch") << ")\n"
      << "broker        "
      << (text("broker_connected") == "true"
              ? "connected" + (text("broker") == "-" ? std::string() : " to " + text("broker"))
              : std::string("NOT connected"))
      << '\n'
      << "backlog       " << text("backlog_events") << " events, " << text("backlog_bytes")
      << " bytes, oldest unacked " << text("oldest_unacked_at") << " (age "
      << text("oldest_unacked_age_s") << " s)\n"
      << "last ack      " << text("last_ack_at") << "  (acked through seq " << text("acked_through")
      << " of " << text("last_seq") << ")\n"
      << "ingested      " << text("ingested_total") << " accepted, " << text("rejected_total")
      << " rejected, " << text("duplicates_total") << " duplicates since start\n"
      << "database      " << text("db_bytes") << " bytes; disk free " << text("disk_free_bytes")
      << " bytes\n";
  return out.str();
}

std::uint64_t disk_free_bytes(const std::string& path) {
  struct statvfs info {};
  if (::statvfs(path.c_str(), &info) != 0) {
    return 0;
  }
  return static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
}

}  // namespace pos::agent
