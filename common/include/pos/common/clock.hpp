#pragma once

#include <chrono>
#include <cstdint>

namespace pos::common {

/// Time source seam: wall clock for timestamps, steady clock for timeouts. Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  /// Milliseconds since the UNIX epoch (wall clock; may jump).
  virtual std::int64_t now_unix_ms() const = 0;
  virtual std::chrono::steady_clock::time_point now_steady() const = 0;
};

/// The system clocks.
class SystemClock final : public Clock {
 public:
  std::int64_t now_unix_ms() const override;
  std::chrono::steady_clock::time_point now_steady() const override;
};

}  // namespace pos::common
