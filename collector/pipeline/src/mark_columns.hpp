#pragma once

// Private to the pipeline: how a mark's unsigned fields are stored in signed 64-bit columns
// (SQLite INTEGER, PostgreSQL BIGINT). One definition for both backends.

#include <bit>
#include <cstdint>

namespace pos::collector::mark_columns {

/// The bit pattern of `value` as a signed column value; round-trips through from_db.
inline std::int64_t to_db(std::uint64_t value) {
  return std::bit_cast<std::int64_t>(value);
}

/// Inverse of to_db.
inline std::uint64_t from_db(std::int64_t value) {
  return std::bit_cast<std::uint64_t>(value);
}

}  // namespace pos::collector::mark_columns
