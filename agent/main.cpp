// posagent: parses the command line and hands over to pos::agent.
#include <CLI/CLI.hpp>
#include <iostream>

#include "pos/agent/app.hpp"
#include "pos/agent/enroll.hpp"
#include "pos/agent/export.hpp"
#include "pos/common/program_cli.hpp"

int main(int argc, char** argv) {
  pos::common::ProgramCommandLine command_line(
      "posagent: durable POS event buffer and forwarder for one till", "run the agent");
  CLI::App& cli = command_line.cli();
  std::string& config_path = command_line.config_path();
  std::string csr_out;
  bool force = false;
  auto* enroll = cli.add_subcommand(
      "enroll", "create this till's key (0600) and a CSR for posctl pki sign; the key stays here");
  enroll
      ->add_option("--config", config_path,
                   "TOML configuration file (store_id, till_id, "
                   "mqtt.cert_file, mqtt.key_file)")
      ->required();
  enroll->add_option("--csr-out", csr_out, "where to write the CSR (default <mqtt.cert_file>.csr)");
  enroll->add_flag("--force", force,
                   "replace an existing key (its certificate stops working: re-sign)");
  pos::agent::ExportRangeOptions range;
  std::string export_out;
  auto* exporter = cli.add_subcommand(
      "export", "write a range of this till's stored events as NDJSON (read-only, agent may run)");
  exporter
      ->add_option("--config", config_path, "TOML configuration file (store_id, till_id, data_dir)")
      ->required();
  exporter->add_option("--from", range.from, "first received_at, RFC 3339 (inclusive)");
  exporter->add_option("--to", range.to, "last received_at, RFC 3339 (inclusive)");
  exporter->add_option("--from-seq", range.from_seq, "first seq (inclusive)");
  exporter->add_option("--to-seq", range.to_seq, "last seq (inclusive)");
  exporter->add_option("--out", export_out,
                       "write to this file (complete or absent) instead of stdout");
  std::string url = "http://127.0.0.1:8411";
  auto* status = cli.add_subcommand("status", "print a running agent's status");
  status->add_option("--url", url, "the agent's ingest API base URL");

  if (auto code = command_line.parse_and_run(argc, argv, "posagent", pos::agent::version(),
                                             pos::agent::run, pos::agent::check_config)) {
    return *code;
  }
  if (enroll->parsed()) {
    return pos::agent::enroll(config_path, csr_out, force, std::cout, std::cerr);
  }
  if (exporter->parsed()) {
    return pos::agent::export_command(config_path, range, export_out, std::cout, std::cerr);
  }
  if (status->parsed()) {
    return pos::agent::print_status(url);
  }
  return command_line.no_subcommand();
}
