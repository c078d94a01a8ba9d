#pragma once
// Typed reads of one member of a Boost.JSON object, for the collector's readers of published
// events and snapshots.

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pos::collector::detail {

/// The member `key` when it is a string (a view into `o`); nullopt when absent or not a string.
inline std::optional<std::string_view> string_member(const boost::json::object& o,
                                                     std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) {
    return std::nullopt;
  }
  return std::string_view(v->get_string());
}

/// The member `key` when it is a signed integer; nullopt when absent or of another type.
inline std::optional<std::int64_t> int64_member(const boost::json::object& o,
                                                std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_int64()) {
    return std::nullopt;
  }
  return v->get_int64();
}

}  // namespace pos::collector::detail
