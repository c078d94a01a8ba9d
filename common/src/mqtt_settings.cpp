#include "pos/common/mqtt_settings.hpp"

#include <openssl/pem.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "pos/common/openssl_handles.hpp"
#include "pos/common/startup_error.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::common {
namespace {

[[noreturn]] void fail_file(std::string_view key, const std::string& path, std::string_view what) {
  const auto details = ossl::error_queue();
  throw StartupError(std::string(key) + ": " + path + ": " + std::string(what) +
                     (details.empty() ? "" : " (" + details + ")"));
}

ossl::Bio open_file(std::string_view key, const std::string& path) {
  ERR_clear_error();
  ossl::Bio bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    const int error = errno;
    ERR_clear_error();
    throw StartupError(std::string(key) + ": " + path + ": cannot read: " + std::strerror(error));
  }
  return bio;
}

ossl::Cert read_certificate(std::string_view key, const std::string& path) {
  auto bio = open_file(key, path);
  ossl::Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    fail_file(key, path, "not a PEM certificate");
  }
  return cert;
}

// Never asks for a passphrase (a terminal prompt would hang a service): an encrypted key fails.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

}  // namespace

bool is_tls_uri(std::string_view uri) {
  return uri.starts_with("ssl://") || uri.starts_with("mqtts://");
}

bool uses_tls(const MqttSettings& settings) {
  return std::any_of(settings.uris.begin(), settings.uris.end(),
                     [](const std::string& uri) { return is_tls_uri(uri); });
}

std::optional<MqttUriProblem> check_mqtt_uris(const std::vector<std::string>& uris) {
  if (uris.empty()) {
    return MqttUriProblem{std::nullopt, "must name at least one broker"};
  }
  if (uris.size() > max_mqtt_uris) {
    return MqttUriProblem{std::nullopt, "at most " + std::to_string(max_mqtt_uris) +
                                            " brokers (got " + std::to_string(uris.size()) + ")"};
  }
  for (std::size_t i = 0; i < uris.size(); ++i) {
    const std::string_view uri = uris[i];
    if (uri.empty()) {
      return MqttUriProblem{i, "must not be empty"};
    }
    const auto scheme_end = uri.find("://");
    const std::string_view scheme =
        scheme_end == std::string_view::npos ? std::string_view() : uri.substr(0, scheme_end);
    if (scheme != "ssl" && scheme != "mqtts" && scheme != "mqtt" && scheme != "tcp") {
      return MqttUriProblem{i, "must start with ssl://, mqtts://, mqtt:// or tcp://"};
    }
    const std::string_view rest = uri.substr(scheme_end + 3);
    if (rest.empty() || rest.front() == ':' || rest.front() == '/') {
      return MqttUriProblem{i, "must name a host after " + std::string(scheme) + "://"};
    }
    // Only a list of two or more can have these problems, and only the array form writes one:
    // the messages name the other entry by its key.
    for (std::size_t j = 0; j < i; ++j) {
      if (uris[j] == uri) {
        return MqttUriProblem{i, "is listed twice (also mqtt.uri[" + std::to_string(j) + "])"};
      }
    }
    if (is_tls_uri(uri) != is_tls_uri(uris.front())) {
      return MqttUriProblem{
          i, std::string(is_tls_uri(uri) ? "uses TLS but mqtt.uri[0] is plain"
                                         : "is plain but mqtt.uri[0] uses TLS") +
                 ": all brokers must use TLS (ssl://, mqtts://) or none (mqtt://, tcp://)"};
    }
  }
  return std::nullopt;
}

std::string mqtt_uri_key(const MqttUriProblem& problem, bool array) {
  if (!problem.index || !array) {
    return "mqtt.uri";
  }
  return "mqtt.uri[" + std::to_string(*problem.index) + "]";
}

std::string describe_uris(const std::vector<std::string>& uris) {
  if (uris.size() == 1) {
    return uris.front();
  }
  std::string out = "[";
  for (const auto& uri : uris) {
    out += (out.size() > 1 ? ", " : "") + uri;
  }
  return out + "]";
}

std::vector<std::string> till_broker_order(const std::vector<std::string>& uris,
                                           std::string_view store_id, std::string_view till_id) {
  std::vector<std::string> order;
  if (uris.empty()) {
    return order;
  }
  order.reserve(uris.size());
  const auto start = static_cast<std::size_t>(protocol::till_hash(store_id, till_id) % uris.size());
  for (std::size_t i = 0; i < uris.size(); ++i) {
    order.push_back(uris[(start + i) % uris.size()]);
  }
  return order;
}

void check_mqtt_files(const MqttSettings& settings) {
  if (!uses_tls(settings)) {
    return;
  }
  read_certificate("mqtt.ca_file", settings.ca_file);
  const auto cert = read_certificate("mqtt.cert_file", settings.cert_file);
  auto bio = open_file("mqtt.key_file", settings.key_file);
  const ossl::Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    fail_file("mqtt.key_file", settings.key_file, "not an unencrypted PEM private key");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    fail_file("mqtt.key_file", settings.key_file,
              "does not belong to the certificate " + settings.cert_file);
  }
}

}  // namespace pos::common
