// The ingest API over real HTTP: common::HttpServer on port 0 + IngestService + FakeOutbox, with a
// Beast client in the test.

#include <gtest/gtest.h>

#include <poll.h>
#include "test_events.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "fake_outbox.hpp"
#include "pos/agent/ingest_service.hpp"
#include "pos/common/http_server.hpp"
#include "support/wait.hpp"

namespace pos::agent {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using common::HttpLimits;
using common::HttpRequest;
using common::HttpResponse;
using common::HttpServer;
using tcp = net::ip::tcp;

using test::sale;

struct Reply {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string retry_after;
  std::string allow;
  std::string content_length;
  bool keep_alive = false;
  json::value json() const { return json::parse(body); }
};

/// A blocking HTTP/1.1 client on one connection.
class Client {
 public:
  explicit Client(std::uint16_t port) : m_socket(m_io) {
    m_socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }

  Reply send(const std::string& method, const std::string& target, const std::string& body = {},
             const std::string& content_type = "application/json") {
    http::request<http::string_body> request(http::string_to_verb(method), target, 11);
    if (request.method() == http::verb::unknown) {
      request.method_string(method);
    }
    request.set(http::field::host, "127.0.0.1");
    if (!content_type.empty()) {
      request.set(http::field::content_type, content_type);
    }
    request.body() = body;
    request.prepare_payload();
    http::write(m_socket, request);
    return read();
  }

  /// `head`: the answer to a HEAD request (no body follows its header).
  Reply read(bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.skip(head);
    parser.body_limit(64 * 1024 * 1024);
    http::read(m_socket, m_buffer, parser);
    auto& response = parser.get();
    Reply reply;
    reply.status = static_cast<int>(response.result_int());
    reply.body = response.body();
    reply.content_type = std::string(response[http::field::content_type]);
    reply.retry_after = std::string(response["Retry-After"]);
    reply.allow = std::string(response[http::field::allow]);
    reply.content_length = std::string(response[http::field::content_length]);
    reply.keep_alive = response.keep_alive();
    return reply;
  }

  void write_raw(std::string_view bytes) { net::write(m_socket, net::buffer(bytes)); }

  /// True when the server closed the connection (EOF or reset) within 3 s.
  bool closed_by_server() {
    pollfd fd{m_socket.native_handle(), POLLIN, 0};
    if (::poll(&fd, 1, 3000) != 1) {
      return false;
    }
    char byte = 0;
    beast::error_code ec;
    m_socket.read_some(net::buffer(&byte, 1), ec);
    return ec == net::error::eof || ec == net::error::connection_reset;
  }

 private:
  net::io_context m_io;
  tcp::socket m_socket;
  beast::flat_buffer m_buffer;
};

Reply post(std::uint16_t port, const std::string& body,
           const std::string& content_type = "application/json") {
  Client client(port);
  return client.send("POST", "/v1/events", body, content_type);
}

class IngestServerTest : public ::testing::Test {
 protected:
  void start(HttpLimits limits = {}, IngestBodyLimits body_limits = {}) {
    m_service = std::make_unique<IngestService>(m_outbox, "S01", "T1", body_limits, routes());
    m_server = std::make_unique<HttpServer>(m_io.get_executor(), "127.0.0.1:0", limits,
                                            m_service->handler(), "ingest.listen");
    auto started = m_server->start();
    ASSERT_TRUE(started) << started.error().message;
    m_thread = std::thread([this] { m_io.run(); });
  }

  void TearDown() override {
    m_server.reset();
    m_work.reset();
    m_io.stop();
    if (m_thread.joinable()) {
      m_thread.join();
    }
  }

  static IngestRoutes routes() {
    IngestRoutes r;
    r.status = [] { return HttpResponse{200, "application/json", R"({"state":"ok"})", {}}; };
    r.healthz = [] { return HttpResponse{200, "text/plain", "ok\n", {}}; };
    r.metrics = [] {
      return HttpResponse{200, "text/plain; version=0.0.4", "posagent_up 1\n", {}};
    };
    return r;
  }

  std::uint16_t port() const { return m_server->local_port(); }

