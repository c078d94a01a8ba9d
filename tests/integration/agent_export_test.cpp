// `posagent export` on the database of a real posagent: while it runs and forwards to an acking
// collector, after kill -9 (a dead till: WAL and shared-memory files left behind) and after a
// clean stop; what it writes is what the POS posted, and data_dir is left as it was.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "agent_harness.hpp"
#include "pos/protocol/event.hpp"
#include "support/wait.hpp"

namespace pos::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct FileState {
  std::string bytes;
  fs::file_time_type mtime;
  bool operator==(const FileState&) const = default;
};

// NOLINTNEXTLINE(readability-identifier-naming): the name GoogleTest looks up
void PrintTo(const FileState& state, std::ostream* os) {
  *os << state.bytes.size() << " bytes, mtime " << state.mtime.time_since_epoch().count();
}

/// Every file of `dir` but those named in `except`: bytes and modification time.
std::map<std::string, FileState> snapshot(const fs::path& dir,
                                          const std::set<std::string>& except = {}) {
  std::map<std::string, FileState> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (except.contains(name)) {
      continue;
    }
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    files[name] = {bytes.str(), entry.last_write_time()};
  }
  return files;
}

std::set<std::string> names(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    out.insert(entry.path().filename().string());
  }
  return out;
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

class AgentExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(m_dir.path() / "pki");
    m_pki.emplace(m_dir.path() / "pki");
    m_broker.emplace(*m_pki);
  }

  /// Runs `posagent export --config CONFIG args...`; returns the exit code and its output
  /// (stdout and stderr).
  std::pair<int, std::string> run_export(const AgentProcess& agent, std::vector<std::string> args) {
    const auto log = m_dir.path() / ("export-" + std::to_string(++m_runs) + ".log");
    args.insert(args.begin(), {POSAGENT_BIN, "export", "--config", agent.config_path().string()});
    ChildProcess process(args, log);
    const int code = process.wait();
    return {code, read_text_file(log)};
  }

  TempDir m_dir{"agent-export"};
  std::optional<TestPki> m_pki;
  std::optional<MosquittoBroker> m_broker;
  int m_runs = 0;
};

