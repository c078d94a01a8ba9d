#pragma once
// A deterministic, realistic Fastyle event mix for benchmarks and fuzz seeds: sales, returns and
// stock changes over six categories, IDR prices, 1-5 lines, new/returning/guest customers.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace pos::bench {

/// Generates POS events as JSON text. Same seed, same sequence. Not thread-safe.
class EventMix {
 public:
  explicit EventMix(std::uint64_t seed) : m_rng(seed) {}

  /// The next event as the POS sends it (SPEC "POS events"), one JSON object without a newline.
  std::string next_event();

 private:
  std::uint64_t pick(std::uint64_t n) { return m_rng() % n; }
  std::mt19937_64 m_rng;
  std::uint64_t m_receipt = 0;
};

/// `n` batch payload lines: events from EventMix(seed), validated and stamped for store S07, till
/// T1, the given epoch and seqs from `first_seq`. Throws std::runtime_error if validation fails.
std::vector<std::string> make_payload_lines(std::size_t n, std::uint64_t seed,
                                            std::uint64_t epoch = 0x5eed5eed5eed5eedULL,
                                            std::uint64_t first_seq = 1);

}  // namespace pos::bench
