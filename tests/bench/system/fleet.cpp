#include "fleet.hpp"

#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "event_mix.hpp"
#include "integration/collector_harness.hpp"
#include "pos/protocol/dictionary.hpp"
#include "pos/protocol/event.hpp"

namespace pos::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t dictionary_id = 0x5e57d1c7;
constexpr std::size_t dictionary_samples = 20'000;

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Replaces the value of the first line `key = ...` of a TOML file written by a harness; throws
/// when there is no such line (the harness changed).
void set_toml_value(const fs::path& path, std::string_view key, std::string_view value) {
  std::istringstream in(read_all(path));
  std::ostringstream out;
  bool found = false;
  for (std::string line; std::getline(in, line);) {
    if (!found && line.starts_with(std::string(key) + " = ")) {
      line = std::string(key) + " = " + std::string(value);
      found = true;
    }
    out << line << '\n';
  }
  if (!found) {
    throw std::runtime_error("fleet: no line '" + std::string(key) + " = ...' in " + path.string());
  }
  std::ofstream(path, std::ios::trunc) << out.str();
}

/// Payload lines as the fleet's agents stamp them, for training: other EventMix seeds than the
/// load's (which are 1..tills), so the dictionary has not seen the measured events.
std::vector<std::string> training_lines(const std::vector<TillTarget>& tills) {
  std::vector<std::string> lines;
  lines.reserve(dictionary_samples);
  const std::size_t per_till = dictionary_samples / tills.size() + 1;
  for (std::size_t t = 0; t < tills.size(); ++t) {
    EventMix mix(1'000'000 + t);
    for (std::size_t i = 0; i < per_till; ++i) {
      auto event = protocol::parse_pos_event(mix.next_event());
      if (!event) {
        throw std::runtime_error("fleet: event mix: " + event.error().message);
      }
      const std::int64_t at_ms = 1'795'000'000'000 + static_cast<std::int64_t>(i) * 1500;
      lines.push_back(protocol::make_payload_line(
          *event, {tills[t].store, tills[t].till, 0x1234'5678'9abc'def0ULL + t, i + 1,
                   protocol::format_rfc3339_utc_ms(at_ms)}));
    }
  }
  return lines;
}

pid_t find_process_with_argument(const std::string& argument) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    const std::string cmdline = read_all(entry.path() / "cmdline");
    if (cmdline.find(argument + '\0') != std::string::npos) {
      return static_cast<pid_t>(std::stol(name));
    }
  }
  return -1;
}

}  // namespace

Metrics parse_metrics(std::string_view text) {
  Metrics out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    const std::string_view line = text.substr(at, end - at);
    at = end + 1;
    const auto space = line.rfind(' ');
    if (line.empty() || line.front() == '#' || space == std::string_view::npos) {
      continue;
    }
    try {
      out[std::string(line.substr(0, space))] = std::stod(std::string(line.substr(space + 1)));
    } catch (const std::exception&) {
      // Not a sample line; skipped.
    }
  }
  return out;
}

double metric(const Metrics& metrics, const std::string& name) {
  const auto it = metrics.find(name);
  return it == metrics.end() ? 0.0 : it->second;
}

