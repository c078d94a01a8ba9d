#include "pos/fleetemu/ledger.hpp"

#include <algorithm>
#include <bit>
#include <cassert>

namespace pos::fleetemu {

TillLedger::TillLedger(std::size_t window) : m_window(std::max<std::size_t>(window, 1)) {}

std::uint64_t TillLedger::inflight_events() const noexcept {
  return m_next_seq - 1 - m_acked;
}

const InflightBatch& TillLedger::add(std::uint32_t count, std::string message,
                                     Clock::time_point now) {
  assert(!window_full() && count >= 1);
  if (m_inflight.empty()) {
    m_armed_at = now;
  }
  m_inflight.push_back(InflightBatch{m_next_seq, count, std::move(message), now});
  m_next_seq += count;
  return m_inflight.back();
}

bool TillLedger::ack_overdue(Clock::time_point now,
                             std::chrono::milliseconds timeout) const noexcept {
  return !m_inflight.empty() && now - m_armed_at >= timeout;
}

const std::deque<InflightBatch>& TillLedger::rewind(Clock::time_point now) noexcept {
  m_armed_at = now;
  return m_inflight;
}

// Values below sub_buckets microseconds get one bucket each; above, each octave [2^k, 2^(k+1))
// is split into sub_buckets equal parts.
std::size_t LatencyHistogram::bucket_of(std::uint64_t us) noexcept {
  if (us < sub_buckets) {
    return static_cast<std::size_t>(us);
  }
  const auto msb = static_cast<int>(std::bit_width(us)) - 1;  // >= 5
  const int shift = msb - 5;                                  // log2(sub_buckets) = 5
  const auto octave = static_cast<std::size_t>(msb - 4);
  const auto sub = static_cast<std::size_t>((us >> shift) - sub_buckets);
  return std::min(octave * sub_buckets + sub, sub_buckets * octaves - 1);
}

std::uint64_t LatencyHistogram::upper_edge(std::size_t bucket) noexcept {
  if (bucket < sub_buckets) {
    return bucket;
  }
  const std::size_t octave = bucket / sub_buckets;
  const std::size_t sub = bucket % sub_buckets;
  const int shift = static_cast<int>(octave) - 1;
  return ((sub_buckets + sub + 1) << shift) - 1;
}

void LatencyHistogram::record(std::chrono::microseconds value) noexcept {
  const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(value.count(), 0));
  ++m_buckets[bucket_of(us)];
  ++m_count;
  m_max = std::max(m_max, std::chrono::microseconds(static_cast<std::int64_t>(us)));
}

std::chrono::microseconds LatencyHistogram::quantile(double q) const noexcept {
  if (m_count == 0) {
    return std::chrono::microseconds(0);
  }
  const double clamped = std::clamp(q, 0.0, 1.0);
  auto rank = static_cast<std::uint64_t>(clamped * static_cast<double>(m_count));
  rank = std::clamp<std::uint64_t>(rank, 1, m_count);
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < m_buckets.size(); ++b) {
    seen += m_buckets[b];
    if (seen >= rank) {
      const auto edge = static_cast<std::int64_t>(upper_edge(b));
      return std::min(std::chrono::microseconds(edge), m_max);
    }
  }
  return m_max;
}

}  // namespace pos::fleetemu
