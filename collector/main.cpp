// poscollector: parses the command line and hands over to pos::collector.
#include "pos/collector/app.hpp"
#include "pos/common/program_cli.hpp"

int main(int argc, char** argv) {
  pos::common::ProgramCommandLine command_line(
      "poscollector: takes POS event batches off MQTT and publishes them to Pub/Sub",
      "run the collector");
  if (auto code = command_line.parse_and_run(argc, argv, "poscollector", pos::collector::version(),
                                             pos::collector::run, pos::collector::check_config)) {
    return *code;
  }
  return command_line.no_subcommand();
}
