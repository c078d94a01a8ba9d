#include "pos/common/http_server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <charconv>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace pos::common {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

class HttpSession;

struct HttpServer::State : std::enable_shared_from_this<HttpServer::State> {
  State(net::any_io_executor ex, std::string listen_text, HttpLimits lim, Handler h,
        std::string what_text, HttpAccess access_rules)
      : executor(std::move(ex)),
        strand(net::make_strand(executor)),
        acceptor(strand),
        retry_timer(strand),
        listen(std::move(listen_text)),
        what(std::move(what_text)),
        limits(lim),
        access(lowercase(std::move(access_rules))),
        handler(std::move(h)) {}

  static HttpAccess lowercase(HttpAccess rules);
  void do_accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  bool evict_one();
  void close_sessions(bool idle_only);

  net::any_io_executor executor;
  net::strand<net::any_io_executor> strand;
  tcp::acceptor acceptor;
  net::steady_timer retry_timer;
  std::string listen;
  std::string what;
  HttpLimits limits;
  HttpAccess access;  ///< names and origins in lower case
  Handler handler;
  std::atomic<bool> stopping{false};
  std::atomic<bool> closed{false};
  std::atomic<std::uint16_t> port{0};
  std::atomic<std::size_t> connections{0};
  std::mutex mutex;
  std::unordered_map<HttpSession*, std::weak_ptr<HttpSession>> sessions;
};

namespace {

constexpr std::size_t k_first_read_bytes = 4096;
constexpr std::size_t k_max_drain_bytes = 1024 * 1024;
constexpr std::chrono::seconds k_drain_timeout{1};

std::string error_json(std::string_view message) {
  return "{\"error\":" + boost::json::serialize(boost::json::string(message)) + "}";
}

bool is_http_protocol_error(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

std::string describe_bind_error(const beast::error_code& ec) {
  if (ec == net::error::address_in_use) {
    return "address in use";
  }
  if (ec == net::error::access_denied) {
    return "permission denied";
  }
  if (ec == boost::system::errc::address_not_available) {
    return "address not available on this host";
  }
  return ec.message();
}

bool has_crlf(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A Host header value: a loopback name or one of `extra` (lower case), with an optional port.
bool host_allowed(std::string_view host, const std::vector<std::string>& extra) {
  std::string_view name = host;
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) {
      return false;
    }
    name = host.substr(0, close + 1);
    const auto rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return false;
      }
      port = rest.substr(1);
      if (port.empty()) {
        return false;
      }
    }
  } else if (const auto colon = host.find(':'); colon != std::string_view::npos) {
    name = host.substr(0, colon);
    port = host.substr(colon + 1);
    if (port.empty()) {
      return false;
    }
  }
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) {
    return false;
  }
  const std::string lower = to_lower(name);
  if (lower == "127.0.0.1" || lower == "localhost" || lower == "[::1]") {
    return true;
  }
  return std::find(extra.begin(), extra.end(), lower) != extra.end();
}

// Evictable-since values of a session (HttpSession::m_evictable_since).
constexpr std::int64_t k_not_evictable = 0;
constexpr std::int64_t k_evicted = -1;

}  // namespace

