#include "support/mosquitto.hpp"

#include <signal.h>

#include <fstream>
#include <functional>
#include <map>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace pos::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The production broker configuration, which the tests render (POS_SOURCE_DIR is set by
// tests/support/CMakeLists.txt).
fs::path packaging_dir() {
  return fs::path(POS_SOURCE_DIR) / "packaging" / "mosquitto";
}
constexpr std::string_view production_prefix = "pos/v1/";

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("MosquittoBroker: cannot read the production config " + path.string());
  }
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

std::string_view directive(std::string_view line) {
  const auto end = line.find(' ');
  return line.substr(0, end);
}

// "topic read pos/v1/+/+/batch" with the production prefix swapped for `prefix`.
std::string with_prefix(const std::string& line, const std::string& prefix, const fs::path& file) {
  const auto at = line.find(production_prefix);
  if (at == std::string::npos) {
    throw std::runtime_error("MosquittoBroker: " + file.string() + ": ACL line \"" + line +
                             "\" does not use the topic prefix " + std::string(production_prefix));
  }
  return line.substr(0, at) + prefix + "/" + line.substr(at + production_prefix.size());
}

// pos-acl with the test's topic prefix and one `user` block per collector user, each with the
// topic lines of the production file's first `user` block.
std::string render_acl(const MosquittoOptions& options) {
  const fs::path file = packaging_dir() / "pos-acl";
  std::vector<std::string> patterns;
  std::vector<std::string> collector_topics;
  int users_seen = 0;
  for (const auto& line : read_lines(file)) {
    if (line.empty() || line.front() == '#') {
      continue;
    }
    const auto key = directive(line);
    if (key == "user") {
      ++users_seen;
    } else if (key == "pattern" && users_seen == 0) {
      patterns.push_back(with_prefix(line, options.topic_prefix, file));
    } else if (key == "topic" && users_seen == 1) {
      collector_topics.push_back(with_prefix(line, options.topic_prefix, file));
    } else if (key != "topic") {
      throw std::runtime_error("MosquittoBroker: " + file.string() + ": unexpected line \"" + line +
                               "\"");
    }
  }
  if (patterns.empty() || collector_topics.empty()) {
    throw std::runtime_error("MosquittoBroker: " + file.string() +
                             " needs pattern lines and a user block with topic lines");
  }
  std::string out = "# rendered by pos::test::MosquittoBroker from " + file.string() + "\n";
  for (const auto& line : patterns) {
    out += line + "\n";
  }
  for (const auto& user : options.collector_users) {
    out += "\nuser " + user + "\n";
    for (const auto& line : collector_topics) {
      out += line + "\n";
    }
  }
  return out;
}

}  // namespace

MosquittoBroker::MosquittoBroker(const TestPki& pki, MosquittoOptions options)
    : MosquittoBroker(BrokerTls{pki.ca_cert(), pki.server()}, std::move(options)) {}

MosquittoBroker::MosquittoBroker(BrokerTls tls, MosquittoOptions options)
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
  write_config(tls);
  start();
}

MosquittoBroker::~MosquittoBroker() = default;

// Renders packaging/mosquitto/mosquitto.conf: the values of the directives below are replaced
// (each must appear exactly once, so that a change to the production file cannot silently
// escape the tests), pid_file is dropped, every other line is kept as it is.
void MosquittoBroker::write_config(const BrokerTls& tls) {
  const fs::path persistence = m_dir.path() / "data";
  fs::create_directories(persistence);
  std::string acl_line;
  if (m_options.acl) {
    const fs::path acl_path = m_dir.path() / "acl";
    std::ofstream acl(acl_path);
    acl << render_acl(m_options);
    if (!acl) {
      throw std::runtime_error("MosquittoBroker: cannot write " + acl_path.string());
    }
    acl_line = "acl_file " + acl_path.string();
  }
  const std::map<std::string, std::string, std::less<>> replacements = {
      {"user", "user root"},
      {"pid_file", ""},
      {"listener", "listener " + std::to_string(m_port) + " 127.0.0.1"},
      {"cafile", "cafile " + tls.ca_file.string()},
      {"certfile", "certfile " + tls.server.cert.string()},
      {"keyfile", "keyfile " + tls.server.key.string()},
      {"crlfile", m_options.crl_file.empty() ? "" : "crlfile " + m_options.crl_file.string()},
      {"acl_file", acl_line},
      {"persistence_location", "persistence_location " + persistence.string() + "/"},
  };
  const fs::path file = packaging_dir() / "mosquitto.conf";
  std::map<std::string, int, std::less<>> seen;
  std::string conf = "# rendered by pos::test::MosquittoBroker from " + file.string() + "\n";
  bool log_dest_written = false;
  for (const auto& line : read_lines(file)) {
    const auto key = directive(line);
    if (line.empty() || line.front() == '#') {
      conf += line + "\n";
    } else if (const auto it = replacements.find(key); it != replacements.end()) {
      ++seen[it->first];
      if (!it->second.empty()) {
        conf += it->second + "\n";
      }
    } else if (key == "log_dest") {
      // Production logs to a file under /var/log; the tests keep the broker's stderr.
      if (!log_dest_written) {
        conf += "log_dest stderr\n";
      }
      log_dest_written = true;
    } else {
      conf += line + "\n";
    }
  }
  for (const auto& [key, value] : replacements) {
    if (seen[key] != 1) {
      throw std::runtime_error("MosquittoBroker: " + file.string() + " has " +
                               std::to_string(seen[key]) + " `" + key +
                               "` lines; the test rendering expects exactly one");
    }
  }
  if (!log_dest_written) {
    throw std::runtime_error("MosquittoBroker: " + file.string() + " has no log_dest line");
  }
  conf += "# test additions\nlog_type subscribe\nlog_type unsubscribe\n";
  conf += m_options.extra_config + "\n";
  std::ofstream out(m_config_path);
  out << conf;
  if (!out) {
    throw std::runtime_error("MosquittoBroker: cannot write " + m_config_path.string());
  }
}

