// Helpers for integration tests of the real posagent binary: a till with its config and
// certificate, a tiny HTTP client, and a collector stand-in that acks batches as SPEC says.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/metrics.hpp"
#include "support/mosquitto.hpp"
#include "support/mqtt_client.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"

namespace pos::test {

struct HttpAnswer {
  int status = 0;  ///< 0: no answer (connection refused, reset, timeout)
  std::string body;
  std::map<std::string, std::string> headers;
};

/// One blocking HTTP/1.1 request to 127.0.0.1:port (Host: 127.0.0.1 unless `headers` sets it).
/// Never throws; status 0 on transport errors.
HttpAnswer http_request(std::uint16_t port, const std::string& method, const std::string& target,
                        const std::string& content_type = "", const std::string& body = "",
                        std::chrono::milliseconds timeout = std::chrono::seconds(10),
                        const std::vector<std::pair<std::string, std::string>>& headers = {});

/// A valid `sale` event for store/till with the given pos_event_id, as JSON text.
std::string sale_event(const std::string& pos_event_id, const std::string& store = "S01",
                       const std::string& till = "T1", int lines = 2);

/// Runs `binary check-config --config config`, then `binary run --config config` (output to
/// `<config>.check-config.log` and `<config>.run.log`), and records a test failure unless both exit
/// 2 and name the same problem: the message check-config printed (`<program>: <message>`) must
/// contain `fragment` and appear unchanged in run's output. A `run` still running after 30 s (it
/// did not see the problem) is stopped and counts as a failure.
void expect_same_startup_error(const std::string& binary, const std::filesystem::path& config,
                               const std::string& fragment);

/// A TOML value for `[mqtt] uri`: `uri` quoted, or as is when it is already an array literal
/// (`["ssl://a:1", "ssl://b:2"]`).
std::string toml_uri_value(const std::string& uri);

/// `["u1", "u2"]`.
std::string toml_uri_array(const std::vector<std::string>& uris);

/// A posagent process for one till: writes its config (extra TOML appended per section) and
/// certificate into `dir`, starts `posagent run`, waits for /healthz. The data directory is
/// `dir/data` unless `data_dir` is given (e.g. on another file system). `broker_uri` is one URI,
/// or a TOML array of quoted URIs (toml_uri_array), written into `[mqtt] uri` by toml_uri_value.
/// Not thread-safe.
class AgentProcess {
 public:
  AgentProcess(std::filesystem::path dir, TestPki& pki, std::string broker_uri,
               std::string store = "S01", std::string till = "T1",
               std::string extra_forward_toml = "", std::string extra_top_toml = "",
               std::string extra_mqtt_toml = "", std::filesystem::path data_dir = {},
               std::string extra_ingest_toml = "");
  ~AgentProcess();

  /// Starts the agent and waits until /healthz answers 200; throws with the log on failure.
  void start(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  int kill9();
  int terminate(std::chrono::milliseconds deadline = std::chrono::seconds(10));
  bool running();
  /// Process id of the running agent; -1 when none was started.
  pid_t pid() const noexcept { return m_process ? m_process->pid() : -1; }

  std::uint16_t port() const noexcept { return m_port; }
  const std::filesystem::path& data_dir() const noexcept { return m_data_dir; }
  const std::filesystem::path& config_path() const noexcept { return m_config; }
  std::filesystem::path db_path() const { return m_data_dir / "outbox.db"; }
  std::string log() const;

 private:
  std::filesystem::path m_dir;
  std::filesystem::path m_data_dir;
  std::filesystem::path m_config;
  std::uint16_t m_port;
  int m_runs = 0;
  std::optional<ChildProcess> m_process;
};

/// What the collector stand-in received for one till, deduplicated like the real collector:
/// seqs at or below the mark are duplicates; a batch starting past mark + 1 is a gap (ignored).
struct ReceivedTill {
  std::string epoch;
  std::uint64_t mark = 0;
  std::map<std::uint64_t, std::string> lines;  ///< seq -> payload line
  std::uint64_t duplicates = 0;
  std::uint64_t gaps = 0;
  std::uint64_t batches = 0;
};

/// Subscribes to `{prefix}/+/+/batch` as the collector, decodes each batch with the protocol
/// library and publishes acks (`through_seq` = mark) unless acking is paused. Thread-safe.
class AckingCollector {
 public:
  AckingCollector(const MosquittoBroker& broker, TestPki& pki, std::string prefix = "pos/v1");
  /// Same, with a collector certificate from elsewhere (e.g. one posctl issued).
  AckingCollector(const MosquittoBroker& broker, const std::filesystem::path& ca_file,
                  CertKey collector_cert, std::string prefix = "pos/v1");
  ~AckingCollector();

  void set_acking(bool on) { m_acking = on; }
  /// Waits until the till's mark reaches `seq`; the failure names the till and the mark reached.
  ::testing::AssertionResult wait_for_mark(const std::string& store, const std::string& till,
                                           std::uint64_t seq, std::chrono::milliseconds timeout);
  ReceivedTill till(const std::string& store, const std::string& till) const;

 private:
  void loop();
  void handle(const MqttMessage& message);

  std::string m_prefix;
  TestMqttClient m_client;
  std::atomic<bool> m_acking{true};
  std::atomic<bool> m_stop{false};
  mutable std::mutex m_mutex;
  std::map<std::string, ReceivedTill> m_tills;
  std::thread m_thread;
};

}  // namespace pos::test