  net::io_context m_io;
  net::executor_work_guard<net::io_context::executor_type> m_work{m_io.get_executor()};
  test::FakeOutbox m_outbox{m_io.get_executor()};
  std::unique_ptr<IngestService> m_service;
  std::unique_ptr<HttpServer> m_server;
  std::thread m_thread;
};

TEST_F(IngestServerTest, AcceptsOneEvent) {
  start();
  auto reply = post(port(), sale("R-1"));
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.content_type, "application/json");
  EXPECT_EQ(
      reply.json(),
      json::parse(R"({"accepted":1,"duplicates":0,"rejected":0,"results":[)"
                  R"({"index":0,"status":"accepted","event_id":"S01-T1-1122334455667788-1"}]})"));
  EXPECT_EQ(m_outbox.stats().last_seq, 1u);
}

TEST_F(IngestServerTest, PerEventResultsShape) {
  start();
  const std::string body = "[" + sale("A") + "," + sale("B", 0) + "," + sale("A") + "]";
  auto reply = post(port(), body);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto expected = json::parse(R"({"accepted":1,"duplicates":1,"rejected":1,"results":[
      {"index":0,"status":"accepted","event_id":"S01-T1-1122334455667788-1"},
      {"index":1,"status":"rejected","error":"lines[0].qty: must be an integer >= 1"},
      {"index":2,"status":"duplicate","event_id":"S01-T1-1122334455667788-1"}]})");
  EXPECT_EQ(reply.json(), expected);
  const auto stats = m_service->stats();
  EXPECT_EQ(stats.events_accepted, 1u);
  EXPECT_EQ(stats.events_duplicate, 1u);
  EXPECT_EQ(stats.events_rejected, 1u);
}

TEST_F(IngestServerTest, DuplicateKeyIsRejectedNamingTheKey) {
  start();
  std::string forged = sale("B");
  forged.insert(1, R"("type":"return",)");
  auto reply = post(port(), "[" + sale("A") + "," + forged + "]");
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto expected = json::parse(R"({"accepted":1,"duplicates":0,"rejected":1,"results":[
      {"index":0,"status":"accepted","event_id":"S01-T1-1122334455667788-1"},
      {"index":1,"status":"rejected","error":"type: duplicate key"}]})");
  EXPECT_EQ(reply.json(), expected);
  EXPECT_EQ(m_outbox.stats().last_seq, 1u);
}

TEST_F(IngestServerTest, RepostIsDuplicateWithSameEventId) {
  start();
  const std::string body = sale("A") + "\n" + sale("B") + "\n";
  auto first = post(port(), body, "application/x-ndjson");
  auto second = post(port(), body, "application/x-ndjson");
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(second.status, 200);
  EXPECT_EQ(second.json().at("duplicates"), 2);
  EXPECT_EQ(second.json().at("accepted"), 0);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(first.json().at("results").at(i).at("event_id"),
              second.json().at("results").at(i).at("event_id"));
  }
  EXPECT_EQ(m_outbox.stats().last_seq, 2u);
}

TEST_F(IngestServerTest, OnlyRejectedStoresNothingAndAnswers200) {
  start();
  auto reply = post(port(), "[" + sale("A", 0) + ",7]");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.json().at("rejected"), 2);
  EXPECT_EQ(reply.json().at("accepted"), 0);
  EXPECT_EQ(m_outbox.stats().last_seq, 0u);
}

TEST_F(IngestServerTest, WholeRequestErrorsStoreNothing) {
  IngestBodyLimits body_limits;
  body_limits.max_events = 2;
  start({}, body_limits);
  struct Case {
    std::string body;
    std::string type;
    int status;
  };
  const std::vector<Case> cases = {
      {"[" + sale("A") + ",\n{oops}]", "application/json", 400},
      {sale("A") + "\nnot json\n", "application/x-ndjson", 400},
      {"[" + sale("A") + "," + sale("B") + "," + sale("C") + "]", "application/json", 413},
      {sale("A"), "text/plain", 415},
  };
  for (const auto& c : cases) {
    auto reply = post(port(), c.body, c.type);
    EXPECT_EQ(reply.status, c.status) << reply.body;
    EXPECT_TRUE(reply.json().as_object().contains("error")) << reply.body;
  }
  EXPECT_EQ(m_outbox.stats().last_seq, 0u);
  EXPECT_EQ(m_service->stats().requests_failed, cases.size());
}

