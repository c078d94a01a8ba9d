#pragma once
// The query string of a request target (`/v1/fleet?store=S07&limit=10`), as the HTTP API's
// routes read it: one parser, so that every route decodes and bounds parameters alike.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "pos/protocol/result.hpp"

namespace pos::common {

/// One `name=value` of a query, both percent-decoded ('+' is a space). A part without '=' has an
/// empty value.
struct QueryParameter {
  std::string name;
  std::string value;
};

/// The most parameters parse_query accepts.
inline constexpr std::size_t max_query_parameters = 64;

/// The text after the first '?' of `target`; empty when there is none.
std::string_view query_of(std::string_view target) noexcept;

/// The parameters of `query` (as query_of returns it), in order; empty parts are skipped. Fails
/// naming the parameter for a bad percent-escape (`store: bad percent-encoding`), or when there
/// are more than max_query_parameters. Never throws except std::bad_alloc.
Result<std::vector<QueryParameter>> parse_query(std::string_view query);

}  // namespace pos::common
