#include "pubsub_http.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <optional>

namespace pos::collector::detail {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string Origin::to_string() const {
  const bool default_port = (tls && port == "443") || (!tls && port == "80");
  return std::string(tls ? "https://" : "http://") + host + (default_port ? "" : ":" + port);
}

namespace {

bool valid_port(std::string_view port) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  return ec == std::errc() && end == port.data() + port.size() && value > 0 && value < 65536;
}

// "host[:port]" or "[v6]:port" into host and port (default_port when absent).
Result<Origin> split_authority(std::string_view authority, bool tls, std::string_view what) {
  Origin origin;
  origin.tls = tls;
  origin.port = tls ? "443" : "80";
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return fail(std::string(what) + ": unclosed '['");
    }
    host = authority.substr(1, close - 1);
    const auto rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return fail(std::string(what) + ": expected ':' after ']'");
      }
      port = rest.substr(1);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) {
      return fail(std::string(what) + ": empty port");
    }
  }
  if (host.empty()) {
    return fail(std::string(what) + ": empty host");
  }
  if (!port.empty()) {
    if (!valid_port(port)) {
      return fail(std::string(what) + ": bad port '" + std::string(port) + "'");
    }
    origin.port = std::string(port);
  }
  origin.host = std::string(host);
  return origin;
}

}  // namespace

Result<Url> parse_url(std::string_view url) {
  bool tls = false;
  std::string_view rest;
  if (url.starts_with("https://")) {
    tls = true;
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return fail("url '" + std::string(url) + "': must start with http:// or https://");
  }
  const auto slash = rest.find('/');
  auto origin = split_authority(rest.substr(0, slash), tls, "url '" + std::string(url) + "'");
  if (!origin) {
    return fail(origin.error());
  }
  Url out;
  out.origin = std::move(*origin);
  out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  return out;
}

Result<Origin> parse_host_port(std::string_view host_port) {
  if (host_port.find(':') == std::string_view::npos) {
    return fail("'" + std::string(host_port) + "': expected host:port");
  }
  return split_authority(host_port, false, "'" + std::string(host_port) + "'");
}

std::shared_ptr<asio::ssl::context> make_tls_context() {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1);
  context->set_default_verify_paths();
  context->set_verify_mode(asio::ssl::verify_peer);
  return context;
}

// One socket; never reconnects (a closed connection is dropped and a new one made).
class HttpClient::Connection : public std::enable_shared_from_this<Connection> {
 public:
  // reply, whether any response byte arrived, whether the connection can be reused.
  using Callback = std::function<void(Result<HttpReply>, bool, bool)>;

  Connection(asio::any_io_executor executor, const Origin& origin,
             const std::shared_ptr<asio::ssl::context>& tls)
      : m_resolver(executor), m_origin(origin) {
    if (origin.tls) {
      m_tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(executor, *tls);
    } else {
      m_plain = std::make_unique<beast::tcp_stream>(executor);
    }
  }

  void run(const HttpCall& call, std::chrono::milliseconds timeout, std::size_t max_body,
           Callback callback) {
    m_callback = std::move(callback);
    m_timeout = timeout;
    m_request = {};
    m_request.version(11);
    m_request.method(call.post ? http::verb::post : http::verb::get);
    m_request.target(call.target);
    const bool default_port =
        (m_origin.tls && m_origin.port == "443") || (!m_origin.tls && m_origin.port == "80");
    m_request.set(http::field::host,
                  default_port ? m_origin.host : m_origin.host + ":" + m_origin.port);
    m_request.set(http::field::user_agent, "poscollector");
    for (const auto& [name, value] : call.headers) {
      m_request.set(name, value);
    }
    if (call.post) {
      m_request.set(http::field::content_type, call.content_type);
      m_request.body() = call.body;
    }
    m_request.keep_alive(true);
    m_request.prepare_payload();
    m_parser.emplace();
    m_parser->body_limit(max_body);
    if (m_connected) {
      write();
    } else {
      resolve();
    }
  }

  void close() {
    boost::system::error_code ignored;
    lowest().socket().close(ignored);
    m_connected = false;
  }

 private:
  beast::tcp_stream& lowest() { return m_tls ? beast::get_lowest_layer(*m_tls) : *m_plain; }

  void resolve() {
    m_resolver.async_resolve(m_origin.host, m_origin.port,
                             [self = shared_from_this()](boost::system::error_code ec,
                                                         const tcp::resolver::results_type& r) {
                               if (ec) {
                                 return self->failed("resolve", ec, false);
                               }
                               self->lowest().expires_after(self->m_timeout);
                               self->lowest().async_connect(
                                   r, [self](boost::system::error_code ec2, const tcp::endpoint&) {
                                     if (ec2) {
                                       return self->failed("connect", ec2, false);
                                     }
                                     self->lowest().socket().set_option(tcp::no_delay(true), ec2);
                                     if (self->m_tls) {
                                       return self->handshake();
                                     }
                                     self->m_connected = true;
                                     self->write();
                                   });
                             });
  }

  void handshake() {
    if (SSL_set_tlsext_host_name(m_tls->native_handle(), m_origin.host.c_str()) != 1) {
      return failed("tls sni", asio::error::invalid_argument, false);
    }
    m_tls->set_verify_callback(asio::ssl::host_name_verification(m_origin.host));
    lowest().expires_after(m_timeout);
    m_tls->async_handshake(asio::ssl::stream_base::client,
                           [self = shared_from_this()](boost::system::error_code ec) {
                             if (ec) {
                               return self->failed("tls handshake", ec, false);
                             }
                             self->m_connected = true;
                             self->write();
                           });
  }

