// posagent's composition root: builds every component from the configuration, wires them on one
// io_context, and runs until SIGTERM/SIGINT; SIGHUP reloads the configuration.

#include "pos/agent/app.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>
#include <filesystem>
#include <iostream>

#include "pos/agent/config.hpp"
#include "pos/agent/config_reload.hpp"
#include "pos/agent/data_dir_lock.hpp"
#include "pos/agent/forwarder.hpp"
#include "pos/agent/ingest_service.hpp"
#include "pos/agent/paho_transport.hpp"
#include "pos/agent/spool.hpp"
#include "pos/agent/sqlite_outbox.hpp"
#include "pos/agent/status.hpp"
#include "pos/agent/upload_limiter.hpp"
#include "pos/common/backoff.hpp"
#include "pos/common/certificate_expiry.hpp"
#include "pos/common/clock.hpp"
#include "pos/common/config_reload.hpp"
#include "pos/common/durable_directory.hpp"
#include "pos/common/http_get.hpp"
#include "pos/common/http_server.hpp"
#include "pos/common/logging.hpp"
#include "pos/common/mqtt_settings.hpp"
#include "pos/common/periodic_task.hpp"
#include "pos/common/program.hpp"
#include "pos/common/sighup_reloader.hpp"
#include "pos/common/systemd_notify.hpp"
#include "pos/protocol/batch.hpp"
#include "pos/protocol/dictionary.hpp"
#include "pos/protocol/ids.hpp"
#include "pos/protocol/messages.hpp"
#include "pos/protocol/topics.hpp"

namespace pos::agent {
namespace {

/// How often the TLS files are checked for a renewal (docs/operations.md, "Rotate certificates").
constexpr std::chrono::seconds tls_poll_interval{5};

namespace asio = boost::asio;

constexpr std::size_t max_status_bytes = std::size_t{1024} * 1024;

/// A failure to start that the configuration did not cause (the data directory is locked by
/// another agent, the listen port is taken): std::runtime_error, exit 1.
template <class T>
T started(Result<T> result, std::string_view what) {
  if (!result) {
    throw std::runtime_error(std::string(what) + ": " + result.error().message);
  }
  return std::move(result).value();
}

std::shared_ptr<const protocol::Dictionary> load_dictionary(const AgentConfig& config) {
  if (config.forward.dictionary_file.empty()) {
    return nullptr;
  }
  return common::startup_value(
      protocol::Dictionary::load_file(config.forward.dictionary_file, config.forward.zstd_level),
      "forward.dictionary_file");
}

/// The upload cap's settings (rate 0: no cap). Throws StartupError for a bad schedule.
UploadLimiterOptions limiter_options(const AgentConfig& config) {
  UploadLimiterOptions options;
  options.rate_kbit_s = config.forward.rate_limit_kbps;
  options.schedule = common::startup_value(parse_schedule(config.forward.rate_limit_schedule),
                                           "forward.rate_limit_schedule");
  options.min_burst_bytes = config.forward.batch_max_bytes;
  return options;
}

/// Always a limiter, without a cap when forward.rate_limit_kbps is 0, so that a reload can set one.
std::unique_ptr<UploadLimiter> make_limiter(const AgentConfig& config) {
  return std::make_unique<UploadLimiter>(limiter_options(config));
}

/// The configuration with every file and value it names checked as far as that is possible
/// without starting (the dictionary, the rate-limit schedule, the TLS files): what `run` and
/// `check-config` both load, so that both fail alike. Throws common::StartupError.
AgentConfig load_checked_config(const std::string& config_path) {
  auto config = load_agent_config(config_path);
  load_dictionary(config);
  make_limiter(config);
  common::check_mqtt_files(config.mqtt);
  return config;
}

/// Every component of a running agent, in construction order (destroyed in reverse).
class Agent {
 public:
  Agent(const AgentConfig& config, std::string config_path)
      : m_config(config),
        m_config_path(std::move(config_path)),
        m_signals(m_io, SIGTERM, SIGINT),
        m_reloader(m_io.get_executor(), m_config_path, m_clock),
        m_lock(lock_data_dir()),
        m_outbox(open_outbox()),
        m_ingest(*m_outbox, config.store_id, config.till_id, body_limits(), routes()),
        m_http(m_io.get_executor(), config.ingest.listen, http_limits(), m_ingest.handler(),
               "ingest.listen", common::HttpAccess{{}, config.ingest.allowed_origins}),
        m_transport(m_io.get_executor(), transport_options()),
        m_backoff(config.forward.reconnect_initial, config.forward.reconnect_max),
        m_limiter(make_limiter(config)),
        m_replayer(m_io.get_executor(), *m_outbox, m_transport, m_clock, m_limiter.get(),
                   protocol::BatchEncoder(config.forward.zstd_level, load_dictionary(config)),
                   replayer_options()),
        m_forwarder(m_io.get_executor(), *m_outbox, m_transport, m_backoff, m_clock,
                    m_limiter.get(),
                    protocol::BatchEncoder(config.forward.zstd_level, load_dictionary(config)),
                    forwarder_options()),
        m_deadline(m_io),
        m_systemd(m_io.get_executor(), [this] { return healthy(); }) {
    if (!config.mqtt.cert_file.empty()) {
      read_cert_expiry();
      m_tls_watch.emplace(std::vector<std::filesystem::path>{
          config.mqtt.ca_file, config.mqtt.cert_file, config.mqtt.key_file});
    }
    if (!config.ingest.spool_dir.empty()) {
      SpoolOptions spool;
      spool.directory = config.ingest.spool_dir;
      spool.poll_interval = config.ingest.spool_poll;
      spool.settle = config.ingest.spool_settle;
      spool.event_limits.max_bytes = config.ingest.max_event_bytes;
      spool.card_numbers = config.ingest.card_numbers;
      spool.done_retention = config.buffer.retention;
      spool.max_backlog_bytes = config.buffer.max_bytes;
      m_spool = std::make_unique<SpoolWatcher>(m_io.get_executor(), *m_outbox, config.store_id,
                                               config.till_id, std::move(spool));
    }
  }

