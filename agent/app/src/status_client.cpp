#include "pos/agent/status_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace pos::agent {

Result<std::string> fetch_status(const std::string& base_url) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  std::string_view rest(base_url);
  if (!rest.starts_with("http://")) {
    return fail(base_url + ": only http://host:port is supported");
  }
  rest.remove_prefix(7);
  while (rest.ends_with('/')) {
    rest.remove_suffix(1);
  }
  const auto colon = rest.rfind(':');
  const std::string host(rest.substr(0, colon));
  const std::string port(colon == std::string_view::npos ? "80" : rest.substr(colon + 1));

  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  boost::asio::ip::tcp::resolver resolver(io);
  beast::error_code ec;
  const auto endpoints = resolver.resolve(host, port, ec);
  if (ec) {
    return fail(base_url + ": " + ec.message());
  }
  stream.expires_after(std::chrono::seconds(5));
  stream.connect(endpoints, ec);
  if (ec) {
    return fail(base_url + ": " + ec.message());
  }
  http::request<http::empty_body> request(http::verb::get, "/v1/status", 11);
  request.set(http::field::host, host);
  http::write(stream, request, ec);
  if (ec) {
    return fail(base_url + ": " + ec.message());
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1024 * 1024);
  http::read(stream, buffer, parser, ec);
  if (ec) {
    return fail(base_url + ": " + ec.message());
  }
  auto response = parser.release();
  if (response.result() != http::status::ok) {
    return fail(base_url + "/v1/status answered " + std::to_string(response.result_int()));
  }
  return std::move(response.body());
}

}  // namespace pos::agent
