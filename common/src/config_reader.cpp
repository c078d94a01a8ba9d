#include "pos/common/config_reader.hpp"

#include <toml++/toml.h>

#include <filesystem>
#include <set>
#include "pos/common/logging.hpp"
#include "pos/protocol/ids.hpp"
#include "pos/protocol/topics.hpp"

namespace pos::common {

struct ConfigReader::Impl {
  toml::table table;
  std::string source_name;
  std::filesystem::path base_dir;
  std::set<std::string, std::less<>> used;

  [[noreturn]] void fail(std::string_view key, std::string_view message) const {
    throw StartupError(source_name + ": " + std::string(key) + ": " + std::string(message));
  }

  toml::node_view<const toml::node> find(std::string_view key) {
    used.emplace(key);
    return std::as_const(table).at_path(key);
  }

  // A key name as written in TOML: bare when it can be, else quoted. A quoted name with a dot
  // (`"buffer.max_bytes" = 1` is one top-level key) must not pass for the dotted path
  // buffer.max_bytes that a getter asked for: quoted, it never matches a used path.
  static std::string key_name(std::string_view name) {
    const bool bare = !name.empty() && name.find_first_not_of(
                                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                           "0123456789_-") == std::string_view::npos;
    if (bare) {
      return std::string(name);
    }
    std::string quoted = "\"";
    for (const char c : name) {
      if (c == '"' || c == '\\') {
        quoted += '\\';
        quoted += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        quoted += '?';
      } else {
        quoted += c;
      }
    }
    return quoted + '"';
  }

  void collect_unknown(const toml::table& t, const std::string& prefix,
                       std::vector<std::string>& unknown) const {
    for (const auto& [name, node] : t) {
      const std::string key =
          prefix.empty() ? key_name(name.str()) : prefix + "." + key_name(name.str());
      if (const auto* sub = node.as_table()) {
        collect_unknown(*sub, key, unknown);
      } else if (!used.contains(key)) {
        unknown.push_back(key);
      }
    }
  }
};

ConfigReader::ConfigReader(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
ConfigReader::~ConfigReader() = default;
ConfigReader::ConfigReader(ConfigReader&&) noexcept = default;
ConfigReader& ConfigReader::operator=(ConfigReader&&) noexcept = default;

ConfigReader ConfigReader::from_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw StartupError(path + ": cannot read the configuration file (missing or not a file)");
  }
  auto impl = std::make_unique<Impl>();
  try {
    impl->table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw StartupError(path + ":" + std::to_string(e.source().begin.line) + ":" +
                       std::to_string(e.source().begin.column) + ": " +
                       std::string(e.description()));
  }
  impl->source_name = path;
  impl->base_dir = std::filesystem::absolute(path).parent_path();
  return ConfigReader(std::move(impl));
}

ConfigReader ConfigReader::from_string(std::string_view text, std::string source_name,
                                       const std::string& base_dir) {
  auto impl = std::make_unique<Impl>();
  try {
    impl->table = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    throw StartupError(source_name + ":" + std::to_string(e.source().begin.line) + ":" +
                       std::to_string(e.source().begin.column) + ": " +
                       std::string(e.description()));
  }
  impl->source_name = std::move(source_name);
  impl->base_dir = std::filesystem::absolute(base_dir);
  return ConfigReader(std::move(impl));
}

std::vector<std::string> ConfigReader::table_keys(std::string_view key) {
  auto node = m_impl->find(key);
  if (!node) {
    return {};
  }
  const auto* table = node.as_table();
  if (table == nullptr) {
    m_impl->fail(key, "must be a table");
  }
  std::vector<std::string> names;
  for (const auto& [name, value] : *table) {
    const std::string path = std::string(key) + "." + Impl::key_name(name.str());
    if (Impl::key_name(name.str()) != name.str()) {
      m_impl->fail(path, "name must be a bare key of [A-Za-z0-9_-]");
    }
    if (value.is_table()) {
      m_impl->fail(path, "must not be a table");
    }
    names.emplace_back(name.str());
  }
  return names;
}

std::string ConfigReader::get_string(std::string_view key, std::string fallback) {
  auto node = m_impl->find(key);
  if (!node) {
    return fallback;
  }
  const auto* value = node.as_string();
  if (value == nullptr) {
    m_impl->fail(key, "must be a string");
  }
  return value->get();
}

std::string ConfigReader::require_string(std::string_view key) {
  auto node = m_impl->find(key);
  if (!node) {
    m_impl->fail(key, "is required");
  }
  std::string value = get_string(key, {});
  if (value.empty()) {
    m_impl->fail(key, "must not be empty");
  }
  return value;
}

std::int64_t ConfigReader::get_int(std::string_view key, std::int64_t fallback, std::int64_t min,
                                   std::int64_t max) {
  auto node = m_impl->find(key);
  if (!node) {
    return fallback;
  }
  const auto* value = node.as_integer();
  if (value == nullptr) {
    m_impl->fail(key, "must be an integer");
  }
  const std::int64_t v = value->get();
  if (v < min || v > max) {
    m_impl->fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                          " (got " + std::to_string(v) + ")");
  }
  return v;
}

bool ConfigReader::get_bool(std::string_view key, bool fallback) {
  auto node = m_impl->find(key);
  if (!node) {
    return fallback;
  }
  const auto* value = node.as_boolean();
  if (value == nullptr) {
    m_impl->fail(key, "must be true or false");
  }
  return value->get();
}

