// The whole system as separate processes for end-to-end fault tests: a real mosquitto (TLS,
// client certificates, ACL), the real Pub/Sub emulator, one real poscollector, a few real
// posagent tills, and the real possim posting steady load. Faults are injected from the test:
// kill -9, broker restarts, cut links (TcpProxy), a full disk (tmpfs), a jumping clock
// (libfaketime).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "integration/collector_harness.hpp"
#include "subscription_checker.hpp"
#include "support/postgres.hpp"
#include "tcp_proxy.hpp"

namespace pos::test {

// How one till is set up.
struct TillOptions {
  std::string store;
  std::string till;
  bool mqtt_via_proxy = false;    // the agent reaches the broker through its own TcpProxy
  bool fake_clock = false;        // the agent runs under libfaketime (see Till::set_clock_offset)
  std::uint64_t tmpfs_bytes = 0;  // > 0: data_dir is a tmpfs of this size (needs root)
  int mqtt_keepalive_s = 0;       // > 0: the agent's [mqtt] keepalive_s (default 30)
  std::filesystem::path
      data_dir{};  // non-empty: the agent's data_dir (default: under the till's dir)
  std::string extra_ingest_toml{};  // lines added to the agent's [ingest] section
  // Several brokers: the agent's [mqtt] uri is the array of every broker (failover order, the
  // agent rotates it per till); empty: the first broker only.
  bool all_brokers = false;
};

// `count` (at least 3) tills of possim's default layout (`possim layout`, which possim checks
// its agents against): two tills of the first store that has two, and the first till of the
// next stores. Throws std::runtime_error when possim cannot be run or the layout is too small.
std::vector<TillOptions> layout_tills(std::size_t count = 4);

struct SystemOptions {
  std::vector<TillOptions> tills = layout_tills();
  bool sink_via_proxy = false;  // the collector reaches the emulator through a TcpProxy
  std::filesystem::path collector_data_dir{};  // non-empty: the (first) collector's data_dir
  // The central tier: independent brokers (each collector takes batches from all of them) and
  // collectors. More than one collector needs postgres_marks.
  std::size_t brokers = 1;
  std::size_t collectors = 1;
  // A real PostgreSQL server for the marks and the partition leases ([marks] type = "postgres").
  bool postgres_marks = false;
  std::string extra_collector_toml{};  // added to every collector's config (tables)
};

// One posagent process with its config (written by AgentProcess), optionally behind a proxy, on a
// tmpfs, or under libfaketime. Not thread-safe. The destructor kills the agent and unmounts the
// tmpfs.
class Till {
 public:
  // Writes the config and certificate under `dir`; mounts the tmpfs when asked. Throws
  // std::runtime_error when the mount fails.
  Till(const std::filesystem::path& dir, TestPki& pki, const MosquittoBroker& broker,
       TillOptions options);
  // The same with the agent's `[mqtt] uri` given (one uri or a TOML array literal).
  Till(const std::filesystem::path& dir, TestPki& pki, const std::string& broker_uri,
       TillOptions options);
  ~Till();
  Till(const Till&) = delete;
  Till& operator=(const Till&) = delete;

