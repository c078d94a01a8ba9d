// The real possim binary against a real posagent: what possim logs as accepted is exactly what the
// agent holds, in per-till order, also when the agent is killed and restarted mid-run.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>

#include "agent_harness.hpp"
#include "pos/protocol/event.hpp"

namespace pos::test {
namespace {

using namespace std::chrono_literals;

struct LoggedEvent {
  std::string till;  ///< S01/T1
  std::string pos_event_id;
  std::string event_id;
  std::string status;
  std::uint64_t seq = 0;
  std::string event_json;
};

std::vector<LoggedEvent> read_accepted_log(const std::filesystem::path& path) {
  std::vector<LoggedEvent> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const auto doc = boost::json::parse(line).as_object();
    LoggedEvent e;
    e.till = std::string(doc.at("store_id").as_string()) + "/" +
             std::string(doc.at("till_id").as_string());
    e.pos_event_id = std::string(doc.at("pos_event_id").as_string());
    e.event_id = std::string(doc.at("event_id").as_string());
    e.status = std::string(doc.at("status").as_string());
    e.seq = std::stoull(e.event_id.substr(e.event_id.rfind('-') + 1));
    e.event_json = boost::json::serialize(doc.at("event"));
    EXPECT_GT(doc.at("answered_at_ms").as_int64(), 1'700'000'000'000);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<LoggedEvent> of_till(const std::vector<LoggedEvent>& log, const std::string& till) {
  std::vector<LoggedEvent> out;
  for (const auto& e : log) {
    if (e.till == till) {
      out.push_back(e);
    }
  }
  return out;
}

// The summary is the one stdout line that starts with {"sent":.
boost::json::object summary_of(const std::string& output) {
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("{\"sent\":")) {
      return boost::json::parse(line).as_object();
    }
  }
  ADD_FAILURE() << "no summary in possim's output:\n" << output;
  return {};
}

int wait_exit(ChildProcess& process, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (process.running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  if (process.running()) {
    ADD_FAILURE() << "possim did not exit in time";
    return process.terminate(2s);
  }
  return process.wait();
}

std::int64_t last_seq(std::uint16_t port) {
  const auto reply = http_request(port, "GET", "/v1/status");
  EXPECT_EQ(reply.status, 200);
  return boost::json::parse(reply.body).as_object().at("last_seq").as_int64();
}

// Passes requests to the agent but loses every `drop_every`-th answer: it closes the connection
// after the agent committed the request, as when a till's link drops at the worst moment. Serves
// one connection at a time (possim keeps one per till) on its own thread.
class LossyProxy {
 public:
  LossyProxy(std::uint16_t agent_port, int drop_every)
      : m_agent_port(agent_port),
        m_drop_every(drop_every),
        m_acceptor(m_io, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    m_acceptor.non_blocking(true);
    m_thread = std::thread([this] { loop(); });
  }
  ~LossyProxy() {
    m_stop = true;
    m_thread.join();
  }
  std::uint16_t port() const { return m_acceptor.local_endpoint().port(); }
  int dropped() const { return m_dropped; }

 private:
  void loop() {
    namespace http = boost::beast::http;
    while (!m_stop) {
      boost::asio::ip::tcp::socket socket(m_io);
      boost::system::error_code ec;
      m_acceptor.accept(socket, ec);
      if (ec) {
        std::this_thread::sleep_for(5ms);
        continue;
      }
      boost::beast::flat_buffer buffer;
      for (;;) {
        http::request<http::string_body> request;
        http::read(socket, buffer, request, ec);
        if (ec) {
          break;
        }
        const auto answer =
            http_request(m_agent_port, "POST", std::string(request.target()),
                         std::string(request[http::field::content_type]), request.body());
        if (++m_requests % m_drop_every == 0) {
          ++m_dropped;
          break;  // the socket closes: committed, but the answer is lost
        }
        http::response<http::string_body> response{static_cast<http::status>(answer.status), 11};
        response.set(http::field::content_type, "application/json");
        response.body() = answer.body;
        response.keep_alive(true);
        response.prepare_payload();
        http::write(socket, response, ec);
        if (ec) {
          break;
        }
      }
    }
  }

  std::uint16_t m_agent_port;
  int m_drop_every;
  int m_requests = 0;
  std::atomic<int> m_dropped{0};
  std::atomic<bool> m_stop{false};
  boost::asio::io_context m_io;
  boost::asio::ip::tcp::acceptor m_acceptor;
  std::thread m_thread;
};

class PossimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(m_dir.path() / "pki");
    m_pki = std::make_unique<TestPki>(m_dir.path() / "pki");
    m_broker = std::make_unique<MosquittoBroker>(*m_pki);
  }

