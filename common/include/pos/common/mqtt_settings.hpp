#pragma once
// The MQTT connection settings the agent and the collector share: where the broker is, who we
// are, and the session's timing. The defaults here are the only ones: the config reader
// (read_mqtt_settings), the transport and the packaged TOML files take them from this struct.

#include <chrono>
#include <string>

namespace pos::common {

struct MqttSettings {
  std::string uri;  ///< ssl:// or mqtts:// (TLS); mqtt:// or tcp:// (plain, tests only)
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

/// True for an ssl:// or mqtts:// uri.
bool uses_tls(const MqttSettings& settings);

/// With TLS, checks that ca_file holds at least one PEM certificate, cert_file a PEM certificate
/// and key_file an unencrypted PEM private key that belongs to that certificate; without TLS,
/// does nothing. Throws StartupError naming the key and the file (`mqtt.cert_file: /etc/x.pem:
/// not a PEM certificate`). Thread-safe.
void check_mqtt_files(const MqttSettings& settings);

}  // namespace pos::common
