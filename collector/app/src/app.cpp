// poscollector's composition root: builds every component from the configuration, wires them on
// one io_context, and runs until SIGTERM/SIGINT; SIGHUP reloads the configuration.

#include "pos/collector/app.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <filesystem>
#include <iostream>
#include <unordered_map>

#include "broker_set.hpp"
#include "pos/collector/alerts.hpp"
#include "pos/collector/batch_processor.hpp"
#include "pos/collector/config.hpp"
#include "pos/collector/config_reload.hpp"
#include "pos/collector/file_sink.hpp"
#include "pos/collector/fleet.hpp"
#include "pos/collector/fleet_sharing.hpp"
#include "pos/collector/fleet_store.hpp"
#include "pos/collector/health_messages.hpp"
#include "pos/collector/http_api.hpp"
#include "pos/collector/inventory_view.hpp"
#include "pos/collector/leases.hpp"
#include "pos/collector/live_view.hpp"
#include "pos/collector/mark_store.hpp"
#include "pos/collector/pubsub_sink.hpp"
#include "pos/collector/replay_api.hpp"
#include "pos/collector/replay_metrics.hpp"
#include "pos/collector/replay_processor.hpp"
#include "pos/collector/replay_tracker.hpp"
#include "pos/common/backoff.hpp"
#include "pos/common/clock.hpp"
#include "pos/common/config_reload.hpp"
#include "pos/common/durable_directory.hpp"
#include "pos/common/http_server.hpp"
#include "pos/common/logging.hpp"
#include "pos/common/mqtt_settings.hpp"
#include "pos/common/paho_transport.hpp"
#include "pos/common/periodic_task.hpp"
#include "pos/common/program.hpp"
#include "pos/common/prometheus_text.hpp"
#include "pos/common/sighup_reloader.hpp"
#include "pos/common/startup_error.hpp"
#include "pos/common/systemd_notify.hpp"
#include "pos/protocol/dictionary.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/topics.hpp"

