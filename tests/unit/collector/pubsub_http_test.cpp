// The transport layer (HttpClient) against a loopback common::HttpServer.

#include "pubsub_http.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pos/common/http_server.hpp"
#include "pubsub_fakes.hpp"

namespace pos::collector::detail {
namespace {
using namespace std::chrono_literals;
using fakes::run_until;

class HttpClientTest : public ::testing::Test {
 protected:
  // Answers 200 with the request body, or holds the answer while `hold` is set.
  void serve(common::HttpLimits limits = {}) {
    m_server.emplace(
        m_io.get_executor(), "127.0.0.1:0", limits,
        [this](common::HttpRequest request, common::HttpServer::Respond respond) {
          m_received.push_back(request.body);
          m_max_connections = std::max(m_max_connections, m_server->connection_count());
          if (m_hold) {
            m_held.push_back(std::move(respond));
            return;
          }
          respond(common::HttpResponse{200, "application/json", "echo " + request.body, {}});
        });
    ASSERT_TRUE(m_server->start());
  }

  std::shared_ptr<HttpClient> client(std::size_t max_connections = 4,
                                     std::chrono::milliseconds timeout = 5s) {
    Origin origin;
    origin.host = "127.0.0.1";
    origin.port = std::to_string(m_server ? m_server->local_port() : 1);
    return std::make_shared<HttpClient>(m_io.get_executor(), origin, nullptr, max_connections,
                                        timeout);
  }

  static HttpCall call(std::string body) {
    HttpCall c;
    c.target = "/v1/x";
    c.body = std::move(body);
    return c;
  }

  boost::asio::io_context m_io;
  std::optional<common::HttpServer> m_server;
  std::vector<std::string> m_received;
  std::size_t m_max_connections = 0;
  bool m_hold = false;
  std::vector<common::HttpServer::Respond> m_held;
};

TEST_F(HttpClientTest, ReusesAKeepAliveConnection) {
  serve();
  auto http = client();
  for (int i = 0; i < 3; ++i) {
    std::optional<Result<HttpReply>> reply;
    http->request(call("r" + std::to_string(i)), [&](Result<HttpReply> r) { reply = r; });
    ASSERT_TRUE(run_until(m_io, [&] { return reply.has_value(); }));
    ASSERT_TRUE(*reply) << reply->error().message;
    EXPECT_EQ((*reply)->status, 200u);
    EXPECT_EQ((*reply)->body, "echo r" + std::to_string(i));
  }
  EXPECT_EQ(m_max_connections, 1u);
  http->shutdown();
}

TEST_F(HttpClientTest, RequestsBeyondThePoolWaitTheirTurnInOrder) {
  serve();
  m_hold = true;
  auto http = client(1);
  std::vector<std::string> answered;
  for (const std::string body : {"a", "b", "c"}) {
    http->request(call(body), [&answered, body](Result<HttpReply> r) {
      EXPECT_TRUE(r);
      answered.push_back(body);
    });
  }
  for (std::size_t n = 1; n <= 3; ++n) {
    ASSERT_TRUE(run_until(m_io, [&] { return m_held.size() == n; }));
    auto respond = std::move(m_held.back());
    respond(common::HttpResponse{200, "application/json", "{}", {}});
  }
  ASSERT_TRUE(run_until(m_io, [&] { return answered.size() == 3; }));
  EXPECT_EQ(m_received, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(answered, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(m_max_connections, 1u);
  http->shutdown();
}

TEST_F(HttpClientTest, AConnectionTheServerClosedWhileIdleIsReplacedUnnoticed) {
  common::HttpLimits limits;
  limits.idle_timeout = 50ms;
  serve(limits);
  auto http = client(1);
  std::optional<Result<HttpReply>> first;
  http->request(call("1"), [&](Result<HttpReply> r) { first = r; });
  ASSERT_TRUE(run_until(m_io, [&] { return first.has_value(); }));
  ASSERT_TRUE(*first);
  ASSERT_TRUE(run_until(m_io, [&] { return m_server->connection_count() == 0; }))
      << "the server closes the idle connection";
  std::optional<Result<HttpReply>> second;
  http->request(call("2"), [&](Result<HttpReply> r) { second = r; });
  ASSERT_TRUE(run_until(m_io, [&] { return second.has_value(); }));
  ASSERT_TRUE(*second) << second->error().message;
  EXPECT_EQ((*second)->body, "echo 2");
  http->shutdown();
}

TEST_F(HttpClientTest, ARefusedConnectionNamesTheOrigin) {
  auto http = client();
  std::optional<Result<HttpReply>> reply;
  http->request(call("x"), [&](Result<HttpReply> r) { reply = r; });
  ASSERT_TRUE(run_until(m_io, [&] { return reply.has_value(); }));
  ASSERT_FALSE(*reply);
  EXPECT_NE(reply->error().message.find("connect 127.0.0.1:1"), std::string::npos)
      << reply->error().message;
}

TEST_F(HttpClientTest, AnAnswerThatNeverComesTimesOut) {
  serve();
  m_hold = true;
  auto http = client(1, 100ms);
  std::optional<Result<HttpReply>> reply;
  http->request(call("x"), [&](Result<HttpReply> r) { reply = r; });
  ASSERT_TRUE(run_until(m_io, [&] { return reply.has_value(); }));
  ASSERT_FALSE(*reply);
  EXPECT_NE(reply->error().message.find("timeout"), std::string::npos) << reply->error().message;
}

TEST_F(HttpClientTest, ShutdownCancelsOutstandingAndLaterRequests) {
  serve();
  m_hold = true;
  auto http = client(1);
  std::optional<Result<HttpReply>> outstanding;
  std::optional<Result<HttpReply>> waiting;
  http->request(call("a"), [&](Result<HttpReply> r) { outstanding = r; });
  http->request(call("b"), [&](Result<HttpReply> r) { waiting = r; });
  ASSERT_TRUE(run_until(m_io, [&] { return m_held.size() == 1; }));
  http->shutdown();
  ASSERT_TRUE(run_until(m_io, [&] { return outstanding && waiting; }));
  ASSERT_FALSE(*outstanding);
  EXPECT_EQ(outstanding->error().message, "cancelled");
  ASSERT_FALSE(*waiting);
  EXPECT_EQ(waiting->error().message, "cancelled");
  std::optional<Result<HttpReply>> late;
  http->request(call("c"), [&](Result<HttpReply> r) { late = r; });
  ASSERT_TRUE(run_until(m_io, [&] { return late.has_value(); }));
  EXPECT_FALSE(*late);
}

}  // namespace
}  // namespace pos::collector::detail
