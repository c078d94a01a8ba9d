// system_bench: the system benchmarks of issue 5 (docs/benchmarks.md, "System"). Parses the
// command line and hands over to pos::bench; see scripts/bench-system.
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "system_bench.hpp"

int main(int argc, char** argv) {
  CLI::App cli{
      "system_bench: end-to-end latency, drain and compression of real agents, broker, "
      "collector and Pub/Sub emulator"};
  cli.require_subcommand(1);

  pos::bench::LiveOptions live;
  auto* live_cmd = cli.add_subcommand("live", "paced live traffic: latency and compression ratio");
  live_cmd->add_option("--tills", live.tills, "agents (tills)")->check(CLI::Range(1, 1000));
  live_cmd->add_option("--rate", live.rate, "events per second per till")
      ->check(CLI::Range(0.1, 10000.0));
  live_cmd->add_option("--events-per-request", live.events_per_request, "events per POST")
      ->check(CLI::Range(1, 1000));
  live_cmd->add_option("--duration", live.duration_s, "seconds of load")
      ->check(CLI::Range(1, 3600));
  live_cmd->add_option("--possim", live.possim, "load from this possim binary (possim run)");
  bool plain = false;
  live_cmd->add_flag("--plain", plain, "no zstd dictionary (default: a trained one)");
  live_cmd->add_option("--perf", live.perf_output,
                       "perf record (DWARF call graphs) the collector into FILE");

  pos::bench::DrainOptions drain;
  auto* drain_cmd = cli.add_subcommand("drain", "offline backlog, then broker and collector up");
  drain_cmd->add_option("--tills", drain.tills, "agents (tills)")->check(CLI::Range(1, 1000));
  drain_cmd->add_option("--events-per-till", drain.events_per_till, "backlog per till")
      ->check(CLI::Range(1, 10'000'000));
  drain_cmd->add_option("--sink", drain.sink, "collector sink")
      ->check(CLI::IsMember({"file", "pubsub"}));
  drain_cmd->add_option("--max-run", drain.max_run_s, "give up after this many seconds")
      ->check(CLI::Range(10, 7200));
  drain_cmd->add_option("--perf", drain.perf_output,
                        "perf record (DWARF call graphs) the collector into FILE");

  auto* smoke_cmd =
      cli.add_subcommand("smoke", "2 tills, tiny drain and live run: checks every event arrives");

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = cli.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    if (live_cmd->parsed()) {
      live.dictionary = !plain;
      return pos::bench::run_live(live);
    }
    if (drain_cmd->parsed()) {
      return pos::bench::run_drain(drain);
    }
    if (smoke_cmd->parsed()) {
      return pos::bench::run_smoke();
    }
  } catch (const std::exception& e) {
    std::cerr << "system_bench: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