  void write() {
    lowest().expires_after(m_timeout);
    auto on_write = [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
      if (ec) {
        return self->failed("write", ec, false);
      }
      self->read();
    };
    if (m_tls) {
      http::async_write(*m_tls, m_request, std::move(on_write));
    } else {
      http::async_write(*m_plain, m_request, std::move(on_write));
    }
  }

  void read() {
    lowest().expires_after(m_timeout);
    auto on_read = [self = shared_from_this()](boost::system::error_code ec, std::size_t bytes) {
      if (ec) {
        return self->failed("read", ec, bytes > 0 || self->m_parser->got_some());
      }
      auto response = self->m_parser->release();
      const bool keep_alive = response.keep_alive();
      if (!keep_alive) {
        self->close();
      }
      self->m_request.body().clear();
      auto callback = std::move(self->m_callback);
      callback(HttpReply{response.result_int(), std::move(response.body())}, true, keep_alive);
    };
    if (m_tls) {
      http::async_read(*m_tls, m_buffer, *m_parser, std::move(on_read));
    } else {
      http::async_read(*m_plain, m_buffer, *m_parser, std::move(on_read));
    }
  }

  void failed(std::string_view step, boost::system::error_code ec, bool got_bytes) {
    close();
    std::string message = std::string(step) + " " + m_origin.host + ":" + m_origin.port + ": ";
    message += ec == beast::error::timeout ? std::string("timeout") : ec.message();
    auto callback = std::move(m_callback);
    callback(fail(std::move(message)), got_bytes, false);
  }

  tcp::resolver m_resolver;
  Origin m_origin;
  std::unique_ptr<beast::tcp_stream> m_plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> m_tls;
  bool m_connected = false;
  std::chrono::milliseconds m_timeout{};
  http::request<http::string_body> m_request;
  std::optional<http::response_parser<http::string_body>> m_parser;
  beast::flat_buffer m_buffer;
  Callback m_callback;
};

HttpClient::HttpClient(asio::any_io_executor executor, Origin origin,
                       std::shared_ptr<asio::ssl::context> tls, std::size_t max_connections,
                       std::chrono::milliseconds timeout, std::size_t max_response_bytes)
    : m_executor(std::move(executor)),
      m_origin(std::move(origin)),
      m_tls(std::move(tls)),
      m_max_connections(std::max<std::size_t>(1, max_connections)),
      m_timeout(timeout),
      m_max_response_bytes(max_response_bytes) {}

HttpClient::~HttpClient() = default;

void HttpClient::request(HttpCall call, Done done) {
  if (m_shutdown) {
    asio::post(m_executor, [done = std::move(done)] { done(fail("http client shut down")); });
    return;
  }
  Pending pending{std::move(call), std::move(done)};
  if (!m_idle.empty()) {
    auto connection = std::move(m_idle.back());
    m_idle.pop_back();
    start(connection, std::move(pending), true);
  } else if (m_open < m_max_connections) {
    ++m_open;
    start(std::make_shared<Connection>(m_executor, m_origin, m_tls), std::move(pending), false);
  } else {
    m_waiting.push_back(std::move(pending));
  }
}

void HttpClient::start(const std::shared_ptr<Connection>& connection, Pending pending,
                       bool reused) {
  std::erase_if(m_busy, [](const auto& weak) { return weak.expired(); });
  m_busy.push_back(connection);
  auto shared = std::make_shared<Pending>(std::move(pending));
  connection->run(
      shared->call, m_timeout, m_max_response_bytes,
      [self = shared_from_this(), connection, shared, reused](Result<HttpReply> reply,
                                                              bool got_bytes, bool keep_alive) {
        if (!reply && reused && !got_bytes && !self->m_shutdown) {
          self->start(std::make_shared<Connection>(self->m_executor, self->m_origin, self->m_tls),
                      std::move(*shared), false);
          return;
        }
        if (reply && keep_alive && !self->m_shutdown) {
          self->finished(connection);
        } else {
          connection->close();
          --self->m_open;
          if (!self->m_waiting.empty() && !self->m_shutdown) {
            auto next = std::move(self->m_waiting.front());
            self->m_waiting.pop_front();
            ++self->m_open;
            self->start(std::make_shared<Connection>(self->m_executor, self->m_origin, self->m_tls),
                        std::move(next), false);
          }
        }
        if (!reply && self->m_shutdown) {
          shared->done(fail("cancelled"));
        } else {
          shared->done(std::move(reply));
        }
      });
}

void HttpClient::finished(const std::shared_ptr<Connection>& connection) {
  if (!m_waiting.empty()) {
    auto next = std::move(m_waiting.front());
    m_waiting.pop_front();
    start(connection, std::move(next), true);
  } else {
    m_idle.push_back(connection);
  }
}

void HttpClient::shutdown() {
  if (m_shutdown) {
    return;
  }
  m_shutdown = true;
  for (auto& connection : m_idle) {
    connection->close();
  }
  m_open -= m_idle.size();
  m_idle.clear();
  for (auto& weak : m_busy) {
    if (auto connection = weak.lock()) {
      connection->close();
    }
  }
  m_busy.clear();
  auto waiting = std::move(m_waiting);
  m_waiting.clear();
  for (auto& pending : waiting) {
    asio::post(m_executor, [done = std::move(pending.done)] { done(fail("cancelled")); });
  }
}

}  // namespace pos::collector::detail
