#pragma once
// The possim commands behind the thin main.cpp: each validates its options (exit 2 with a message
// naming the option), runs, and returns the process exit code.

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace pos::simulator {

/// Default start of `possim generate`: a fixed Sunday morning, so that output is reproducible.
inline constexpr const char* k_default_start = "2026-11-22T10:00:00+07:00";

struct GenerateOptions {
  std::uint64_t seed = 1;
  std::uint64_t layout_seed = 1;
  std::uint64_t count = 0;
  std::vector<std::string> tills;  ///< STORE/TILL; empty: the whole fleet
  std::string start = k_default_start;
};

struct RunOptions {
  std::vector<std::string> agents;  ///< STORE/TILL=URL
  std::string agents_file;
  double rate = 200;
  double duration_s = 0;  ///< 0: until SIGINT/SIGTERM
  std::uint64_t seed = 1;
  std::uint64_t layout_seed = 1;
  std::size_t batch = 1;
  std::string replay_day;  ///< YYYY-MM-DD; empty: live traffic on the wall clock
  std::optional<double> speed;
  std::string accepted_log;
  double stats_interval_s = 5;
  std::size_t max_in_flight_per_till = 1;
  std::size_t max_queue_per_till = 1000;
  double request_timeout_s = 5;
};

/// `possim layout`: prints "S01 T1" ... "WH01 T1", one till per line. Returns 0.
int layout_command(std::uint64_t layout_seed, std::FILE* out);

/// `possim generate`: prints `count` events as NDJSON. Returns 0, or 2 (message on stderr) for a
/// bad option, 1 when writing fails.
int generate_command(const GenerateOptions& options, std::FILE* out);

/// `possim run`: posts traffic to agents until the duration ends, the replayed day is over or
/// SIGINT/SIGTERM, then prints the summary JSON on stdout. Returns 0; 2 for bad options; 1 when no
/// agent ever answered.
int run_command(const RunOptions& options);

}  // namespace pos::simulator
