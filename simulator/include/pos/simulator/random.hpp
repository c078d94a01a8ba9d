#pragma once
// A small, portable pseudo-random generator. The standard distributions are implementation-defined,
// so possim draws everything from this one to keep its output byte-identical across platforms.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pos::simulator {

/// SplitMix64 step: a well-mixed 64-bit value from `x`. Used to derive seeds.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// A seed for one named stream of `seed` ("S07", "S07/transfers"): independent streams stay
/// independent of how many other streams exist or in which order they are used.
constexpr std::uint64_t derive_seed(std::uint64_t seed, std::string_view name) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (const char c : name) {
    h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  }
  return mix64(seed ^ mix64(h));
}

/// xoshiro256** seeded through SplitMix64. Same seed, same sequence on every platform. Not
/// thread-safe.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) noexcept {
    for (auto& s : m_s) {
      seed = mix64(seed);
      s = seed;
    }
  }

  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(m_s[1] * 5, 7) * 9;
    const std::uint64_t t = m_s[1] << 17;
    m_s[2] ^= m_s[0];
    m_s[3] ^= m_s[1];
    m_s[1] ^= m_s[2];
    m_s[0] ^= m_s[3];
    m_s[2] ^= t;
    m_s[3] = rotl(m_s[3], 45);
    return result;
  }

  /// Uniform in [0, n) (n >= 1); the modulo bias is below n / 2^64, negligible for our n.
  std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }

  /// Uniform integer in [lo, hi].
  std::int64_t between(std::int64_t lo, std::int64_t hi) noexcept {
    return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo) + 1));
  }

  /// Uniform in [0, 1).
  double unit() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  /// True with probability p.
  bool chance(double p) noexcept { return unit() < p; }

  /// Exponentially distributed with the given rate (> 0): the gap of a Poisson process.
  double exponential(double rate) noexcept { return -std::log1p(-unit()) / rate; }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
    return (x << k) | (x >> (64 - k));
  }
  std::uint64_t m_s[4]{};
};

/// An index into `weights` (probabilities that sum to 1) drawn with those probabilities; the last
/// index takes whatever rounding leaves.
template <class Weights>
std::size_t pick_weighted(Rng& rng, const Weights& weights) {
  double u = rng.unit();
  for (std::size_t i = 0; i + 1 < weights.size(); ++i) {
    if (u < weights[i]) {
      return i;
    }
    u -= weights[i];
  }
  return weights.size() - 1;
}

}  // namespace pos::simulator
