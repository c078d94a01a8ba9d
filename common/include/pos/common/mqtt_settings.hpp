#pragma once
// The MQTT connection settings the agent and the collector share: where the broker is, who we
// are, and the session's timing. The defaults here are the only ones: the config reader
// (read_mqtt_settings), the transport and the packaged TOML files take them from this struct.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pos::common {

/// At most this many brokers in `[mqtt] uri`.
inline constexpr std::size_t max_mqtt_uris = 16;

struct MqttSettings {
  /// `[mqtt] uri`: one string or an array of 1 to max_mqtt_uris distinct URIs, all ssl:// or
  /// mqtts:// (TLS) or all mqtt:// or tcp:// (plain, tests only); a string is the one-element
  /// list. The agent fails over between them (in the order till_broker_order gives), the
  /// collector takes batches from every one.
  std::vector<std::string> uris;
  std::string topic_prefix = "pos/v1";
  std::string ca_file;    ///< CA that signed the broker's certificate (PEM)
  std::string cert_file;  ///< client certificate (PEM)
  std::string key_file;   ///< client key (PEM, unencrypted)
  std::string client_id;  ///< must be stable: the broker keeps the session under it
  std::chrono::seconds keepalive{30};
  /// How long the broker keeps the session (subscription, queued messages) while we are offline.
  std::chrono::seconds session_expiry{7LL * 24 * 3600};
  std::chrono::seconds connect_timeout{10};
  bool operator==(const MqttSettings&) const = default;
};

/// What is wrong with a list of broker URIs: `index` names the entry (none: the list as a
/// whole), `message` the rule (`must start with ssl://, mqtts://, mqtt:// or tcp://`).
struct MqttUriProblem {
  std::optional<std::size_t> index;
  std::string message;
};

/// Checks a list as MqttSettings::uris describes it: not empty, at most max_mqtt_uris entries,
/// each non-empty with a known scheme and a host after it, no entry twice (compared as written),
/// and TLS for all or for none (those two messages name the other entry as `mqtt.uri[j]`). Returns
/// the first problem, or nullopt. Thread-safe.
std::optional<MqttUriProblem> check_mqtt_uris(const std::vector<std::string>& uris);

/// The key a problem is reported under: `mqtt.uri` for the list as a whole or when `array` is
/// false (the config wrote one string), else `mqtt.uri[i]`.
std::string mqtt_uri_key(const MqttUriProblem& problem, bool array);

/// True for an ssl:// or mqtts:// uri.
bool is_tls_uri(std::string_view uri);

/// True when the brokers are reached over TLS (any ssl:// or mqtts:// uri; check_mqtt_uris
/// makes it all or none).
bool uses_tls(const MqttSettings& settings);

/// The URIs for logs: `ssl://a:8883` or `[ssl://a:8883, ssl://b:8883]`.
std::string describe_uris(const std::vector<std::string>& uris);

/// The order in which a till tries its brokers: `uris` rotated to start at entry
/// `protocol::till_hash(store_id, till_id) % uris.size()`, then the following ones, wrapping
/// around. Every till keeps its order for good, and a fleet's tills spread evenly over the list
/// (each broker is the first choice of about 1/n of them). Empty for an empty list.
std::vector<std::string> till_broker_order(const std::vector<std::string>& uris,
                                           std::string_view store_id, std::string_view till_id);

/// With TLS, checks that ca_file holds at least one PEM certificate, cert_file a PEM certificate
/// and key_file an unencrypted PEM private key that belongs to that certificate; without TLS,
/// does nothing. Throws StartupError naming the key and the file (`mqtt.cert_file: /etc/x.pem:
/// not a PEM certificate`). Thread-safe.
void check_mqtt_files(const MqttSettings& settings);

}  // namespace pos::common