namespace pos::collector {
namespace {

namespace asio = boost::asio;
using Dictionaries = std::unordered_map<std::uint32_t, std::shared_ptr<const protocol::Dictionary>>;

constexpr std::size_t max_dictionaries = 256;
constexpr auto fleet_save_interval = std::chrono::seconds(5);
constexpr auto alert_interval = std::chrono::seconds(1);
constexpr auto epoch_prune_interval = std::chrono::hours(1);

/// Every regular file in the directory must be a zstd dictionary; ids must be unique.
Dictionaries load_dictionaries(const std::string& dir) {
  Dictionaries out;
  if (dir.empty()) {
    return out;
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) {
      continue;
    }
    if (out.size() >= max_dictionaries) {
      throw common::StartupError("dictionaries.dir: more than " + std::to_string(max_dictionaries) +
                                 " files in " + dir);
    }
    auto loaded = protocol::Dictionary::load_file(entry.path().string());
    if (!loaded) {
      throw common::StartupError("dictionaries.dir: " + loaded.error().message);
    }
    const auto id = (*loaded)->id();
    if (!out.emplace(id, *loaded).second) {
      throw common::StartupError("dictionaries.dir: two dictionaries with id " +
                                 std::to_string(id) + " in " + dir);
    }
  }
  if (ec) {
    throw common::StartupError("dictionaries.dir: " + dir + ": " + ec.message());
  }
  return out;
}

std::unique_ptr<Sink> make_configured_sink(asio::any_io_executor executor,
                                           const CollectorConfig& config) {
  const auto& s = config.sink;
  if (s.type == "file") {
    return std::make_unique<FileSink>(std::move(executor), FileSinkConfig{s.path});
  }
  PubSubConfig p;
  p.project = s.project;
  p.topic = s.topic;
  p.dead_letter_topic = s.dead_letter_topic;
  p.health_topic = config.health.topic;
  p.ordering = s.ordering;
  p.emulator_host = s.emulator_host;
  p.endpoint = s.endpoint;
  p.credentials_file = s.credentials_file;
  p.key_bytes_per_second = s.key_bytes_per_second;
  p.max_requests_in_flight = s.max_requests_in_flight;
  return std::make_unique<PubSubSink>(std::move(executor), std::move(p));
}

/// The configured sink; a setting it cannot use (an unreadable or invalid credentials file, a bad
/// endpoint) is a configuration error (exit 2), the same from `run` as from `check-config`.
std::unique_ptr<Sink> make_sink(asio::any_io_executor executor, const CollectorConfig& config) {
  try {
    return make_configured_sink(std::move(executor), config);
  } catch (const common::StartupError&) {
    throw;
  } catch (const std::exception& e) {
    throw common::StartupError(std::string("sink: ") + e.what());
  }
}

/// The configuration with every file it names checked as far as that is possible without starting
/// (the dictionaries, the Pub/Sub credentials, the TLS files): what `run` and `check-config` both
/// load, so that both fail alike. Throws common::StartupError.
CollectorConfig load_checked_config(const std::string& config_path) {
  auto config = load_collector_config(config_path);
  load_dictionaries(config.dictionaries.dir);
  if (config.sink.type == "pubsub") {
    asio::io_context io;
    make_sink(io.get_executor(), config);
  }
  common::check_mqtt_files(config.mqtt);
  return config;
}

/// Every broker listed in `[mqtt] uri`.
std::vector<std::string> broker_uris(const CollectorConfig& config) {
  return config.mqtt.uris;
}

/// The brokers for log lines: "ssl://a:8883, ssl://b:8883".
std::string broker_list(const CollectorConfig& config) {
  std::string out;
  for (const auto& uri : broker_uris(config)) {
    out += (out.empty() ? "" : ", ") + uri;
  }
  return out;
}

/// The replay subscription, shared or plain like the batch subscription (docs/replay.md).
std::string replay_filter(const CollectorConfig& config) {
  if (config.marks.type == "postgres") {
    return config.mqtt.topic_prefix + "/+/+/replay";
  }
  return common::startup_value(
      protocol::shared_replay_subscription(config.mqtt.share_group, config.mqtt.topic_prefix),
      "mqtt.share_group");
}

/// The brokers to take batches from. One collector: a persistent session and the shared
/// subscription (SPEC), so that a restart misses nothing the broker queued. Several collectors
/// ([marks] type = "postgres"): every collector subscribes to every batch and keeps those of the
/// tills it owns, with no session kept across connections: a dead collector's session would
/// otherwise have the broker queue every batch for it (docs/collector.md, "Several collectors").
BrokerSetOptions broker_options(const CollectorConfig& config, const std::string& batch_filter) {
  const bool cluster = config.marks.type == "postgres";
  BrokerSetOptions o;
  for (const auto& uri : broker_uris(config)) {
    common::PahoTransportOptions t;
    t.mqtt = config.mqtt;
    t.mqtt.uris = {uri};
    if (cluster) {
      t.clean_start = true;
      t.mqtt.session_expiry = std::chrono::seconds(0);
    }
    o.brokers.push_back(std::move(t));
  }
  o.topic_prefix = config.mqtt.topic_prefix;
  o.filters = {batch_filter, config.mqtt.topic_prefix + "/+/+/status", replay_filter(config)};
  o.reconnect_initial = config.mqtt.reconnect_initial;
  o.reconnect_max = config.mqtt.reconnect_max;
  return o;
}

/// The batch subscription: shared with one collector, plain with several (see broker_options).
std::string batch_filter(const CollectorConfig& config) {
  if (config.marks.type == "postgres") {
    return config.mqtt.topic_prefix + "/+/+/batch";
  }
  auto shared =
      protocol::shared_batch_subscription(config.mqtt.share_group, config.mqtt.topic_prefix);
  if (!shared) {
    throw common::StartupError("mqtt.share_group: " + shared.error().message);
  }
  return *shared;
}

LeaseManagerOptions lease_options(const CollectorConfig& config) {
  LeaseManagerOptions o;
  o.ttl = config.marks.lease_ttl;
  o.renew_interval = config.marks.lease_renew;
  o.safety_margin = std::min(o.safety_margin, config.marks.lease_ttl / 4);
  return o;
}

/// The options from the `[kpis]` section; snapshots go to `{data_dir}/kpis.db`.
LiveViewOptions live_view_options(const CollectorConfig& config) {
  LiveViewOptions o;
  const auto& k = config.kpis;
  o.kpis.utc_offset = k.utc_offset;
  o.kpis.latest_transactions = k.latest_transactions;
  o.kpis.max_stores = k.max_stores;
  o.kpis.max_categories = k.max_categories;
  o.kpis.currency = k.currency;
  o.latency.window = k.latency_window;
  o.latency.max_samples = k.latency_max_samples;
  o.snapshot_path = std::filesystem::path(config.data_dir) / "kpis.db";
  o.snapshot_interval = k.snapshot_interval;
  return o;
}

/// The options from the `[stock]` section; snapshots go to `{data_dir}/inventory.db`.
InventoryViewOptions inventory_options(const CollectorConfig& config) {
  InventoryViewOptions o;
  o.book.thresholds = config.stock.thresholds;
  o.book.max_items = config.stock.max_items;
  o.book.max_skus = config.stock.max_items;
  o.snapshot_path = std::filesystem::path(config.data_dir) / "inventory.db";
  o.snapshot_interval = config.stock.snapshot_interval;
  return o;
}

/// Every component of a running collector, in construction order (destroyed in reverse).
class Collector {
 public:
  Collector(const CollectorConfig& config, std::string config_path)
      : m_config(config),
        m_config_path(std::move(config_path)),
        m_signals(m_io, SIGTERM, SIGINT),
        m_reloader(m_io.get_executor(), m_config_path, m_clock),
        m_dictionaries(load_dictionaries(config.dictionaries.dir)),
        m_leases(open_leases()),
        m_marks(open_marks()),
        m_fleet_store(open_fleet_store()),
        m_fleet(FleetOptions{config.fleet.stale_after, config.fleet.max_tills}),
        m_fleet_sharing(open_fleet_sharing()),
        m_alerts(config.alerts),
        m_sink(make_sink(m_io.get_executor(), config)),
        m_live(m_io.get_executor(), m_clock, live_view_options(config)),
        m_inventory(m_io.get_executor(), m_clock, inventory_options(config)),
        m_brokers(m_io.get_executor(), broker_options(config, batch_filter(config))),
        m_processor(m_io.get_executor(), *m_sink, *m_marks, m_brokers,
                    {&m_fleet, &m_live, &m_inventory, &m_replay_tracker}, m_clock,
                    dictionary_lookup(), processor_options()),
        m_replay_processor(m_io.get_executor(), *m_sink, m_brokers, m_clock, dictionary_lookup(),
                           replay_options()),
        m_replay_api(m_replay_tracker, m_brokers, m_clock, config.mqtt.topic_prefix),
        m_api(m_processor, *m_marks, *m_sink, m_fleet, m_alerts, m_live, m_clock,
              HttpProbes{.healthy = [this] { return healthy(); },
                         .broker_connected = [this] { return m_brokers.is_connected(); },
                         .stopping = [this] { return m_stopping; },
                         .leases = [this]() -> std::optional<LeaseStats> {
                           if (!m_leases) {
                             return std::nullopt;
                           }
                           return m_leases->stats();
                         },
                         .extra_metrics =
                             [this](common::PrometheusWriter& metrics) {
                               append_replay_metrics(metrics, m_replay_processor.stats(),
                                                     m_replay_tracker);
                               metrics.counter("health_messages_total",
                                               "Alert transitions published to the health topic.",
                                               m_health_published);
                               metrics.counter(
                                   "health_message_failures_total",
                                   "Alert transitions the health topic refused (not retried).",
                                   m_health_failed);
                               if (m_fleet_sharing) {
                                 append_fleet_sharing_metrics(metrics, m_fleet_sharing->stats());
                               }
                             },

                         .reloads = [this] { return m_reloader.stats(); },
                         .config_document = [this] { return config_document(); }}),
        m_http(
            m_io.get_executor(), config.http.listen, common::HttpLimits{},
            [this](const common::HttpRequest& request, const common::HttpServer::Respond& respond) {
              if (ReplayApi::handles(request.target)) {
                respond(m_replay_api.handle(request));
                return;
              }
              respond(m_api.handle(request));
            },
            "http.listen",
            common::HttpAccess{config.http.allowed_hosts, config.http.allowed_origins}),
        m_fleet_saves(m_io.get_executor(), "saving the fleet rows", fleet_save_interval,
                      [this] { m_fleet_store->save(m_fleet.take_dirty(m_clock.now_unix_ms())); }),
        m_alert_rounds(m_io.get_executor(), "evaluating the alert rules", alert_interval,
                       [this] { m_api.update_alerts(); }),
        m_epoch_pruning(m_io.get_executor(), "pruning idle epochs", epoch_prune_interval,
                        [this] { prune_idle_epochs(); }),
        m_deadline(m_io),
        m_systemd(m_io.get_executor(), [this] { return healthy(); }) {
    m_fleet.load(m_fleet_store->loaded());
    m_api.set_inventory(&m_inventory);
    if (!config.health.topic.empty()) {
      m_alerts.set_change_listener(
          [this](const AlertTracker::Changes& changes) { publish_health(changes); });
    }
    if (m_leases) {
      m_leases->set_hooks({
          .adopt = [this](const std::vector<StoredMark>& marks) { m_marks->adopt(marks); },
          .busy = [this](std::uint32_t partition) { return m_processor.partition_busy(partition); },
          .acquired = [this](const std::vector<StoredMark>& marks) { request_resends(marks); },
      });
    }
  }