  int run() {
    if (auto listening = m_http.start(); !listening) {
      throw std::runtime_error(listening.error().message);
    }
    if (m_spool) {
      if (auto watching = m_spool->start(); !watching) {
        throw std::runtime_error("ingest.spool_dir: " + watching.error().message);
      }
    }
    m_forwarder.set_replayer(m_replayer);
    m_forwarder.start();
    if (m_tls_watch) {
      m_tls_polls.start();
    }
    m_signals.async_wait([this](boost::system::error_code ec, int signal) {
      if (!ec) {
        shutdown(signal);
      }
    });
    m_reloader.start(
        m_systemd, [this](std::string& message) { return reload(message); },
        [this] { return "ingest on " + m_config.ingest.listen; });
    const auto stats = m_outbox->stats();
    spdlog::info(
        "posagent {} started: till {}/{}, epoch {}, last seq {}, acked through {}, "
        "ingest on {}, brokers in order {}",
        version(), m_config.store_id, m_config.till_id, protocol::format_epoch(stats.epoch),
        stats.last_seq, stats.acked_through, m_config.ingest.listen,
        common::describe_uris(
            common::till_broker_order(m_config.mqtt.uris, m_config.store_id, m_config.till_id)));
    m_systemd.ready("ingest on " + m_config.ingest.listen);
    m_io.run();
    m_outbox->stop();
    spdlog::info("posagent stopped");
    return 0;
  }

 private:
  DataDirLock lock_data_dir() {
    // Durably: a power cut must not take the new directory, and the database in it, away.
    if (auto created = common::create_directories_durably(m_config.data_dir); !created) {
      throw std::runtime_error("data_dir: " + created.error().message);
    }
    return started(DataDirLock::acquire(m_config.data_dir), "data_dir");
  }

