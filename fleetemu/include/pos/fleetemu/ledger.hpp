#pragma once
// Per-till bookkeeping of sent batches and the collector's acks (SPEC "MQTT": cumulative acks per
// epoch, go-back-N on ack timeout or on an ack with the resend flag), and a latency histogram.
// Pure: no I/O, time passed in. Not thread-safe.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

namespace pos::fleetemu {

using Clock = std::chrono::steady_clock;

/// A batch sent and not yet acknowledged: its seqs and its encoded message (for resends).
struct InflightBatch {
  std::uint64_t first_seq = 0;
  std::uint32_t count = 0;
  std::string message;
  Clock::time_point first_sent;
  std::uint64_t last_seq() const noexcept { return first_seq + count - 1; }
};

/// What an ack did.
struct AckOutcome {
  bool applied = false;     ///< it advanced the acked mark
  bool ignored = false;     ///< beyond what was sent (a bad or stale ack)
  bool resend_now = false;  ///< the resend flag: go back to acked + 1 now
  std::uint64_t events_acked = 0;
  std::uint64_t batches_acked = 0;
};

/// The in-flight window of one till. Memory: the window's encoded batches plus a few words.
class TillLedger {
 public:
  /// `window` >= 1: batches in flight at most.
  explicit TillLedger(std::size_t window);

  bool window_full() const noexcept { return m_inflight.size() >= m_window; }
  bool empty() const noexcept { return m_inflight.empty(); }
  std::size_t inflight_batches() const noexcept { return m_inflight.size(); }
  std::uint64_t inflight_events() const noexcept;
  /// The seq the next batch starts at (1 for a fresh till).
  std::uint64_t next_seq() const noexcept { return m_next_seq; }
  std::uint64_t acked_through() const noexcept { return m_acked; }

  /// Records a batch of seqs [next_seq(), next_seq() + count) sent at `now`. Precondition:
  /// !window_full(), count >= 1. Arms the ack deadline when it is the only batch in flight.
  const InflightBatch& add(std::uint32_t count, std::string message, Clock::time_point now);

  /// Applies an ack `through_seq` (of our epoch; the caller checks the epoch). An ack at or below
  /// the mark changes nothing (but its resend flag still asks for a resend when batches are in
  /// flight); one beyond the highest seq sent is ignored. Calls `on_batch_acked(batch)` for each
  /// batch fully acknowledged, oldest first, before dropping it. Ack progress re-arms the deadline.
  template <class F>
  AckOutcome on_ack(std::uint64_t through_seq, bool resend, Clock::time_point now,
                    F&& on_batch_acked);

  /// True when batches are in flight and nothing was acked for `timeout` since the deadline was
  /// armed (first send, last progress or last resend).
  bool ack_overdue(Clock::time_point now, std::chrono::milliseconds timeout) const noexcept;

  /// Go-back-N: every batch in flight is to be sent again; re-arms the deadline at `now`.
  /// Returns the batches, oldest first (valid until the next add/on_ack).
  const std::deque<InflightBatch>& rewind(Clock::time_point now) noexcept;

 private:
  std::size_t m_window;
  std::uint64_t m_next_seq = 1;
  std::uint64_t m_acked = 0;
  Clock::time_point m_armed_at;
  std::deque<InflightBatch> m_inflight;
};

template <class F>
AckOutcome TillLedger::on_ack(std::uint64_t through_seq, bool resend, Clock::time_point now,
                              F&& on_batch_acked) {
  AckOutcome out;
  if (through_seq >= m_next_seq) {
    out.ignored = true;
    return out;
  }
  if (through_seq > m_acked) {
    out.applied = true;
    out.events_acked = through_seq - m_acked;
    m_acked = through_seq;
    m_armed_at = now;
    while (!m_inflight.empty() && m_inflight.front().last_seq() <= through_seq) {
      on_batch_acked(m_inflight.front());
      m_inflight.pop_front();
      ++out.batches_acked;
    }
  }
  out.resend_now = resend && !m_inflight.empty();
  return out;
}

/// A log-linear histogram of durations (microseconds, 1 us .. ~2^40 us), about 3% precision.
/// 64 bytes per octave x 32 sub-buckets: fixed size, no allocation after construction.
class LatencyHistogram {
 public:
  void record(std::chrono::microseconds value) noexcept;
  std::uint64_t count() const noexcept { return m_count; }
  /// The value at quantile q in [0, 1] (upper edge of its bucket); 0 when empty.
  std::chrono::microseconds quantile(double q) const noexcept;
  std::chrono::microseconds max() const noexcept { return m_max; }

 private:
  static constexpr std::size_t sub_buckets = 32;
  static constexpr std::size_t octaves = 41;
  static std::size_t bucket_of(std::uint64_t us) noexcept;
  static std::uint64_t upper_edge(std::size_t bucket) noexcept;
  std::array<std::uint64_t, sub_buckets * octaves> m_buckets{};
  std::uint64_t m_count = 0;
  std::chrono::microseconds m_max{0};
};

}  // namespace pos::fleetemu