  // Starts posagent and waits for GET /healthz to answer 200; throws with the log on failure.
  void start(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // kill -9; returns the exit status (137).
  int kill9();
  // SIGTERM; returns the exit status (0 on a clean stop).
  int terminate();
  bool running();

  // GET /v1/status as parsed JSON; nullopt when the agent does not answer.
  std::optional<boost::json::object> status() const;
  // Sets the agent's wall clock offset (libfaketime syntax, e.g. "+21600" seconds); only for a
  // till made with fake_clock. Takes effect at the agent's next clock read. CLOCK_MONOTONIC is
  // not faked: a real clock jump (NTP, an operator) moves only the wall clock.
  void set_clock_offset(const std::string& offset);

  const TillOptions& options() const noexcept { return m_options; }
  std::string name() const { return m_options.store + "/" + m_options.till; }
  std::uint16_t port() const noexcept { return m_agent.port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
  const std::filesystem::path& data_dir() const noexcept { return m_agent.data_dir(); }
  std::filesystem::path db_path() const { return m_agent.db_path(); }
  const std::filesystem::path& config_path() const noexcept { return m_agent.config_path(); }
  // Present when the till was made with mqtt_via_proxy.
  TcpProxy* proxy() noexcept { return m_proxy.get(); }
  std::string log() const;

 private:
  TillOptions m_options;
  std::filesystem::path m_dir;
  std::unique_ptr<TcpProxy> m_proxy;
  AgentProcess m_agent;  // config, port and paths; the process is run by m_process
  bool m_mounted = false;
  std::optional<ChildProcess> m_process;
};

// What one run of the system produced, for the test's output and assertions.
struct RunResult {
  DeliveryReport report;
  std::vector<PubSubMessage> messages;  // everything pulled from the events subscription
  std::string possim_summary;           // possim's stdout/stderr at the end
  int possim_exit = -1;
  bool possim_stopped_on_sigterm = false;  // exited within 15 s of the first SIGTERM
  bool drained = false;                    // every backlog reached 0 and the collector went idle
  std::string drain_state;                 // what was still pending when not drained
  double seconds = 0;                      // wall time since the system started
};

// The system: PKI, broker, emulator (events + dead-letter topics, ordered subscriptions), one
// collector, the tills (started), and possim once start_load() is called. Not thread-safe.
// Destruction stops everything (children are killed by process group).
class E2eSystem {
 public:
  // Starts everything; throws std::runtime_error (with logs) when a component does not come up.
  explicit E2eSystem(SystemOptions options = {});
  ~E2eSystem();
  E2eSystem(const E2eSystem&) = delete;
  E2eSystem& operator=(const E2eSystem&) = delete;

  TestPki& pki() { return *m_pki; }
  MosquittoBroker& broker(std::size_t index = 0) { return *m_brokers.at(index); }
  std::size_t broker_count() const { return m_brokers.size(); }
  PubSubEmulator& emulator() { return *m_emulator; }
  CollectorProcess& collector(std::size_t index = 0) { return *m_collectors.at(index); }
  std::size_t collector_count() const { return m_collectors.size(); }
  // Present with postgres_marks.
  PostgresServer& postgres() { return *m_postgres; }
  TcpProxy* sink_proxy() { return m_sink_proxy.get(); }
  Till& till(std::size_t index) { return *m_tills.at(index); }
  std::size_t till_count() const { return m_tills.size(); }
  const std::filesystem::path& dir() const { return m_dir.path(); }
  // possim's log of the events the agents accepted (read_accepted_log).
  const std::filesystem::path& accepted_log() const { return m_accepted_log; }

  // Starts possim on every till at `events_per_s` in total. Throws when possim cannot start.
  void start_load(double events_per_s, std::uint64_t seed = 1);
  // Stops possim (SIGTERM), waits for every backlog to drain and the collector to go idle
  // (within drain_timeout), pulls the subscription until quiet and checks it against possim's
  // accepted log. Prints the counts with `scenario`.
  RunResult finish(const std::string& scenario,
                   std::chrono::seconds drain_timeout = std::chrono::seconds(120));
  // Number of events possim has logged as accepted so far (lines in the accepted log).
  std::size_t accepted_so_far() const;
  // A collector's Prometheus text; empty when it does not answer.
  std::string collector_metrics(std::size_t index = 0) const;
  // True when every till reports backlog 0 and the collector has nothing pending; else fills
  // `state` with what is still pending.
  bool drained(std::string& state);
  // Tails of every component's log, for failure messages.
  std::string diagnostics() const;

 private:
  SystemOptions m_options;
  std::chrono::steady_clock::time_point m_started;
  TempDir m_dir{"pos-e2e"};
  std::unique_ptr<TestPki> m_pki;
  std::vector<std::unique_ptr<MosquittoBroker>> m_brokers;
  std::unique_ptr<PubSubEmulator> m_emulator;
  std::unique_ptr<PostgresServer> m_postgres;
  std::unique_ptr<TcpProxy> m_sink_proxy;
  std::vector<std::unique_ptr<CollectorProcess>> m_collectors;
  std::vector<std::unique_ptr<Till>> m_tills;
  std::filesystem::path m_accepted_log;
  std::optional<ChildProcess> m_possim;
};

// The common end of a scenario, as gtest expectations: every accepted event exactly once
// (duplicates only when allowed), in per-till order, as sent; possim stopped cleanly; the system
// drained.
void expect_promise_kept(E2eSystem& system, const RunResult& result, bool allow_duplicates);

}  // namespace pos::test