  int run() {
    if (auto started = m_http.start(); !started) {
      throw std::runtime_error(started.error().message);
    }
    m_brokers.set_handlers({
        .on_connected = {},
        .on_disconnected = {},
        .on_message =
            [this](common::TransportMessage message) {
              if (auto topic = protocol::parse_topic(m_config.mqtt.topic_prefix, message.topic);
                  topic && topic->kind == protocol::TopicKind::replay) {
                m_replay_processor.handle_batch(*topic, message.payload);
                return;
              }
              m_processor.handle_message(std::move(message));
            },
    });
    m_signals.async_wait([this](boost::system::error_code ec, int signal) {
      if (!ec) {
        shutdown(signal);
      }
    });
    m_reloader.start(
        m_systemd, [this](std::string& message) { return reload(message); },
        [this] { return "http on " + m_config.http.listen + ", broker " + broker_list(m_config); });
    m_fleet_saves.start();
    m_alert_rounds.start();
    m_epoch_pruning.start(std::chrono::seconds(10));  // soon after the start, then hourly
    m_live.start();
    m_inventory.start();
    spdlog::info(
        "poscollector {} started: id {}, broker {}, sink {}, {} mark(s), {} till(s), "
        "http on {}",
        version(), m_config.collector_id, broker_list(m_config), m_config.sink.type,
        m_marks->size(), m_fleet.size(), m_config.http.listen);
    if (m_leases) {
      m_leases->start();
    }
    if (m_fleet_sharing) {
      m_fleet_sharing->start();
    }
    m_brokers.connect();
    m_systemd.ready("http on " + m_config.http.listen + ", broker " + broker_list(m_config));
    m_io.run();
    m_live.stop();
    m_inventory.stop();
    m_fleet_store->save(m_fleet.take_dirty(m_clock.now_unix_ms()));
    m_fleet_store->stop();
    m_marks->stop();
    spdlog::info("poscollector stopped");
    return 0;
  }