/// One connection. Lives while an operation or a pending `respond` holds it.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, std::shared_ptr<HttpServer::State> state)
      : m_stream(std::move(socket)),
        m_state(std::move(state)),
        m_buffer(m_state->limits.max_header_bytes + 64 * 1024 + k_first_read_bytes) {}

  ~HttpSession() {
    // An evicted session gave its place back when it was chosen (State::evict_one).
    if (m_evictable_since.load() != k_evicted) {
      m_state->connections.fetch_sub(1);
    }
    std::lock_guard lock(m_state->mutex);
    m_state->sessions.erase(this);
  }

  /// Since when (steady ns) this connection may make room for a new one; 0: not now (a request
  /// is being handled or answered). Read by the acceptor, under the server's mutex.
  std::int64_t evictable_since() const noexcept { return m_evictable_since.load(); }

  /// Claims this connection for eviction unless it moved on since `seen`; the claim stops it from
  /// handling any request. The caller then closes it (close_later).
  bool claim_for_eviction(std::int64_t seen) noexcept {
    return seen > 0 && m_evictable_since.compare_exchange_strong(seen, k_evicted);
  }

  void start() {
    net::dispatch(m_stream.get_executor(),
                  [self = shared_from_this()] { self->wait_for_request(); });
  }

  void close_later(bool idle_only) {
    net::dispatch(m_stream.get_executor(), [self = shared_from_this(), idle_only] {
      if (!idle_only || self->m_idle) {
        self->close();
      }
    });
  }

 private:
  // Waits for the next request head: on a new connection it must arrive whole within
  // header_timeout of the accept; on a keep-alive one within idle_timeout (first byte), then
  // header_timeout. Meanwhile the connection may be evicted to make room for a new one.
  void wait_for_request() {
    if (m_state->stopping.load()) {
      close();
      return;
    }
    m_evictable_since.store(steady_now_ns());
    if (m_buffer.size() > 0) {
      m_stream.expires_after(m_state->limits.header_timeout);
      read_header();
      return;
    }
    m_idle = true;
    m_stream.expires_after(m_first ? m_state->limits.header_timeout : m_state->limits.idle_timeout);
    m_stream.async_read_some(m_buffer.prepare(k_first_read_bytes),
                             [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                               self->m_idle = false;
                               if (ec) {
                                 self->close();
                                 return;
                               }
                               self->m_buffer.commit(n);
                               if (!self->m_first) {
                                 self->m_stream.expires_after(self->m_state->limits.header_timeout);
                               }
                               self->read_header();
                             });
  }

  void read_header() {
    m_parser.emplace();
    m_parser->body_limit(m_state->limits.max_body_bytes);
    m_parser->header_limit(static_cast<std::uint32_t>(m_state->limits.max_header_bytes));
    m_head = false;
    http::async_read_header(
        m_stream, m_buffer, *m_parser,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  // False (and the connection closing) when the acceptor evicted this connection meanwhile.
  bool still_ours() {
    if (m_evictable_since.exchange(k_not_evictable) == k_evicted) {
      m_evictable_since.store(k_evicted);
      close();
      return false;
    }
    return true;
  }

  // The request head is refused when its Host is not ours (DNS rebinding) or it comes from a
  // foreign page in a browser (Origin). Returns the refusal, or nothing.
  std::optional<std::pair<int, std::string>> refusal() const {
    const auto& request = m_parser->get();
    const auto& access = m_state->access;
    if (request.count(http::field::host) > 1) {
      return {{400, "more than one Host header"}};
    }
    const auto host = request.find(http::field::host);
    if (host == request.end()) {
      if (request.version() >= 11) {
        return {{400, "Host header missing"}};
      }
    } else if (!host_allowed(host->value(), access.allowed_hosts)) {
      return {{421, "Host '" + std::string(host->value()) +
                        "' refused: this server answers only to 127.0.0.1, localhost, [::1]" +
                        (access.allowed_hosts.empty() ? "" : " and its configured host names")}};
    }
    if (request.count(http::field::origin) > 0) {
      const std::string origin = to_lower(request[http::field::origin]);
      // The server's own pages (also behind a TLS-terminating proxy that passes Host).
      const bool own = host != request.end() && (origin == "http://" + to_lower(host->value()) ||
                                                 origin == "https://" + to_lower(host->value()));
      const bool listed = std::find(access.allowed_origins.begin(), access.allowed_origins.end(),
                                    origin) != access.allowed_origins.end();
      if (!own && !listed) {
        return {{403, "Origin '" + std::string(request[http::field::origin]) +
                          "' refused: requests from web pages of other origins are not accepted "
                          "(allowed_origins)"}};
      }
    }
    return std::nullopt;
  }

  void on_header(beast::error_code ec) {
    if (!still_ours()) {
      return;
    }
    if (ec) {
      fail_read(ec);
      return;
    }
    m_head = m_parser->get().method() == http::verb::head;
    if (auto refused = refusal()) {
      answer_and_close(refused->first, refused->second);
      return;
    }
    if (!m_parser->is_done()) {
      // A body on its way: evictable only once it is slower than a request head may be.
      m_evictable_since.store(
          steady_now_ns() +
          std::chrono::duration_cast<std::chrono::nanoseconds>(m_state->limits.header_timeout)
              .count());
      m_stream.expires_after(m_state->limits.read_timeout);
    }
    const auto expect = m_parser->get()[http::field::expect];
    if (!m_parser->is_done() && beast::iequals(expect, "100-continue")) {
      m_continue.emplace(http::status::continue_, 11);
      http::async_write(m_stream, *m_continue,
                        [self = shared_from_this()](beast::error_code write_ec, std::size_t) {
                          if (write_ec) {
                            self->close();
                            return;
                          }
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    if (m_parser->is_done()) {
      on_body({});
      return;
    }
    http::async_read(
        m_stream, m_buffer, *m_parser,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
  }

  void on_body(beast::error_code ec) {
    if (!still_ours()) {
      return;
    }
    if (ec) {
      fail_read(ec);
      return;
    }
    auto message = m_parser->release();
    m_parser.reset();
    m_keep_alive = message.keep_alive();
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.content_type = std::string(message[http::field::content_type]);
    request.body = std::move(message.body());
    call_handler(std::move(request));
  }

  void fail_read(const beast::error_code& ec) {
    if (ec == http::error::body_limit) {
      answer_and_close(413, "body: larger than the limit of " +
                                std::to_string(m_state->limits.max_body_bytes) + " bytes");
    } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      answer_and_close(431, "request head larger than the limit of " +
                                std::to_string(m_state->limits.max_header_bytes) + " bytes");
    } else if (is_http_protocol_error(ec)) {
      answer_and_close(400, "malformed HTTP request: " + ec.message());
    } else {
      close();
    }
  }

  void answer_and_close(int status, const std::string& message) {
    HttpResponse response;
    response.status = status;
    response.body = error_json(message);
    m_keep_alive = false;
    send(std::move(response), true);
  }

  void call_handler(HttpRequest request) {
    if (m_state->closed.load()) {
      close();
      return;
    }
    const std::uint64_t generation = ++m_generation;
    m_answered = false;
    HttpServer::Respond respond = [self = shared_from_this(), generation](HttpResponse response) {
      net::dispatch(self->m_stream.get_executor(),
                    [self, generation, response = std::move(response)]() mutable {
                      self->on_respond(generation, std::move(response));
                    });
    };
    try {
      m_state->handler(std::move(request), std::move(respond));
    } catch (const std::exception& e) {
      spdlog::error("{}: request handler threw: {}", m_state->what, e.what());
      internal_error();
    } catch (...) {
      spdlog::error("{}: request handler threw a non-standard exception", m_state->what);
      internal_error();
    }
  }

  void internal_error() {
    HttpResponse response;
    response.status = 500;
    response.body = error_json("internal error");
    on_respond(m_generation, std::move(response));
  }

  void on_respond(std::uint64_t generation, HttpResponse response) {
    if (generation != m_generation || m_answered) {
      return;
    }
    m_answered = true;
    send(std::move(response), false);
  }

  void send(HttpResponse response, bool linger) {
    const bool keep_alive = !linger && m_keep_alive && !m_state->stopping.load();
    auto& out = m_response.emplace();
    out.version(11);
    out.result(static_cast<unsigned>(response.status));
    if (!response.content_type.empty() && !has_crlf(response.content_type)) {
      out.set(http::field::content_type, response.content_type);
    }
    for (const auto& [name, value] : response.headers) {
      if (name.empty() || has_crlf(name) || has_crlf(value)) {
        continue;
      }
      out.set(name, value);
    }
    out.body() = std::move(response.body);
    out.keep_alive(keep_alive);
    out.prepare_payload();
    if (m_head) {
      out.body().clear();  // Content-Length stays the body's, as for GET
    }
    m_stream.expires_after(m_state->limits.read_timeout);
    http::async_write(
        m_stream, out,
        [self = shared_from_this(), keep_alive, linger](beast::error_code ec, std::size_t) {
          self->m_response.reset();
          // A failed write and a finished exchange that does not keep the connection alive both
          // close, for different reasons.
          // NOLINTNEXTLINE(bugprone-branch-clone)
          if (ec) {
            self->close();
          } else if (linger) {
            self->linger_close();
          } else if (!keep_alive) {
            self->close();
          } else {
            self->m_first = false;
            self->wait_for_request();
          }
        });
  }

  // Half-closes, then discards what the client is still sending (bounded in bytes and time) so
  // that it can read the error response before the connection is reset.
  void linger_close() {
    m_evictable_since.store(steady_now_ns());  // nothing more to answer: first to make room
    beast::error_code ec;
    m_stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      close();
      return;
    }
    m_stream.expires_after(k_drain_timeout);
    drain();
  }

  void drain() {
    m_stream.async_read_some(net::buffer(m_drain),
                             [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                               self->m_drained += n;
                               if (ec || self->m_drained > k_max_drain_bytes) {
                                 self->close();
                                 return;
                               }
                               self->drain();
                             });
  }

  void close() {
    m_idle = false;
    beast::error_code ec;
    m_stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    m_stream.socket().close(ec);
  }

  beast::tcp_stream m_stream;
  std::shared_ptr<HttpServer::State> m_state;
  beast::flat_buffer m_buffer;
  std::optional<http::request_parser<http::string_body>> m_parser;
  std::optional<http::response<http::empty_body>> m_continue;
  std::optional<http::response<http::string_body>> m_response;
  std::array<char, 4096> m_drain{};
  std::size_t m_drained = 0;
  std::uint64_t m_generation = 0;
  bool m_answered = false;
  bool m_keep_alive = false;
  bool m_first = true;
  bool m_idle = false;
  bool m_head = false;  ///< the request being answered is a HEAD
  std::atomic<std::int64_t> m_evictable_since{k_not_evictable};
};

void HttpServer::State::do_accept() {
  acceptor.async_accept(net::make_strand(executor),
                        [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                          self->on_accept(ec, std::move(socket));
                        });
}

void HttpServer::State::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor.is_open() || stopping.load()) {
    return;
  }
  if (ec) {
    // E.g. out of file descriptors: wait a little instead of spinning.
    spdlog::warn("{} {}: accept failed: {}", what, listen, ec.message());
    retry_timer.expires_after(std::chrono::milliseconds(100));
    retry_timer.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
      if (!wait_ec) {
        self->do_accept();
      }
    });
    return;
  }
  if (connections.load() >= limits.max_connections && !evict_one()) {
    beast::error_code ignored;
    socket.close(ignored);
  } else {
    connections.fetch_add(1);
    auto session = std::make_shared<HttpSession>(std::move(socket), shared_from_this());
    {
      std::lock_guard lock(mutex);
      sessions.emplace(session.get(), session);
    }
    session->start();
  }
  do_accept();
}

