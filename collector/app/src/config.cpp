#include "pos/collector/config.hpp"

#include <algorithm>
#include <filesystem>
#include <limits>

#include "pos/collector/sales_kpis.hpp"
#include "pos/common/config_reader.hpp"
#include "pos/common/http_server.hpp"
#include "pos/protocol/ids.hpp"
#include "pos/protocol/topics.hpp"

namespace pos::collector {
namespace {

/// The fleet keeps about an hour of rejected-growth history (fleet.hpp max_rejected_buckets).
constexpr std::int64_t max_rejected_window_minutes = 60;

/// `[stock]`: low_threshold, [stock.categories] (category = threshold), max_items,
/// snapshot_interval_s.
void read_stock(common::ConfigReader& r, CollectorConfig::Stock& s) {
  constexpr std::int64_t max_threshold = 1'000'000'000;
  s.thresholds.low_default =
      r.get_int("stock.low_threshold", s.thresholds.low_default, 0, max_threshold);
  for (const auto& category : r.table_keys("stock.categories")) {
    s.thresholds.categories[category] =
        r.get_int("stock.categories." + category, s.thresholds.low_default, 0, max_threshold);
  }
  s.max_items = static_cast<std::size_t>(
      r.get_int("stock.max_items", static_cast<std::int64_t>(s.max_items), 1, 50'000'000));
  s.snapshot_interval = std::chrono::seconds(
      r.get_int("stock.snapshot_interval_s", s.snapshot_interval.count(), 1, 3600));
}

CollectorConfig read(common::ConfigReader& r) {
  CollectorConfig c;
  c.collector_id = r.require_id("collector_id");
  c.data_dir = r.require_path("data_dir");
  c.log_level = common::read_log_level(r, c.log_level);

  auto& m = c.mqtt;
  static_cast<common::MqttSettings&>(m) = common::read_mqtt_settings(r, c.collector_id);
  m.share_group = r.get_string("mqtt.share_group", m.share_group);
  if (!protocol::is_valid_id(m.share_group)) {
    r.fail("mqtt.share_group", "must match [A-Za-z0-9_-]{1,32}");
  }
  common::read_reconnect_backoff(r, "mqtt", m.reconnect_initial, m.reconnect_max);

  auto& s = c.sink;
  s.type = r.get_string("sink.type", s.type);
  if (s.type != "pubsub" && s.type != "file") {
    r.fail("sink.type", "must be pubsub or file (got " + s.type + ")");
  }
  s.project = r.get_string("sink.project", s.project);
  s.topic = r.get_string("sink.topic", s.topic);
  s.dead_letter_topic = r.get_string("sink.dead_letter_topic", s.dead_letter_topic);
  s.ordering = r.get_bool("sink.ordering", s.ordering);
  s.path = r.get_path("sink.path", s.path);
  s.credentials_file = r.get_path("sink.credentials_file", s.credentials_file);
  s.emulator_host = r.get_string("sink.emulator_host", s.emulator_host);
  s.endpoint = r.get_string("sink.endpoint", s.endpoint);
  if (auto ok = check_pubsub_endpoint(s.endpoint); !ok) {
    r.fail("sink.endpoint", ok.error().message);
  }
  s.max_pending_bytes = static_cast<std::size_t>(
      r.get_int("sink.max_pending_bytes", static_cast<std::int64_t>(s.max_pending_bytes),
                1024 * 1024, 64LL * 1024 * 1024 * 1024));
  s.key_bytes_per_second = static_cast<std::size_t>(
      r.get_int("sink.key_bytes_per_second", static_cast<std::int64_t>(s.key_bytes_per_second), 0,
                1024LL * 1024 * 1024));
  s.max_requests_in_flight = static_cast<std::size_t>(r.get_int(
      "sink.max_requests_in_flight", static_cast<std::int64_t>(s.max_requests_in_flight), 1, 256));
  if (s.type == "pubsub") {
    if (s.project.empty()) {
      r.fail("sink.project", "is required with sink.type = \"pubsub\"");
    }
    for (auto [key, value] :
         {std::pair<std::string_view, const std::string*>{"sink.topic", &s.topic},
          {"sink.dead_letter_topic", &s.dead_letter_topic}}) {
      if (value->size() < 3 || value->size() > 255) {
        r.fail(key, "must be 3 to 255 characters");
      }
    }
    if (!s.credentials_file.empty()) {
      r.get_existing_file("sink.credentials_file", s.credentials_file);
    }
  } else if (s.path.empty()) {
    r.fail("sink.path", "is required with sink.type = \"file\"");
  }

  c.dictionaries.dir = r.get_path("dictionaries.dir", c.dictionaries.dir);
  if (!c.dictionaries.dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(c.dictionaries.dir, ec)) {
      r.fail("dictionaries.dir", "not a directory: " + c.dictionaries.dir);
    }
  }

