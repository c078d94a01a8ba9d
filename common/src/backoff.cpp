#include "pos/common/backoff.hpp"

#include <algorithm>

namespace pos::common {

ExponentialBackoff::ExponentialBackoff(std::chrono::milliseconds initial,
                                       std::chrono::milliseconds cap, std::uint64_t seed)
    : m_initial(std::max(initial, std::chrono::milliseconds(1))),
      m_cap(std::max(cap, m_initial)),
      m_rng(seed) {}

std::chrono::milliseconds ExponentialBackoff::next_delay() {
  const unsigned shift = std::min(m_attempt, 30U);
  const auto ceiling = std::min<std::int64_t>(m_cap.count(), m_initial.count() << shift);
  if (m_attempt < 64) {
    ++m_attempt;
  }
  std::uniform_int_distribution<std::int64_t> jitter(0, ceiling);
  return std::chrono::milliseconds(jitter(m_rng));
}

}  // namespace pos::common
