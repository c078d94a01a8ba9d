#pragma once
// Entry points of the poscollector program. Each returns the process exit code (0 ok, 1 runtime
// failure, 2 usage or configuration error) and prints its own diagnostics.

#include <string>

namespace pos::collector {

/// Runs the collector until SIGTERM/SIGINT: MQTT intake, dedup marks, Pub/Sub output, fleet view
/// and HTTP endpoints. On SIGTERM it stops taking batches, waits up to shutdown.drain_timeout_ms
/// for batches in flight (publish, commit, ack), stops the sink, flushes the store and exits 0.
int run(const std::string& config_path);

/// Loads and checks the configuration (keys, TLS files, dictionaries, sink settings); prints `ok`
/// or the error naming the key.
int check_config(const std::string& config_path);

/// The collector's version string.
const char* version();

}  // namespace pos::collector
