#pragma once
// poscollector's configuration (TOML). SPEC fixes the names of identities and endpoints; every
// other key has a default documented in packaging/poscollector.toml.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pos/collector/alerts.hpp"
#include "pos/collector/pubsub_sink.hpp"
#include "pos/collector/stock_book.hpp"
#include "pos/common/mqtt_settings.hpp"

namespace pos::collector {

struct CollectorConfig {
  std::string collector_id;
  std::string data_dir;
  std::string log_level = "info";

  /// `[mqtt]`: the settings the agent shares (mqtt.client_id defaults to collector_id), plus the
  /// collector's own.
  struct Mqtt : common::MqttSettings {
    std::string share_group = "pos-collectors";
    std::chrono::milliseconds reconnect_initial{500};
    std::chrono::milliseconds reconnect_max{30'000};
    bool operator==(const Mqtt&) const = default;
  } mqtt;

  struct Sink {
    std::string type = "pubsub";  ///< "pubsub" or "file"
    std::string project;
    std::string topic = "pos-events";
    std::string dead_letter_topic = "pos-events-dlq";
    bool ordering = true;
    std::string path;              ///< file sink: output directory
    std::string credentials_file;  ///< empty: GOOGLE_APPLICATION_CREDENTIALS, else metadata
    std::string emulator_host;     ///< empty: PUBSUB_EMULATOR_HOST
    /// https://host[:port] (http:// only to loopback); unused with the emulator.
    std::string endpoint = std::string(default_pubsub_endpoint);
    std::size_t max_pending_bytes = std::size_t{256} * 1024 * 1024;
    std::size_t key_bytes_per_second = 900 * 1024;  ///< per ordering key; 0: no pacing
    std::size_t max_requests_in_flight = 16;
    bool operator==(const Sink&) const = default;
  } sink;

  struct Dictionaries {
    std::string dir;  ///< empty: none; else every regular file in it is loaded at start
    bool operator==(const Dictionaries&) const = default;
  } dictionaries;

  struct Limits {
    std::size_t max_batch_bytes = std::size_t{8} * 1024 * 1024;
    std::size_t max_raw_bytes = std::size_t{32} * 1024 * 1024;
    std::uint32_t max_events_per_batch = 10'000;
    std::size_t max_pending_batches = 1024;
    bool operator==(const Limits&) const = default;
  } limits;

  struct Marks {  ///< dedup marks (batch_processor.hpp, docs/collector.md "Epochs")
    /// SPEC: "sqlite" (one collector) or "postgres" (marks shared by several collectors, each
    /// till owned by one at a time through partition leases); `dsn` must be empty with sqlite.
    std::string type = "sqlite";
    std::string dsn;
    /// postgres: a partition lease's life, and how often leases are renewed (leases.hpp).
    std::chrono::milliseconds lease_ttl{5000};
    std::chrono::milliseconds lease_renew{1000};
    std::size_t max_epochs_per_till = 8;
    std::chrono::hours epoch_retention{30 * 24};  ///< config in days
    bool operator==(const Marks&) const = default;
  } marks;

  struct Fleet {
    std::chrono::seconds stale_after{90};
    std::size_t max_tills = 10'000;
    /// Several collectors: how often the per-till counts are shared (FleetSharing).
    std::chrono::milliseconds share_interval{2000};
    bool operator==(const Fleet&) const = default;
  } fleet;

  struct Http {
    std::string listen = "127.0.0.1:8412";
    /// Host names (or addresses) besides 127.0.0.1, localhost and [::1] that requests may name
    /// in Host, e.g. the name operators use for the dashboard (common::HttpAccess).
    std::vector<std::string> allowed_hosts;
    /// Browser origins ("https://host[:port]") whose requests are answered; others with an
    /// Origin header get 403. Empty: none (the dashboard's own page needs no entry).
    std::vector<std::string> allowed_origins;
    bool operator==(const Http&) const = default;
  } http;

  AlertOptions alerts;  ///< thresholds of the alert rules (alerts.hpp, docs/dashboard.md)

  struct Health {  ///< the optional health topic (docs/dashboard.md, "Health topic")
    /// Pub/Sub topic id that gets every alert transition (raised, cleared); empty: none. With
    /// the file sink the transitions go to its files (destination "health").
    std::string topic;
    bool operator==(const Health&) const = default;
  } health;

  struct Kpis {  ///< the live sales view and /v1/stats latency (live_view.hpp, docs/collector.md)
    std::string timezone = "+07:00";  ///< fixed UTC offset of the stores' day
    std::chrono::minutes utc_offset{7 * 60};
    std::size_t latest_transactions = 50;
    std::size_t max_stores = 1000;
    std::size_t max_categories = 200;
    std::string currency;  ///< empty: the first currency counted each day
    std::chrono::seconds snapshot_interval{5};
    std::chrono::milliseconds latency_window{60'000};  ///< config in seconds
    std::size_t latency_max_samples = 100'000;
    bool operator==(const Kpis&) const = default;
  } kpis;

  struct Stock {  ///< the live stock book (stock_book.hpp, docs/collector.md "Live stock")
    StockThresholds thresholds;  ///< low_threshold and [stock.categories]
    std::size_t max_items = 200'000;
    std::chrono::seconds snapshot_interval{5};
    bool operator==(const Stock&) const = default;
  } stock;

  struct Shutdown {
    std::chrono::milliseconds drain_timeout{5000};
    bool operator==(const Shutdown&) const = default;
  } shutdown;

  bool operator==(const CollectorConfig&) const = default;
};

/// Loads and checks a configuration file. Throws common::StartupError naming the file and the key
/// (unknown keys, wrong types, out-of-range values, invalid ids, missing TLS files for ssl://,
/// missing sink settings).
CollectorConfig load_collector_config(const std::string& path);

/// Same, from text (tests); relative paths resolve against `base_dir`.
CollectorConfig parse_collector_config(std::string_view text, const std::string& base_dir = ".");

}  // namespace pos::collector
