// common::HttpServer's protections for a loopback API, over real sockets: HEAD answers, Host and
// Origin checks (DNS rebinding, cross-site requests), the request-head deadline and the eviction
// of idle connections at the connection limit (slowloris).

#include "pos/common/http_server.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/wait.hpp"

namespace pos::common {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

struct Reply {
  int status = 0;  ///< 0: no answer (connection closed or error)
  std::string body;
  std::string content_length;
  std::string error;
};

/// A blocking client on one connection that writes raw request bytes.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) : m_socket(m_io) {
    m_socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }

  void write(std::string_view bytes) {
    beast::error_code ec;
    net::write(m_socket, net::buffer(bytes), ec);
  }

  /// Reads one response; `head` says it answers a HEAD request (no body follows).
  Reply read(bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.skip(head);
    beast::error_code ec;
    http::read(m_socket, m_buffer, parser, ec);
    Reply reply;
    if (ec) {
      reply.error = ec.message();
      return reply;
    }
    reply.status = static_cast<int>(parser.get().result_int());
    reply.body = parser.get().body();
    reply.content_length = std::string(parser.get()[http::field::content_length]);
    return reply;
  }

  Reply request(std::string_view method, std::string_view host, std::string_view extra = "",
                std::string_view body = "") {
    std::string text = std::string(method) + " / HTTP/1.1\r\nHost: " + std::string(host) + "\r\n" +
                       std::string(extra);
    if (!body.empty()) {
      text += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    text += "\r\n" + std::string(body);
    write(text);
    return read(method == "HEAD");
  }

  /// True when the server closed the connection (EOF or reset) within `within`.
  bool closed_by_server(std::chrono::milliseconds within = 3000ms) {
    pollfd fd{m_socket.native_handle(), POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(within.count())) != 1) {
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

class HttpServerProtectionTest : public ::testing::Test {
 protected:
  void TearDown() override {
    m_server.reset();
    m_work.reset();
    m_io.stop();
    if (m_thread.joinable()) {
      m_thread.join();
    }
  }

  void start(HttpLimits limits = {}, HttpAccess access = {}, HttpServer::Handler handler = hello) {
    m_server = std::make_unique<HttpServer>(m_io.get_executor(), "127.0.0.1:0", limits,
                                            std::move(handler), "test.listen", std::move(access));
    auto started = m_server->start();
    ASSERT_TRUE(started) << started.error().message;
    m_thread = std::thread([this] { m_io.run(); });
  }

  static void hello(HttpRequest, HttpServer::Respond respond) {
    respond(HttpResponse{200, "text/plain", "hello world", {}});
  }

  std::uint16_t port() const { return m_server->local_port(); }
  std::string local() const { return "127.0.0.1:" + std::to_string(port()); }

  ::testing::AssertionResult wait_for_connections(std::size_t n) {
    return pos::test::wait_until([&] { return m_server->connection_count() == n; }, 3s,
                                 std::to_string(n) + " open connections", 5ms);
  }

  net::io_context m_io;
  net::executor_work_guard<net::io_context::executor_type> m_work{m_io.get_executor()};
  std::unique_ptr<HttpServer> m_server;
  std::thread m_thread;
};

TEST_F(HttpServerProtectionTest, HeadAnswerHasNoBodyAndKeepAliveGoesOn) {
  start();
  RawClient client(port());
  auto head = client.request("HEAD", local());
  ASSERT_EQ(head.status, 200) << head.error;
  EXPECT_EQ(head.content_length, "11");  // what GET would send
  // The next answer on the same connection must be the GET's, not the HEAD's stray body.
  auto get = client.request("GET", local());
  ASSERT_EQ(get.status, 200) << get.error;
  EXPECT_EQ(get.body, "hello world");
  auto head_again = client.request("HEAD", local());
  EXPECT_EQ(head_again.status, 200) << head_again.error;
  EXPECT_EQ(client.request("GET", local()).body, "hello world");
}

TEST_F(HttpServerProtectionTest, ErrorAnswerToHeadHasNoBodyEither) {
  start({}, {}, [](HttpRequest, HttpServer::Respond respond) {
    respond(HttpResponse{405, "application/json", R"({"error":"method not allowed"})", {}});
  });
  RawClient client(port());
  auto head = client.request("HEAD", local());
  ASSERT_EQ(head.status, 405) << head.error;
  auto next = client.request("HEAD", local());
  EXPECT_EQ(next.status, 405) << next.error;
}

TEST_F(HttpServerProtectionTest, OnlyLoopbackHostsAreAnswered) {
  start();
  const std::string p = std::to_string(port());
  const std::vector<std::string> loopback = {"127.0.0.1",      "127.0.0.1:" + p, "localhost",
                                             "LocalHost:" + p, "[::1]",          "[::1]:" + p};
  for (const auto& host : loopback) {
    RawClient client(port());
    EXPECT_EQ(client.request("GET", host).status, 200) << host;
  }
  const std::vector<std::string> foreign = {"attacker.example",
                                            "attacker.example:" + p,
                                            "127.0.0.1.attacker.example",
                                            "localhost.attacker.example:" + p,
                                            "10.0.0.5:" + p,
                                            "[::1]x",
                                            "localhost:80x",
                                            ""};
  for (const auto& host : foreign) {
    RawClient client(port());
    auto reply = client.request("GET", host);
    EXPECT_EQ(reply.status, 421) << "'" << host << "'";
    EXPECT_NE(reply.body.find("Host"), std::string::npos) << reply.body;
    EXPECT_TRUE(client.closed_by_server());
  }
  RawClient no_host(port());
  no_host.write("GET / HTTP/1.1\r\n\r\n");
  auto reply = no_host.read();
  EXPECT_EQ(reply.status, 400);
  EXPECT_NE(reply.body.find("Host"), std::string::npos) << reply.body;
}

TEST_F(HttpServerProtectionTest, ConfiguredHostNamesAreAnsweredToo) {
  HttpAccess access;
  access.allowed_hosts = {"ops.fastyle.internal"};
  start({}, access);
  for (const char* host : {"ops.fastyle.internal", "OPS.fastyle.internal:8412", "127.0.0.1"}) {
    RawClient client(port());
    EXPECT_EQ(client.request("GET", host).status, 200) << host;
  }
  RawClient other(port());
  EXPECT_EQ(other.request("GET", "fastyle.internal").status, 421);
}

TEST_F(HttpServerProtectionTest, RequestsWithAForeignOriginAreRefused) {
  std::atomic<int> handled{0};
  HttpAccess access;
  access.allowed_origins = {"http://pos.fastyle.internal:3000"};
  start({}, access, [&](HttpRequest, HttpServer::Respond respond) {
    ++handled;
    respond(HttpResponse{200, "text/plain", "ok", {}});
  });
  const std::vector<std::string> refused = {"http://attacker.example", "null",
                                            "http://pos.fastyle.internal",
                                            "http://localhost:" + std::to_string(port())};
  for (const auto& origin : refused) {
    RawClient client(port());
    auto reply = client.request("POST", local(), "Origin: " + origin + "\r\n", "{}");
    EXPECT_EQ(reply.status, 403) << origin;
    EXPECT_NE(reply.body.find("Origin"), std::string::npos) << reply.body;
  }
  EXPECT_EQ(handled.load(), 0);
  const std::vector<std::string> allowed = {
      "http://pos.fastyle.internal:3000", "HTTP://POS.fastyle.internal:3000", "http://" + local()};
  for (const auto& origin : allowed) {
    RawClient client(port());
    EXPECT_EQ(client.request("POST", local(), "Origin: " + origin + "\r\n", "{}").status, 200)
        << origin;
  }
  EXPECT_EQ(handled.load(), 3);
}

TEST_F(HttpServerProtectionTest, SilentConnectionIsClosedAtTheHeadDeadline) {
  HttpLimits limits;
  limits.header_timeout = 200ms;
  start(limits);
  RawClient silent(port());
  RawClient partial(port());
  partial.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  const auto begin = std::chrono::steady_clock::now();
  EXPECT_TRUE(silent.closed_by_server(2000ms));
  EXPECT_TRUE(partial.closed_by_server(2000ms));
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);
}

TEST_F(HttpServerProtectionTest, IdleConnectionsAtTheLimitDoNotLockOutANewClient) {
  HttpLimits limits;
  limits.max_connections = 8;
  start(limits);
  // Fill every slot: silent connections, a half-sent request head, idle keep-alive ones.
  std::vector<std::unique_ptr<RawClient>> holders;
  for (int i = 0; i < 5; ++i) {
    holders.push_back(std::make_unique<RawClient>(port()));
  }
  holders.push_back(std::make_unique<RawClient>(port()));
  holders.back()->write("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  for (int i = 0; i < 2; ++i) {
    holders.push_back(std::make_unique<RawClient>(port()));
    ASSERT_EQ(holders.back()->request("GET", local()).status, 200);
  }
  ASSERT_TRUE(wait_for_connections(8));
  for (int round = 0; round < 3; ++round) {
    const auto begin = std::chrono::steady_clock::now();
    RawClient pos(port());
    auto reply = pos.request("POST", local(), "Content-Type: application/json\r\n", "{}");
    EXPECT_EQ(reply.status, 200) << "round " << round << ": " << reply.error;
    EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);
  }
  EXPECT_LE(m_server->connection_count(), 8u);  // an evicted connection gives its place back
}

TEST_F(HttpServerProtectionTest, RequestsInProgressAreNeverEvicted) {
  HttpLimits limits;
  limits.max_connections = 2;
  std::mutex mutex;
  std::vector<HttpServer::Respond> held;
  start(limits, {}, [&](HttpRequest, HttpServer::Respond respond) {
    std::lock_guard lock(mutex);
    held.push_back(std::move(respond));
  });
  RawClient first(port());
  RawClient second(port());
  for (auto* client : {&first, &second}) {
    client->write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  }
  ASSERT_TRUE(pos::test::wait_until(
      [&] {
        std::lock_guard lock(mutex);
        return held.size() == 2;
      },
      3s, "both requests held", 5ms));
  RawClient third(port());
  EXPECT_TRUE(third.closed_by_server());
  {
    std::lock_guard lock(mutex);
    for (auto& respond : held) {
      respond(HttpResponse{200, "text/plain", "late", {}});
    }
    held.clear();
  }
  EXPECT_EQ(first.read().body, "late");
  EXPECT_EQ(second.read().body, "late");
}

}  // namespace
}  // namespace pos::common