std::vector<std::string> ConfigReader::get_string_list(std::string_view key,
                                                       std::vector<std::string> fallback) {
  auto node = m_impl->find(key);
  if (!node) {
    return fallback;
  }
  const auto* array = node.as_array();
  if (array == nullptr) {
    m_impl->fail(key, "must be an array of strings");
  }
  std::vector<std::string> out;
  for (const auto& element : *array) {
    const auto* s = element.as_string();
    if (s == nullptr) {
      m_impl->fail(key, "must be an array of strings");
    }
    out.push_back(s->get());
  }
  return out;
}

std::vector<std::string> ConfigReader::require_string_or_list(std::string_view key,
                                                              bool& was_array) {
  auto node = m_impl->find(key);
  if (!node) {
    m_impl->fail(key, "is required");
  }
  const auto* array = node.as_array();
  was_array = array != nullptr;
  if (array == nullptr) {
    if (node.as_string() == nullptr) {
      m_impl->fail(key, "must be a string or an array of strings");
    }
    return {require_string(key)};
  }
  std::vector<std::string> out;
  out.reserve(array->size());
  for (std::size_t i = 0; i < array->size(); ++i) {
    const auto* s = array->get(i)->as_string();
    if (s == nullptr) {
      m_impl->fail(std::string(key) + "[" + std::to_string(i) + "]", "must be a string");
    }
    out.push_back(s->get());
  }
  return out;
}

std::string ConfigReader::get_path(std::string_view key, std::string fallback) {
  std::string value = get_string(key, std::move(fallback));
  if (value.empty()) {
    return value;
  }
  std::filesystem::path p(value);
  if (p.is_relative()) {
    p = m_impl->base_dir / p;
  }
  return p.lexically_normal().string();
}

std::string ConfigReader::require_path(std::string_view key) {
  require_string(key);
  return get_path(key, {});
}

std::string ConfigReader::get_existing_file(std::string_view key, std::string fallback) {
  std::string path = get_path(key, std::move(fallback));
  std::error_code ec;
  if (!path.empty() && !std::filesystem::is_regular_file(path, ec)) {
    m_impl->fail(key, "file not found: " + path);
  }
  return path;
}

std::string ConfigReader::require_id(std::string_view key) {
  std::string id = require_string(key);
  if (!protocol::is_valid_id(id)) {
    m_impl->fail(key, "must match [A-Za-z0-9_-]{1,32}");
  }
  return id;
}

void ConfigReader::fail(std::string_view key, std::string_view message) const {
  m_impl->fail(key, message);
}

void ConfigReader::reject_unknown_keys() const {
  std::vector<std::string> unknown;
  m_impl->collect_unknown(m_impl->table, "", unknown);
  if (unknown.empty()) {
    return;
  }
  std::string list;
  for (const auto& key : unknown) {
    list += (list.empty() ? "" : ", ") + key;
  }
  throw StartupError(m_impl->source_name + ": unknown key" + (unknown.size() > 1 ? "s " : " ") +
                     list);
}

MqttSettings read_mqtt_settings(ConfigReader& r, const std::string& default_client_id,
                                bool tls_files_exist) {
  MqttSettings m;
  bool array = false;
  m.uris = r.require_string_or_list("mqtt.uri", array);
  if (const auto problem = check_mqtt_uris(m.uris)) {
    r.fail(mqtt_uri_key(*problem, array), problem->message);
  }
  const bool tls = uses_tls(m);
  m.topic_prefix = r.get_string("mqtt.topic_prefix", m.topic_prefix);
  if (auto ok = protocol::check_topic_prefix(m.topic_prefix); !ok) {
    r.fail("mqtt.topic_prefix", ok.error().message);
  }
  if (tls) {
    for (auto [key, path] : {std::pair<std::string_view, std::string*>{"mqtt.ca_file", &m.ca_file},
                             {"mqtt.cert_file", &m.cert_file},
                             {"mqtt.key_file", &m.key_file}}) {
      if (r.get_string(key, "").empty()) {
        r.fail(key, "is required with an ssl:// uri");
      }
      *path = tls_files_exist ? r.get_existing_file(key, "") : r.get_path(key, "");
    }
  } else {
    m.ca_file = r.get_path("mqtt.ca_file", m.ca_file);
    m.cert_file = r.get_path("mqtt.cert_file", m.cert_file);
    m.key_file = r.get_path("mqtt.key_file", m.key_file);
  }
  m.client_id = r.get_string("mqtt.client_id", default_client_id);
  if (m.client_id.empty() || m.client_id.size() > 128) {
    r.fail("mqtt.client_id", "must be 1 to 128 characters");
  }
  m.keepalive = std::chrono::seconds(r.get_int("mqtt.keepalive_s", m.keepalive.count(), 5, 3600));
  m.session_expiry = std::chrono::seconds(
      r.get_int("mqtt.session_expiry_s", m.session_expiry.count(), 0, 0xFFFFFFFFLL));
  m.connect_timeout =
      std::chrono::seconds(r.get_int("mqtt.connect_timeout_s", m.connect_timeout.count(), 1, 300));
  return m;
}

std::string read_log_level(ConfigReader& r, std::string fallback) {
  auto level = r.get_string("log_level", std::move(fallback));
  if (!is_log_level(level)) {
    r.fail("log_level", "must be one of trace, debug, info, warn, error, off");
  }
  return level;
}

void read_reconnect_backoff(ConfigReader& r, std::string_view section,
                            std::chrono::milliseconds& initial, std::chrono::milliseconds& max) {
  const std::string initial_key = std::string(section) + ".reconnect_initial_ms";
  const std::string max_key = std::string(section) + ".reconnect_max_ms";
  initial = std::chrono::milliseconds(r.get_int(initial_key, initial.count(), 10, 600'000));
  max = std::chrono::milliseconds(r.get_int(max_key, max.count(), 10, 3'600'000));
  if (max < initial) {
    r.fail(max_key, "must be >= " + initial_key);
  }
}

}  // namespace pos::common