  ChildProcess start_possim(std::vector<std::string> args) {
    args.insert(args.begin(), {POSSIM_BIN, "run"});
    return ChildProcess(args, m_dir.path() / "possim.log");
  }

  // Every logged event of the till is valid for it, logged once, and the seqs the agent gave them
  // are 1..N in log order: the log is the agent's database, in per-till order.
  static void expect_log_is_the_agents_database(const std::vector<LoggedEvent>& log,
                                                std::uint16_t port,
                                                const std::string& store = "S01",
                                                const std::string& till = "T1") {
    std::set<std::string> ids;
    for (std::size_t i = 0; i < log.size(); ++i) {
      ASSERT_EQ(log[i].till, store + "/" + till);
      ASSERT_EQ(log[i].seq, i + 1) << log[i].event_id;
      ASSERT_TRUE(ids.insert(log[i].pos_event_id).second) << log[i].pos_event_id;
      const auto valid = protocol::parse_pos_event(log[i].event_json, {store, till});
      ASSERT_TRUE(valid) << valid.error().message;
    }
    EXPECT_EQ(last_seq(port), static_cast<std::int64_t>(log.size()));
    // Sending the logged events again: the agent has every one under the logged event_id.
    for (std::size_t first = 0; first < log.size(); first += 500) {
      std::string body = "[";
      const std::size_t end = std::min(log.size(), first + 500);
      for (std::size_t i = first; i < end; ++i) {
        body += (i > first ? "," : "") + log[i].event_json;
      }
      body += "]";
      const auto reply = http_request(port, "POST", "/v1/events", "application/json", body);
      ASSERT_EQ(reply.status, 200) << reply.body;
      const auto results = boost::json::parse(reply.body).at("results").as_array();
      ASSERT_EQ(results.size(), end - first);
      for (std::size_t i = first; i < end; ++i) {
        EXPECT_EQ(results[i - first].at("status").as_string(), "duplicate");
        EXPECT_EQ(results[i - first].at("event_id").as_string(), log[i].event_id);
      }
    }
  }

  TempDir m_dir{"possim"};
  std::unique_ptr<TestPki> m_pki;
  std::unique_ptr<MosquittoBroker> m_broker;
};

TEST_F(PossimTest, AcceptedLogMatchesTheAgentsAndTheSummary) {
  AgentProcess agent(m_dir.path() / "agent", *m_pki, m_broker->uri(), "S01", "T1");
  AgentProcess agent2(m_dir.path() / "agent2", *m_pki, m_broker->uri(), "S01", "T2");
  agent.start();
  agent2.start();
  const auto agents_file = m_dir.path() / "agents.txt";
  std::ofstream(agents_file) << "# two tills of S01\nS01 T1 http://127.0.0.1:" << agent.port()
                             << "\nS01  T2  http://127.0.0.1:" << agent2.port() << "/  # T2\n";
  const auto log_path = m_dir.path() / "accepted.ndjson";
  auto possim = start_possim({"--agents-file", agents_file.string(), "--rate", "150", "--duration",
                              "3", "--seed", "11", "--batch", "4", "--accepted-log",
                              log_path.string(), "--stats-interval", "1"});
  ASSERT_EQ(wait_exit(possim, 30s), 0) << read_text_file(possim.log_path());
  const std::string output = read_text_file(possim.log_path());
  const auto summary = summary_of(output);
  EXPECT_NE(output.find("possim: sent="), std::string::npos) << "stats lines on stderr";

  const auto log = read_accepted_log(log_path);
  ASSERT_GT(log.size(), 200U) << "150/s for 3 s";
  EXPECT_LT(log.size(), 900U);
  for (const auto& e : log) {
    EXPECT_EQ(e.status, "accepted");
  }
  const auto t1 = of_till(log, "S01/T1");
  const auto t2 = of_till(log, "S01/T2");
  EXPECT_EQ(t1.size() + t2.size(), log.size());
  EXPECT_GT(t2.size(), log.size() / 5) << "the rate is split over the tills";
  expect_log_is_the_agents_database(t1, agent.port(), "S01", "T1");
  expect_log_is_the_agents_database(t2, agent2.port(), "S01", "T2");
  const auto status = boost::json::parse(http_request(agent.port(), "GET", "/v1/status").body);
  EXPECT_EQ(status.at("ingested_total").as_int64(), static_cast<std::int64_t>(t1.size()));
  const auto status2 = boost::json::parse(http_request(agent2.port(), "GET", "/v1/status").body);
  EXPECT_EQ(status2.at("ingested_total").as_int64(), static_cast<std::int64_t>(t2.size()));
  EXPECT_EQ(summary.at("accepted").as_int64(), static_cast<std::int64_t>(log.size()));
  EXPECT_EQ(summary.at("sent").as_int64(), static_cast<std::int64_t>(log.size()));
  EXPECT_EQ(summary.at("duplicates").as_int64(), 0);
  EXPECT_EQ(summary.at("rejected").as_int64(), 0);
  EXPECT_EQ(summary.at("errors").as_int64(), 0);
  EXPECT_EQ(summary.at("unconfirmed").as_int64(), 0);
  EXPECT_GE(summary.at("elapsed_s").as_double(), 3.0);
}