TEST_F(AgentExportTest, RunningKilledAndStoppedAgentExportWhatWasPostedAndDataDirStaysAsItWas) {
  AckingCollector collector(*m_broker, *m_pki);
  AgentProcess agent(m_dir.path() / "till", *m_pki, m_broker->uri());
  agent.start();
  std::map<std::string, std::string> posted;  // pos_event_id -> the POS's JSON
  const auto post = [&](int first, int last) {
    std::string body;
    for (int i = first; i <= last; ++i) {
      const auto id = "x-" + std::to_string(i);
      posted[id] = sale_event(id);
      body += posted[id] + "\n";
    }
    const auto reply =
        http_request(agent.port(), "POST", "/v1/events", "application/x-ndjson", body);
    ASSERT_EQ(reply.status, 200) << reply.body;
  };
  for (int i = 1; i <= 20; i += 5) {
    post(i, i + 4);
  }
  ASSERT_TRUE(collector.wait_for_mark("S01", "T1", 20, 10s));
  ASSERT_TRUE(wait_until(
      [&] {
        const auto status = http_request(agent.port(), "GET", "/v1/status");
        return status.status == 200 &&
               boost::json::parse(status.body).at("acked_through").as_int64() == 20;
      },
      10s, "the agent has the ack through 20"));
  collector.set_acking(false);
  post(21, 25);

  // While the agent runs.
  const auto all = m_dir.path() / "all.ndjson";
  auto [code, log] =
      run_export(agent, {"--from-seq", "1", "--to-seq", "25", "--out", all.string()});
  ASSERT_EQ(code, 0) << log;
  EXPECT_NE(log.find("exported 25 events of S01/T1 to " + all.string() + ": seqs 1..25, epoch "),
            std::string::npos)
      << log;
  EXPECT_NE(log.find(", 5 not yet acknowledged (acknowledged through seq 20)"), std::string::npos)
      << log;
  const auto lines = read_lines(all);
  ASSERT_EQ(lines.size(), 25U);
  std::vector<std::int64_t> received_ms;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto doc = boost::json::parse(lines[i]).as_object();
    EXPECT_EQ(doc.at("seq").as_int64(), static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(doc.at("store_id").as_string(), "S01");
    EXPECT_EQ(doc.at("till_id").as_string(), "T1");
    EXPECT_TRUE(doc.at("event_id").as_string().ends_with("-" + std::to_string(i + 1)));
    received_ms.push_back(
        protocol::parse_rfc3339_ms(std::string(doc.at("received_at").as_string())).value_or(-1));
    // The event itself is what the POS posted.
    for (const auto* stamp : {"event_id", "seq", "received_at"}) {  // sale_event has the ids
      doc.erase(stamp);
    }
    const std::string id(doc.at("pos_event_id").as_string());
    EXPECT_EQ(id, "x-" + std::to_string(i + 1));
    EXPECT_EQ(boost::json::value(doc), boost::json::parse(posted.at(id))) << lines[i];
  }
  // The forwarder sent the same lines.
  const auto sent = collector.till("S01", "T1").lines;
  for (std::uint64_t seq = 1; seq <= 20; ++seq) {
    EXPECT_EQ(sent.at(seq), lines[seq - 1]);
  }

  // By received_at, while the agent runs: the second request's events (seqs 6..10).
  std::tie(code, log) =
      run_export(agent, {"--from", protocol::format_rfc3339_utc_ms(received_ms[5]), "--to",
                         protocol::format_rfc3339_utc_ms(received_ms[9])});
  ASSERT_EQ(code, 0) << log;
  // (Requests landing in one millisecond would widen it: the expectation is computed.)
  std::string expected;
  std::size_t first = 0;
  std::size_t last = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (received_ms[i] >= received_ms[5] && received_ms[i] <= received_ms[9]) {
      expected += lines[i] + "\n";
      first = first == 0 ? i + 1 : first;
      last = i + 1;
    }
  }
  EXPECT_NE(log.find(expected), std::string::npos) << log;
  EXPECT_NE(log.find("seqs " + std::to_string(first) + ".." + std::to_string(last)),
            std::string::npos)
      << log;

  // A dead till: killed, its WAL and shared-memory index left behind. SQLite's readers write
  // their read marks into the -shm file (as the agent's own reader does); nothing else changes.
  agent.kill9();
  const auto dead = snapshot(agent.data_dir(), {"outbox.db-shm"});
  ASSERT_EQ(dead.count("outbox.db-wal"), 1U);
  const auto dead_names = names(agent.data_dir());
  const auto after_kill = m_dir.path() / "after-kill.ndjson";
  std::tie(code, log) =
      run_export(agent, {"--from-seq", "1", "--to-seq", "25", "--out", after_kill.string()});
  ASSERT_EQ(code, 0) << log;
  EXPECT_EQ(read_lines(after_kill), lines);
  EXPECT_EQ(snapshot(agent.data_dir(), {"outbox.db-shm"}), dead);
  EXPECT_EQ(names(agent.data_dir()), dead_names);

  // Cleanly stopped: only outbox.db (and the lock file) remain; export creates nothing beside.
  agent.start();
  EXPECT_EQ(agent.terminate(), 0);
  const auto stopped = snapshot(agent.data_dir());
  ASSERT_EQ(stopped.count("outbox.db-wal"), 0U);
  const auto after_stop = m_dir.path() / "after-stop.ndjson";
  std::tie(code, log) =
      run_export(agent, {"--from-seq", "1", "--to-seq", "25", "--out", after_stop.string()});
  ASSERT_EQ(code, 0) << log;
  EXPECT_EQ(read_lines(after_stop), lines);
  EXPECT_EQ(snapshot(agent.data_dir()), stopped);

  // Usage errors: exit 2 with the message; a range not held: exit 1, no file.
  std::tie(code, log) = run_export(agent, {"--from-seq", "5"});
  EXPECT_EQ(code, 2);
  EXPECT_NE(log.find("posagent export: --from-seq needs --to-seq"), std::string::npos) << log;
  std::tie(code, log) = run_export(agent, {"--from", "2026-12-05T00:00:00Z", "--to", "tomorrow"});
  EXPECT_EQ(code, 2);
  EXPECT_NE(log.find("--to: 'tomorrow' is not an RFC 3339 timestamp"), std::string::npos) << log;
  std::tie(code, log) = run_export(agent, {"--from-seq", "9", "--to-seq", "3"});
  EXPECT_EQ(code, 2);
  EXPECT_NE(log.find("--from-seq 9 is after --to-seq 3"), std::string::npos) << log;
  std::tie(code, log) = run_export(agent, {"--from-seq", "1", "--to-seq", "2", "--from-seq", "3"});
  EXPECT_EQ(code, 2) << log;
  const auto never = m_dir.path() / "never.ndjson";
  std::tie(code, log) =
      run_export(agent, {"--from-seq", "20", "--to-seq", "30", "--out", never.string()});
  EXPECT_EQ(code, 1);
  EXPECT_NE(log.find("seqs 26..30 were never written"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(never));
  EXPECT_EQ(snapshot(agent.data_dir()), stopped);
}

}  // namespace
}  // namespace pos::test
