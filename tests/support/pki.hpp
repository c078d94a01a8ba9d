// Throw-away PKI for tests, made with the openssl command line: an EC P-256 CA, a broker
// certificate and client certificates.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace pos::test {

// Paths of a PEM certificate and its PEM private key (mode 0600).
struct CertKey {
  std::filesystem::path cert;
  std::filesystem::path key;
};

// Client certificate naming. Mosquitto uses the CN as the username (use_identity_as_username)
// and as the client id (use_username_as_clientid): one session per CN.
// A till's CN is "{store}/{till}": mosquitto 2.0.11 expands %u in `pattern` ACL lines with a
// username that contains '/' (checked with mosquitto_pub/sub: `pattern readwrite p/%u/x` lets
// CN "s1/t1" use p/s1/t1/x), so one pattern line per topic covers every till and the ACL file
// never lists tills. Store and till ids must not contain '/', '+' or '#' (mosquitto denies
// pattern ACLs to usernames with '+' or '#' anyway).
std::string till_common_name(std::string_view store, std::string_view till);
inline constexpr std::string_view collector_common_name = "collector-1";
// A second certificate with the collector's topic rights (MosquittoOptions::collector_users has
// both), for test clients that watch the broker beside a running collector. The production
// broker makes the CN the client id (use_username_as_clientid), so two clients connected at once
// need two CNs: a watcher with the collector's certificate would take over its session.
inline constexpr std::string_view observer_common_name = "observer-1";

// A CA plus a server certificate for "localhost" / 127.0.0.1, created in `dir` (which must
// exist) by the constructor. Throws std::runtime_error when openssl is missing or fails (with
// its output). Not thread-safe.
class TestPki {
 public:
  explicit TestPki(std::filesystem::path dir);

  const std::filesystem::path& dir() const noexcept { return m_dir; }
  const std::filesystem::path& ca_cert() const noexcept { return m_ca.cert; }
  // Server certificate (SAN DNS:localhost, IP:127.0.0.1, serverAuth) and key.
  const CertKey& server() const noexcept { return m_server; }

  // Issues a client certificate (clientAuth) with this CN; files are named after the CN with
  // '/' replaced by '_'. Issuing the same CN again replaces the files. Throws like the
  // constructor.
  CertKey issue_client(std::string_view common_name);

 private:
  void run_openssl(const std::vector<std::string>& args);
  CertKey issue(std::string_view common_name, const std::string& file_stem,
                const std::string& extensions);

  std::filesystem::path m_dir;
  std::filesystem::path m_openssl;
  CertKey m_ca;
  CertKey m_server;
};

}  // namespace pos::test
