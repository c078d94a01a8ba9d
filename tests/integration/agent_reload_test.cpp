// SIGHUP reloads a running posagent's configuration (docs/agent.md, "Changing settings without a
// restart"): live keys take effect in the running process with nothing lost; a key that needs a
// restart, or a file that does not load, changes nothing.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <regex>
#include <string>

#include "agent_harness.hpp"
#include "support/wait.hpp"

namespace pos::test {
namespace {

using namespace std::chrono_literals;

class AgentReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(m_dir.path() / "pki");
    m_pki = std::make_unique<TestPki>(m_dir.path() / "pki");
    m_broker = std::make_unique<MosquittoBroker>(*m_pki);
  }

  /// GET /v1/status of `agent` as JSON (an empty object when it does not answer).
  static boost::json::object status(const AgentProcess& agent) {
    const auto reply = http_request(agent.port(), "GET", "/v1/status");
    if (reply.status != 200) {
      return {};
    }
    return boost::json::parse(reply.body).as_object();
  }

  /// The `config` object of the status.
  static boost::json::object config_status(const AgentProcess& agent) {
    auto doc = status(agent);
    const auto* config = doc.if_contains("config");
    return config != nullptr ? config->as_object() : boost::json::object{};
  }

  /// Sends SIGHUP and waits until the status counts `reloads` reloads in all.
  static ::testing::AssertionResult reload(const AgentProcess& agent, std::int64_t reloads) {
    if (::kill(agent.pid(), SIGHUP) != 0) {
      return ::testing::AssertionFailure() << "kill: " << std::strerror(errno);
    }
    return wait_until(
        [&] {
          const auto config = config_status(agent);
          if (!config.contains("reloads")) {
            return false;
          }
          std::int64_t total = 0;
          for (const auto& [result, count] : config.at("reloads").as_object()) {
            total += count.to_number<std::int64_t>();
          }
          return total >= reloads;
        },
        10s, "the agent to count the reload");
  }

  /// Replaces `from` by `to` in the agent's configuration file (once; the text must be there).
  static void edit_config(const AgentProcess& agent, const std::string& from,
                          const std::string& to) {
    auto text = read_text_file(agent.config_path());
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    std::ofstream(agent.config_path(), std::ios::trunc) << text;
  }

  static std::string last_result(const AgentProcess& agent) {
    const auto config = config_status(agent);
    const auto* last = config.if_contains("last_reload");
    if (last == nullptr || last->is_null()) {
      return "";
    }
    return std::string(last->at("result").as_string());
  }

  /// The value of an unlabelled sample in GET /metrics (-1 when it is missing).
  static double metric(const AgentProcess& agent, const std::string& name) {
    return metric_value(http_request(agent.port(), "GET", "/metrics").body, name).value_or(-1);
  }

  TempDir m_dir{"agent-reload"};
  std::unique_ptr<TestPki> m_pki;
  std::unique_ptr<MosquittoBroker> m_broker;
};

/// A bound unix datagram socket standing in for systemd's $NOTIFY_SOCKET.
class ReloadNotifyListener {
 public:
  explicit ReloadNotifyListener(const std::filesystem::path& path) {
    m_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const auto name = path.string();
    if (m_fd < 0 || name.size() >= sizeof address.sun_path) {
      throw std::runtime_error("cannot create a notify socket at " + name);
    }
    std::memcpy(address.sun_path, name.c_str(), name.size() + 1);
    if (::bind(m_fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {  // NOLINT
      throw std::runtime_error("bind " + name + ": " + std::strerror(errno));
    }
    const timeval timeout{0, 200'000};
    ::setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~ReloadNotifyListener() { ::close(m_fd); }
  ReloadNotifyListener(const ReloadNotifyListener&) = delete;
  ReloadNotifyListener& operator=(const ReloadNotifyListener&) = delete;

  /// The datagrams received until one starts with `prefix` (included), or until the timeout.
  std::vector<std::string> receive_until(const std::string& prefix,
                                         std::chrono::milliseconds timeout) {
    std::vector<std::string> out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::string buffer(4096, '\0');
      const auto n = ::recv(m_fd, buffer.data(), buffer.size(), 0);
      if (n < 0) {
        continue;
      }
      buffer.resize(static_cast<std::size_t>(n));
      out.push_back(buffer);
      if (buffer.starts_with(prefix)) {
        break;
      }
    }
    return out;
  }

 private:
  int m_fd = -1;
};

/// A sale whose lines carry random SKUs, so that it compresses poorly (the upload cap then has
/// bytes to pace).
std::string random_sale(const std::string& id, std::mt19937& random) {
  static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::string lines;
  for (int i = 0; i < 40; ++i) {
    std::string sku;
    for (int j = 0; j < 30; ++j) {
      sku += alphabet[pick(random)];
    }
    lines += (i ? "," : "") + std::string(R"({"sku":")") + sku +
             R"(","category":"tops","qty":1,"unit_price_minor":199000,"unit_cost_minor":80000,)"
             R"("discount_minor":0})";
  }
  return R"({"type":"sale","pos_event_id":")" + id +
         R"(","occurred_at":"2026-11-22T10:15:03.120+07:00","currency":"IDR",)"
         R"("customer":{"id":"C-1029","type":"returning"},"lines":[)" +
         lines + R"(],"payment":{"method":"qris"},"store_id":"S01","till_id":"T1"})";
}

