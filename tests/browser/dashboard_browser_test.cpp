// The fleet dashboard in a real headless browser: a real mosquitto (TLS, client certificates), a
// real poscollector (file sink) and three real posagents in two stores; dashboard_check.js drives
// Debian's chromium through playwright-core and tells this test, through files in a shared
// directory, when to stop an agent and when to stop the collector. Two of S01/T1's events are
// stock changes, one of which leaves an item low: the stock panel must show it.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent_harness.hpp"
#include "collector_harness.hpp"
#include "support/mosquitto.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"

namespace pos::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int stale_after_s = 15;
constexpr int offline_minutes = 1;

/// poscollector with the file sink and short fleet/alert timings, started as a child process.
class FileSinkCollector {
 public:
  FileSinkCollector(const fs::path& dir, TestPki& pki, const std::string& broker_uri)
      : m_dir(dir), m_port(free_tcp_port()) {
    fs::create_directories(m_dir);
    const auto cert = pki.issue_client(collector_common_name);
    std::ofstream out(m_dir / "poscollector.toml");
    out << "collector_id = \"collector-1\"\ndata_dir = \"" << (m_dir / "data").string()
        << "\"\n[mqtt]\nuri = \"" << broker_uri << "\"\nca_file = \"" << pki.ca_cert().string()
        << "\"\ncert_file = \"" << cert.cert.string() << "\"\nkey_file = \"" << cert.key.string()
        << "\"\n[sink]\ntype = \"file\"\npath = \"" << (m_dir / "sink").string()
        << "\"\n[fleet]\nstale_after_s = " << stale_after_s
        << "\n[alerts]\noffline_minutes = " << offline_minutes
        << "\n[http]\nlisten = \"127.0.0.1:" << m_port << "\"\n";
  }

  void start() {
    m_process.reset();
    m_process.emplace(
        start_collector(m_dir / "poscollector.toml", m_dir / "poscollector.log", m_port));
  }
  int terminate() { return m_process ? m_process->terminate(10s) : 0; }
  std::uint16_t port() const { return m_port; }
  std::string log() const { return read_text_file(m_dir / "poscollector.log"); }

 private:
  fs::path m_dir;
  std::uint16_t m_port;
  std::optional<ChildProcess> m_process;
};

/// Published events per till from /v1/fleet ("S01/T1" -> count).
std::map<std::string, std::int64_t> published_by_till(std::uint16_t port) {
  std::map<std::string, std::int64_t> out;
  const auto answer = http_request(port, "GET", "/v1/fleet");
  if (answer.status != 200) {
    return out;
  }
  const boost::json::value doc = boost::json::parse(answer.body);
  for (const auto& row : doc.at("tills").as_array()) {
    const auto& o = row.as_object();
    out[std::string(o.at("store_id").as_string()) + "/" +
        std::string(o.at("till_id").as_string())] =
        o.at("published_total").to_number<std::int64_t>();
  }
  return out;
}

/// A stock_change as the POS sends it.
std::string stock_event(const std::string& pos_event_id, const std::string& sku, int delta) {
  return R"({"type":"stock_change","pos_event_id":")" + pos_event_id +
         R"(","occurred_at":"2026-11-22T10:15:03.120+07:00","sku":")" + sku +
         R"(","location":"floor","delta":)" + std::to_string(delta) + R"(,"reason":"receipt"})";
}

bool wait_for_file(const fs::path& path, ChildProcess& browser, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(path)) {
      return true;
    }
    if (!browser.running()) {
      return false;
    }
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

