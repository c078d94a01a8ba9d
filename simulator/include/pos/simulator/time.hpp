#pragma once
// Simulated time: UNIX milliseconds, shown in the stores' fixed local offset (+07:00, WIB).

#include <cstdint>
#include <string>
#include <string_view>

#include "pos/protocol/result.hpp"

namespace pos::simulator {

/// Milliseconds since the UNIX epoch.
using UnixMs = std::int64_t;

inline constexpr std::int64_t k_ms_per_day = 86'400'000;
inline constexpr std::int64_t k_ms_per_hour = 3'600'000;
/// Every Fastyle store and the warehouse are in WIB (UTC+07:00, no daylight saving).
inline constexpr std::int64_t k_local_offset_ms = 7 * k_ms_per_hour;

/// Appends `t` as RFC 3339 local time with milliseconds: 2026-11-22T10:15:03.120+07:00.
void append_local_time(std::string& out, UnixMs t);

/// `t` formatted by append_local_time.
std::string format_local_time(UnixMs t);

/// Milliseconds since local midnight, in [0, k_ms_per_day).
std::int64_t local_ms_of_day(UnixMs t) noexcept;

/// The instant of local midnight at or before `t`.
UnixMs local_midnight(UnixMs t) noexcept;

/// Parses an RFC 3339 date-time with `Z` or a `±hh:mm` offset and optional fraction
/// (2026-11-22T10:00:00+07:00). Fails with `<what>: must be an RFC 3339 date-time ...`.
Result<UnixMs> parse_rfc3339(std::string_view text, std::string_view what);

/// Parses a local date YYYY-MM-DD and returns its local midnight (+07:00). Fails with
/// `<what>: must be a date YYYY-MM-DD`.
Result<UnixMs> parse_local_day(std::string_view text, std::string_view what);

}  // namespace pos::simulator