TEST_F(PossimTest, KillingTheAgentMidRunLosesNothing) {
  AgentProcess agent(m_dir.path() / "agent", *m_pki, m_broker->uri(), "S01", "T1");
  agent.start();
  const auto log_path = m_dir.path() / "accepted.ndjson";
  auto possim = start_possim({"--agent", "S01/T1=http://127.0.0.1:" + std::to_string(agent.port()),
                              "--rate", "300", "--duration", "7", "--seed", "12", "--batch", "5",
                              "--accepted-log", log_path.string(), "--stats-interval", "1"});
  // Kill the agent mid-run, once possim's events are being accepted (not after a fixed time).
  // possim flushes its accepted log every second; a line count needs no complete last line.
  const auto logged = [&] {
    std::ifstream in(log_path);
    return std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n');
  };
  ASSERT_TRUE(test::wait_until([&] { return logged() >= 200; }, 30s,
                               "200 answers in the accepted log before the kill"))
      << read_text_file(possim.log_path());
  agent.kill9();
  std::this_thread::sleep_for(1500ms);  // the outage: possim retries meanwhile
  agent.start();
  ASSERT_EQ(wait_exit(possim, 40s), 0) << read_text_file(possim.log_path());
  const auto summary = summary_of(read_text_file(possim.log_path()));

  const auto log = read_accepted_log(log_path);
  ASSERT_GT(log.size(), 300U);
  std::int64_t accepted = 0, duplicates = 0;
  for (const auto& e : log) {
    ASSERT_TRUE(e.status == "accepted" || e.status == "duplicate") << e.status;
    (e.status == "accepted" ? accepted : duplicates) += 1;
  }
  expect_log_is_the_agents_database(log, agent.port());
  EXPECT_GT(summary.at("retries").as_int64(), 0) << "the agent was down for 1.5 s";
  EXPECT_EQ(summary.at("accepted").as_int64(), accepted);
  EXPECT_EQ(summary.at("duplicates").as_int64(), duplicates);
  EXPECT_EQ(summary.at("sent").as_int64(), accepted + duplicates);
  EXPECT_EQ(summary.at("unconfirmed").as_int64(), 0);
  EXPECT_EQ(summary.at("errors").as_int64(), 0);
}

TEST_F(PossimTest, AnswerLostAfterCommitIsRetriedAndLoggedAsDuplicate) {
  AgentProcess agent(m_dir.path() / "agent", *m_pki, m_broker->uri(), "S01", "T1");
  agent.start();
  LossyProxy proxy(agent.port(), 5);
  const auto log_path = m_dir.path() / "accepted.ndjson";
  auto possim = start_possim({"--agent", "S01/T1=http://127.0.0.1:" + std::to_string(proxy.port()),
                              "--rate", "100", "--duration", "3", "--batch", "3", "--seed", "15",
                              "--accepted-log", log_path.string()});
  ASSERT_EQ(wait_exit(possim, 30s), 0) << read_text_file(possim.log_path());
  const auto summary = summary_of(read_text_file(possim.log_path()));
  const auto log = read_accepted_log(log_path);
  ASSERT_GT(proxy.dropped(), 3);
  std::int64_t duplicates = 0;
  for (const auto& e : log) {
    duplicates += e.status == "duplicate" ? 1 : 0;
  }
  EXPECT_GE(duplicates, proxy.dropped() - 1) << "each lost answer's events come back duplicate";
  EXPECT_EQ(summary.at("duplicates").as_int64(), duplicates);
  EXPECT_GE(summary.at("retries").as_int64(), proxy.dropped() - 1);
  EXPECT_EQ(summary.at("unconfirmed").as_int64(), 0);
  expect_log_is_the_agents_database(log, agent.port());
}

