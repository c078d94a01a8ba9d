#include "pos/common/http_get.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <string_view>

namespace pos::common {

Result<HttpEndpoint> parse_http_base_url(std::string_view url) {
  const std::string text(url);
  std::string_view rest(url);
  if (!rest.starts_with("http://")) {
    return fail(text + ": must be http://host[:port] (https is not supported)");
  }
  rest.remove_prefix(7);
  while (rest.ends_with('/')) {
    rest.remove_suffix(1);
  }
  if (rest.find('/') != std::string_view::npos) {
    return fail(text + ": give the base URL only (http://host:port)");
  }
  HttpEndpoint e;
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) {
      return fail(text + ": unbalanced '['");
    }
    e.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) {
      return fail(text + ": bad port");
    }
    e.port = rest.empty() ? "80" : std::string(rest.substr(1));
  } else {
    const auto colon = rest.rfind(':');
    e.host = std::string(rest.substr(0, colon));
    e.port = colon == std::string_view::npos ? "80" : std::string(rest.substr(colon + 1));
  }
  if (e.host.empty() || e.port.empty() ||
      e.port.find_first_not_of("0123456789") != std::string::npos) {
    return fail(text + ": expected http://host[:port]");
  }
  return e;
}

Result<HttpAnswer> http_call(const std::string& base_url, const HttpCall& call,
                             std::size_t body_limit, std::chrono::milliseconds timeout) {
  const std::string& target = call.target;
  namespace beast = boost::beast;
  namespace http = beast::http;
  auto endpoint = parse_http_base_url(base_url);
  if (!endpoint) {
    return fail(endpoint.error());
  }
  const std::string where = base_url + target;

  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  http::request<http::string_body> request(http::string_to_verb(call.method), target, 11);
  if (request.method() == http::verb::unknown) {
    return fail("HTTP method " + call.method + ": unknown");
  }
  request.set(http::field::host, endpoint->host);
  request.set(http::field::accept, "application/json");
  if (!call.content_type.empty()) {
    request.set(http::field::content_type, call.content_type);
  }
  request.body() = call.body;
  request.prepare_payload();
  http::response_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  beast::error_code result;
  std::string step = "resolve";

  // One deadline for the whole exchange: the stream's timer covers connect, write and read.
  resolver.async_resolve(
      endpoint->host, endpoint->port,
      [&](beast::error_code ec, const boost::asio::ip::tcp::resolver::results_type& results) {
        if (ec) {
          result = ec;
          return;
        }
        step = "connect";
        stream.expires_after(timeout);
        stream.async_connect(results, [&](beast::error_code ec2, const auto&) {
          if (ec2) {
            result = ec2;
            return;
          }
          step = "send";
          http::async_write(stream, request, [&](beast::error_code ec3, std::size_t) {
            if (ec3) {
              result = ec3;
              return;
            }
            step = "read";
            http::async_read(stream, buffer, parser,
                             [&](beast::error_code ec4, std::size_t) { result = ec4; });
          });
        });
      });
  io.run_for(timeout + std::chrono::seconds(1));
  if (!io.stopped()) {
    return fail(where + ": timed out (" + step + ")");
  }
  if (result == beast::error::timeout) {
    return fail(where + ": timed out (" + step + ")");
  }
  if (result == http::error::body_limit) {
    return fail(where + ": answer larger than " + std::to_string(body_limit) + " bytes");
  }
  if (result) {
    return fail(where + ": " + step + ": " + result.message());
  }
  auto response = parser.release();
  return HttpAnswer{static_cast<int>(response.result_int()), std::move(response.body())};
}

Result<std::string> http_get(const std::string& base_url, const std::string& target,
                             std::size_t body_limit, std::chrono::milliseconds timeout) {
  auto answer = http_call(base_url, HttpCall{"GET", target, {}, {}}, body_limit, timeout);
  if (!answer) {
    return fail(answer.error());
  }
  if (answer->status != 200) {
    return fail(base_url + target + " answered HTTP " + std::to_string(answer->status));
  }
  return std::move(answer->body);
}

}  // namespace pos::common
