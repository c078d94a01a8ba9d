#pragma once
// Private JSON helpers shared by event.cpp and messages.cpp.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "pos/protocol/result.hpp"

namespace pos::protocol::detail {

/// Parses exactly one JSON text of at most `max_bytes` bytes and `max_depth` nesting levels.
/// Doubles are parsed correctly rounded (Boost 1.81's own conversion is not); numbers that overflow
/// a double are rejected. Never throws except std::bad_alloc. Errors start with `what: `.
Result<boost::json::value> parse_json(std::string_view text, std::size_t max_bytes,
                                      std::size_t max_depth, std::string_view what);

/// Appends the canonical form (see to_canonical_json) of `value` to `out`.
void append_canonical(std::string& out, const boost::json::value& value);

/// Appends the canonical form of the union of `base` and `overlay`; a key in both takes the
/// value from `overlay`.
void append_canonical_merged(std::string& out, const boost::json::object& base,
                             const boost::json::object& overlay);

}  // namespace pos::protocol::detail
