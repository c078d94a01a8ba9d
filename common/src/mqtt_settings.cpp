#include "pos/common/mqtt_settings.hpp"

#include <openssl/pem.h>

#include <cerrno>
#include <cstring>

#include "pos/common/openssl_handles.hpp"
#include "pos/common/startup_error.hpp"

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

bool uses_tls(const MqttSettings& settings) {
  return settings.uri.starts_with("ssl://") || settings.uri.starts_with("mqtts://");
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
