#pragma once
// Entry points of the posagent program. Each returns the process exit code (0 ok, 1 runtime
// failure, 2 usage or configuration error) and prints its own diagnostics.

#include <string>

namespace pos::agent {

/// Runs the agent until SIGTERM/SIGINT: ingest API, spool, durable buffer, forwarding. On SIGTERM
/// it stops intake, waits up to shutdown.drain_timeout_ms for outstanding acks, publishes the
/// offline status, flushes and exits 0.
int run(const std::string& config_path);

/// Loads and checks the configuration (and that the TLS files and dictionary load); prints `ok`
/// or the error naming the key.
int check_config(const std::string& config_path);

/// Fetches GET {url}/v1/status from a running agent and prints a human summary.
int print_status(const std::string& url);

/// The agent's version string.
const char* version();

}  // namespace pos::agent
