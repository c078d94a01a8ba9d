#pragma once
// Optional upload rate cap for the forwarder: a token bucket in bytes, active only inside daily
// schedule windows (local time), so that a backlog drain never saturates the shop uplink.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pos/protocol/result.hpp"

namespace pos::agent {

/// A daily window [start, end) in minutes after local midnight; end <= start wraps past midnight
/// (start == end covers the whole day).
struct DailyWindow {
  int start_minute = 0;  ///< 0..1439
  int end_minute = 0;    ///< 0..1440
  bool contains(int minute_of_day) const noexcept;
  friend bool operator==(const DailyWindow&, const DailyWindow&) = default;
};

/// Parses "HH:MM-HH:MM" (24-hour clock; "24:00" allowed as the end only). The error says what is
/// wrong, e.g. `hour must be 00-23`.
Result<DailyWindow> parse_daily_window(std::string_view text);

/// Parses a list of windows; an error names the entry: `schedule[1] "25:00-10:00": ...`.
Result<std::vector<DailyWindow>> parse_schedule(std::span<const std::string> entries);

/// Minutes after local midnight (system time zone) for a UNIX time in milliseconds.
int local_minute_of_day(std::int64_t unix_ms);

struct UploadLimiterOptions {
  std::uint64_t rate_kbit_s = 0;      ///< 0: unlimited
  std::vector<DailyWindow> schedule;  ///< empty: the cap applies all day
  std::size_t min_burst_bytes = 0;    ///< e.g. one maximum batch, so a batch always fits
};

/// Token bucket in bytes. Capacity is max(1 s at the rate, min_burst_bytes); the bucket starts full
/// and refills while the cap is not active. Pure logic: times are passed in. Not thread-safe.
class UploadLimiter {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit UploadLimiter(UploadLimiterOptions options);

  /// Takes new settings (a configuration reload): the rate, schedule and capacity change at once;
  /// the balance is kept, cut to the new capacity.
  void reconfigure(UploadLimiterOptions options);

  /// True when a rate is set.
  bool enabled() const noexcept { return m_bytes_per_s > 0; }
  /// The rate in kbit/s (0: no cap).
  std::uint64_t rate_kbit_s() const noexcept { return m_rate_kbit_s; }
  /// True when the cap applies at this local minute of the day.
  bool active_at(int minute_of_day) const noexcept;
  std::size_t capacity_bytes() const noexcept { return m_capacity; }

  /// How long to wait before sending `bytes`. Zero means "send now" and charges the bytes (a
  /// message larger than the capacity may take the balance below zero); otherwise nothing is
  /// charged and the caller asks again after the delay.
  std::chrono::milliseconds delay_for(std::size_t bytes, TimePoint now, int minute_of_day);

 private:
  void refill(TimePoint now);

  std::uint64_t m_rate_kbit_s = 0;
  double m_bytes_per_s = 0;
  std::vector<DailyWindow> m_schedule;
  std::size_t m_capacity = 0;
  double m_tokens = 0;
  TimePoint m_last{};
  bool m_started = false;
};

}  // namespace pos::agent