// Makes room for one connection: closes the one that has been evictable longest (waiting for a
// request head, idle in keep-alive, or slow with its body). Its place is given back at once.
bool HttpServer::State::evict_one() {
  const std::int64_t now = steady_now_ns();
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::weak_ptr<HttpSession> chosen;
    std::int64_t chosen_since = 0;
    {
      // Only read under the lock: the last shared_ptr of a session must not be dropped here
      // (its destructor takes this mutex).
      std::lock_guard lock(mutex);
      for (const auto& [ptr, weak] : sessions) {
        const std::int64_t since = ptr->evictable_since();
        if (since <= 0 || since > now || (chosen_since > 0 && since >= chosen_since)) {
          continue;
        }
        chosen = weak;
        chosen_since = since;
      }
    }
    if (chosen_since == 0) {
      return false;
    }
    auto victim = chosen.lock();
    if (victim && victim->claim_for_eviction(chosen_since)) {
      connections.fetch_sub(1);
      victim->close_later(false);
      return true;
    }
  }
  return false;
}

void HttpServer::State::close_sessions(bool idle_only) {
  std::vector<std::shared_ptr<HttpSession>> live;
  {
    std::lock_guard lock(mutex);
    for (auto& [ptr, weak] : sessions) {
      if (auto session = weak.lock()) {
        live.push_back(std::move(session));
      }
    }
  }
  for (auto& session : live) {
    session->close_later(idle_only);
  }
}

