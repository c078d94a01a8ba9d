// A real mosquitto broker on a free loopback port, TLS with client certificates.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/pki.hpp"
#include "support/process.hpp"

namespace pos::test {

struct MosquittoOptions {
  // Write an ACL file: tills (CN "{store}/{till}", see till_common_name) may write
  // {prefix}/{store}/{till}/batch and /status and read {prefix}/{store}/{till}/ack; each
  // collector user reads {prefix}/+/+/batch and /status and writes {prefix}/+/+/ack. Without
  // an ACL every authenticated client may use every topic.
  bool acl = true;
  std::string topic_prefix = "pos/v1";
  std::vector<std::string> collector_users = {std::string(collector_common_name),
                                              std::string(observer_common_name)};
  // Lines appended to mosquitto.conf as they are.
  std::string extra_config;
  // The broker's CRL (`crlfile`). Empty: the production config's crlfile line is left out
  // (TestPki makes no CRL).
  std::filesystem::path crl_file;
};

// The broker's TLS files: the CA that client certificates must chain to, and the server
// certificate and key.
struct BrokerTls {
  std::filesystem::path ca_file;
  CertKey server;
};

// Starts mosquitto (`mosquitto -c FILE`, config, persistence and log in a fresh temp dir) on
// 127.0.0.1:free port with the PRODUCTION configuration: packaging/mosquitto/mosquitto.conf and
// pos-acl rendered with the test's port, certificates, CRL, ACL options, persistence and log
// locations (`require_certificate`, `use_identity_as_username` (CN = username),
// `use_username_as_clientid` (CN = client id: two clients with one CN take over each other's
// session), TLS 1.2 minimum, no anonymous access, the production limits). Persistence is on (a
// stop()/restart() keeps sessions and queued messages; kill9() loses what was not saved yet). The
// constructor returns when the port accepts connections; it throws std::runtime_error (with the
// broker log) when mosquitto is missing, exits, or is not listening within 10 s. Runs as root: the
// config says `user root`. Not thread-safe. The destructor kills the broker.
class MosquittoBroker {
 public:
  explicit MosquittoBroker(const TestPki& pki, MosquittoOptions options = {});
  // The same with TLS files from elsewhere (e.g. made by posctl pki).
  MosquittoBroker(BrokerTls tls, MosquittoOptions options);
  ~MosquittoBroker();
  MosquittoBroker(const MosquittoBroker&) = delete;
  MosquittoBroker& operator=(const MosquittoBroker&) = delete;

  // SIGTERM (SIGKILL after the deadline); no-op when stopped.
  void stop(std::chrono::milliseconds deadline = std::chrono::seconds(10));
  // SIGKILL; no-op when stopped.
  void kill9();
  // Starts again on the same port with the same config; no-op when running. Throws like the
  // constructor.
  void start();
  void restart() {
    stop();
    start();
  }
  bool running();
  // Process id of the broker (valid while running).
  pid_t pid() const;

  // The drain `user` block that packaging/mosquitto/pos-acl documents in comments ("#user
  // S07/T1/drain" and the "#topic" lines after it), uncommented, for this store and till and the
  // test's topic prefix. Throws std::runtime_error when pos-acl has no such block.
  std::string drain_acl_block(std::string_view store, std::string_view till) const;
  // Appends `lines` to the broker's ACL file and makes mosquitto reload it (SIGHUP, what
  // `systemctl reload mosquitto` sends); returns once the broker has logged the reload (it
  // reloads before it handles anything else). Throws std::runtime_error when the broker is not
  // running, has no ACL file, or does not log the reload within 10 s.
  void append_acl_and_reload(const std::string& lines);

  std::uint16_t port() const noexcept { return m_port; }
  // "ssl://localhost:PORT": the server certificate names localhost.
  std::string uri() const;
  const std::filesystem::path& log_path() const noexcept { return m_log_path; }
  const std::filesystem::path& config_path() const noexcept { return m_config_path; }
  const std::filesystem::path& dir() const noexcept { return m_dir.path(); }

 private:
  void write_config(const BrokerTls& tls);

  MosquittoOptions m_options;
  TempDir m_dir;
  std::uint16_t m_port = 0;
  std::filesystem::path m_exe;
  std::filesystem::path m_config_path;
  std::filesystem::path m_log_path;
  std::unique_ptr<ChildProcess> m_process;
};

}  // namespace pos::test
