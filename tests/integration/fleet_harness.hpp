// Helpers shared by posfleet's integration test and its benchmark (tests/bench/fleet_bench.cpp):
// poscollector processes with the file sink, the posfleet binary, and the sink's events counted.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "collector_harness.hpp"

namespace pos::test {

/// A poscollector with the file sink (SPEC keys; `extra_toml` appended, e.g. a [marks] table),
/// its own certificate (CN = collector_id) and HTTP port. Config, log and data under `dir`.
class FileSinkCollector {
 public:
  FileSinkCollector(std::filesystem::path dir, TestPki& pki, const std::string& broker_uri,
                    std::filesystem::path sink_dir, std::string collector_id,
                    const std::string& extra_toml = "");
  /// Starts and waits for /readyz (throws with the log on failure).
  void start(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  int kill9();
  int terminate();
  pid_t pid() const noexcept { return m_process ? m_process->pid() : -1; }
  /// The HTTP port of its [http] listen.
  std::uint16_t port() const noexcept { return m_port; }
  std::string log() const;

 private:
  std::filesystem::path m_dir;
  std::filesystem::path m_config;
  std::uint16_t m_port;
  std::optional<ChildProcess> m_process;
};

/// Runs `posfleet pki` for `tills` tills with the TestPki's CA into `out` (throws on failure).
void issue_fleet_pki(const TestPki& pki, const std::filesystem::path& out, std::uint32_t tills,
                     std::uint32_t tills_per_store = 10);

/// The common `posfleet run` arguments for a TLS broker and a --pki-dir.
std::vector<std::string> posfleet_run_args(const std::string& broker_uri, const TestPki& pki,
                                           const std::filesystem::path& pki_dir);

/// Starts posfleet with `args` (after the program name), output to `log`.
ChildProcess start_posfleet(const std::vector<std::string>& args, const std::filesystem::path& log);

/// Events in a file sink directory: each event_id with how often it was written; dead letters
/// counted apart.
struct SinkCount {
  std::map<std::string, std::uint32_t> events;
  std::uint64_t lines = 0;
  std::uint64_t dead_letters = 0;
};
SinkCount count_sink(const std::vector<std::filesystem::path>& dirs);

/// The summary posfleet printed (`name value` lines) from its log, by name.
std::map<std::string, double> read_fleet_summary(const std::filesystem::path& log);

}  // namespace pos::test