  std::unique_ptr<SqliteOutbox> open_outbox() {
    SqliteOutboxOptions options;
    options.path = std::filesystem::path(m_config.data_dir) / "outbox.db";
    options.store_id = m_config.store_id;
    options.till_id = m_config.till_id;
    options.max_backlog_bytes = m_config.buffer.max_bytes;
    options.retention = m_config.buffer.retention;
    return started(SqliteOutbox::open(std::move(options), m_io.get_executor(), m_clock), "buffer");
  }

  IngestBodyLimits body_limits() const {
    IngestBodyLimits limits;
    limits.max_events = m_config.ingest.max_events_per_request;
    limits.max_bytes = m_config.ingest.max_request_bytes;
    limits.event.max_bytes = m_config.ingest.max_event_bytes;
    limits.max_stored_bytes = m_config.buffer.max_bytes;
    limits.card_numbers = m_config.ingest.card_numbers;
    return limits;
  }

  common::HttpLimits http_limits() const {
    common::HttpLimits limits;
    limits.max_body_bytes = m_config.ingest.max_request_bytes;
    limits.max_connections = m_config.ingest.max_connections;
    return limits;
  }

  IngestRoutes routes() {
    IngestRoutes r;
    r.status = [this] {
      return common::HttpResponse{200, "application/json", status_document(snapshot()), {}};
    };
    r.healthz = [this] {
      const bool ok = healthy();
      return common::HttpResponse{
          ok ? 200 : 503, "text/plain", ok ? "ok\n" : "database directory not writable\n", {}};
    };
    r.metrics = [this] {
      return common::HttpResponse{200, "text/plain; version=0.0.4", metrics_text(snapshot()), {}};
    };
    return r;
  }

  /// What /healthz answers and the systemd watchdog requires: the database can be written.
  bool healthy() const {
    return ::access(m_config.data_dir.c_str(), W_OK) == 0 && disk_free_bytes(m_config.data_dir) > 0;
  }

  PahoTransportOptions transport_options() const {
    PahoTransportOptions options;
    options.mqtt = m_config.mqtt;
    // Tills spread over the brokers: each starts at its own place in the list (docs/agent.md).
    options.mqtt.uris =
        common::till_broker_order(m_config.mqtt.uris, m_config.store_id, m_config.till_id);
    // Every ack must answer a batch of this connection (Forwarder: restored databases).
    options.clean_start = true;
    options.will_topic =
        common::startup_value(protocol::make_topic(m_config.mqtt.topic_prefix, m_config.store_id,
                                                   m_config.till_id, protocol::TopicKind::status),
                              "mqtt.topic_prefix");
    options.will_payload = protocol::offline_will();
    return options;
  }

  /// What the forwarder and the replayer both send batches with.
  TillBatchOptions batch_options() const {
    TillBatchOptions o;
    o.store_id = m_config.store_id;
    o.till_id = m_config.till_id;
    o.topic_prefix = m_config.mqtt.topic_prefix;
    o.batch_max_events = m_config.forward.batch_max_events;
    o.batch_max_bytes = m_config.forward.batch_max_bytes;
    return o;
  }

  ForwarderOptions forwarder_options() {
    const auto& f = m_config.forward;
    ForwarderOptions o;
    static_cast<TillBatchOptions&>(o) = batch_options();
    o.batch_delay = f.batch_delay;
    o.window_batches = f.window_batches;
    o.ack_timeout = f.ack_timeout;
    o.ack_timeout_max = f.ack_timeout_max;
    o.heartbeat = f.heartbeat;
    o.status_payload = [this] {
      return protocol::encode_status(make_status(snapshot(), protocol::AgentState::online));
    };
    o.offline_payload = [this] {
      return protocol::encode_status(make_status(snapshot(), protocol::AgentState::offline));
    };
    return o;
  }