TEST_F(IngestServerTest, UnavailableOutboxIs503WithRetryAfter) {
  start();
  struct Case {
    AppendError::Kind kind;
    std::string retry_after;
    std::string says;
  };
  for (const auto& c :
       {Case{AppendError::Kind::full, "5", "full"}, Case{AppendError::Kind::busy, "1", "busy"},
        Case{AppendError::Kind::io, "5", "storage error"}}) {
    m_outbox.fail_next_append = AppendError{c.kind, "test"};
    auto reply = post(port(), "[" + sale("A") + "," + sale("B", 0) + "]");
    EXPECT_EQ(reply.status, 503);
    EXPECT_EQ(reply.retry_after, c.retry_after);
    EXPECT_NE(reply.json().at("error").as_string().find(c.says), json::string::npos) << reply.body;
  }
  EXPECT_EQ(m_outbox.stats().last_seq, 0u);
  EXPECT_EQ(m_service->stats().requests_unavailable, 3u);
  EXPECT_EQ(post(port(), sale("A")).status, 200);
}

TEST_F(IngestServerTest, RoutesAndMethods) {
  start();
  Client client(port());
  auto status = client.send("GET", "/v1/status", "", "");
  EXPECT_EQ(status.status, 200);
  EXPECT_EQ(status.body, R"({"state":"ok"})");
  EXPECT_EQ(client.send("GET", "/healthz", "", "").body, "ok\n");
  auto metrics = client.send("GET", "/metrics?x=1", "", "");
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4");
  EXPECT_EQ(client.send("GET", "/nope", "", "").status, 404);
  auto get_events = client.send("GET", "/v1/events", "", "");
  EXPECT_EQ(get_events.status, 405);
  EXPECT_EQ(get_events.allow, "POST");
  auto post_health = client.send("POST", "/healthz", "{}");
  EXPECT_EQ(post_health.status, 405);
  EXPECT_EQ(post_health.allow, "GET, HEAD");
  EXPECT_EQ(m_service->stats().requests, 6u);
}

TEST_F(IngestServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  Client client(port());
  for (int i = 0; i < 5; ++i) {
    auto reply = client.send("POST", "/v1/events", sale("K" + std::to_string(i)));
    ASSERT_EQ(reply.status, 200);
    EXPECT_TRUE(reply.keep_alive);
  }
  EXPECT_EQ(m_outbox.stats().last_seq, 5u);
  EXPECT_EQ(m_server->connection_count(), 1u);
}

TEST_F(IngestServerTest, OversizeBodyIs413WithoutReadingIt) {
  HttpLimits limits;
  limits.max_body_bytes = 4096;
  start(limits);
  {
    Client client(port());
    client.write_raw(
        "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 1048576\r\n\r\n[{\"type\":");
    auto reply = client.read();
    EXPECT_EQ(reply.status, 413);
    EXPECT_FALSE(reply.keep_alive);
    EXPECT_TRUE(client.closed_by_server());
  }
  std::string big = "[";
  for (int i = 0; big.size() < 8192; ++i) {
    big += (i ? "," : "") + sale("B" + std::to_string(i));
  }
  big += "]";
  EXPECT_EQ(post(port(), big).status, 413);
  EXPECT_EQ(m_outbox.stats().last_seq, 0u);
}

TEST_F(IngestServerTest, MalformedHttpIs400AndCloses) {
  start();
  Client client(port());
  client.write_raw("this is not http\r\n\r\n");
  auto reply = client.read();
  EXPECT_EQ(reply.status, 400);
  EXPECT_TRUE(client.closed_by_server());
}

TEST_F(IngestServerTest, ExpectContinueIsHonoured) {
  start();
  Client client(port());
  const std::string body = sale("E-1");
  client.write_raw(
      "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Expect: 100-continue\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n");
  EXPECT_EQ(client.read().status, 100);
  client.write_raw(body);
  EXPECT_EQ(client.read().status, 200);
}

TEST_F(IngestServerTest, ConnectionLimitMakesRoomByClosingTheOldestIdleConnection) {
  HttpLimits limits;
  limits.max_connections = 2;
  start(limits);
  Client first(port());
  EXPECT_EQ(first.send("GET", "/healthz", "", "").status, 200);
  Client second(port());
  EXPECT_EQ(second.send("GET", "/healthz", "", "").status, 200);
  // Both idle in keep-alive: a third client takes the place of the one idle longest.
  Client third(port());
  EXPECT_EQ(third.send("GET", "/healthz", "", "").status, 200);
  EXPECT_TRUE(first.closed_by_server());
  EXPECT_EQ(second.send("GET", "/healthz", "", "").status, 200);
  EXPECT_LE(m_server->connection_count(), 2u);
}

