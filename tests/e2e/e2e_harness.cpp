#include "e2e_harness.hpp"

#include <gtest/gtest.h>

#include <sys/mount.h>

#include <boost/json/parse.hpp>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace pos::test {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

std::string tail(const std::string& text, std::size_t bytes = 4000) {
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

std::string double_text(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

std::vector<TillOptions> layout_tills(std::size_t count) {
  TempDir dir("pos-e2e-layout");
  const auto out = dir.path() / "layout.txt";
  ChildProcess possim({POSSIM_BIN, "layout"}, out);
  if (possim.wait() != 0) {
    throw std::runtime_error("possim layout failed:\n" + read_text_file(out));
  }
  std::map<std::string, std::vector<std::string>> stores;  // sorted by store id
  std::istringstream in(read_text_file(out));
  std::string store;
  std::string till;
  while (in >> store >> till) {
    stores[store].push_back(till);
  }
  std::vector<TillOptions> tills;
  for (const auto& [id, ids] : stores) {
    if (ids.size() >= 2 && ids[0] == "T1" && ids[1] == "T2") {
      tills.push_back({id, "T1"});
      tills.push_back({id, "T2"});
      break;
    }
  }
  for (const auto& [id, ids] : stores) {
    if (tills.size() < count && !tills.empty() && id != tills[0].store && id.rfind("WH", 0) != 0 &&
        !ids.empty()) {
      tills.push_back({id, ids[0]});
    }
  }
  if (tills.size() < count) {
    throw std::runtime_error("possim layout has no store with tills T1 and T2 plus enough more:\n" +
                             read_text_file(out));
  }
  return tills;
}

Till::Till(const std::filesystem::path& dir, TestPki& pki, const MosquittoBroker& broker,
           TillOptions options)
    : Till(dir, pki, options.mqtt_via_proxy ? std::to_string(broker.port()) : broker.uri(),
           std::move(options)) {}

Till::Till(const std::filesystem::path& dir, TestPki& pki, const std::string& broker_uri,
           TillOptions options)
    : m_options(std::move(options)),
      m_dir(dir),
      // With a proxy, `broker_uri` is the broker's port (the proxy's target).
      m_proxy(m_options.mqtt_via_proxy
                  ? std::make_unique<TcpProxy>(static_cast<std::uint16_t>(std::stoi(broker_uri)))
                  : nullptr),
      m_agent(dir, pki, m_proxy ? "ssl://localhost:" + std::to_string(m_proxy->port()) : broker_uri,
              m_options.store, m_options.till, "", "",
              m_options.mqtt_keepalive_s > 0
                  ? "keepalive_s = " + std::to_string(m_options.mqtt_keepalive_s) + "\n"
                  : "",
              m_options.data_dir, m_options.extra_ingest_toml) {
  std::filesystem::create_directories(data_dir());
  if (m_options.tmpfs_bytes > 0) {
    const std::string size = "size=" + std::to_string(m_options.tmpfs_bytes) + ",mode=0700";
    if (::mount("tmpfs", data_dir().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, size.c_str()) != 0) {
      throw std::runtime_error("mount tmpfs on " + data_dir().string() + ": " +
                               std::generic_category().message(errno) +
                               " (the disk-full test needs root)");
    }
    m_mounted = true;
  }
  if (m_options.fake_clock) {
    set_clock_offset("+0");
  }
}

Till::~Till() {
  m_process.reset();  // SIGKILL before the data directory goes away
  if (m_mounted && ::umount2(data_dir().c_str(), 0) != 0) {
    std::cerr << "[ e2e ] umount " << data_dir() << ": " << std::generic_category().message(errno)
              << "; detaching it lazily\n";
    ::umount2(data_dir().c_str(), MNT_DETACH);
  }
}

void Till::start(std::chrono::milliseconds timeout) {
  std::map<std::string, std::string> env;
  if (m_options.fake_clock) {
    const std::string library = POS_LIBFAKETIME;
    if (library.empty() || !std::filesystem::exists(library)) {
      throw std::runtime_error(
          "libfaketime not found (Debian package faketime, see scripts/install-deps)");
    }
    env = {{"LD_PRELOAD", library},
           {"FAKETIME_TIMESTAMP_FILE", (m_dir / "faketime.rc").string()},
           {"FAKETIME_NO_CACHE", "1"},
           {"FAKETIME_DONT_FAKE_MONOTONIC", "1"}};
  }
  m_process.emplace(
      std::vector<std::string>{POSAGENT_BIN, "run", "--config", m_agent.config_path().string()},
      m_dir / "posagent.log", env);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!m_process->running()) {
      throw std::runtime_error("posagent " + name() + " exited at start; log:\n" + tail(log()));
    }
    if (http_request(port(), "GET", "/healthz", "", "", 500ms).status == 200) {
      return;
    }
    std::this_thread::sleep_for(20ms);
  }
  throw std::runtime_error("posagent " + name() + " not healthy in time; log:\n" + tail(log()));
}

int Till::kill9() {
  return m_process ? m_process->kill9() : 0;
}

