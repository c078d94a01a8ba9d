// The packaged example configs (packaging/*.toml) as unit tests read them.
#pragma once

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace pos::test {

// The text of packaging/{name} with its ssl:// broker swapped for plain mqtt:// and the TLS file
// keys (ca_file, cert_file, key_file: files that exist only on a real host) dropped, so that it
// parses on a test machine. Throws std::runtime_error when the file or one of those lines is
// missing.
inline std::string packaged_config_without_tls(const std::string& name) {
  const std::string path = std::string(POS_SOURCE_DIR) + "/packaging/" + name;
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("cannot read " + path);
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string uri = "ssl://broker.example:8883";
  const auto at_uri = text.find(uri);
  if (at_uri == std::string::npos) {
    throw std::runtime_error(path + ": no " + uri);
  }
  text.replace(at_uri, uri.size(), "mqtt://broker.example:1883");
  for (const std::string key : {"ca_file", "cert_file", "key_file"}) {
    const auto at = text.find(std::string("\n").append(key).append(" = "));
    if (at == std::string::npos) {
      throw std::runtime_error(std::string(path).append(": no ").append(key).append(" line"));
    }
    text.erase(at + 1, text.find('\n', at + 1) - at);
  }
  return text;
}

}  // namespace pos::test