  ReplayerOptions replayer_options() const {
    const auto& f = m_config.forward;
    ReplayerOptions o;
    static_cast<TillBatchOptions&>(o) = batch_options();
    o.ack_timeout = f.ack_timeout;
    o.state_file = std::filesystem::path(m_config.data_dir) / "replays.json";
    return o;
  }

  AgentSnapshot snapshot() const {
    AgentSnapshot s;
    s.now_ms = m_clock.now_unix_ms();
    s.store_id = m_config.store_id;
    s.till_id = m_config.till_id;
    s.outbox = m_outbox->stats();
    const auto ingest = m_ingest.stats();
    s.ingest_requests_total = ingest.requests;
    s.ingested_total = ingest.events_accepted;
    s.rejected_total = ingest.events_rejected;
    s.duplicates_total = ingest.events_duplicate;
    s.unavailable_total = ingest.requests_unavailable;
    s.ingest_connections = m_http.connection_count();
    if (m_spool) {
      const auto spool = m_spool->stats();
      s.ingested_total += spool.events_accepted;
      s.duplicates_total += spool.events_duplicate;
      s.spool_files_done_total = spool.files_done;
      s.spool_files_failed_total = spool.files_failed;
      s.spool_files_refused_total = spool.files_refused;
      s.spool_done_pruned_total = spool.done_files_pruned;
    }
    const auto fwd = m_forwarder.stats();
    s.broker_connected = fwd.connected;
    s.broker = fwd.broker;
    s.batches_sent_total = fwd.batches_sent;
    s.events_sent_total = fwd.events_sent;
    s.bytes_sent_total = fwd.bytes_sent;
    s.raw_bytes_sent_total = fwd.raw_bytes_sent;
    s.resends_total = fwd.resends;
    s.resend_requests_total = fwd.resend_requests;
    s.ack_timeout_ms = fwd.ack_timeout_ms;
    s.acks_received_total = fwd.acks_received;
    s.reconnects_total = fwd.reconnects;
    s.disk_free_bytes = disk_free_bytes(m_config.data_dir);
    s.cert_not_after_ms = m_cert_not_after_ms;
    s.replay = m_replayer.progress();
    s.replay_stats = m_replayer.stats();
    s.log_level = m_config.log_level;
    s.rate_limit_kbps = m_limiter->rate_kbit_s();
    s.reloads = m_reloader.stats();
    return s;
  }

  /// Every tls_poll_interval (m_tls_polls): when the TLS files changed and form a usable set
  /// (the certificate matches the key, every file parses), the forwarder renews its connection
  /// with them. A half-written renewal (new certificate, old key) is logged and waited out: the
  /// next change is checked again. The current connection is kept meanwhile.
  void check_tls_files() {
    if (!m_tls_watch->poll()) {
      return;
    }
    try {
      common::check_mqtt_files(m_config.mqtt);
      read_cert_expiry();
      m_forwarder.renew_connection("the TLS files changed on disk");
    } catch (const std::exception& e) {
      spdlog::warn(
          "the TLS files changed but are not usable (yet): {}; keeping the current "
          "connection",
          e.what());
    }
  }

  /// The notAfter of the certificate in [mqtt] cert_file, for the status and metrics.
  void read_cert_expiry() {
    auto not_after = common::certificate_not_after_ms(m_config.mqtt.cert_file);
    if (!not_after) {
      spdlog::warn("certificate expiry unknown: {}", not_after.error().message);
      m_cert_not_after_ms.reset();
      return;
    }
    m_cert_not_after_ms = *not_after;
  }