  auto& l = c.limits;
  l.max_batch_bytes = static_cast<std::size_t>(
      r.get_int("limits.max_batch_bytes", static_cast<std::int64_t>(l.max_batch_bytes), 4096,
                256LL * 1024 * 1024));
  l.max_raw_bytes = static_cast<std::size_t>(r.get_int("limits.max_raw_bytes",
                                                       static_cast<std::int64_t>(l.max_raw_bytes),
                                                       4096, 1024LL * 1024 * 1024));
  l.max_events_per_batch = static_cast<std::uint32_t>(
      r.get_int("limits.max_events_per_batch", l.max_events_per_batch, 1, 1'000'000));
  l.max_pending_batches = static_cast<std::size_t>(
      r.get_int("limits.max_pending_batches", static_cast<std::int64_t>(l.max_pending_batches), 1,
                1'000'000));

  c.marks.type = r.get_string("marks.type", c.marks.type);
  c.marks.dsn = r.get_string("marks.dsn", c.marks.dsn);
  if (c.marks.type != "sqlite" && c.marks.type != "postgres") {
    r.fail("marks.type", R"(must be "sqlite" or "postgres" (got ")" + c.marks.type + "\")");
  }
  if (c.marks.type == "postgres" && c.marks.dsn.empty()) {
    r.fail("marks.dsn", "is required with marks.type = \"postgres\" (postgresql://...)");
  }
  if (c.marks.type == "sqlite" && !c.marks.dsn.empty()) {
    r.fail("marks.dsn", "is only used with marks.type = \"postgres\"");
  }
  c.marks.lease_ttl = std::chrono::milliseconds(
      r.get_int("marks.lease_ttl_ms", c.marks.lease_ttl.count(), 2000, 600'000));
  c.marks.lease_renew = std::chrono::milliseconds(
      r.get_int("marks.lease_renew_ms", c.marks.lease_renew.count(), 100, 200'000));
  if (c.marks.lease_renew * 3 > c.marks.lease_ttl) {
    r.fail("marks.lease_renew_ms", "must be at most a third of marks.lease_ttl_ms");
  }
  c.marks.max_epochs_per_till = static_cast<std::size_t>(
      r.get_int("marks.max_epochs_per_till", static_cast<std::int64_t>(c.marks.max_epochs_per_till),
                2, 1000));
  c.marks.epoch_retention = std::chrono::days(r.get_int(
      "marks.epoch_retention_days",
      std::chrono::duration_cast<std::chrono::days>(c.marks.epoch_retention).count(), 1, 3650));

  c.fleet.stale_after = std::chrono::seconds(
      r.get_int("fleet.stale_after_s", c.fleet.stale_after.count(), 1, 86'400));
  c.fleet.max_tills = static_cast<std::size_t>(
      r.get_int("fleet.max_tills", static_cast<std::int64_t>(c.fleet.max_tills), 1, 1'000'000));
  c.fleet.share_interval = std::chrono::milliseconds(
      r.get_int("fleet.share_interval_ms", c.fleet.share_interval.count(), 100, 600'000));

  c.http.listen = r.get_string("http.listen", c.http.listen);
  if (auto endpoint = common::parse_listen_endpoint(c.http.listen); !endpoint) {
    r.fail("http.listen", endpoint.error().message);
  }
  c.http.allowed_hosts = r.get_string_list("http.allowed_hosts", c.http.allowed_hosts);
  for (const auto& host : c.http.allowed_hosts) {
    if (auto ok = common::check_allowed_host(host); !ok) {
      r.fail("http.allowed_hosts", ok.error().message);
    }
  }
  c.http.allowed_origins = r.get_string_list("http.allowed_origins", c.http.allowed_origins);
  for (const auto& origin : c.http.allowed_origins) {
    if (auto ok = common::check_allowed_origin(origin); !ok) {
      r.fail("http.allowed_origins", ok.error().message);
    }
  }

  c.health.topic = r.get_string("health.topic", c.health.topic);
  if (!c.health.topic.empty() && (c.health.topic.size() < 3 || c.health.topic.size() > 255)) {
    r.fail("health.topic", "must be empty or 3 to 255 characters");
  }

  auto& a = c.alerts;
  a.offline =
      std::chrono::minutes(r.get_int("alerts.offline_minutes", a.offline.count(), 1, 7 * 24 * 60));
  a.backlog_age = std::chrono::minutes(
      r.get_int("alerts.backlog_age_minutes", a.backlog_age.count(), 1, 7 * 24 * 60));
  a.clock_skew =
      std::chrono::seconds(r.get_int("alerts.clock_skew_seconds", a.clock_skew.count(), 1, 86'400));
  a.rejected_rising_window = std::chrono::minutes(r.get_int("alerts.rejected_rising_window_minutes",
                                                            a.rejected_rising_window.count(), 1,
                                                            max_rejected_window_minutes));
  a.epoch_renewed = std::chrono::hours(
      r.get_int("alerts.database_rolled_back_hours", a.epoch_renewed.count(), 1, 24 * 365));
  a.cert_expiry =
      std::chrono::days(r.get_int("alerts.cert_expiry_days", a.cert_expiry.count(), 1, 3650));

  auto& k = c.kpis;
  k.timezone = r.get_string("kpis.timezone", k.timezone);
  if (auto offset = parse_utc_offset(k.timezone); !offset) {
    r.fail("kpis.timezone", offset.error().message);
  } else {
    k.utc_offset = *offset;
  }
  k.latest_transactions = static_cast<std::size_t>(r.get_int(
      "kpis.latest_transactions", static_cast<std::int64_t>(k.latest_transactions), 1, 1000));
  k.max_stores = static_cast<std::size_t>(
      r.get_int("kpis.max_stores", static_cast<std::int64_t>(k.max_stores), 1, 100'000));
  k.max_categories = static_cast<std::size_t>(
      r.get_int("kpis.max_categories", static_cast<std::int64_t>(k.max_categories), 1, 10'000));
  k.currency = r.get_string("kpis.currency", k.currency);
  if (!k.currency.empty() &&
      (k.currency.size() != 3 || !std::all_of(k.currency.begin(), k.currency.end(),
                                              [](char ch) { return ch >= 'A' && ch <= 'Z'; }))) {
    r.fail("kpis.currency", "must be empty or an ISO 4217 code like \"IDR\"");
  }
  k.snapshot_interval = std::chrono::seconds(
      r.get_int("kpis.snapshot_interval_s", k.snapshot_interval.count(), 1, 3600));
  k.latency_window = std::chrono::seconds(r.get_int(
      "kpis.latency_window_s",
      std::chrono::duration_cast<std::chrono::seconds>(k.latency_window).count(), 1, 3600));
  k.latency_max_samples = static_cast<std::size_t>(
      r.get_int("kpis.latency_max_samples", static_cast<std::int64_t>(k.latency_max_samples), 100,
                10'000'000));

  read_stock(r, c.stock);

  c.shutdown.drain_timeout = std::chrono::milliseconds(
      r.get_int("shutdown.drain_timeout_ms", c.shutdown.drain_timeout.count(), 0, 600'000));

  r.reject_unknown_keys();
  return c;
}

}  // namespace

CollectorConfig load_collector_config(const std::string& path) {
  auto reader = common::ConfigReader::from_file(path);
  return read(reader);
}

CollectorConfig parse_collector_config(std::string_view text, const std::string& base_dir) {
  auto reader = common::ConfigReader::from_string(text, "config", base_dir);
  return read(reader);
}

}  // namespace pos::collector