TEST_F(PossimTest, ReplaysADayFastAndStopsWhenItIsOver) {
  AgentProcess agent(m_dir.path() / "agent", *m_pki, m_broker->uri(), "S01", "T1");
  agent.start();
  const auto log_path = m_dir.path() / "accepted.ndjson";
  // 12 trading hours at 14,400x take 3 s; 100 events/s on average over them.
  auto possim = start_possim({"--agent", "S01/T1=http://127.0.0.1:" + std::to_string(agent.port()),
                              "--replay-day", "2026-11-22", "--speed", "14400", "--rate", "100",
                              "--seed", "13", "--accepted-log", log_path.string()});
  ASSERT_EQ(wait_exit(possim, 30s), 0) << read_text_file(possim.log_path());
  const auto summary = summary_of(read_text_file(possim.log_path()));
  const auto log = read_accepted_log(log_path);
  ASSERT_GT(log.size(), 150U);
  EXPECT_LT(log.size(), 600U);
  std::string previous;
  for (const auto& e : log) {
    const auto event = boost::json::parse(e.event_json).as_object();
    const std::string at(event.at("occurred_at").as_string());
    EXPECT_TRUE(at.starts_with("2026-11-22T")) << at;
    EXPECT_GE(at.substr(11, 5), "10:00") << at;
    EXPECT_LT(at.substr(11, 5), "22:00") << at;
    EXPECT_GT(at, previous) << "the simulated clock only moves forward";
    previous = at;
  }
  expect_log_is_the_agents_database(log, agent.port());
  EXPECT_EQ(summary.at("accepted").as_int64(), static_cast<std::int64_t>(log.size()));
  EXPECT_EQ(summary.at("sent").as_int64(), static_cast<std::int64_t>(log.size()));
  EXPECT_LT(summary.at("elapsed_s").as_double(), 10.0) << "ends with the day, no --duration";
}

TEST_F(PossimTest, FullAgentIsRetriedAndWhatStaysUnansweredIsCountedUnconfirmed) {
  // Nobody acknowledges the agent's batches, so its 1 MiB buffer fills up and it answers 503.
  AgentProcess agent(m_dir.path() / "agent", *m_pki, m_broker->uri(), "S01", "T1", "",
                     "[buffer]\nmax_bytes = 1048576\n");
  agent.start();
  const auto log_path = m_dir.path() / "accepted.ndjson";
  auto possim = start_possim({"--agent", "S01/T1=http://127.0.0.1:" + std::to_string(agent.port()),
                              "--rate", "1500", "--duration", "5", "--batch", "10", "--seed", "14",
                              "--accepted-log", log_path.string(), "--stats-interval", "1"});
  ASSERT_EQ(wait_exit(possim, 40s), 0) << read_text_file(possim.log_path());
  const std::string output = read_text_file(possim.log_path());
  const auto summary = summary_of(output);
  EXPECT_NE(output.find("HTTP 503"), std::string::npos) << output;
  const auto log = read_accepted_log(log_path);
  expect_log_is_the_agents_database(log, agent.port());
  EXPECT_GT(summary.at("retries").as_int64(), 0);
  const std::int64_t unconfirmed = summary.at("unconfirmed").as_int64();
  EXPECT_GE(unconfirmed, 1) << "the last request never got its 200";
  EXPECT_LE(unconfirmed, 10) << "one request of at most --batch events";
  EXPECT_EQ(summary.at("sent").as_int64(), static_cast<std::int64_t>(log.size()) + unconfirmed);
  EXPECT_EQ(summary.at("accepted").as_int64(), static_cast<std::int64_t>(log.size()));
  EXPECT_GE(summary.at("elapsed_s").as_double(), 14.5) << "waited 10 s for the last batch";
  EXPECT_LT(summary.at("elapsed_s").as_double(), 20.0);
}

TEST_F(PossimTest, ExitCodesForBadArgumentsAndNoAgent) {
  auto bad = start_possim({"--agent", "S01/T1=http://127.0.0.1:1", "--rate", "0"});
  EXPECT_EQ(wait_exit(bad, 10s), 2);
  EXPECT_NE(read_text_file(bad.log_path()).find("--rate: must be > 0"), std::string::npos)
      << read_text_file(bad.log_path());
  auto unknown = start_possim({"--agent", "S01/T9=http://127.0.0.1:1"});
  EXPECT_EQ(wait_exit(unknown, 10s), 2);
  EXPECT_NE(read_text_file(unknown.log_path()).find("S01/T9: not a till of the layout"),
            std::string::npos);

  const auto port = free_tcp_port();  // nobody listens
  auto lonely = start_possim({"--agent", "S01/T1=http://127.0.0.1:" + std::to_string(port),
                              "--duration", "1", "--stats-interval", "0"});
  EXPECT_EQ(wait_exit(lonely, 20s), 1);
  const auto summary = summary_of(read_text_file(lonely.log_path()));
  EXPECT_EQ(summary.at("accepted").as_int64(), 0);
}

}  // namespace
}  // namespace pos::test