TEST(DashboardBrowserTest, ShowsEveryTillAndAStoppedTillGoesOfflineWithoutReload) {
  // Missing pieces are failures with the fix, never skips.
  const auto chromium = find_executable("chromium");
  ASSERT_TRUE(chromium) << "chromium not found in PATH: install the Debian package `chromium` "
                           "(scripts/install-deps)";
  const auto node = find_executable("node");
  ASSERT_TRUE(node) << "node not found in PATH: install Node.js (scripts/install-deps)";
  const fs::path browser_dir = POS_BROWSER_TEST_DIR;
  ASSERT_TRUE(fs::exists(browser_dir / "node_modules" / "playwright-core" / "package.json"))
      << "playwright-core is not installed in " << browser_dir
      << ": run `npm ci` there (scripts/install-deps does it)";

  TempDir dir("dashboard-browser");
  fs::create_directories(dir.path() / "pki");
  TestPki pki(dir.path() / "pki");
  MosquittoBroker broker(pki);
  FileSinkCollector collector(dir.path() / "collector", pki, broker.uri());
  collector.start();

  struct Till {
    const char* store;
    const char* till;
  };
  const std::vector<Till> tills{{"S01", "T1"}, {"S01", "T2"}, {"S02", "T1"}};
  std::vector<std::unique_ptr<AgentProcess>> agents;
  for (const auto& t : tills) {
    agents.push_back(std::make_unique<AgentProcess>(
        dir.path() / (std::string(t.store) + "-" + t.till), pki, broker.uri(), t.store, t.till));
    agents.back()->start();
  }
  constexpr int events_per_till = 5;
  for (std::size_t i = 0; i < tills.size(); ++i) {
    for (int n = 0; n < events_per_till; ++n) {
      const auto id = std::string("br-") + tills[i].store + tills[i].till + "-" + std::to_string(n);
      // S01/T1's last two events: TOP-9 well stocked, DRS-9 at 2 (low at the default 5).
      const bool stock = i == 0 && n >= events_per_till - 2;
      const auto body = !stock                     ? sale_event(id, tills[i].store, tills[i].till)
                        : n == events_per_till - 2 ? stock_event(id, "TOP-9-M-BLK", 40)
                                                   : stock_event(id, "DRS-9-S-RED", 2);
      const auto reply =
          http_request(agents[i]->port(), "POST", "/v1/events", "application/json", body);
      ASSERT_EQ(reply.status, 200) << reply.body;
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  std::map<std::string, std::int64_t> published;
  while (std::chrono::steady_clock::now() < deadline) {
    published = published_by_till(collector.port());
    if (published.size() == tills.size() &&
        std::all_of(published.begin(), published.end(),
                    [](const auto& p) { return p.second == events_per_till; })) {
      break;
    }
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_EQ(published.size(), tills.size()) << collector.log();
  for (const auto& [till, count] : published) {
    ASSERT_EQ(count, events_per_till) << till << '\n' << collector.log();
  }
  // A replay of S02/T1's first three events (docs/replay.md), done before the page loads: the
  // Replays panel must show it.
  const auto replay = http_request(collector.port(), "POST", "/v1/replays", "application/json",
                                   R"({"till":"S02/T1","from_seq":1,"to_seq":3,"id":"shown"})");
  ASSERT_EQ(replay.status, 202) << replay.body;
  ASSERT_TRUE(wait_until(
      [&] {
        const auto listing = http_request(collector.port(), "GET", "/v1/replays?till=S02/T1");
        return listing.body.find(R"("state":"done")") != std::string::npos;
      },
      30s, "the replay is done", 200ms))
      << collector.log();

  const fs::path signals = dir.path() / "signals";
  const fs::path artifacts = POS_BROWSER_ARTIFACT_DIR;
  fs::create_directories(signals);
  fs::create_directories(artifacts);
  const fs::path browser_log = dir.path() / "browser.log";
  ChildProcess browser({node->string(), (browser_dir / "dashboard_check.js").string(), "--url",
                        "http://127.0.0.1:" + std::to_string(collector.port()) + "/", "--chromium",
                        chromium->string(), "--tills", "S01/T1,S01/T2,S02/T1", "--stop-till",
                        "S02/T1", "--offline-within-s", std::to_string(stale_after_s),
                        "--alert-within-s", std::to_string(offline_minutes * 60 + 20), "--signals",
                        signals.string(), "--artifacts", artifacts.string()},
                       browser_log);

  ASSERT_TRUE(wait_for_file(signals / "stop-agent", browser, 90s))
      << "browser check did not get ready:\n"
      << read_text_file(browser_log);
  EXPECT_EQ(agents[2]->terminate(), 0) << agents[2]->log();
  std::ofstream(signals / "agent-stopped") << "ok\n";

  ASSERT_TRUE(wait_for_file(signals / "stop-collector", browser, 150s))
      << "browser check failed while the agent was stopped:\n"
      << read_text_file(browser_log) << "\ncollector log:\n"
      << collector.log();
  EXPECT_EQ(collector.terminate(), 0) << collector.log();
  std::ofstream(signals / "collector-stopped") << "ok\n";

  const int status = browser.wait();
  const std::string output = read_text_file(browser_log);
  std::cout << output;
  EXPECT_EQ(status, 0) << output;
  for (const char* shot : {"dashboard-desktop.png", "dashboard-stock.png", "dashboard-phone.png",
                           "dashboard-phone-full.png", "dashboard-desktop-offline.png",
                           "dashboard-disconnected.png"}) {
    EXPECT_TRUE(fs::exists(artifacts / shot) && fs::file_size(artifacts / shot) > 10'000)
        << artifacts / shot;
    std::cout << "screenshot: " << (artifacts / shot).string() << '\n';
  }
}

}  // namespace
}  // namespace pos::test