double cpu_seconds(pid_t pid) {
  const std::string text = read_all("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = text.rfind(')');
  if (paren == std::string::npos) {
    return 0;
  }
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  unsigned long long ticks = 0;
  // After "comm)": field 3 is the state; utime is field 14 and stime 15.
  for (int index = 3; index <= 15 && fields >> field; ++index) {
    if (index == 14 || index == 15) {
      ticks += std::stoull(field);
    }
  }
  return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::string load_averages() {
  std::istringstream in(read_all("/proc/loadavg"));
  std::string one;
  std::string five;
  std::string fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

Fleet::Fleet(FleetOptions options)
    : m_options(std::move(options)), m_dir("pos-system-bench"), m_pki(m_dir.path()) {
  if (m_options.tills < 1 || m_options.tills > 1000) {
    throw std::runtime_error("fleet: tills must be 1..1000");
  }
  if (m_options.sink != "pubsub" && m_options.sink != "file") {
    throw std::runtime_error("fleet: sink must be pubsub or file, not " + m_options.sink);
  }
  m_broker = std::make_unique<test::MosquittoBroker>(m_pki);
  if (m_options.sink == "pubsub") {
    m_emulator = std::make_unique<test::PubSubEmulator>();
    m_emulator->create_topic(test::test_project, test::events_topic);
    m_emulator->create_topic(test::test_project, test::dlq_topic);
    if (m_options.subscription) {
      m_emulator->create_subscription(test::test_project, test::events_sub, test::events_topic,
                                      true);
    }
  }
  for (int i = 0; i < m_options.tills; ++i) {
    const auto index = static_cast<std::size_t>(i);
    const int store = i / 10 + 1;
    auto [store_id, till_id] = index < m_options.till_ids.size()
                                   ? m_options.till_ids[index]
                                   : std::pair((store < 10 ? "S0" : "S") + std::to_string(store),
                                               "T" + std::to_string(i % 10 + 1));
    m_targets.push_back({store_id, till_id, 0, index + 1});
  }
  std::string forward_toml;
  if (m_options.dictionary) {
    m_dictionary_dir = m_dir.path() / "dictionaries";
    fs::create_directories(m_dictionary_dir);
    auto bytes = protocol::train_dictionary(training_lines(m_targets),
                                            {std::size_t{16} * 1024, dictionary_id});
    if (!bytes) {
      throw std::runtime_error("fleet: dictionary training: " + bytes.error().message);
    }
    const fs::path file = m_dictionary_dir / "fastyle.dict";
    std::ofstream(file, std::ios::binary) << *bytes;
    forward_toml = "dictionary_file = \"" + file.string() + "\"\n";
  }
  for (auto& target : m_targets) {
    auto agent = std::make_unique<test::AgentProcess>(
        m_dir.path() / ("agent-" + target.store + "-" + target.till), m_pki, m_broker->uri(),
        target.store, target.till, forward_toml);
    set_toml_value(agent->config_path(), "ack_timeout_ms",
                   std::to_string(m_options.agent_ack_timeout_ms));
    target.port = agent->port();
    m_agents.push_back(std::move(agent));
  }
  write_collector_config();
}

Fleet::~Fleet() {
  if (m_collector) {
    m_collector->terminate(std::chrono::seconds(10));
  }
  for (auto& agent : m_agents) {
    agent->terminate(std::chrono::seconds(5));
  }
}

void Fleet::write_collector_config() {
  m_collector_dir = m_dir.path() / "collector";
  m_sink_dir = m_dir.path() / "sink-out";
  fs::create_directories(m_collector_dir);
  fs::create_directories(m_sink_dir);
  const auto cert = m_pki.issue_client(test::collector_common_name);
  m_collector_port = test::free_tcp_port();
  m_collector_config = m_collector_dir / "poscollector.toml";
  std::ofstream out(m_collector_config);
  out << "collector_id = \"collector-1\"\ndata_dir = \"" << (m_collector_dir / "data").string()
      << "\"\n[mqtt]\nuri = \"" << m_broker->uri() << "\"\ntopic_prefix = \"pos/v1\"\n"
      << "share_group = \"pos-collectors\"\nca_file = \"" << m_pki.ca_cert().string()
      << "\"\ncert_file = \"" << cert.cert.string() << "\"\nkey_file = \"" << cert.key.string()
      << "\"\nreconnect_initial_ms = 100\nreconnect_max_ms = 1000\n[sink]\n";
  if (m_options.sink == "file") {
    out << "type = \"file\"\npath = \"" << m_sink_dir.string() << "\"\n";
  } else {
    out << "type = \"pubsub\"\nproject = \"" << test::test_project << "\"\ntopic = \""
        << test::events_topic << "\"\ndead_letter_topic = \"" << test::dlq_topic
        << "\"\nordering = true\n";
  }
  if (m_options.dictionary) {
    out << "[dictionaries]\ndir = \"" << m_dictionary_dir.string() << "\"\n";
  }
  out << "[http]\nlisten = \"127.0.0.1:" << m_collector_port << "\"\n";
  if (!out) {
    throw std::runtime_error("fleet: cannot write " + m_collector_config.string());
  }
}

void Fleet::start_agents() {
  for (auto& agent : m_agents) {
    agent->start();
  }
}

void Fleet::start_collector(bool wait_ready) {
  std::map<std::string, std::string> env;
  if (m_emulator) {
    env["PUBSUB_EMULATOR_HOST"] = m_emulator->host_port();
  }
  m_collector.emplace(
      std::vector<std::string>{POSCOLLECTOR_BIN, "run", "--config", m_collector_config.string()},
      m_collector_dir / "poscollector.log", env);
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (wait_ready) {
    if (!m_collector->running()) {
      throw std::runtime_error("poscollector exited at start; log:\n" + collector_log());
    }
    if (test::http_request(m_collector_port, "GET", "/readyz", "", "",
                           std::chrono::milliseconds(500))
            .status == 200) {
      return;
    }
    if (Clock::now() > deadline) {
      throw std::runtime_error("poscollector not ready in 30 s; log:\n" + collector_log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int Fleet::stop_collector() {
  const int status = m_collector ? m_collector->terminate(std::chrono::seconds(15)) : 0;
  m_collector.reset();
  return status;
}

bool Fleet::wait_agents_connected(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (std::size_t i = 0; i < m_agents.size(); ++i) {
    while (metric(agent_metrics(i), "posagent_broker_connected") != 1.0) {
      if (Clock::now() > deadline) {
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return true;
}

pid_t Fleet::agent_pid(std::size_t till) const {
  return find_process_with_argument(m_agents.at(till)->config_path().string());
}

Metrics Fleet::agent_metrics(std::size_t till) const {
  return parse_metrics(test::http_request(m_targets.at(till).port, "GET", "/metrics").body);
}

Metrics Fleet::agent_metrics_sum() const {
  Metrics sum;
  for (std::size_t i = 0; i < m_agents.size(); ++i) {
    for (const auto& [name, value] : agent_metrics(i)) {
      sum[name] += value;
    }
  }
  return sum;
}

Metrics Fleet::collector_metrics() const {
  return parse_metrics(test::http_request(m_collector_port, "GET", "/metrics").body);
}

std::string Fleet::collector_stats() const {
  auto answer = test::http_request(m_collector_port, "GET", "/v1/stats");
  return answer.status == 200 ? answer.body : std::string();
}

std::string Fleet::collector_log() const {
  return test::read_text_file(m_collector_dir / "poscollector.log");
}

}  // namespace pos::bench
