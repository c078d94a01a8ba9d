#include "pos/agent/config.hpp"

#include <filesystem>
#include <ostream>

#include "pos/agent/upload_limiter.hpp"
#include "pos/common/config_reader.hpp"
#include "pos/common/http_server.hpp"
#include "pos/common/startup_error.hpp"
#include "pos/protocol/ids.hpp"
#include "pos/protocol/topics.hpp"

namespace pos::agent {
namespace {

constexpr std::int64_t max_i64 = std::numeric_limits<std::int64_t>::max();

AgentConfig read(common::ConfigReader& r, bool tls_files_exist) {
  AgentConfig c;
  c.store_id = r.require_id("store_id");
  c.till_id = r.require_id("till_id");
  c.data_dir = r.require_path("data_dir");
  c.log_level = common::read_log_level(r, c.log_level);

  auto& in = c.ingest;
  in.listen = r.get_string("ingest.listen", in.listen);
  if (auto endpoint = common::parse_listen_endpoint(in.listen); !endpoint) {
    r.fail("ingest.listen", endpoint.error().message);
  }
  in.spool_dir = r.get_path("ingest.spool_dir", in.spool_dir);
  in.max_events_per_request = static_cast<std::size_t>(
      r.get_int("ingest.max_events_per_request",
                static_cast<std::int64_t>(in.max_events_per_request), 1, max_i64));
  if (in.max_events_per_request > max_append_events) {
    r.fail("ingest.max_events_per_request",
           "must be at most " + std::to_string(max_append_events) +
               ", the events the buffer takes in one commit (got " +
               std::to_string(in.max_events_per_request) + ")");
  }
  in.max_request_bytes = static_cast<std::size_t>(
      r.get_int("ingest.max_request_bytes", static_cast<std::int64_t>(in.max_request_bytes), 1024,
                256LL * 1024 * 1024));
  in.max_event_bytes = static_cast<std::size_t>(r.get_int(
      "ingest.max_event_bytes", static_cast<std::int64_t>(in.max_event_bytes), 1024, max_i64));
  if (in.max_event_bytes > protocol::max_event_bytes) {
    r.fail("ingest.max_event_bytes", "must be at most " +
                                         std::to_string(protocol::max_event_bytes) +
                                         ", the collector's per-event limit (got " +
                                         std::to_string(in.max_event_bytes) + ")");
  }
  in.max_connections = static_cast<std::size_t>(r.get_int(
      "ingest.max_connections", static_cast<std::int64_t>(in.max_connections), 1, 10'000));
  in.allowed_origins = r.get_string_list("ingest.allowed_origins", in.allowed_origins);
  for (const auto& origin : in.allowed_origins) {
    if (auto ok = common::check_allowed_origin(origin); !ok) {
      r.fail("ingest.allowed_origins", ok.error().message);
    }
  }
  const std::string card_numbers = r.get_string(
      "ingest.card_numbers", in.card_numbers == CardNumberPolicy::reject ? "reject" : "mask");
  if (card_numbers == "reject") {
    in.card_numbers = CardNumberPolicy::reject;
  } else if (card_numbers == "mask") {
    in.card_numbers = CardNumberPolicy::mask;
  } else {
    r.fail("ingest.card_numbers", R"(must be "reject" or "mask" (got ")" + card_numbers + "\")");
  }
  in.spool_poll = std::chrono::milliseconds(
      r.get_int("ingest.spool_poll_ms", in.spool_poll.count(), 10, 3'600'000));
  in.spool_settle = std::chrono::milliseconds(
      r.get_int("ingest.spool_settle_ms", in.spool_settle.count(), 0, 3'600'000));

  c.buffer.max_bytes = static_cast<std::uint64_t>(r.get_int(
      "buffer.max_bytes", static_cast<std::int64_t>(c.buffer.max_bytes), 1024LL * 1024, max_i64));
  c.buffer.retention = std::chrono::hours(
      r.get_int("buffer.retention_hours", c.buffer.retention.count(), 0, 24 * 3650));

  c.mqtt =
      common::read_mqtt_settings(r, "posagent-" + c.store_id + "-" + c.till_id, tls_files_exist);

  auto& f = c.forward;
  f.dictionary_file = r.get_existing_file("forward.dictionary_file", f.dictionary_file);
  f.zstd_level = static_cast<int>(r.get_int("forward.zstd_level", f.zstd_level, 1, 19));
  f.batch_max_events = static_cast<std::size_t>(r.get_int(
      "forward.batch_max_events", static_cast<std::int64_t>(f.batch_max_events), 1, 10'000));
  f.batch_max_bytes = static_cast<std::size_t>(
      r.get_int("forward.batch_max_bytes", static_cast<std::int64_t>(f.batch_max_bytes), 4096,
                8LL * 1024 * 1024));
  f.batch_delay = std::chrono::milliseconds(
      r.get_int("forward.batch_delay_ms", f.batch_delay.count(), 0, 10'000));
  f.window_batches = static_cast<std::size_t>(
      r.get_int("forward.window_batches", static_cast<std::int64_t>(f.window_batches), 1, 64));
  f.ack_timeout = std::chrono::milliseconds(
      r.get_int("forward.ack_timeout_ms", f.ack_timeout.count(), 100, 600'000));
  f.ack_timeout_max = std::chrono::milliseconds(
      r.get_int("forward.ack_timeout_max_ms", f.ack_timeout_max.count(), 100, 3'600'000));
  if (f.ack_timeout_max < f.ack_timeout) {
    r.fail("forward.ack_timeout_max_ms", "must be >= forward.ack_timeout_ms");
  }
  common::read_reconnect_backoff(r, "forward", f.reconnect_initial, f.reconnect_max);
  f.heartbeat =
      std::chrono::seconds(r.get_int("forward.heartbeat_s", f.heartbeat.count(), 1, 3600));
  f.rate_limit_kbps = static_cast<std::uint64_t>(r.get_int(
      "forward.rate_limit_kbps", static_cast<std::int64_t>(f.rate_limit_kbps), 0, 10'000'000));
  f.rate_limit_schedule = r.get_string_list("forward.rate_limit_schedule", f.rate_limit_schedule);
  if (auto schedule = parse_schedule(f.rate_limit_schedule); !schedule) {
    r.fail("forward.rate_limit_schedule", schedule.error().message);
  }

  c.shutdown.drain_timeout = std::chrono::milliseconds(
      r.get_int("shutdown.drain_timeout_ms", c.shutdown.drain_timeout.count(), 0, 60'000));

  r.reject_unknown_keys();
  return c;
}

}  // namespace

AgentConfig load_agent_config(const std::string& path) {
  auto reader = common::ConfigReader::from_file(path);
  return read(reader, true);
}

AgentConfig load_agent_config_for_enroll(const std::string& path) {
  auto reader = common::ConfigReader::from_file(path);
  return read(reader, false);
}

std::optional<AgentConfig> load_agent_config_for_command(const std::string& path,
                                                         std::ostream& err) {
  try {
    return load_agent_config_for_enroll(path);
  } catch (const common::StartupError& e) {
    err << "posagent: " << e.what() << "\n";
    return std::nullopt;
  }
}

AgentConfig parse_agent_config(std::string_view text, const std::string& base_dir) {
  auto reader = common::ConfigReader::from_string(text, "config", base_dir);
  return read(reader, true);
}

}  // namespace pos::agent
