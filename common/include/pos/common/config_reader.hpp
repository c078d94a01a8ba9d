#pragma once
// Strict TOML configuration reading: typed getters with defaults and ranges, paths relative to the
// config file, and an error naming any key that was not read (a typo is a startup error, not a
// silently ignored setting).

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pos::common {

/// A configuration problem. The message names the file and the key: `agent.toml: mqtt.uri: is
/// required`. Thrown only while loading configuration at startup.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Reads one TOML document. Keys are dotted paths (`mqtt.uri`). Not thread-safe.
class ConfigReader {
 public:
  /// Parses a file; throws ConfigError with the parser's line and column on bad TOML.
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
  /// A path; relative ones are resolved against the config file's directory. Empty stays empty.
  std::string get_path(std::string_view key, std::string fallback);
  std::string require_path(std::string_view key);

  /// A path (as get_path) that, when not empty, must name an existing regular file.
  std::string get_existing_file(std::string_view key, std::string fallback);

  /// A required store, till or collector id: [A-Za-z0-9_-]{1,32}.
  std::string require_id(std::string_view key);

  /// Throws ConfigError for a value that failed a check made by the caller, naming the key.
  [[noreturn]] void fail(std::string_view key, std::string_view message) const;

  /// Throws ConfigError naming every key present in the document that no getter asked for.
  void reject_unknown_keys() const;

 private:
  struct Impl;
  explicit ConfigReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

/// The `[mqtt]` keys both programs share (SPEC): where the broker is and how to prove who we are.
struct MqttSettings {
  std::string uri;
  std::string topic_prefix;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

/// Reads mqtt.uri (ssl:// or mqtts://; mqtt:// or tcp:// without TLS), mqtt.topic_prefix
/// (checked as a topic prefix, default `pos/v1`) and, required and checked to exist with TLS,
/// mqtt.ca_file, mqtt.cert_file and mqtt.key_file. Throws ConfigError naming the key.
MqttSettings read_mqtt_settings(ConfigReader& reader);

}  // namespace pos::common