Status check_allowed_host(std::string_view host) {
  const auto quoted = "'" + std::string(host) + "': ";
  if (host.empty()) {
    return fail(quoted + "empty");
  }
  if (host.front() == '[') {
    beast::error_code ec;
    if (host.size() < 3 || host.back() != ']') {
      return fail(quoted + "an IPv6 address must be written [addr], without port");
    }
    net::ip::make_address_v6(std::string(host.substr(1, host.size() - 2)), ec);
    if (ec) {
      return fail(quoted + "an IPv6 address must be written [addr], without port");
    }
    return {};
  }
  if (host.find(':') != std::string_view::npos) {
    return fail(quoted + "give the name without port");
  }
  if (host.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") !=
      std::string_view::npos) {
    return fail(quoted + "a host name has only letters, digits, '.' and '-'");
  }
  return {};
}

Status check_allowed_origin(std::string_view origin) {
  const auto quoted = "'" + std::string(origin) + "': ";
  std::string_view rest;
  if (origin.starts_with("http://")) {
    rest = origin.substr(7);
  } else if (origin.starts_with("https://")) {
    rest = origin.substr(8);
  } else {
    return fail(quoted + "must be http://host[:port] or https://host[:port]");
  }
  if (rest.find('/') != std::string_view::npos) {
    return fail(quoted + "an origin has no path, not even a trailing '/'");
  }
  std::string_view host = rest;
  const auto bracket = rest.rfind(']');
  const auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    const auto port = rest.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string_view::npos) {
      return fail(quoted + "bad port");
    }
    host = rest.substr(0, colon);
  }
  if (auto ok = check_allowed_host(host); !ok) {
    return fail(quoted + "bad host");
  }
  return {};
}

