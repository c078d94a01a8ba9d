#pragma once
// The system under test of the system benchmarks: a throw-away PKI, a real mosquitto with TLS and
// client certificates, the Pub/Sub emulator (pubsub sink), N real posagent processes (one per
// till, tests/integration/agent_harness.hpp) and one real poscollector, all on loopback ports of
// this machine. Also reads their Prometheus metrics and their CPU time.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ingest_client.hpp"
#include "integration/agent_harness.hpp"
#include "support/mosquitto.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/pubsub_emulator.hpp"

namespace pos::bench {

struct FleetOptions {
  int tills = 40;
  std::string sink = "pubsub";  ///< "pubsub" (emulator) or "file"
  /// Train a zstd dictionary on realistic payload lines (other seeds than the load) and configure
  /// agents (`[forward] dictionary_file`) and collector (`[dictionaries] dir`) with it.
  bool dictionary = false;
  /// pubsub: create an ordered subscription on the events topic (to pull and match events).
  bool subscription = true;
  /// The agents' `[forward] ack_timeout_ms` (the product default; the test harness uses 2 s).
  int agent_ack_timeout_ms = 10000;
  /// The tills' (store, till) ids; empty: S01/T1 .. S01/T10, S02/T1, ... (`tills` of them).
  std::vector<std::pair<std::string, std::string>> till_ids;
};

/// Prometheus text as name (with labels) -> value; comment lines skipped.
using Metrics = std::map<std::string, double>;
Metrics parse_metrics(std::string_view text);
/// metrics[name], 0 when absent.
double metric(const Metrics& metrics, const std::string& name);

/// utime + stime of a process in seconds; 0 when it cannot be read.
double cpu_seconds(pid_t pid);
/// The three load averages of /proc/loadavg, e.g. "1.52 1.20 0.98".
std::string load_averages();

/// Everything of one benchmark run; the destructor stops every process (by pid) and removes the
/// temp dir (kept with POS_KEEP_TEST_DIRS). Not thread-safe.
class Fleet {
 public:
  /// Creates the PKI, starts the broker and (pubsub) the emulator with its topics, writes the
  /// dictionary and every config. Agents and collector are not started. Throws
  /// std::runtime_error when a component is missing or fails to start.
  explicit Fleet(FleetOptions options);
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  /// Starts every agent and waits for its /healthz; throws with the agent's log on failure.
  void start_agents();
  /// Starts the collector; with wait_ready, waits for /readyz (broker and sink up). Throws with
  /// its log when it exits or is not ready in 30 s.
  void start_collector(bool wait_ready = true);
  /// SIGTERM to the collector; returns its exit status.
  int stop_collector();
  /// True when every agent reports broker_connected within the timeout.
  bool wait_agents_connected(std::chrono::milliseconds timeout);

  test::MosquittoBroker& broker() { return *m_broker; }
  test::PubSubEmulator* emulator() { return m_emulator.get(); }
  const std::vector<TillTarget>& targets() const { return m_targets; }
  std::size_t tills() const { return m_targets.size(); }
  /// A running agent's or the collector's process id (found by its config path in /proc); -1 when
  /// not running.
  pid_t agent_pid(std::size_t till) const;
  pid_t collector_pid() const { return m_collector ? m_collector->pid() : -1; }
  Metrics agent_metrics(std::size_t till) const;
  /// Counters summed over every agent.
  Metrics agent_metrics_sum() const;
  Metrics collector_metrics() const;
  /// Body of the collector's GET /v1/stats; empty when it does not answer 200.
  std::string collector_stats() const;
  const std::filesystem::path& sink_dir() const { return m_sink_dir; }
  const std::filesystem::path& dir() const { return m_dir.path(); }
  std::string collector_log() const;

 private:
  void write_collector_config();

  FleetOptions m_options;
  test::TempDir m_dir;
  test::TestPki m_pki;
  std::unique_ptr<test::MosquittoBroker> m_broker;
  std::unique_ptr<test::PubSubEmulator> m_emulator;
  std::filesystem::path m_dictionary_dir;
  std::filesystem::path m_sink_dir;
  std::filesystem::path m_collector_dir;
  std::filesystem::path m_collector_config;
  std::uint16_t m_collector_port = 0;
  std::optional<test::ChildProcess> m_collector;
  std::vector<std::unique_ptr<test::AgentProcess>> m_agents;
  std::vector<TillTarget> m_targets;
};

}  // namespace pos::bench
