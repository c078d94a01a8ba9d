#include "support/mosquitto.hpp"

#include <fstream>
#include <stdexcept>
#include <thread>
#include <utility>

namespace pos::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

}  // namespace

MosquittoBroker::MosquittoBroker(const TestPki& pki, MosquittoOptions options)
    : m_options(std::move(options)), m_dir("pos-mosquitto") {
  const auto exe = find_executable("mosquitto");
  if (!exe) {
    throw std::runtime_error(
        "MosquittoBroker: the mosquitto program is missing (install package mosquitto)");
  }
  m_exe = *exe;
  m_port = free_tcp_port();
  m_config_path = m_dir.path() / "mosquitto.conf";
  m_log_path = m_dir.path() / "mosquitto.log";
  write_config(pki);
  start();
}

MosquittoBroker::~MosquittoBroker() = default;

void MosquittoBroker::write_config(const TestPki& pki) {
  const fs::path persistence = m_dir.path() / "data";
  fs::create_directories(persistence);
  std::ofstream conf(m_config_path);
  conf << "# written by pos::test::MosquittoBroker\n"
       << "user root\n"
       << "per_listener_settings false\n"
       << "allow_anonymous false\n"
       << "persistence true\n"
       << "persistence_location " << persistence.string() << "/\n"
       << "log_dest stderr\n"
       << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
       << "log_type subscribe\nlog_type unsubscribe\n"
       << "log_timestamp_format %H:%M:%S\n"
       << "connection_messages true\n"
       << "listener " << m_port << " 127.0.0.1\n"
       << "cafile " << pki.ca_cert().string() << "\n"
       << "certfile " << pki.server().cert.string() << "\n"
       << "keyfile " << pki.server().key.string() << "\n"
       << "require_certificate true\n"
       << "use_identity_as_username true\n"
       << "tls_version tlsv1.2\n";
  if (m_options.acl) {
    const fs::path acl_path = m_dir.path() / "acl";
    std::ofstream acl(acl_path);
    const auto& p = m_options.topic_prefix;
    // %u is the certificate CN "{store}/{till}" (see till_common_name).
    acl << "pattern write " << p << "/%u/batch\n"
        << "pattern write " << p << "/%u/status\n"
        << "pattern read " << p << "/%u/ack\n";
    for (const auto& user : m_options.collector_users) {
      acl << "\nuser " << user << "\n"
          << "topic read " << p << "/+/+/batch\n"
          << "topic read " << p << "/+/+/status\n"
          << "topic write " << p << "/+/+/ack\n";
    }
    if (!acl) throw std::runtime_error("MosquittoBroker: cannot write " + acl_path.string());
    conf << "acl_file " << acl_path.string() << "\n";
  }
  conf << m_options.extra_config << "\n";
  if (!conf) throw std::runtime_error("MosquittoBroker: cannot write " + m_config_path.string());
}

void MosquittoBroker::start() {
  if (running()) return;
  m_process = std::make_unique<ChildProcess>(
      std::vector<std::string>{m_exe.string(), "-c", m_config_path.string()}, m_log_path);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!m_process->running()) {
      const int status = m_process->wait();
      throw std::runtime_error("MosquittoBroker: mosquitto exited with " + std::to_string(status) +
                               "; log:\n" + read_text_file(m_log_path));
    }
    if (wait_for_tcp(m_port, 100ms)) return;
  }
  m_process->kill9();
  throw std::runtime_error("MosquittoBroker: port " + std::to_string(m_port) +
                           " not listening after 10 s; log:\n" + read_text_file(m_log_path));
}

void MosquittoBroker::stop(std::chrono::milliseconds deadline) {
  if (m_process) m_process->terminate(deadline);
  m_process.reset();
}

void MosquittoBroker::kill9() {
  if (m_process) m_process->kill9();
  m_process.reset();
}

bool MosquittoBroker::running() {
  return m_process && m_process->running();
}

pid_t MosquittoBroker::pid() const {
  return m_process ? m_process->pid() : -1;
}

std::string MosquittoBroker::uri() const {
  return "ssl://localhost:" + std::to_string(m_port);
}

}  // namespace pos::test
