#pragma once
// Strict TOML configuration reading: typed getters with defaults and ranges, paths relative to the
// config file, and an error naming any key that was not read (a typo is a startup error, not a
// silently ignored setting).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pos/common/mqtt_settings.hpp"
#include "pos/common/startup_error.hpp"

namespace pos::common {

/// Reads one TOML document. Keys are dotted paths (`mqtt.uri`). Not thread-safe.
class ConfigReader {
 public:
  /// Parses a file; throws StartupError with the parser's line and column on bad TOML.
  static ConfigReader from_file(const std::string& path);
  /// Parses text; `source_name` stands for the file name in messages; relative paths resolve
  /// against `base_dir`.
  static ConfigReader from_string(std::string_view text, std::string source_name,
                                  const std::string& base_dir = ".");

  ~ConfigReader();
  ConfigReader(ConfigReader&&) noexcept;
  ConfigReader& operator=(ConfigReader&&) noexcept;

  std::string get_string(std::string_view key, std::string fallback);
  std::string require_string(std::string_view key);
  std::int64_t get_int(std::string_view key, std::int64_t fallback, std::int64_t min,
                       std::int64_t max);
  bool get_bool(std::string_view key, bool fallback);
  std::vector<std::string> get_string_list(std::string_view key, std::vector<std::string> fallback);
  /// A required key that is a string or an array of strings. A string gives a one-element list
  /// (it must not be empty); an array gives its elements in order (possibly none: the caller
  /// decides). `was_array` tells which form was written. Errors name the key (`is required`,
  /// `must be a string or an array of strings`) or the element (`mqtt.uri[1]: must be a string`).
  std::vector<std::string> require_string_or_list(std::string_view key, bool& was_array);
  /// A path; relative ones are resolved against the config file's directory. Empty stays empty.
  std::string get_path(std::string_view key, std::string fallback);
  std::string require_path(std::string_view key);

  /// A path (as get_path) that, when not empty, must name an existing regular file.
  std::string get_existing_file(std::string_view key, std::string fallback);

  /// The key names of the table at `key` (e.g. `stock.categories`), in document order; none when
  /// it is absent. Its values are read with the getters (`stock.categories.tops`); a name that is
  /// not a bare TOML key ([A-Za-z0-9_-]) fails naming it, so is a value that is a table.
  std::vector<std::string> table_keys(std::string_view key);

  /// A required store, till or collector id: [A-Za-z0-9_-]{1,32}.
  std::string require_id(std::string_view key);

  /// Throws StartupError for a value that failed a check made by the caller, naming the key.
  [[noreturn]] void fail(std::string_view key, std::string_view message) const;

  /// Throws StartupError naming every key present in the document that no getter asked for.
  void reject_unknown_keys() const;

 private:
  struct Impl;
  explicit ConfigReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

/// Reads `log_level` (default `fallback`): one of trace, debug, info, warn, error, off. Throws
/// StartupError naming the key.
std::string read_log_level(ConfigReader& reader, std::string fallback);

/// Reads a reconnect backoff: `{section}.reconnect_initial_ms` (10 ms to 10 minutes) into
/// `initial` and `{section}.reconnect_max_ms` (10 ms to 1 hour, at least the initial delay) into
/// `max`; their values on entry are the defaults. Throws StartupError naming the key.
void read_reconnect_backoff(ConfigReader& reader, std::string_view section,
                            std::chrono::milliseconds& initial, std::chrono::milliseconds& max);

/// Reads the `[mqtt]` keys both programs share into MqttSettings, whose defaults are the only
/// ones: mqtt.uri (required; a string or an array of strings, checked by check_mqtt_uris: ssl://
/// or mqtts://, or mqtt:// or tcp:// without TLS; errors name the element, `mqtt.uri[1]: ...`),
/// mqtt.topic_prefix (checked as a topic prefix), mqtt.ca_file, mqtt.cert_file and mqtt.key_file
/// (required and checked to exist with TLS; check_mqtt_files checks their contents),
/// mqtt.client_id (1 to 128 characters, default `default_client_id`), mqtt.keepalive_s,
/// mqtt.session_expiry_s and mqtt.connect_timeout_s. Throws StartupError naming the key.
/// With `tls_files_exist` false the three TLS files are still required with TLS but need not
/// exist yet (posagent enroll, which is about to create the key).
MqttSettings read_mqtt_settings(ConfigReader& reader, const std::string& default_client_id,
                                bool tls_files_exist = true);

}  // namespace pos::common
