#pragma once
// System benchmarks of issue 5 (docs/benchmarks.md, "System"): real posagent processes, a real
// mosquitto with TLS, a real poscollector and the Pub/Sub emulator or the file sink, driven through
// the agents' ingest API.

#include <cstddef>
#include <cstdint>
#include <string>

namespace pos::bench {

/// Live traffic: every till sends `rate` events/s in requests of `events_per_request` for
/// `duration_s`. Measures, per accepted event, the POS's 200 (client wall clock) to the event's
/// Pub/Sub `publishTime` (pulled from an ordered subscription of the emulator, matched by the
/// `event_id` attribute), and the agents' compression ratio (raw payload bytes / batch message
/// bytes from their /metrics).
struct LiveOptions {
  int tills = 40;
  double rate = 10;
  std::size_t events_per_request = 1;
  int duration_s = 30;
  bool dictionary = true;
  /// Non-empty: the load comes from this `possim` binary (`possim run --agent ... --rate
  /// tills*rate --batch events_per_request --accepted-log FILE`; its traffic model spreads the
  /// rate over the tills) instead of the built-in client.
  std::string possim;
  /// Non-empty: `perf record --call-graph dwarf` on the collector into this file.
  std::string perf_output;
};

/// A backlog of `events_per_till` per till, ingested while the broker is down (agents running,
/// reconnecting), then the collector and the broker come up. Measures the drain from the
/// first batch an agent sends to the collector's last published event and to the last agent's
/// backlog reaching 0, into the emulator (`sink` "pubsub") or the collector's file sink (`sink`
/// "file").
struct DrainOptions {
  int tills = 40;
  std::uint64_t events_per_till = 25'000;
  std::string sink = "file";
  std::size_t fill_events_per_request = 1000;
  int max_run_s = 900;
  /// Non-empty: `perf record --call-graph dwarf` on the collector into this file.
  std::string perf_output;
};

/// Runs the scenario and prints a summary and one `RESULT key=value ...` line to stdout. Returns
/// 0 when every accepted event arrived (checked by event_id where the output can be read back),
/// 1 otherwise. Throws std::runtime_error when a component cannot be started.
int run_live(const LiveOptions& options);
int run_drain(const DrainOptions& options);

/// A tiny run of both scenarios (2 tills; 2,000-event drain into the file sink; 3 s of live
/// traffic with a dictionary into the emulator) that checks only that every event arrives.
int run_smoke();

}  // namespace pos::bench