 private:
  /// A failure to start that the configuration did not cause (the data directory cannot be
  /// written, the database is damaged): std::runtime_error, exit 1.
  template <class T>
  static T startup(Result<T> result, std::string_view what) {
    if (!result) {
      throw std::runtime_error(std::string(what) + ": " + result.error().message);
    }
    return std::move(result).value();
  }

  /// Several collectors: the partition leases, in the database of the marks.
  std::unique_ptr<LeaseManager> open_leases() {
    if (m_config.marks.type != "postgres") {
      return nullptr;
    }
    auto store = startup(
        open_postgres_leases(m_config.marks.dsn, m_config.collector_id, m_config.marks.lease_ttl),
        "marks.dsn");
    return std::make_unique<LeaseManager>(m_io.get_executor(), std::move(store), m_clock,
                                          lease_options(m_config));
  }

  /// Several collectors: the per-till counts shared in the database of the marks. Needs
  /// m_fleet.
  std::unique_ptr<FleetSharing> open_fleet_sharing() {
    if (m_config.marks.type != "postgres") {
      return nullptr;
    }
    auto store = startup(open_postgres_shared_counters(m_config.marks.dsn, m_config.collector_id),
                         "marks.dsn");
    FleetSharingOptions options;
    options.interval = m_config.fleet.share_interval;
    options.max_tills_read = m_config.fleet.max_tills;
    return std::make_unique<FleetSharing>(m_io.get_executor(), std::move(store), m_fleet, options);
  }

