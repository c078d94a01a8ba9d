#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace pos::common {

/// Retry delay seam. Not thread-safe: owned by one strand.
class Backoff {
 public:
  virtual ~Backoff() = default;
  /// The delay before the next attempt; grows with each call until reset().
  virtual std::chrono::milliseconds next_delay() = 0;
  /// Called after a success: the next failure starts from the initial delay again.
  virtual void reset() = 0;
};

/// Exponential backoff with full jitter (AWS architecture blog): the n-th delay is uniform in
/// [0, min(cap, initial * 2^n)], which spreads a fleet's reconnects after a broker restart.
class ExponentialBackoff final : public Backoff {
 public:
  ExponentialBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds cap,
                     std::uint64_t seed = std::random_device{}());
  std::chrono::milliseconds next_delay() override;
  void reset() override { m_attempt = 0; }

 private:
  std::chrono::milliseconds m_initial;
  std::chrono::milliseconds m_cap;
  unsigned m_attempt = 0;
  std::mt19937_64 m_rng;
};

}  // namespace pos::common
