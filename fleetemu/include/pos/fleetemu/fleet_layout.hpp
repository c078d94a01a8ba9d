#pragma once
// Names of the emulated tills and the pacing of their events: pure functions, unit-tested.

#include <chrono>
#include <cstdint>
#include <string>

namespace pos::fleetemu {

struct TillName {
  std::string store_id;
  std::string till_id;
};

/// Till `index` (0-based) of a fleet with `tills_per_store` tills per store: S001/T1, S001/T2, ...,
/// S002/T1, ... (the store number has at least 3 digits).
TillName till_name(std::uint32_t index, std::uint32_t tills_per_store);

/// The base name of a till's certificate files in a --pki-dir: `{till_key}` (protocol::till_key),
/// plus ".crt" and ".key".
std::string till_file_stem(const TillName& name);

/// A till's event schedule: `rate` events/s from `start` plus a per-till phase (so that a fleet
/// does not offer its events in lockstep). events_due() is monotonic and exact: after t seconds,
/// floor(rate * t + phase) events are due. Cheap to copy.
class Pacer {
 public:
  using Clock = std::chrono::steady_clock;
  /// `phase` in [0, 1): the fraction of an event already due at start.
  Pacer(double rate, Clock::time_point start, double phase);
  /// Events due at `now` since start (0 before start).
  std::uint64_t events_due(Clock::time_point now) const;

 private:
  double m_rate;
  Clock::time_point m_start;
  double m_phase;
};

}  // namespace pos::fleetemu