  /// Asks each till of newly taken partitions to resend what is past its mark now, rather than
  /// after its ack timeout: one request per till, for its newest epoch.
  void request_resends(const std::vector<StoredMark>& marks) {
    std::unordered_map<std::string, const StoredMark*> newest;
    for (const auto& mark : marks) {
      auto& slot = newest[mark.key.store_id + "/" + mark.key.till_id];
      if (slot == nullptr || mark.updated_ms > slot->updated_ms) {
        slot = &mark;
      }
    }
    for (const auto& [till, mark] : newest) {
      m_processor.request_resend(*mark);
    }
  }

  std::unique_ptr<MarkStore> open_marks() {
    // Durably: a power cut must not take the new directory, and the marks in it, away.
    if (auto created = common::create_directories_durably(m_config.data_dir); !created) {
      throw std::runtime_error("data_dir: " + created.error().message);
    }
    MarkStoreOptions options;
    options.path = std::filesystem::path(m_config.data_dir) / "collector.db";
    options.ownership = m_leases.get();
    if (m_config.marks.type == "postgres") {
      // Not a configuration error: the server may be down for now (exit 1, systemd retries).
      auto backend = startup(open_postgres_marks(m_config.marks.dsn), "marks.dsn");
      return startup(
          MarkStore::open(std::move(backend), std::move(options), m_io.get_executor(), m_clock),
          "marks.dsn");
    }
    return startup(MarkStore::open(std::move(options), m_io.get_executor(), m_clock), "data_dir");
  }

  /// After open_marks(), which creates data_dir.
  std::unique_ptr<FleetStore> open_fleet_store() {
    FleetStoreOptions options;
    options.path = std::filesystem::path(m_config.data_dir) / "fleet.db";
    options.import_from = std::filesystem::path(m_config.data_dir) / "collector.db";
    options.max_rows = m_config.fleet.max_tills;
    return startup(FleetStore::open(options), "data_dir");
  }

  protocol::DictionaryLookup dictionary_lookup() const {
    return [this](std::uint32_t id) -> std::shared_ptr<const protocol::Dictionary> {
      const auto it = m_dictionaries.find(id);
      return it == m_dictionaries.end() ? nullptr : it->second;
    };
  }

