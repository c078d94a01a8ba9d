#pragma once
// A minimal blocking HTTP/1.1 GET (Boost.Beast) for posctl's read-only calls to the collector.

#include <chrono>
#include <cstddef>
#include <string>

#include "pos/protocol/result.hpp"

namespace pos::ctl {

/// GETs base_url + target, e.g. ("http://127.0.0.1:8412", "/v1/fleet"). Only plain http:// with
/// host[:port] (IPv6 in brackets) is supported. Returns the body of a 200 answer; fails naming
/// the URL for a bad URL, a connection error, a timeout (for the whole exchange), a non-200
/// status or a body larger than body_limit.
Result<std::string> http_get(const std::string& base_url, const std::string& target,
                             std::size_t body_limit,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace pos::ctl
