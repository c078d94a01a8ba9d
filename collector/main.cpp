// poscollector: parses the command line and hands over to pos::collector.
#include <CLI/CLI.hpp>
#include <iostream>

#include "pos/collector/app.hpp"

int main(int argc, char** argv) {
  CLI::App cli{"poscollector: takes POS event batches off MQTT and publishes them to Pub/Sub"};
  cli.require_subcommand(0, 1);
  bool show_version = false;
  cli.add_flag("--version", show_version, "print the version and exit");

  std::string config_path;
  auto* run = cli.add_subcommand("run", "run the collector");
  run->add_option("--config", config_path, "TOML configuration file")->required();
  auto* check = cli.add_subcommand("check-config", "check a configuration file and exit");
  check->add_option("--config", config_path, "TOML configuration file")->required();

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = cli.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (show_version) {
    std::cout << "poscollector " << pos::collector::version() << "\n";
    return 0;
  }
  if (run->parsed()) {
    return pos::collector::run(config_path);
  }
  if (check->parsed()) {
    return pos::collector::check_config(config_path);
  }
  std::cerr << cli.help();
  return 2;
}
