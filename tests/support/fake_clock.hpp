// The one fake of the time seam (pos::common::Clock) for unit tests. Header-only (target
// pos::test_headers).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "pos/common/clock.hpp"

namespace pos::test {

/// A wall clock that moves only when the test moves it, so nothing depends on the real date,
/// local midnight or the machine's time zone. Thread-safe.
class FakeClock final : public common::Clock {
 public:
  /// What now_steady() reports.
  enum class Steady {
    follows_wall,  ///< moves with the fake wall clock (set_unix_ms, advance)
    real,          ///< the real steady clock, for code whose timers run on a real io_context
  };

  /// 2026-11-18T00:53:20Z: a fixed, ordinary day.
  static constexpr std::int64_t default_unix_ms = 1'795'000'000'000;

  explicit FakeClock(std::int64_t unix_ms = default_unix_ms, Steady steady = Steady::follows_wall)
      : m_ms(unix_ms), m_steady(steady) {}

  std::int64_t now_unix_ms() const override { return m_ms.load(); }

  std::chrono::steady_clock::time_point now_steady() const override {
    if (m_steady == Steady::real) {
      return std::chrono::steady_clock::now();
    }
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(m_ms.load()));
  }

  /// Sets the wall clock (it may go backwards, like a real one).
  void set_unix_ms(std::int64_t unix_ms) { m_ms = unix_ms; }

  /// Moves the wall clock (and a following steady clock) forward by `by`.
  void advance(std::chrono::milliseconds by) { m_ms += by.count(); }

 private:
  std::atomic<std::int64_t> m_ms;
  const Steady m_steady;
};

}  // namespace pos::test