// (1) log_level and the upload cap change in the running agent: fewer log lines at once, the cap
// paces the next drain, the same process keeps forwarding, every event arrives.
TEST_F(AgentReloadTest, LogLevelAndUploadCapApplyLiveAndNothingIsLost) {
  AckingCollector collector(*m_broker, *m_pki);
  // 4 KiB batches, so that the cap's bucket (1 s at the rate, at least one batch) stays small.
  AgentProcess agent(m_dir.path() / "live", *m_pki, m_broker->uri(), "S01", "T1",
                     "batch_max_bytes = 4096\n");
  agent.start();
  const auto pid = agent.pid();
  std::mt19937 random(42);
  std::uint64_t posted = 0;
  const auto post_round = [&](int events, const std::string& prefix) {
    for (int i = 0; i < events; ++i) {
      const auto reply = http_request(agent.port(), "POST", "/v1/events", "application/json",
                                      random_sale(prefix + std::to_string(i), random));
      ASSERT_EQ(reply.status, 200) << reply.body;
      ++posted;
    }
  };
  post_round(5, "before-");
  ASSERT_TRUE(collector.wait_for_mark("S01", "T1", posted, 15s)) << agent.log();
  ASSERT_NE(agent.log().find("forwarder: sending seqs"), std::string::npos)
      << "debug lines are logged before the reload";
  EXPECT_EQ(config_status(agent).at("rate_limit_kbps").to_number<std::int64_t>(), 0);

  // 160 kbit/s = 20,000 bytes/s.
  edit_config(agent, "log_level = \"debug\"", "log_level = \"info\"");
  edit_config(agent, "batch_max_bytes = 4096\n", "batch_max_bytes = 4096\nrate_limit_kbps = 160\n");
  ASSERT_TRUE(reload(agent, 1)) << agent.log();
  EXPECT_EQ(last_result(agent), "applied") << agent.log();
  const auto config = config_status(agent);
  EXPECT_EQ(config.at("log_level").as_string(), "info");
  EXPECT_EQ(config.at("rate_limit_kbps").to_number<std::int64_t>(), 160);
  EXPECT_NE(agent.log().find("config reload applied: changed: log_level, forward.rate_limit_kbps"),
            std::string::npos)
      << agent.log();
  const auto metrics = http_request(agent.port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("posagent_config_reloads_total{result=\"applied\"} 1"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("posagent_upload_limit_kbps 160"), std::string::npos) << metrics;

  const auto log_size = agent.log().size();
  const auto bytes_before = metric(agent, "posagent_bytes_sent_total");
  const auto started = std::chrono::steady_clock::now();
  post_round(80, "after-");
  ASSERT_TRUE(collector.wait_for_mark("S01", "T1", posted, 60s)) << agent.log();
  const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);
  const auto sent = metric(agent, "posagent_bytes_sent_total") - bytes_before;
  // Beyond the bucket's 20,000 bytes, the cap allows 20,000 bytes per second.
  std::cout << "[ measured ] after the reload to 160 kbit/s: " << sent << " bytes in "
            << elapsed.count() << " s\n";
  ASSERT_GT(sent, 60'000.0) << "too few bytes to see the cap";
  EXPECT_GE(elapsed.count(), 0.9 * (sent - 20'000.0) / 20'000.0)
      << sent << " bytes in " << elapsed.count() << " s";
  EXPECT_EQ(agent.log().find("forwarder: sending seqs", log_size), std::string::npos)
      << "no debug line after the reload to info";

  EXPECT_TRUE(agent.running());
  EXPECT_EQ(agent.pid(), pid);
  const auto till = collector.till("S01", "T1");
  EXPECT_EQ(till.lines.size(), posted) << "every event arrived once";
  EXPECT_EQ(till.gaps, 0U);
  EXPECT_EQ(agent.terminate(), 0);
}

// (2) A key that needs a restart refuses the whole reload, live keys included: the message names
// the key and the running agent keeps its till id and its log level.
TEST_F(AgentReloadTest, RestartOnlyKeyRefusesTheWholeReload) {
  AckingCollector collector(*m_broker, *m_pki);
  AgentProcess agent(m_dir.path() / "refused", *m_pki, m_broker->uri(), "S01", "T1");
  agent.start();
  edit_config(agent, "till_id = \"T1\"", "till_id = \"T2\"");
  edit_config(agent, "log_level = \"debug\"", "log_level = \"warn\"");
  ASSERT_TRUE(reload(agent, 1)) << agent.log();
  EXPECT_EQ(last_result(agent), "refused");
  const auto log = agent.log();
  EXPECT_NE(log.find("config reload: till_id: cannot change without a restart"), std::string::npos)
      << log;
  EXPECT_EQ(log.find("log_level: cannot change"), std::string::npos) << "log_level is live";
  EXPECT_EQ(config_status(agent).at("log_level").as_string(), "debug") << "nothing half applied";
  EXPECT_EQ(status(agent).at("till_id").as_string(), "T1");
  // The running agent still forwards as S01/T1.
  ASSERT_EQ(http_request(agent.port(), "POST", "/v1/events", "application/json",
                         sale_event("refused-1", "S01", "T1"))
                .status,
            200);
  EXPECT_TRUE(collector.wait_for_mark("S01", "T1", 1, 15s)) << agent.log();
  const auto metrics = http_request(agent.port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("posagent_config_reloads_total{result=\"refused\"} 1"), std::string::npos)
      << metrics;
  EXPECT_EQ(agent.terminate(), 0);
}

// (3) A file that does not parse is refused as invalid; the agent keeps running and serving.
TEST_F(AgentReloadTest, BrokenFileIsInvalidAndTheAgentKeepsRunning) {
  AgentProcess agent(m_dir.path() / "invalid", *m_pki, m_broker->uri(), "S01", "T1");
  agent.start();
  edit_config(agent, "log_level = \"debug\"", "log_level = \"debug\"\nthis is not toml [");
  ASSERT_TRUE(reload(agent, 1)) << agent.log();
  EXPECT_EQ(last_result(agent), "invalid");
  EXPECT_NE(agent.log().find("keeping the running configuration"), std::string::npos)
      << agent.log();
  EXPECT_EQ(http_request(agent.port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(http_request(agent.port(), "POST", "/v1/events", "application/json",
                         sale_event("invalid-1", "S01", "T1"))
                .status,
            200);
  // A key the reader does not know is invalid too, and names the key.
  edit_config(agent, "this is not toml [", "[bogus]\nkey = 1");
  ASSERT_TRUE(reload(agent, 2)) << agent.log();
  EXPECT_EQ(last_result(agent), "invalid");
  EXPECT_NE(agent.log().find("bogus.key"), std::string::npos) << agent.log();
  const auto metrics = http_request(agent.port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("posagent_config_reloads_total{result=\"invalid\"} 2"), std::string::npos)
      << metrics;
  EXPECT_TRUE(agent.running());
  EXPECT_EQ(agent.terminate(), 0);
}

// Under systemd (Type=notify, ExecReload sends SIGHUP) the agent says RELOADING=1 with
// MONOTONIC_USEC when a reload begins and READY=1 when it is over, here for a refused one.
TEST_F(AgentReloadTest, ReloadIsAnnouncedToSystemd) {
  AgentProcess agent(m_dir.path() / "notify", *m_pki, m_broker->uri(), "S01", "T1");
  const auto socket_path = m_dir.path() / "notify.sock";
  ReloadNotifyListener systemd(socket_path);
  ChildProcess process({POSAGENT_BIN, "run", "--config", agent.config_path().string()},
                       m_dir.path() / "notify" / "run.log",
                       {{"NOTIFY_SOCKET", socket_path.string()}});
  auto messages = systemd.receive_until("READY=1", 15s);
  ASSERT_FALSE(messages.empty()) << read_text_file(process.log_path());
  edit_config(agent, "till_id = \"T1\"", "till_id = \"T2\"");
  ASSERT_EQ(::kill(process.pid(), SIGHUP), 0);
  messages = systemd.receive_until("READY=1", 15s);
  ASSERT_EQ(messages.size(), 2U) << read_text_file(process.log_path());
  EXPECT_TRUE(messages[0].starts_with("RELOADING=1\nMONOTONIC_USEC=")) << messages[0];
  EXPECT_NE(messages[0].find("STATUS=reloading the configuration"), std::string::npos);
  EXPECT_EQ(messages[1], "READY=1\nSTATUS=ingest on 127.0.0.1:" + std::to_string(agent.port()) +
                             ", last reload refused");
  EXPECT_TRUE(process.running());
  EXPECT_EQ(process.terminate(), 0);
}

}  // namespace
}  // namespace pos::test
