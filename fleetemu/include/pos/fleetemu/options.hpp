#pragma once
// posfleet's command line: `posfleet run ...` (the emulator) and `posfleet pki ...` (certificates
// for the emulated tills). Parsing is pure: no file is opened here.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "pos/protocol/result.hpp"

namespace pos::fleetemu {

/// What `posfleet run` does. Defaults are what `posfleet run --help` prints.
struct RunOptions {
  std::vector<std::string> brokers;  ///< --broker (repeatable or comma-separated), required
  std::string ca_file;               ///< --ca: CA of the broker certificate (TLS only)
  std::string pki_dir;               ///< --pki-dir: {till_key}.crt/.key per till (TLS only)
  std::string topic_prefix = "pos/v1";
  std::uint32_t tills = 10;      ///< --tills
  std::uint32_t first_till = 0;  ///< --first-till: index of the first till (several processes)
  std::uint32_t tills_per_store = 10;  ///< --tills-per-store: S001/T1..T10, S002/T1..
  double rate_per_till = 1.0;          ///< events/s per till (--rate, or --total-rate / tills)
  std::uint32_t batch_events = 100;    ///< --batch-events: at most this many events per batch
  std::chrono::milliseconds batch_delay{200};     ///< --batch-delay-ms: wait for a fuller batch
  std::uint32_t window = 4;                       ///< --window: unacked batches per till, at most
  std::chrono::milliseconds ack_timeout{10'000};  ///< --ack-timeout-ms: then go-back-N
  double connect_rate = 200;                      ///< --connect-rate: new connections per second
  std::chrono::seconds duration{30};              ///< --duration: time events are offered
  std::chrono::seconds drain_timeout{30};         ///< --drain-timeout: then wait for acks
  std::chrono::seconds status_interval{30};       ///< --status-interval: 0 = never
  std::chrono::milliseconds tick{20};             ///< --tick-ms: scheduling granularity
  std::string dictionary_file;                    ///< --dictionary: zstd dictionary
  std::string json_file;                          ///< --json: the summary as JSON
  std::uint64_t seed = 1;                         ///< --seed: the event mix
  bool quiet = false;                             ///< --quiet: no progress lines
};

/// What `posfleet pki` does: one EC P-256 client certificate per till, signed by the CA.
struct PkiOptions {
  std::string ca_cert;  ///< --ca-cert, required
  std::string ca_key;   ///< --ca-key, required
  std::string out_dir;  ///< --out, required; created when missing
  std::uint32_t tills = 10;
  std::uint32_t first_till = 0;
  std::uint32_t tills_per_store = 10;
  int days = 30;
};

/// `--help`: print usage and exit 0.
struct HelpRequest {
  std::string text;
};

using Command = std::variant<RunOptions, PkiOptions, HelpRequest>;

/// Parses argv[1..]. The error names the argument and the rule (`--tills: must be an integer in
/// 1..100000`, `--broker: required`); the caller prints it with the usage and exits 2.
Result<Command> parse_command_line(const std::vector<std::string>& args);

/// The usage text of both subcommands.
std::string usage();

}  // namespace pos::fleetemu