  /// SIGHUP (m_reloader): reads and checks the file as at start; applies it only when every key
  /// that differs can change live (agent_reload_keys), else keeps the running configuration
  /// (docs/agent.md).
  common::ReloadResult reload(std::string& message) {
    AgentReloadTarget target{
        .log_level = [](const AgentConfig& c) { common::set_log_level(c.log_level); },
        .upload_limit =
            [this](const AgentConfig& c) {
              m_limiter->reconfigure(limiter_options(c));
              m_forwarder.upload_limit_changed();
            },
    };
    return common::reload_config<AgentConfig, AgentReloadTarget>(
        [this] { return load_checked_config(m_config_path); }, agent_reload_keys(), m_config,
        target, message);
  }

  /// SIGTERM: stop intake, let the forwarder drain within the deadline, then stop the loop.
  void shutdown(int signal) {
    spdlog::info("signal {}: stopping intake, draining for at most {} ms", signal,
                 m_config.shutdown.drain_timeout.count());
    m_systemd.stopping("draining outstanding batches");
    m_reloader.stop();
    m_http.stop();
    m_tls_polls.stop();
    if (m_spool) {
      m_spool->stop();
    }
    m_forwarder.stop(m_config.shutdown.drain_timeout, [this] { m_io.stop(); });
    m_deadline.expires_after(m_config.shutdown.drain_timeout + std::chrono::seconds(5));
    m_deadline.async_wait([this](boost::system::error_code ec) {
      if (!ec) {
        spdlog::warn("shutdown deadline passed; exiting without a clean disconnect");
        m_io.stop();
      }
    });
    m_signals.async_wait([this](boost::system::error_code ec, int) {
      if (!ec) {
        spdlog::warn("second signal: exiting now");
        m_io.stop();
      }
    });
  }

  /// The running configuration: the start's, with what reloads changed (only the live keys).
  AgentConfig m_config;
  std::string m_config_path;
  asio::io_context m_io{1};
  common::SystemClock m_clock;
  asio::signal_set m_signals;
  common::SighupReloader m_reloader;
  DataDirLock m_lock;  // before the outbox: held while the database is open
  std::unique_ptr<SqliteOutbox> m_outbox;
  IngestService m_ingest;
  common::HttpServer m_http;
  std::unique_ptr<SpoolWatcher> m_spool;
  PahoTransport m_transport;
  common::ExponentialBackoff m_backoff;
  std::unique_ptr<UploadLimiter> m_limiter;
  Replayer m_replayer;
  Forwarder m_forwarder;
  asio::steady_timer m_deadline;
  common::ServiceNotifier m_systemd;
  /// The expiry of the client certificate in use: read at start and when a renewal is picked up.
  std::optional<std::int64_t> m_cert_not_after_ms;
  /// With TLS: the CA, certificate and key files, polled every tls_poll_interval; a usable
  /// change (a renewed certificate) renews the broker connection without a restart.
  std::optional<common::FileChangeWatch> m_tls_watch;
  common::PeriodicTask m_tls_polls{m_io.get_executor(), "checking the TLS files", tls_poll_interval,
                                   [this] { check_tls_files(); }};
};

}  // namespace

const char* version() {
  return POS_VERSION;
}

int run(const std::string& config_path) {
  return common::run_program("posagent", config_path, load_checked_config,
                             [&config_path](const AgentConfig& config) {
                               Agent agent(config, config_path);
                               return agent.run();
                             });
}

int check_config(const std::string& config_path) {
  return common::check_program(
      "posagent", config_path, load_checked_config,
      [](const AgentConfig& config) { return "till " + config.store_id + '/' + config.till_id; });
}

int print_status(const std::string& url) {
  auto body = common::http_get(url, "/v1/status", max_status_bytes, std::chrono::seconds(5));
  if (!body) {
    std::cerr << "posagent status: " << body.error().message << '\n';
    return 1;
  }
  boost::system::error_code ec;
  auto doc = boost::json::parse(*body, ec);
  if (ec || !doc.is_object()) {
    std::cerr << "posagent status: " << url << " did not answer a JSON object\n";
    return 1;
  }
  std::cout << human_summary(doc.as_object());
  return 0;
}

}  // namespace pos::agent
