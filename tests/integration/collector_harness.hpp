// Helpers for black-box tests of the real poscollector binary: its process and config (SPEC keys
// only), a Pub/Sub emulator with the events and dead-letter topics, and a till stand-in that
// publishes hand-made batches with its own certificate and watches its ack topic.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent_harness.hpp"
#include "support/pubsub_emulator.hpp"

namespace pos::test {

inline constexpr const char* test_project = "test-project";
inline constexpr const char* events_topic = "pos-events";
inline constexpr const char* dlq_topic = "pos-events-dlq";
inline constexpr const char* events_sub = "pos-events-sub";
inline constexpr const char* dlq_sub = "pos-events-dlq-sub";

/// Creates the two topics and an ordered subscription on each (again after an emulator restart).
void create_pubsub_resources(PubSubEmulator& emulator);

/// Starts `poscollector run --config config` (output to `log`, `env` added to the environment)
/// and waits until GET /readyz on `port` answers 200. Throws std::runtime_error with the log when
/// the collector exits or is not ready within `timeout`.
ChildProcess start_collector(const std::filesystem::path& config, const std::filesystem::path& log,
                             std::uint16_t port, std::map<std::string, std::string> env = {},
                             std::chrono::milliseconds timeout = std::chrono::seconds(20));

/// A poscollector process with a SPEC-only config, pointed at the emulator through
/// PUBSUB_EMULATOR_HOST. start() waits for /readyz (broker connected, sink reachable). Config and
/// log are in `dir`; the data directory is `dir/data` unless `data_dir` is given.
class CollectorProcess {
 public:
  /// `broker_uri`: one uri or a TOML array literal (toml_uri_array); `extra_toml`: tables added
  /// at the end (e.g. a `[marks]` section).
  CollectorProcess(std::filesystem::path dir, TestPki& pki, std::string broker_uri,
                   std::string emulator_host_port, std::filesystem::path data_dir = {},
                   std::string collector_id = "collector-1", std::string extra_toml = "");
  void start(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  int kill9();
  int terminate(std::chrono::milliseconds deadline = std::chrono::seconds(10));
  bool running();
  /// Process id (and process group id) of the running collector; -1 when none was started.
  pid_t pid() const noexcept { return m_process ? m_process->pid() : -1; }
  std::uint16_t port() const noexcept { return m_port; }
  std::string log() const;

 private:
  std::filesystem::path m_dir;
  std::filesystem::path m_config;
  std::string m_emulator;
  std::uint16_t m_port;
  std::optional<ChildProcess> m_process;
};

/// Batch payload lines for seqs [first, first+count) as a real agent would stamp them.
std::vector<std::string> stamped_lines(const std::string& store, const std::string& till,
                                       std::uint64_t epoch, std::uint64_t first_seq,
                                       std::uint32_t count, const std::string& id_prefix = "ev");

/// A till that publishes raw batch messages on its own topic and reads its acks.
class FakeTill {
 public:
  FakeTill(const MosquittoBroker& broker, TestPki& pki, std::string store, std::string till);
  /// Encodes (zstd) and publishes seqs [first, first+count) of `epoch`.
  void send(std::uint64_t epoch, std::uint64_t first_seq, std::uint32_t count,
            const std::string& id_prefix = "ev");
  void send_raw(const std::string& payload);
  /// Publishes `json` as the till's retained status message.
  void send_status(const std::string& json);
  /// The highest through_seq acked for `epoch` within `timeout` (0 when none arrived).
  std::uint64_t wait_ack(std::uint64_t epoch, std::uint64_t at_least,
                         std::chrono::milliseconds timeout);
  /// Every ack received so far (consumed).
  std::vector<std::string> take_acks(std::chrono::milliseconds wait);
  const std::string& store() const { return m_store; }
  const std::string& till() const { return m_till; }

 private:
  std::string m_store;
  std::string m_till;
  TestMqttClient m_client;
  std::map<std::uint64_t, std::uint64_t> m_acked;
};

}  // namespace pos::test
