#pragma once
// posagent's configuration (TOML). SPEC fixes the names of identities and endpoints; every other
// key has a default documented in packaging/posagent.toml.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "pos/agent/card_numbers.hpp"

#include "pos/agent/outbox.hpp"
#include "pos/common/mqtt_settings.hpp"
#include "pos/protocol/event.hpp"

namespace pos::agent {

struct AgentConfig {
  std::string store_id;
  std::string till_id;
  std::string data_dir;
  std::string log_level = "info";

  struct Ingest {
    std::string listen = "127.0.0.1:8411";
    std::string spool_dir;                      ///< empty: no spool directory
    std::size_t max_events_per_request = 1000;  ///< at most max_append_events
    std::size_t max_request_bytes = std::size_t{4} * 1024 * 1024;
    /// One event as stored, in every body form and spool line; at most protocol::max_event_bytes.
    std::size_t max_event_bytes = protocol::max_event_bytes;
    std::size_t max_connections = 256;
    /// Browser origins ("http://host:port") whose requests are answered; others with an Origin
    /// header get 403 (common::HttpAccess). Empty: none.
    std::vector<std::string> allowed_origins;
    /// An event with a card number (PAN) in any string: rejected, or masked to first 6 / last 4
    /// (card_numbers.hpp). Config text "reject" | "mask".
    CardNumberPolicy card_numbers = CardNumberPolicy::reject;
    std::chrono::milliseconds spool_poll{1000};
    std::chrono::milliseconds spool_settle{2000};
    bool operator==(const Ingest&) const = default;
  } ingest;

  struct Buffer {
    std::uint64_t max_bytes = 2ULL * 1024 * 1024 * 1024;
    std::chrono::hours retention{72};
    bool operator==(const Buffer&) const = default;
  } buffer;

  /// `[mqtt]`; mqtt.client_id defaults to posagent-{store}-{till}.
  common::MqttSettings mqtt;

  struct Forward {
    std::string dictionary_file;
    int zstd_level = 3;
    std::size_t batch_max_events = 1000;
    std::size_t batch_max_bytes = std::size_t{1024} * 1024;
    std::chrono::milliseconds batch_delay{20};
    std::size_t window_batches = 8;
    std::chrono::milliseconds ack_timeout{10000};
    std::chrono::milliseconds ack_timeout_max{120000};  ///< the adapted timeout's ceiling
    std::chrono::milliseconds reconnect_initial{500};
    std::chrono::milliseconds reconnect_max{60000};
    std::chrono::seconds heartbeat{30};
    std::uint64_t rate_limit_kbps = 0;             ///< 0: no cap
    std::vector<std::string> rate_limit_schedule;  ///< "HH:MM-HH:MM" local; empty: always
    bool operator==(const Forward&) const = default;
  } forward;

  struct Shutdown {
    std::chrono::milliseconds drain_timeout{3000};
    bool operator==(const Shutdown&) const = default;
  } shutdown;

  bool operator==(const AgentConfig&) const = default;
};

/// Loads and checks a configuration file. Throws common::StartupError naming the file and the key
/// (unknown keys, wrong types, out-of-range values, invalid ids, missing TLS files for ssl://).
AgentConfig load_agent_config(const std::string& path);

/// Same, except that mqtt.ca_file, mqtt.cert_file and mqtt.key_file need not exist yet
/// (posagent enroll creates the key and the CSR for the certificate).
AgentConfig load_agent_config_for_enroll(const std::string& path);

/// load_agent_config_for_enroll for the subcommands that only read the configuration (enroll,
/// export): on a StartupError prints `posagent: <message>` to `err` and returns nullopt (the
/// caller exits 2, SPEC's usage or configuration error).
std::optional<AgentConfig> load_agent_config_for_command(const std::string& path,
                                                         std::ostream& err);

/// Same as load_agent_config, from text (tests); relative paths resolve against `base_dir`.
AgentConfig parse_agent_config(std::string_view text, const std::string& base_dir = ".");

}  // namespace pos::agent
