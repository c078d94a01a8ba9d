#pragma once

#include <string>

#include "pos/protocol/result.hpp"

namespace pos::agent {

/// GET {base_url}/v1/status from a running agent (plain HTTP, `http://host:port`), with a 5 s
/// timeout and a 1 MiB answer limit. Returns the body of a 200 answer; fails naming the URL and
/// the reason (refused, timeout, HTTP status).
Result<std::string> fetch_status(const std::string& base_url);

}  // namespace pos::agent