Result<tcp::endpoint> parse_listen_endpoint(std::string_view text) {
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail("must be [ipv6]:port, e.g. [::1]:8411");
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return fail("must be host:port, e.g. 127.0.0.1:8411");
    }
    host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
      return fail("an IPv6 address needs brackets, e.g. [::1]:8411");
    }
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  const auto* end = port_text.data() + port_text.size();
  const auto [ptr, ec] = std::from_chars(port_text.data(), end, port);
  if (port_text.empty() || port_text.size() > 5 || ec != std::errc() || ptr != end ||
      port > 65535) {
    return fail("port must be a number from 0 to 65535");
  }
  beast::error_code address_ec;
  const auto address = net::ip::make_address(std::string(host), address_ec);
  if (address_ec) {
    return fail("'" + std::string(host) + "' is not an IP address");
  }
  return tcp::endpoint(address, static_cast<std::uint16_t>(port));
}

HttpServer::HttpServer(net::any_io_executor executor, std::string listen, HttpLimits limits,
                       Handler handler, std::string what, HttpAccess access)
    : m_state(std::make_shared<State>(std::move(executor), std::move(listen), limits,
                                      std::move(handler), std::move(what), std::move(access))) {}

HttpAccess HttpServer::State::lowercase(HttpAccess rules) {
  for (auto& host : rules.allowed_hosts) {
    host = to_lower(host);
  }
  for (auto& origin : rules.allowed_origins) {
    origin = to_lower(origin);
  }
  return rules;
}

HttpServer::~HttpServer() {
  m_state->closed.store(true);
  m_state->stopping.store(true);
  net::dispatch(m_state->strand, [state = m_state] {
    beast::error_code ignored;
    state->acceptor.close(ignored);
    state->retry_timer.cancel();
    state->close_sessions(false);
  });
}

Status HttpServer::start() {
  auto& state = *m_state;
  const auto prefix = state.what + " " + state.listen + ": ";
  auto endpoint = parse_listen_endpoint(state.listen);
  if (!endpoint) {
    return fail(prefix + endpoint.error().message);
  }
  beast::error_code ec;
  state.acceptor.open(endpoint->protocol(), ec);
  if (!ec) {
    state.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    state.acceptor.bind(*endpoint, ec);
  }
  if (!ec) {
    state.acceptor.listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    beast::error_code ignored;
    state.acceptor.close(ignored);
    return fail(prefix + describe_bind_error(ec));
  }
  state.port.store(state.acceptor.local_endpoint(ec).port());
  net::dispatch(state.strand, [s = m_state] { s->do_accept(); });
  return {};
}

void HttpServer::stop() {
  m_state->stopping.store(true);
  net::dispatch(m_state->strand, [state = m_state] {
    beast::error_code ignored;
    state->acceptor.close(ignored);
    state->retry_timer.cancel();
    state->close_sessions(true);
  });
}

std::uint16_t HttpServer::local_port() const noexcept {
  return m_state->port.load();
}

std::size_t HttpServer::connection_count() const noexcept {
  return m_state->connections.load();
}

}  // namespace pos::common
