#pragma once
// How long the forwarder waits for ack progress before go-back-N, adapted to the acks it sees
// (the retransmission timer of RFC 6298, on ack intervals instead of round trips).

#include <chrono>

namespace pos::agent {

/// The ack timeout: never below the configured `floor` (the operator's `ack_timeout_ms`), never
/// above `ceiling`. Each sample is how long the forwarder waited for one ack that advanced its
/// mark (measured as its ack timer measures: from the later of the oldest in-flight batch's
/// PUBACK and the previous progress); the timeout follows srtt + max(4 * rttvar, srtt / 4), so
/// a collector that is slow but steady (a fleet-wide drain, where each till's acks come once a
/// round through every till's window) no longer triggers resends of whole windows. Each timeout
/// doubles the value (capped) until the next sample. Not thread-safe (the forwarder's executor).
class AckTimeout {
 public:
  using Duration = std::chrono::milliseconds;

  /// Throws std::invalid_argument unless 0 < floor <= ceiling.
  AckTimeout(Duration floor, Duration ceiling);

  /// The timeout to arm now.
  Duration current() const noexcept { return m_current; }

  /// Records how long an ack that advanced the mark took (negative samples count as 0).
  void on_sample(Duration waited) noexcept;

  /// The timer expired: back off (double, capped at the ceiling) until the next sample.
  void on_timeout() noexcept;

  /// Starts over: the floor, and no samples (the acks now come from elsewhere, e.g. a collector
  /// that took the till over and asked for a resend; the old pace says nothing about it).
  void reset() noexcept;

 private:
  Duration m_floor;
  Duration m_ceiling;
  Duration m_current;
  bool m_have_sample = false;
  double m_srtt_ms = 0;
  double m_rttvar_ms = 0;
};

}  // namespace pos::agent
