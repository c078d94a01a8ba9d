#pragma once
// The fleet emulator: N tills, each its own MQTT 5 client over mutual TLS, sending real batches
// and waiting for the collector's acks, on one io thread (Paho's own threads do the network I/O
// and post every callback onto it).

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "pos/fleetemu/options.hpp"
#include "pos/protocol/result.hpp"

namespace pos::fleetemu {

/// The figures of one run (the summary lines and --json).
struct Summary {
  std::uint32_t tills = 0;
  std::uint32_t tills_connected = 0;      ///< tills that connected at least once
  double connect_time_s = 0;              ///< start to the last till's first connection
  double duration_s = 0;                  ///< time events were offered
  std::uint64_t events_offered = 0;       ///< events the schedule made due during the run
  std::uint64_t events_sent = 0;          ///< events put into a batch (first sends)
  std::uint64_t events_acked = 0;         ///< by the end of the drain
  std::uint64_t events_acked_in_run = 0;  ///< within the duration
  std::uint64_t batches_sent = 0;         ///< first sends
  std::uint64_t bytes_sent = 0;           ///< encoded batch bytes, first sends
  std::uint64_t batches_acked = 0;
  double ack_p50_ms = 0;  ///< batch first send to the ack covering it
  double ack_p99_ms = 0;
  double ack_max_ms = 0;
  std::uint64_t ack_timeouts = 0;     ///< go-back-N rewinds after the ack timeout
  std::uint64_t resend_requests = 0;  ///< acks with the resend flag that rewound
  std::uint64_t resends = 0;          ///< batches sent again (every cause)
  std::uint64_t reconnects = 0;
  std::uint64_t connect_failures = 0;
  std::uint64_t publish_failures = 0;
  std::uint64_t acks_ignored = 0;     ///< other epoch, unparseable or beyond what was sent
  std::uint64_t batches_unacked = 0;  ///< at the end
  std::uint64_t events_unacked = 0;   ///< at the end: sent, not acked, plus offered, not sent
  double cpu_s = 0;                   ///< user + system CPU of posfleet
  double peak_rss_mb = 0;             ///< peak resident set of posfleet
  double events_offered_per_s() const { return duration_s > 0 ? events_offered / duration_s : 0; }
  double events_acked_per_s() const {
    return duration_s > 0 ? events_acked_in_run / duration_s : 0;
  }
};

/// One `name value` line per figure.
std::string format_summary(const Summary& summary);
/// The summary as one JSON object (the same names).
std::string summary_json(const Summary& summary);

/// Runs the emulator to the end (duration, then the drain) and returns its figures. Fails before
/// anything connects for unreadable files (a till's certificate, the dictionary) or a bad broker
/// list; the message names the option.
Result<Summary> run_fleet(const RunOptions& options);

/// The program: parses `args` (argv[1..]), runs the subcommand, prints the summary. Returns the
/// exit code: 0 nothing unacked at the end, 1 something unacked (or a run-time failure), 2 usage.
int run(const std::vector<std::string>& args);

}  // namespace pos::fleetemu