int Till::terminate() {
  return m_process ? m_process->terminate(15s) : 0;
}

bool Till::running() {
  return m_process && m_process->running();
}

std::optional<json::object> Till::status() const {
  const auto reply = http_request(port(), "GET", "/v1/status", "", "", 2s);
  if (reply.status != 200) {
    return std::nullopt;
  }
  boost::system::error_code ec;
  auto value = json::parse(reply.body, ec);
  if (ec || !value.is_object()) {
    return std::nullopt;
  }
  return std::move(value.as_object());
}

void Till::set_clock_offset(const std::string& offset) {
  if (!m_options.fake_clock) {
    throw std::logic_error("set_clock_offset: till " + name() + " has no fake clock");
  }
  // Write and rename, so that the agent never reads a half-written file.
  const auto file = m_dir / "faketime.rc";
  const auto temp = m_dir / "faketime.rc.tmp";
  std::ofstream(temp) << offset << '\n';
  std::filesystem::rename(temp, file);
}

std::string Till::log() const {
  return read_text_file(m_dir / "posagent.log");
}

E2eSystem::E2eSystem(SystemOptions options)
    : m_options(std::move(options)), m_started(std::chrono::steady_clock::now()) {
  std::filesystem::create_directories(m_dir.path() / "pki");
  m_pki = std::make_unique<TestPki>(m_dir.path() / "pki");
  std::vector<std::string> uris;
  MosquittoOptions broker_options;
  for (std::size_t i = 1; i < m_options.collectors; ++i) {
    broker_options.collector_users.push_back("collector-" + std::to_string(i + 1));
  }
  for (std::size_t i = 0; i < std::max<std::size_t>(m_options.brokers, 1); ++i) {
    m_brokers.push_back(std::make_unique<MosquittoBroker>(*m_pki, broker_options));
    uris.push_back(m_brokers.back()->uri());
  }
  m_emulator = std::make_unique<PubSubEmulator>();
  create_pubsub_resources(*m_emulator);
  if (m_options.sink_via_proxy) {
    m_sink_proxy = std::make_unique<TcpProxy>(m_emulator->port());
  }
  std::string collector_toml = m_options.extra_collector_toml;
  if (m_options.postgres_marks) {
    m_postgres = std::make_unique<PostgresServer>();
    collector_toml += "\n[marks]\ntype = \"postgres\"\ndsn = \"" + m_postgres->dsn() + "\"\n";
  } else if (m_options.collectors > 1) {
    throw std::logic_error("E2eSystem: several collectors need postgres_marks");
  }
  const std::string collector_uri = uris.size() == 1 ? uris.front() : toml_uri_array(uris);
  for (std::size_t i = 0; i < std::max<std::size_t>(m_options.collectors, 1); ++i) {
    const std::string id = "collector-" + std::to_string(i + 1);
    m_collectors.push_back(std::make_unique<CollectorProcess>(
        m_dir.path() / id, *m_pki, collector_uri,
        m_sink_proxy ? m_sink_proxy->host_port() : m_emulator->host_port(),
        i == 0 ? m_options.collector_data_dir : std::filesystem::path{}, id, collector_toml));
    m_collectors.back()->start();
  }
  for (const auto& t : m_options.tills) {
    const auto dir = m_dir.path() / ("till-" + t.store + "-" + t.till);
    if (t.all_brokers && !t.mqtt_via_proxy) {
      m_tills.push_back(std::make_unique<Till>(dir, *m_pki, toml_uri_array(uris), t));
    } else {
      m_tills.push_back(std::make_unique<Till>(dir, *m_pki, *m_brokers.front(), t));
    }
    m_tills.back()->start();
  }
  m_accepted_log = m_dir.path() / "accepted.ndjson";
}

E2eSystem::~E2eSystem() {
  m_possim.reset();
  m_tills.clear();
}

void E2eSystem::start_load(double events_per_s, std::uint64_t seed) {
  const auto agents_file = m_dir.path() / "agents.txt";
  {
    std::ofstream out(agents_file);
    for (const auto& till : m_tills) {
      out << till->options().store << ' ' << till->options().till << ' ' << till->url() << '\n';
    }
  }
  m_possim.emplace(
      std::vector<std::string>{POSSIM_BIN, "run", "--agents-file", agents_file.string(), "--rate",
                               double_text(events_per_s), "--duration", "0", "--seed",
                               std::to_string(seed), "--accepted-log", m_accepted_log.string(),
                               "--stats-interval", "10"},
      m_dir.path() / "possim.log");
  std::this_thread::sleep_for(500ms);
  if (!m_possim->running()) {
    throw std::runtime_error("possim exited at start; output:\n" +
                             tail(read_text_file(m_dir.path() / "possim.log")));
  }
}

std::size_t E2eSystem::accepted_so_far() const {
  std::ifstream in(m_accepted_log);
  std::size_t lines = 0;
  std::string line;
  while (std::getline(in, line)) {
    lines += line.empty() ? 0 : 1;
  }
  return lines;
}

