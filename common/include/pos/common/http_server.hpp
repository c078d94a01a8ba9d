#pragma once
// A small asynchronous HTTP/1.1 server (Boost.Beast) for loopback APIs: the agent's ingest API and
// the collector's dashboard. Bounded everywhere: body, header, connections, timeouts.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pos/protocol/result.hpp"

namespace pos::common {

/// One request as the handler sees it. `content_type` is the raw header value ("" when absent).
struct HttpRequest {
  std::string method;  ///< "GET", "POST", ... as sent
  std::string target;  ///< path and query as sent ("/v1/events?x=1")
  std::string content_type;
  std::string body;
};

/// One response. `headers` are extra fields (e.g. {"Retry-After", "5"}); Content-Type,
/// Content-Length and Connection are set by the server.
struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Limits applied to every connection.
struct HttpLimits {
  std::size_t max_body_bytes = 4 * 1024 * 1024;  ///< larger bodies: 413, connection closed
  std::size_t max_header_bytes = 16 * 1024;      ///< larger request heads: 431, connection closed
  /// At the limit a new connection takes the place of the connection that has waited longest
  /// for a request head (silent, half-sent head or idle keep-alive); when every connection has a
  /// request in progress, the new one is closed at once.
  std::size_t max_connections = 64;
  /// To receive a whole request head: on a new connection from the accept, on a keep-alive one
  /// from the first byte of the next request. Slower clients are disconnected without an answer.
  std::chrono::milliseconds header_timeout{5'000};
  std::chrono::milliseconds read_timeout{30'000};  ///< to read one request body; to write an answer
  std::chrono::milliseconds idle_timeout{60'000};  ///< keep-alive wait for the next request
};

/// Who may talk to a loopback server (against DNS rebinding and cross-site requests from a
/// browser on the same machine). Checked on every request head, before the body is read:
/// - Host must be a loopback name (`127.0.0.1`, `localhost`, `[::1]`, any port) or one of
///   `allowed_hosts` (case-insensitive, any port); otherwise 421, connection closed. A request
///   without Host gets 400 (HTTP/1.1 requires it; HTTP/1.0 may omit it).
/// - A request that carries `Origin` (browsers send it on cross-site requests) is refused with
///   403 unless the origin is one of `allowed_origins` (exact, case-insensitive, e.g.
///   `http://pos.example:3000`) or the server's own (`http://` or `https://` + the Host).
struct HttpAccess {
  std::vector<std::string> allowed_hosts;    ///< extra host names, without port
  std::vector<std::string> allowed_origins;  ///< scheme://host[:port], no trailing slash
};

/// Checks one `allowed_hosts` entry: a host name or IPv4 address (letters, digits, '.', '-') or
/// a bracketed IPv6 address, without port. The error quotes the entry and says what is wrong.
Status check_allowed_host(std::string_view host);

/// Checks one `allowed_origins` entry as browsers send it: `http://` or `https://`, a host as
/// for check_allowed_host and an optional port, nothing after (no path, no trailing '/').
Status check_allowed_origin(std::string_view origin);

/// Parses "host:port" ("127.0.0.1:8411", "[::1]:8411", "localhost" is not accepted: an IP literal
/// is required). Port 0 asks the OS for a free port. Errors name the rule.
Result<boost::asio::ip::tcp::endpoint> parse_listen_endpoint(std::string_view text);

/// Async HTTP/1.1 server with keep-alive. Each connection runs on its own strand of the given
/// executor; requests on one connection are handled one at a time, in order.
///
/// The handler is called on the connection's strand and must not throw (an exception is caught,
/// logged and answered with 500). It calls `respond` exactly once, at once or later from any
/// thread; the response is written on the connection's strand (later calls are ignored). A
/// `respond` holds the connection and the server's state: it must be destroyed before the
/// io_context the server runs on (its timers and sockets belong to that context).
/// Malformed requests get 400, over-long heads 431, bodies over the limit 413 (without reading the
/// rest of the body), a Host or Origin refused by `HttpAccess` 421 or 403; each of these closes
/// the connection. An answer to HEAD is sent without its body (Content-Length is the body's).
class HttpServer {
 public:
  using Respond = std::function<void(HttpResponse)>;
  using Handler = std::function<void(HttpRequest, Respond)>;

  /// `listen` is parsed by start(); `what` names it in errors ("ingest.listen").
  HttpServer(boost::asio::any_io_executor executor, std::string listen, HttpLimits limits,
             Handler handler, std::string what = "listen", HttpAccess access = {});
  /// Stops accepting, closes every connection and never calls the handler again.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds and starts accepting. Fails with e.g. "ingest.listen 127.0.0.1:8411: address in use".
  /// Call once, before or while the executor runs.
  Status start();

  /// Stops accepting and closes connections waiting for a request; requests in progress are
  /// answered, then their connections close. Thread-safe; takes effect asynchronously.
  void stop();

  /// The bound port (useful after listening on port 0); 0 before a successful start().
  std::uint16_t local_port() const noexcept;

  /// Open connections right now. Thread-safe.
  std::size_t connection_count() const noexcept;

  struct State;  ///< implementation detail, shared with the connections

 private:
  std::shared_ptr<State> m_state;
};

}  // namespace pos::common