  BatchProcessorOptions processor_options() const {
    BatchProcessorOptions o;
    o.topic_prefix = m_config.mqtt.topic_prefix;
    o.limits.max_encoded_bytes = m_config.limits.max_batch_bytes;
    o.limits.max_raw_bytes = m_config.limits.max_raw_bytes;
    o.limits.max_count = m_config.limits.max_events_per_batch;
    o.max_pending_batches = m_config.limits.max_pending_batches;
    o.max_pending_bytes = m_config.sink.max_pending_bytes;
    o.max_epochs_per_till = m_config.marks.max_epochs_per_till;
    o.epoch_retention = m_config.marks.epoch_retention;
    o.ownership = m_leases.get();
    return o;
  }

  /// The optional health topic: every alert transition, as it happens (docs/dashboard.md).
  void publish_health(const AlertTracker::Changes& changes) {
    auto messages =
        alert_transition_messages(changes, m_config.collector_id, m_clock.now_unix_ms());
    const std::size_t count = messages.size();
    m_sink->publish(Destination::health, std::move(messages), [this, count](const Status& status) {
      if (status) {
        m_health_published += count;
        return;
      }
      m_health_failed += count;
      spdlog::warn("health topic: {} alert transition(s) not published: {}", count,
                   status.error().message);
    });
  }

  ReplayProcessorOptions replay_options() const {
    const BatchProcessorOptions batches = processor_options();
    ReplayProcessorOptions o;
    o.topic_prefix = batches.topic_prefix;
    o.limits = batches.limits;
    o.event_limits = batches.event_limits;
    o.max_dead_letter_bytes = batches.max_dead_letter_bytes;
    o.ownership = batches.ownership;
    return o;
  }

  /// Deletes the marks of epochs idle past marks.epoch_retention_days.
  void prune_idle_epochs() {
    if (m_stopping) {
      return;
    }
    if (const auto pruned = m_processor.prune_idle_epochs(); pruned > 0) {
      spdlog::info("pruned the marks of {} epoch(s) idle for more than {} days", pruned,
                   m_config.marks.epoch_retention.count() / 24);
    }
  }

  /// What /healthz answers and the systemd watchdog requires: the mark store can be written.
  bool healthy() const {
    return m_marks->stats().healthy && ::access(m_config.data_dir.c_str(), W_OK) == 0;
  }

  /// SIGHUP (m_reloader): reads and checks the file as at start; applies it only when every key
  /// that differs can change live (collector_reload_keys), else keeps the running configuration
  /// (docs/collector.md). New alert thresholds are evaluated at once.
  common::ReloadResult reload(std::string& message) {
    CollectorReloadTarget target{
        .log_level = [](const CollectorConfig& c) { common::set_log_level(c.log_level); },
        .alerts =
            [this](const CollectorConfig& c) {
              m_alerts.set_options(c.alerts);
              m_api.update_alerts();
            },
        .stock =
            [this](const CollectorConfig& c) { m_inventory.set_thresholds(c.stock.thresholds); },
    };
    return common::reload_config<CollectorConfig, CollectorReloadTarget>(
        [this] { return load_checked_config(m_config_path); }, collector_reload_keys(), m_config,
        target, message);
  }

  /// GET /v1/config: the live settings in force and what the reloads did.
  std::string config_document() const {
    const auto& a = m_alerts.options();
    boost::json::object doc;
    doc["log_level"] = m_config.log_level;
    doc["alerts"] = {{"offline_minutes", a.offline.count()},
                     {"backlog_age_minutes", a.backlog_age.count()},
                     {"clock_skew_seconds", a.clock_skew.count()},
                     {"rejected_rising_window_minutes", a.rejected_rising_window.count()},
                     {"database_rolled_back_hours", a.epoch_renewed.count()},
                     {"cert_expiry_days", a.cert_expiry.count()}};
    common::append_reload_json(doc, m_reloader.stats());
    return boost::json::serialize(doc);
  }

