// posctl: parses the command line and hands over to pos::ctl.
#include <CLI/CLI.hpp>
#include <iostream>

#include "pos/ctl/commands.hpp"
#include "pos/ctl/replay.hpp"

int main(int argc, char** argv) {
  using namespace pos::ctl;
  CLI::App cli{"posctl: operator tool for the Fastyle POS fleet (PKI, fleet status, dictionaries)"};
  cli.require_subcommand(1);

  auto* pki = cli.add_subcommand("pki", "the fleet's certificate authority (see docs/pki.md)");
  pki->require_subcommand(1);
  std::filesystem::path dir;
  std::filesystem::path out_dir;
  bool force = false;
  int days = default_leaf_days;
  const auto add_dir = [&](CLI::App* cmd) {
    cmd->add_option("--dir", dir, "the CA directory")->required();
  };
  const auto add_issue = [&](CLI::App* cmd) {
    add_dir(cmd);
    cmd->add_option("--days", days, "validity in days")->capture_default_str();
    cmd->add_option("--out", out_dir, "output directory (default DIR/issued)");
    cmd->add_flag("--force", force, "issue although this CN has a valid certificate (rotation)");
  };

  CaOptions ca_options;
  auto* init = pki->add_subcommand("init", "create a new CA");
  add_dir(init);
  init->add_option("--name", ca_options.name, "the CA's common name")->capture_default_str();
  init->add_option("--days", ca_options.days, "validity in days")->capture_default_str();

  std::string store, till, id;
  std::vector<std::string> dns, ips;
  auto* issue_till = pki->add_subcommand("issue-till", "client certificate of a till");
  issue_till->add_option("--store", store, "store id")->required();
  issue_till->add_option("--till", till, "till id")->required();
  bool drain = false;
  issue_till->add_flag("--drain", drain,
                       "a drain certificate (CN {store}/{till}/drain) for draining a dead till's "
                       "database beside its replacement");
  add_issue(issue_till);
  auto* issue_collector =
      pki->add_subcommand("issue-collector", "client certificate of a collector");
  issue_collector->add_option("--id", id, "collector id")->required();
  add_issue(issue_collector);
  auto* issue_broker = pki->add_subcommand("issue-broker", "server certificate of the broker");
  issue_broker->add_option("--dns", dns, "DNS name (repeatable)");
  issue_broker->add_option("--ip", ips, "IP address (repeatable)");
  add_issue(issue_broker);

  SignArgs sign_args;
  auto* sign = pki->add_subcommand(
      "sign", "till certificate for a CSR made on the till (posagent enroll); the key stays there");
  sign->add_option("--dir", sign_args.dir, "the CA directory")->required();
  sign->add_option("--csr", sign_args.csr, "the till's PEM CSR")->required();
  sign->add_option("--out", sign_args.out,
                   "certificate file (default DIR/issued/{store}-{till}.crt)");
  sign->add_option("--days", sign_args.days, "validity in days")->capture_default_str();
  sign->add_option("--store", sign_args.store, "refuse unless the CSR's CN names this store");
  sign->add_option("--till", sign_args.till, "refuse unless the CSR's CN names this till");
  sign->add_flag("--force", sign_args.force,
                 "sign although this CN has a valid certificate (rotation)");

  bool as_json = false;
  auto* list = pki->add_subcommand("list", "list issued certificates");
  add_dir(list);
  list->add_flag("--json", as_json, "JSON output");

  std::optional<std::string> serial, cn;
  std::string reason = "unspecified";
  int crl_days = default_crl_days;
  auto* revoke = pki->add_subcommand("revoke", "revoke certificates and re-issue the CRL");
  add_dir(revoke);
  revoke->add_option("--serial", serial, "serial number (hex)");
  revoke->add_option("--cn", cn, "revoke every unrevoked certificate with this CN");
  revoke
      ->add_option("--reason", reason,
                   "keyCompromise | superseded | cessationOfOperation | unspecified")
      ->capture_default_str();
  revoke->add_option("--crl-days", crl_days, "validity of the new CRL")->capture_default_str();

  auto* crl = pki->add_subcommand("crl", "re-issue the CRL (before its next update!)");
  add_dir(crl);
  crl->add_option("--days", crl_days, "validity of the CRL in days")->capture_default_str();

  std::string url = "http://127.0.0.1:8412";
  int watch_s = 0;
  auto* fleet_cmd = cli.add_subcommand("fleet", "the collector's view of every till");
  fleet_cmd->add_option("--url", url, "the collector's HTTP base URL")->capture_default_str();
  fleet_cmd->add_flag("--json", as_json, "print the collector's JSON as it is");
  fleet_cmd->add_option("--watch", watch_s, "redraw every N seconds")->check(CLI::Range(1, 86400));

  ReplayArgs replay_args;
  auto* replay_cmd =
      cli.add_subcommand("replay", "make a till re-send a range it still holds (docs/replay.md)");
  replay_cmd->add_option("--url", replay_args.url, "the collector's HTTP base URL")
      ->capture_default_str();
  replay_cmd->add_option("--till", replay_args.till, "STORE/TILL")->required();
  replay_cmd->add_option("--from", replay_args.from, "first received_at (RFC 3339), with --to");
  replay_cmd->add_option("--to", replay_args.to, "last received_at (RFC 3339), inclusive");
  replay_cmd->add_option("--from-seq", replay_args.from_seq, "first seq, with --to-seq");
  replay_cmd->add_option("--to-seq", replay_args.to_seq, "last seq, inclusive");
  replay_cmd->add_option("--id", replay_args.id,
                         "replay id (default: derived from till and range, so a repeat is the "
                         "same replay)");
  replay_cmd->add_flag("--wait", replay_args.wait, "follow the progress until done or refused");

  TrainArgs train;
  auto* train_cmd = cli.add_subcommand("train-dictionary", "train a zstd dictionary from events");
  train_cmd->add_option("--samples", train.samples, "NDJSON file of sample events")->required();
  train_cmd->add_option("--size", train.size, "dictionary size in bytes")->capture_default_str();
  train_cmd->add_option("--id", train.id, "dictionary id (default: random)");
  train_cmd->add_option("--out", train.out, "output file")->required();

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = cli.exit(e);
    return code == 0 ? exit_ok : exit_usage;
  }
  auto& out = std::cout;
  auto& err = std::cerr;
  const IssueArgs issue_args{dir, out_dir, force};
  if (init->parsed()) {
    return pki_init(dir, ca_options, out, err);
  }
  if (issue_till->parsed()) {
    return pki_issue(drain ? drain_request(store, till, days) : till_request(store, till, days),
                     issue_args, out, err);
  }
  if (issue_collector->parsed()) {
    return pki_issue(collector_request(id, days), issue_args, out, err);
  }
  if (issue_broker->parsed()) {
    return pki_issue(broker_request(dns, ips, days), issue_args, out, err);
  }
  if (sign->parsed()) {
    return pki_sign(sign_args, out, err);
  }
  if (list->parsed()) {
    return pki_list(dir, as_json, out, err);
  }
  if (revoke->parsed()) {
    return pki_revoke(dir, serial, cn, reason, crl_days, out, err);
  }
  if (crl->parsed()) {
    return pki_crl(dir, crl_days, out, err);
  }
  if (fleet_cmd->parsed()) {
    return fleet(url, as_json, watch_s, out, err);
  }
  if (replay_cmd->parsed()) {
    return replay(replay_args, out, err);
  }
  if (train_cmd->parsed()) {
    return train_dictionary(train, out, err);
  }
  std::cerr << cli.help();
  return exit_usage;
}