TEST_F(IngestServerTest, ThirtyTwoConcurrentClientsGetConsistentAnswers) {
  start();
  constexpr int k_clients = 32;
  constexpr int k_each = 10;
  std::vector<std::optional<Reply>> replies(k_clients);
  std::vector<std::thread> threads;
  for (int c = 0; c < k_clients; ++c) {
    threads.emplace_back([&, c] {
      std::string body = "[";
      for (int i = 0; i < k_each; ++i) {
        body += sale("C" + std::to_string(c) + "-" + std::to_string(i)) + ",";
      }
      body += sale("SHARED") + "]";
      replies[c] = post(port(), body);
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  std::set<std::string> event_ids;
  std::string shared_id;
  int shared_accepted = 0;
  for (const auto& reply : replies) {
    ASSERT_TRUE(reply);
    ASSERT_EQ(reply->status, 200) << reply->body;
    const auto body = reply->json();
    const auto& results = body.at("results").as_array();
    ASSERT_EQ(results.size(), static_cast<std::size_t>(k_each + 1));
    for (int i = 0; i < k_each; ++i) {
      EXPECT_EQ(results[i].at("status"), "accepted");
      EXPECT_TRUE(event_ids.insert(std::string(results[i].at("event_id").as_string())).second);
    }
    const auto& shared = results[k_each];
    if (shared.at("status") == "accepted") {
      ++shared_accepted;
    }
    if (shared_id.empty()) {
      shared_id = std::string(shared.at("event_id").as_string());
    }
    EXPECT_EQ(shared.at("event_id").as_string(), shared_id);
  }
  EXPECT_EQ(shared_accepted, 1);
  EXPECT_EQ(m_outbox.stats().last_seq, static_cast<std::uint64_t>(k_clients * k_each + 1));
  EXPECT_EQ(m_service->stats().events_duplicate, static_cast<std::uint64_t>(k_clients - 1));
}

TEST_F(IngestServerTest, PostWithoutContentTypeIs415AndStoresNothing) {
  start();
  auto reply = post(port(), sale("NCT-1"), "");
  EXPECT_EQ(reply.status, 415) << reply.body;
  EXPECT_NE(reply.json().at("error").as_string().find("content type missing"), json::string::npos)
      << reply.body;
  EXPECT_EQ(m_outbox.stats().last_seq, 0u);
}

TEST_F(IngestServerTest, CrossSitePostIsRefusedBeforeAnythingIsStored) {
  start();
  Client client(port());
  const std::string body = sale("XS-1");
  client.write_raw("POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port()) +
                   "\r\nOrigin: https://attacker.example\r\nContent-Type: text/plain\r\n"
                   "Content-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body);
  auto reply = client.read();
  EXPECT_EQ(reply.status, 403) << reply.body;
  EXPECT_EQ(m_outbox.stats().last_seq, 0u);
  EXPECT_EQ(m_service->stats().requests, 0u);  // the handler never saw it
}

TEST_F(IngestServerTest, HeadOfGetRoutesIsAnsweredWithoutBody) {
  start();
  Client client(port());
  client.write_raw("HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  auto head = client.read(true);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.content_length, "3");
  EXPECT_EQ(client.send("GET", "/healthz", "", "").body, "ok\n");
}

// HttpServer behaviour that does not depend on the ingest service.
class HttpServerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    m_servers.clear();
    m_work.reset();
    m_io.stop();
    if (m_thread.joinable()) {
      m_thread.join();
    }
  }
  HttpServer& make(HttpServer::Handler handler, HttpLimits limits = {},
                   std::string listen = "127.0.0.1:0") {
    m_servers.push_back(std::make_unique<HttpServer>(m_io.get_executor(), std::move(listen), limits,
                                                     std::move(handler), "ingest.listen"));
    return *m_servers.back();
  }
  void run() {
    m_thread = std::thread([this] { m_io.run(); });
  }

  static void ok(HttpRequest, HttpServer::Respond respond) { respond(HttpResponse{}); }

  net::io_context m_io;
  net::executor_work_guard<net::io_context::executor_type> m_work{m_io.get_executor()};
  std::vector<std::unique_ptr<HttpServer>> m_servers;
  std::thread m_thread;
};

TEST_F(HttpServerTest, BindErrorNamesTheAddress) {
  auto& first = make(ok);
  ASSERT_TRUE(first.start());
  const std::string listen = "127.0.0.1:" + std::to_string(first.local_port());
  auto second = make(ok, {}, listen).start();
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().message, "ingest.listen " + listen + ": address in use");
  auto bad = make(ok, {}, "localhost:80").start();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "ingest.listen localhost:80: 'localhost' is not an IP address");
  EXPECT_FALSE(common::parse_listen_endpoint("127.0.0.1:99999"));
  EXPECT_FALSE(common::parse_listen_endpoint("127.0.0.1"));
  EXPECT_TRUE(common::parse_listen_endpoint("[::1]:8411"));
}

TEST_F(HttpServerTest, HandlerExceptionIs500) {
  auto& server = make([](HttpRequest, HttpServer::Respond) { throw std::runtime_error("boom"); });
  ASSERT_TRUE(server.start());
  run();
  Client client(server.local_port());
  EXPECT_EQ(client.send("GET", "/").status, 500);
  EXPECT_EQ(client.send("GET", "/").status, 500);
}

TEST_F(HttpServerTest, LateRespondFromAnotherThread) {
  // The responder threads are joined before the fixture's io_context goes: a Respond keeps the
  // server's state (timers, sockets of that context) alive, so it must not outlive the context.
  // Detached, they once did, which ASan caught as a use after free at exit.
  std::mutex threads_mutex;
  std::vector<std::thread> threads;
  auto& server = make([&](HttpRequest request, HttpServer::Respond respond) {
    std::lock_guard lock(threads_mutex);
    threads.emplace_back([request = std::move(request), respond = std::move(respond)] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      respond(HttpResponse{201, "text/plain", request.body, {{"X-Test", "1"}}});
      respond(HttpResponse{500, "text/plain", "ignored", {}});
    });
  });
  ASSERT_TRUE(server.start());
  run();
  Client client(server.local_port());
  auto reply = client.send("POST", "/x", "hello");
  EXPECT_EQ(reply.status, 201);
  EXPECT_EQ(reply.body, "hello");
  EXPECT_EQ(client.send("POST", "/x", "again").body, "again");
  std::lock_guard lock(threads_mutex);
  for (auto& thread : threads) {
    thread.join();
  }
}