void MosquittoBroker::start() {
  if (running()) {
    return;
  }
  m_process = std::make_unique<ChildProcess>(
      std::vector<std::string>{m_exe.string(), "-c", m_config_path.string()}, m_log_path);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!m_process->running()) {
      const int status = m_process->wait();
      throw std::runtime_error("MosquittoBroker: mosquitto exited with " + std::to_string(status) +
                               "; log:\n" + read_text_file(m_log_path));
    }
    if (wait_for_tcp(m_port, 100ms)) {
      return;
    }
  }
  m_process->kill9();
  throw std::runtime_error("MosquittoBroker: port " + std::to_string(m_port) +
                           " not listening after 10 s; log:\n" + read_text_file(m_log_path));
}

void MosquittoBroker::stop(std::chrono::milliseconds deadline) {
  if (m_process) {
    m_process->terminate(deadline);
  }
  m_process.reset();
}

void MosquittoBroker::kill9() {
  if (m_process) {
    m_process->kill9();
  }
  m_process.reset();
}

bool MosquittoBroker::running() {
  return m_process && m_process->running();
}

pid_t MosquittoBroker::pid() const {
  return m_process ? m_process->pid() : -1;
}

std::string MosquittoBroker::drain_acl_block(std::string_view store, std::string_view till) const {
  const fs::path file = packaging_dir() / "pos-acl";
  const std::string example_user = "#user S07/T1/drain";
  std::string out;
  bool in_block = false;
  for (const auto& line : read_lines(file)) {
    if (line == example_user) {
      in_block = true;
      out += "user " + std::string(store) + "/" + std::string(till) + "/drain\n";
    } else if (in_block && line.starts_with("#topic ")) {
      std::string topic_line = with_prefix(line.substr(1), m_options.topic_prefix, file);
      const auto at = topic_line.find("/S07/T1/");
      if (at == std::string::npos) {
        throw std::runtime_error("MosquittoBroker: " + file.string() + ": drain line \"" + line +
                                 "\" does not name S07/T1");
      }
      topic_line.replace(at, 8, "/" + std::string(store) + "/" + std::string(till) + "/");
      out += topic_line + "\n";
    } else {
      in_block = false;
    }
  }
  if (out.empty() || out.find("\ntopic ") == std::string::npos) {
    throw std::runtime_error("MosquittoBroker: " + file.string() +
                             " has no commented drain block (\"" + example_user +
                             "\" followed by \"#topic\" lines)");
  }
  return out;
}

void MosquittoBroker::append_acl_and_reload(const std::string& lines) {
  const fs::path acl_path = m_dir.path() / "acl";
  if (!m_options.acl || !running()) {
    throw std::runtime_error(
        "MosquittoBroker: append_acl_and_reload needs a running broker with an ACL");
  }
  {
    std::ofstream acl(acl_path, std::ios::app);
    acl << "\n" << lines << "\n";
    if (!acl) {
      throw std::runtime_error("MosquittoBroker: cannot append to " + acl_path.string());
    }
  }
  const auto reloads = [this] {
    const std::string log = read_text_file(m_log_path);
    std::size_t count = 0;
    for (auto at = log.find("Reloading config"); at != std::string::npos;
         at = log.find("Reloading config", at + 1)) {
      ++count;
    }
    return count;
  };
  const auto before = reloads();
  if (::kill(m_process->pid(), SIGHUP) != 0) {
    throw std::runtime_error("MosquittoBroker: SIGHUP failed");
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (reloads() == before) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("MosquittoBroker: no reload logged within 10 s; log:\n" +
                               read_text_file(m_log_path));
    }
    std::this_thread::sleep_for(20ms);
  }
}

std::string MosquittoBroker::uri() const {
  return "ssl://localhost:" + std::to_string(m_port);
}

}  // namespace pos::test
