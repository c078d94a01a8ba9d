#pragma once
// A small asynchronous HTTP/1.1 client with a keep-alive connection pool for one origin, on
// Boost.Beast: plain TCP or TLS (system CA store, SNI, hostname verification).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pos/protocol/result.hpp"

namespace pos::collector::detail {

struct Origin {
  bool tls = false;
  std::string host;
  std::string port;
  /// "https://host" or "http://host:port".
  std::string to_string() const;
};

struct Url {
  Origin origin;
  std::string target;  ///< path and query, "/" at least
};

/// Parses "http://host[:port]/path" or "https://host[:port]/path".
Result<Url> parse_url(std::string_view url);

/// Parses "host:port" (PUBSUB_EMULATOR_HOST) into a plain-HTTP origin.
Result<Origin> parse_host_port(std::string_view host_port);

/// A TLS client context: TLS >= 1.2, peer verification against the system CA store.
std::shared_ptr<boost::asio::ssl::context> make_tls_context();

struct HttpReply {
  unsigned status = 0;
  std::string body;
};

struct HttpCall {
  bool post = true;  ///< POST, else GET
  std::string target;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// The transport seam of the publisher stack: sends one HTTP request and reports its answer.
/// Implemented by HttpClient (the wire) and by the auth layer (AuthorizedSender), which wraps it;
/// tests put fakes in its place.
class HttpSender {
 public:
  using Done = std::function<void(Result<HttpReply>)>;
  virtual ~HttpSender() = default;
  /// Sends `call`. `done` runs exactly once, later, on the executor (never inline) with the reply
  /// (any HTTP status) or an error for a failure before a complete answer (transport, timeout,
  /// credentials); after shutdown() it may instead never run. Not thread-safe.
  virtual void request(HttpCall call, Done done) = 0;
  /// Stops: later requests fail at once; outstanding ones fail or are dropped.
  virtual void shutdown() = 0;
};

/// Sends requests to one origin over at most `max_connections` keep-alive connections; requests
/// beyond that wait in FIFO order. A request that fails on a reused connection before any answer
/// (the server closed it while idle) is retried once on a new connection.
/// `done` gets the reply (any status) or a transport error ("connect 127.0.0.1:8085: Connection
/// refused", "timeout"); it runs on the executor. Not thread-safe: one executor thread.
class HttpClient final : public HttpSender, public std::enable_shared_from_this<HttpClient> {
 public:
  /// `tls` is required when origin.tls.
  HttpClient(boost::asio::any_io_executor executor, Origin origin,
             std::shared_ptr<boost::asio::ssl::context> tls, std::size_t max_connections,
             std::chrono::milliseconds timeout, std::size_t max_response_bytes = 4 * 1024 * 1024);
  ~HttpClient() override;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  void request(HttpCall call, Done done) override;
  /// Closes every connection; outstanding requests complete with an error ("cancelled"); later
  /// requests fail at once.
  void shutdown() override;

  const Origin& origin() const noexcept { return m_origin; }

  class Connection;

 private:
  struct Pending {
    HttpCall call;
    Done done;
  };
  void start(const std::shared_ptr<Connection>& connection, Pending pending, bool reused);
  void finished(const std::shared_ptr<Connection>& connection);

  boost::asio::any_io_executor m_executor;
  Origin m_origin;
  std::shared_ptr<boost::asio::ssl::context> m_tls;
  std::size_t m_max_connections;
  std::chrono::milliseconds m_timeout;
  std::size_t m_max_response_bytes;
  std::vector<std::shared_ptr<Connection>> m_idle;
  std::vector<std::weak_ptr<Connection>> m_busy;
  std::deque<Pending> m_waiting;
  std::size_t m_open = 0;
  bool m_shutdown = false;
};

}  // namespace pos::collector::detail
