#pragma once
// Private JSON helpers shared by event.cpp and messages.cpp.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pos/protocol/event.hpp"
#include "pos/protocol/result.hpp"

namespace pos::protocol::detail {

/// Parses exactly one JSON text of at most `max_bytes` bytes and `max_depth` nesting levels.
/// Doubles are parsed correctly rounded (Boost 1.81's own conversion is not); numbers that overflow
/// a double are rejected. The value is allocated from `storage` (default: the heap). A key given
/// twice in one object fails the parse (`what: <path>: duplicate key`), unless `duplicates` is
/// given: see parse_json_bounded. Never throws except std::bad_alloc. Errors start with `what: `.
Result<boost::json::value> parse_json(std::string_view text, std::size_t max_bytes,
                                      std::size_t max_depth, std::string_view what,
                                      boost::json::storage_ptr storage = {},
                                      std::vector<DuplicateKey>* duplicates = nullptr);

/// Reads a non-negative integer (stored as uint64 or int64) into `out`; false otherwise.
bool read_uint(const boost::json::value& v, std::uint64_t& out) noexcept;

/// Appends the canonical form (see to_canonical_json) of `value` to `out`.
void append_canonical(std::string& out, const boost::json::value& value);

/// measure_json of an object (the fields of a PosEvent), without wrapping it in a value.
JsonMeasure measure_object(const boost::json::object& object);

/// One top-level member of a merged canonical object: either a JSON value, or a string (`text`,
/// when `value` is null and `slot` is 0), or a slot to be filled later (`slot` > 0: only its
/// position is recorded).
struct MergedMember {
  std::string_view key;
  const boost::json::value* value = nullptr;
  std::string_view text;
  int slot = 0;
};

/// Appends the canonical object of `members` (unique keys; sorted here) to `out`. For each slot
/// member, `slot_offsets[slot - 1]` receives the offset in `out` where `"key":value` belongs; the
/// separating commas are already written.
void append_canonical_members(std::string& out, std::span<MergedMember> members,
                              std::span<std::size_t> slot_offsets);

}  // namespace pos::protocol::detail
