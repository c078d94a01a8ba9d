#include "fleet_harness.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace pos::test {

FileSinkCollector::FileSinkCollector(std::filesystem::path dir, TestPki& pki,
                                     const std::string& broker_uri, std::filesystem::path sink_dir,
                                     std::string collector_id, const std::string& extra_toml)
    : m_dir(std::move(dir)), m_config(m_dir / "poscollector.toml"), m_port(free_tcp_port()) {
  std::filesystem::create_directories(m_dir);
  std::filesystem::create_directories(sink_dir);
  const auto cert = pki.issue_client(collector_id);
  std::ofstream out(m_config);
  out << "collector_id = \"" << collector_id << "\"\ndata_dir = \"" << (m_dir / "data").string()
      << "\"\n[mqtt]\nuri = " << toml_uri_value(broker_uri) << "\ntopic_prefix = \"pos/v1\"\n"
      << "share_group = \"pos-collectors\"\nca_file = \"" << pki.ca_cert().string()
      << "\"\ncert_file = \"" << cert.cert.string() << "\"\nkey_file = \"" << cert.key.string()
      << "\"\n[sink]\ntype = \"file\"\npath = \"" << sink_dir.string() << "\"\n"
      << "[http]\nlisten = \"127.0.0.1:" << m_port << "\"\n"
      << extra_toml;
}

void FileSinkCollector::start(std::chrono::milliseconds timeout) {
  m_process.reset();
  m_process.emplace(start_collector(m_config, m_dir / "poscollector.log", m_port, {}, timeout));
}

int FileSinkCollector::kill9() {
  return m_process ? m_process->kill9() : 0;
}

int FileSinkCollector::terminate() {
  return m_process ? m_process->terminate() : 0;
}

std::string FileSinkCollector::log() const {
  return read_text_file(m_dir / "poscollector.log");
}

ChildProcess start_posfleet(const std::vector<std::string>& args,
                            const std::filesystem::path& log) {
  std::vector<std::string> argv{POSFLEET_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return ChildProcess(std::move(argv), log);
}

void issue_fleet_pki(const TestPki& pki, const std::filesystem::path& out, std::uint32_t tills,
                     std::uint32_t tills_per_store) {
  const auto log = out.string() + ".log";
  auto process =
      start_posfleet({"pki", "--ca-cert", pki.ca_cert().string(), "--ca-key",
                      (pki.dir() / "ca.key").string(), "--out", out.string(), "--tills",
                      std::to_string(tills), "--tills-per-store", std::to_string(tills_per_store)},
                     log);
  if (process.wait() != 0) {
    throw std::runtime_error("posfleet pki failed:\n" + read_text_file(log));
  }
}

std::vector<std::string> posfleet_run_args(const std::string& broker_uri, const TestPki& pki,
                                           const std::filesystem::path& pki_dir) {
  return {"run",       "--broker",      broker_uri, "--ca", pki.ca_cert().string(),
          "--pki-dir", pki_dir.string()};
}

SinkCount count_sink(const std::vector<std::filesystem::path>& dirs) {
  SinkCount count;
  static const std::string key = "\"event_id\":\"";
  for (const auto& dir : dirs) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      std::ifstream in(entry.path());
      std::string line;
      while (std::getline(in, line)) {
        ++count.lines;
        if (line.find("\"destination\":\"pos-events-dlq\"") != std::string::npos) {
          ++count.dead_letters;
          continue;
        }
        const auto at = line.find(key);
        if (at == std::string::npos) {
          ++count.dead_letters;
          continue;
        }
        const auto from = at + key.size();
        const auto end = line.find('"', from);
        ++count.events[line.substr(from, end - from)];
      }
    }
  }
  return count;
}

std::map<std::string, double> read_fleet_summary(const std::filesystem::path& log) {
  std::map<std::string, double> out;
  std::istringstream in(read_text_file(log));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    double value = 0;
    if (fields >> name >> value && fields.eof() && name.find(':') == std::string::npos) {
      out[name] = value;
    }
  }
  return out;
}

}  // namespace pos::test
