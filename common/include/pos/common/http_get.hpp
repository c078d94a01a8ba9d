#pragma once
// A minimal blocking HTTP/1.1 client (Boost.Beast) for the command-line tools' calls to a running
// agent or collector (`posagent status`, `posctl fleet`, `posctl replay`).

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "pos/protocol/result.hpp"

namespace pos::common {

/// Where a base URL points: host (IPv6 without brackets) and port.
struct HttpEndpoint {
  std::string host;
  std::string port;
};

/// Parses a base URL `http://host[:port]` (IPv6 in brackets, trailing slashes allowed, port 80
/// by default). Fails naming the URL for https, a path or a bad host or port.
Result<HttpEndpoint> parse_http_base_url(std::string_view url);

/// One request: method ("GET", "POST", ...), target (path and query), and a body with its type.
struct HttpCall {
  std::string method;
  std::string target;
  std::string content_type;  ///< empty: no Content-Type
  std::string body;
};

/// An answer of any status.
struct HttpAnswer {
  int status = 0;
  std::string body;
};

/// Sends `call` to base_url with one deadline for the whole exchange and returns the answer,
/// whatever its status. Fails naming the URL for a bad base URL, a connection error, a timeout
/// or a body larger than body_limit. Thread-safe (each call has its own io_context).
Result<HttpAnswer> http_call(const std::string& base_url, const HttpCall& call,
                             std::size_t body_limit,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// GETs base_url + target, e.g. ("http://127.0.0.1:8412", "/v1/fleet"), with one deadline for
/// the whole exchange. Returns the body of a 200 answer; fails naming the URL for a bad base URL
/// (as parse_http_base_url), a connection error, a timeout, a non-200 status or a body larger
/// than body_limit. Thread-safe (each call has its own io_context).
Result<std::string> http_get(const std::string& base_url, const std::string& target,
                             std::size_t body_limit,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace pos::common
