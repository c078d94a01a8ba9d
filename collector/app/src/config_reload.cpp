#include "pos/collector/config_reload.hpp"

#include <array>

#include "pos/common/mqtt_reload_keys.hpp"

namespace pos::collector {
namespace {

using Config = CollectorConfig;
using Target = CollectorReloadTarget;

void apply_stock(Target& target, const Config& config) {
  target.stock(config);
}

void apply_alerts(Target& target, const Config& config) {
  target.alerts(config);
}

// NOLINTBEGIN(bugprone-macro-parentheses): the macro's `member` is a member path, not an expression
#define LIVE(name, member, apply) POS_RELOAD_KEY(Config, Target, name, member, apply)
#define RESTART(name, member) POS_RELOAD_KEY(Config, Target, name, member, nullptr)

/// One row per key; a key that becomes live gets its apply function instead of RESTART. The
/// `[stock]` thresholds are LIVE rows with their own apply function.
constexpr std::array collector_reload_key_table{
    RESTART("collector_id", collector_id),
    RESTART("data_dir", data_dir),
    LIVE("log_level", log_level, (common::apply_log_level<Config, Target>)),
    POS_MQTT_RELOAD_KEYS(Config, Target),
    RESTART("mqtt.share_group", mqtt.share_group),
    RESTART("mqtt.reconnect_initial_ms", mqtt.reconnect_initial),
    RESTART("mqtt.reconnect_max_ms", mqtt.reconnect_max),
    RESTART("sink.type", sink.type),
    RESTART("sink.project", sink.project),
    RESTART("sink.topic", sink.topic),
    RESTART("sink.dead_letter_topic", sink.dead_letter_topic),
    RESTART("sink.ordering", sink.ordering),
    RESTART("sink.path", sink.path),
    RESTART("sink.credentials_file", sink.credentials_file),
    RESTART("sink.emulator_host", sink.emulator_host),
    RESTART("sink.endpoint", sink.endpoint),
    RESTART("sink.max_pending_bytes", sink.max_pending_bytes),
    RESTART("sink.key_bytes_per_second", sink.key_bytes_per_second),
    RESTART("sink.max_requests_in_flight", sink.max_requests_in_flight),
    RESTART("dictionaries.dir", dictionaries.dir),
    RESTART("limits.max_batch_bytes", limits.max_batch_bytes),
    RESTART("limits.max_raw_bytes", limits.max_raw_bytes),
    RESTART("limits.max_events_per_batch", limits.max_events_per_batch),
    RESTART("limits.max_pending_batches", limits.max_pending_batches),
    RESTART("marks.type", marks.type),
    RESTART("marks.dsn", marks.dsn),
    RESTART("marks.lease_ttl_ms", marks.lease_ttl),
    RESTART("marks.lease_renew_ms", marks.lease_renew),
    RESTART("marks.max_epochs_per_till", marks.max_epochs_per_till),
    RESTART("marks.epoch_retention_days", marks.epoch_retention),
    RESTART("fleet.stale_after_s", fleet.stale_after),
    RESTART("fleet.max_tills", fleet.max_tills),
    RESTART("fleet.share_interval_ms", fleet.share_interval),
    RESTART("http.listen", http.listen),
    RESTART("http.allowed_hosts", http.allowed_hosts),
    RESTART("http.allowed_origins", http.allowed_origins),
    LIVE("alerts.offline_minutes", alerts.offline, apply_alerts),
    LIVE("alerts.backlog_age_minutes", alerts.backlog_age, apply_alerts),
    LIVE("alerts.clock_skew_seconds", alerts.clock_skew, apply_alerts),
    LIVE("alerts.rejected_rising_window_minutes", alerts.rejected_rising_window, apply_alerts),
    LIVE("alerts.database_rolled_back_hours", alerts.epoch_renewed, apply_alerts),
    LIVE("alerts.cert_expiry_days", alerts.cert_expiry, apply_alerts),
    RESTART("kpis.timezone", kpis.timezone),
    RESTART("kpis.timezone", kpis.utc_offset),
    RESTART("kpis.latest_transactions", kpis.latest_transactions),
    RESTART("kpis.max_stores", kpis.max_stores),
    RESTART("kpis.max_categories", kpis.max_categories),
    RESTART("kpis.currency", kpis.currency),
    RESTART("kpis.snapshot_interval_s", kpis.snapshot_interval),
    RESTART("kpis.latency_window_s", kpis.latency_window),
    RESTART("kpis.latency_max_samples", kpis.latency_max_samples),
    RESTART("health.topic", health.topic),
    LIVE("stock.low_threshold", stock.thresholds.low_default, apply_stock),
    LIVE("stock.categories", stock.thresholds.categories, apply_stock),
    RESTART("stock.max_items", stock.max_items),
    RESTART("stock.snapshot_interval_s", stock.snapshot_interval),
    LIVE("shutdown.drain_timeout_ms", shutdown.drain_timeout, (common::adopt_only<Config, Target>)),
};

#undef LIVE
#undef RESTART
// NOLINTEND(bugprone-macro-parentheses)

}  // namespace

std::span<const CollectorReloadKey> collector_reload_keys() {
  return collector_reload_key_table;
}

}  // namespace pos::collector