std::string E2eSystem::collector_metrics(std::size_t index) const {
  const auto reply = http_request(m_collectors.at(index)->port(), "GET", "/metrics", "", "", 2s);
  return reply.status == 200 ? reply.body : std::string();
}

bool E2eSystem::drained(std::string& state) {
  std::ostringstream pending;
  for (const auto& till : m_tills) {
    const auto status = till->status();
    if (!status) {
      pending << till->name() << ": no status; ";
      continue;
    }
    const auto number = [&](const char* key) {
      const auto* v = status->if_contains(key);
      return v && v->is_int64() ? v->as_int64() : -1;
    };
    if (number("backlog_events") != 0 || number("last_seq") != number("acked_through")) {
      pending << till->name() << ": backlog " << number("backlog_events") << " (last_seq "
              << number("last_seq") << ", acked_through " << number("acked_through") << "); ";
    }
  }
  for (std::size_t i = 0; i < m_collectors.size(); ++i) {
    if (!m_collectors[i]->running()) {
      continue;  // a killed collector holds nothing: its batches are resent to the others
    }
    const auto metrics = collector_metrics(i);
    const auto batches = metric_value(metrics, "poscollector_pending_batches");
    const auto bytes = metric_value(metrics, "poscollector_sink_pending_bytes");
    if (!batches || !bytes || *batches != 0 || *bytes != 0) {
      pending << "collector-" << i + 1 << ": pending batches " << (batches ? *batches : -1)
              << ", sink bytes " << (bytes ? *bytes : -1) << "; ";
    }
  }
  state = pending.str();
  return state.empty();
}

RunResult E2eSystem::finish(const std::string& scenario, std::chrono::seconds drain_timeout) {
  RunResult result;
  if (m_possim) {
    ::kill(-m_possim->pid(), SIGTERM);
    const auto stop_deadline = std::chrono::steady_clock::now() + 15s;
    while (m_possim->running() && std::chrono::steady_clock::now() < stop_deadline) {
      std::this_thread::sleep_for(100ms);
    }
    result.possim_stopped_on_sigterm = !m_possim->running();
    // A second SIGTERM tells possim to stop waiting; SIGKILL after 5 s more.
    result.possim_exit = m_possim->terminate(5s);
    result.possim_summary = tail(read_text_file(m_dir.path() / "possim.log"), 1500);
  }
  const auto deadline = std::chrono::steady_clock::now() + drain_timeout;
  while (!(result.drained = drained(result.drain_state)) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(500ms);
  }
  result.messages = drain_subscription(*m_emulator, test_project, events_sub, 3s, 120s);
  result.report = check_delivery(read_accepted_log(m_accepted_log), result.messages);
  for (const auto& dead : drain_subscription(*m_emulator, test_project, dlq_sub, 500ms, 10s)) {
    const auto error = dead.attributes.find("error");
    result.report.unexpected.add("dead letter: " +
                                 (error == dead.attributes.end() ? "?" : error->second));
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - m_started).count();
  std::cout << "[ e2e      ] " << scenario << ": " << result.report.counts() << "; drained "
            << (result.drained ? "yes" : "NO") << ", wall " << static_cast<int>(result.seconds)
            << " s\n";
  return result;
}

// The common end: every accepted event exactly once (duplicates only when allowed), in order,
// as sent; possim stopped cleanly; the system drained.
void expect_promise_kept(E2eSystem& system, const RunResult& result, bool allow_duplicates) {
  EXPECT_TRUE(result.possim_stopped_on_sigterm) << "possim did not exit within 15 s of SIGTERM:\n"
                                                << result.possim_summary;
  EXPECT_EQ(result.possim_exit, 0) << "possim did not stop cleanly:\n" << result.possim_summary;
  EXPECT_TRUE(result.drained) << "backlogs did not drain: " << result.drain_state;
  EXPECT_GT(result.report.accepted, 200U) << "too little load went through:\n"
                                          << result.possim_summary;
  EXPECT_TRUE(result.report.ok(allow_duplicates))
      << result.report.counts() << '\n'
      << result.report.findings() << system.diagnostics();
}

std::string E2eSystem::diagnostics() const {
  std::ostringstream out;
  out << "--- test dir " << m_dir.path() << " (POS_KEEP_TEST_DIRS=1 keeps it)\n";
  for (std::size_t i = 0; i < m_collectors.size(); ++i) {
    out << "--- collector-" << i + 1 << " log\n"
        << tail(m_collectors[i]->log(), m_collectors.size() > 1 ? 2500 : 4000) << '\n';
  }
  for (const auto& till : m_tills) {
    out << "--- posagent " << till->name() << " log\n" << tail(till->log(), 2500) << '\n';
  }
  out << "--- possim output\n" << tail(read_text_file(m_dir.path() / "possim.log"), 1500) << '\n';
  for (const auto& broker : m_brokers) {
    out << "--- mosquitto log\n" << tail(read_text_file(broker->log_path()), 1500) << '\n';
  }
  return out.str();
}

}  // namespace pos::test