  /// SIGTERM: stop intake, let batches in flight finish within the deadline, then stop the sink,
  /// disconnect and stop the loop.
  void shutdown(int signal) {
    spdlog::info("signal {}: stopping intake, draining for at most {} ms", signal,
                 m_config.shutdown.drain_timeout.count());
    m_stopping = true;
    m_reloader.stop();
    m_systemd.stopping("draining batches in flight");
    m_processor.stop_intake();
    m_http.stop();
    m_processor.when_idle([this] { finish(true); });
    m_deadline.expires_after(m_config.shutdown.drain_timeout);
    m_deadline.async_wait([this](boost::system::error_code ec) {
      if (!ec) {
        finish(false);
      }
    });
    m_signals.async_wait([this](boost::system::error_code ec, int) {
      if (!ec) {
        spdlog::warn("second signal: exiting now");
        m_io.stop();
      }
    });
  }

  void finish(bool drained) {
    if (m_finishing) {
      return;
    }
    m_finishing = true;
    m_deadline.cancel();
    m_fleet_saves.stop();
    m_alert_rounds.stop();
    m_epoch_pruning.stop();
    if (m_fleet_sharing) {
      m_fleet_sharing->stop();
    }
    if (!drained) {
      spdlog::warn(
          "drain timeout: {} batch(es) still in flight are not acknowledged; the agents "
          "will resend them",
          m_processor.pending_batches());
    }
    m_sink->stop(std::chrono::milliseconds(1000), [this] {
      // Hand the partitions back first: the other collectors take the tills over at once
      // instead of after the leases' ttl.
      auto disconnect = [this] {
        m_brokers.disconnect(std::chrono::milliseconds(2000), [this] { m_io.stop(); });
      };
      if (m_leases) {
        m_leases->stop(disconnect);
      } else {
        disconnect();
      }
    });
    m_deadline.expires_after(std::chrono::seconds(5));
    m_deadline.async_wait([this](boost::system::error_code ec) {
      if (!ec) {
        spdlog::warn("shutdown deadline passed; exiting without a clean disconnect");
        m_io.stop();
      }
    });
  }

  /// The running configuration: the start's, with what reloads changed (only the live keys).
  CollectorConfig m_config;
  std::string m_config_path;
  asio::io_context m_io{1};
  common::SystemClock m_clock;
  asio::signal_set m_signals;
  common::SighupReloader m_reloader;
  Dictionaries m_dictionaries;
  std::unique_ptr<LeaseManager> m_leases;
  std::unique_ptr<MarkStore> m_marks;
  std::unique_ptr<FleetStore> m_fleet_store;
  FleetState m_fleet;
  std::unique_ptr<FleetSharing> m_fleet_sharing;  ///< several collectors only
  AlertTracker m_alerts;
  std::unique_ptr<Sink> m_sink;
  LiveView m_live;
  InventoryView m_inventory;
  BrokerSet m_brokers;
  ReplayTracker m_replay_tracker;
  BatchProcessor m_processor;
  ReplayProcessor m_replay_processor;
  ReplayApi m_replay_api;
  HttpApi m_api;
  common::HttpServer m_http;
  common::PeriodicTask m_fleet_saves;
  common::PeriodicTask m_alert_rounds;
  common::PeriodicTask m_epoch_pruning;
  asio::steady_timer m_deadline;
  common::ServiceNotifier m_systemd;
  bool m_stopping = false;
  bool m_finishing = false;
  std::uint64_t m_health_published = 0;
  std::uint64_t m_health_failed = 0;
};

}  // namespace

const char* version() {
  return POS_VERSION;
}

int run(const std::string& config_path) {
  return common::run_program("poscollector", config_path, load_checked_config,
                             [&config_path](const CollectorConfig& config) {
                               Collector collector(config, config_path);
                               return collector.run();
                             });
}

int check_config(const std::string& config_path) {
  return common::check_program(
      "poscollector", config_path, load_checked_config,
      [](const CollectorConfig& config) { return "collector " + config.collector_id; });
}

}  // namespace pos::collector