TEST_F(HttpServerTest, IdleConnectionIsClosedAfterTimeout) {
  HttpLimits limits;
  limits.idle_timeout = std::chrono::milliseconds(150);
  auto& server = make(ok, limits);
  ASSERT_TRUE(server.start());
  run();
  Client client(server.local_port());
  EXPECT_EQ(client.send("GET", "/").status, 200);
  const auto begin = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.closed_by_server());
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(2));
}

TEST_F(HttpServerTest, StopClosesIdleConnectionsAndStopsAccepting) {
  auto& server = make(ok);
  ASSERT_TRUE(server.start());
  run();
  Client client(server.local_port());
  EXPECT_EQ(client.send("GET", "/").status, 200);
  server.stop();
  EXPECT_TRUE(client.closed_by_server());
  // stop() takes effect asynchronously: the listener closes shortly after.
  EXPECT_TRUE(pos::test::wait_until(
      [&] {
        beast::error_code ec;
        net::io_context io;
        tcp::socket socket(io);
        socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server.local_port()), ec);
        return static_cast<bool>(ec);
      },
      std::chrono::seconds(2), "connections refused after stop()"));
}

TEST_F(HttpServerTest, OversizeHeaderIs431) {
  HttpLimits limits;
  limits.max_header_bytes = 1024;
  auto& server = make(ok, limits);
  ASSERT_TRUE(server.start());
  run();
  Client client(server.local_port());
  client.write_raw("GET / HTTP/1.1\r\nX-Big: " + std::string(4000, 'a') + "\r\n\r\n");
  EXPECT_EQ(client.read().status, 431);
}

}  // namespace
}  // namespace pos::agent
