// possim: parses the command line and hands over to pos::simulator.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "pos/simulator/app.hpp"

int main(int argc, char** argv) {
  CLI::App cli{"possim: Fastyle POS traffic simulator (realistic events for posagent)"};
  cli.require_subcommand(1, 1);

  std::uint64_t layout_seed = 1;
  auto* layout = cli.add_subcommand("layout", "print the fleet's tills, one 'STORE TILL' a line");
  layout->add_option("--seed", layout_seed, "layout seed (till counts, store sizes)");

  pos::simulator::GenerateOptions gen;
  auto* generate = cli.add_subcommand("generate", "print events as NDJSON (no posting)");
  generate->add_option("--count", gen.count, "number of events")->required();
  generate->add_option("--seed", gen.seed, "traffic seed");
  generate->add_option("--layout-seed", gen.layout_seed, "layout seed (as for possim layout)");
  generate->add_option("--till", gen.tills, "only these tills, STORE/TILL (repeatable)");
  generate->add_option("--start", gen.start, "simulated start time, RFC 3339");

  pos::simulator::RunOptions run;
  auto* traffic = cli.add_subcommand("run", "post live or replayed traffic to agents");
  auto* agent_opt = traffic->add_option("--agent", run.agents, "STORE/TILL=http://HOST:PORT");
  auto* file_opt =
      traffic->add_option("--agents-file", run.agents_file, "file of 'STORE TILL URL' lines");
  traffic->add_option("--rate", run.rate, "events per second, all tills together");
  traffic->add_option("--duration", run.duration_s, "seconds; 0: until SIGINT/SIGTERM");
  traffic->add_option("--seed", run.seed, "traffic seed");
  traffic->add_option("--layout-seed", run.layout_seed, "layout seed");
  traffic->add_option("--batch", run.batch, "max events per request");
  traffic->add_option("--replay-day", run.replay_day, "replay this day YYYY-MM-DD (10:00-22:00)");
  traffic->add_option("--speed", run.speed, "replay speed: simulated seconds per real second");
  traffic->add_option("--accepted-log", run.accepted_log, "append accepted events as NDJSON");
  traffic->add_option("--stats-interval", run.stats_interval_s, "seconds between stats lines");
  traffic->add_option("--max-in-flight-per-till", run.max_in_flight_per_till,
                      "requests in flight per till (1)");
  traffic->add_option("--max-queue-per-till", run.max_queue_per_till,
                      "generated but unsent events per till before generation pauses");
  traffic->add_option("--request-timeout", run.request_timeout_s,
                      "seconds before an unanswered request is retried");
  traffic->callback([&] {
    if (agent_opt->count() == 0 && file_opt->count() == 0) {
      throw CLI::RequiredError("--agent or --agents-file");
    }
  });

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = cli.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (layout->parsed()) {
    return pos::simulator::layout_command(layout_seed, stdout);
  }
  if (generate->parsed()) {
    return pos::simulator::generate_command(gen, stdout);
  }
  return pos::simulator::run_command(run);
}
