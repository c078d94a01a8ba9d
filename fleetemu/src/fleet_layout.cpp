#include "pos/fleetemu/fleet_layout.hpp"

#include <cmath>

#include "pos/protocol/ids.hpp"

namespace pos::fleetemu {

TillName till_name(std::uint32_t index, std::uint32_t tills_per_store) {
  const std::uint32_t per_store = tills_per_store == 0 ? 1 : tills_per_store;
  std::string store = std::to_string(index / per_store + 1);
  if (store.size() < 3) {
    store.insert(0, 3 - store.size(), '0');
  }
  return {"S" + store, "T" + std::to_string(index % per_store + 1)};
}

std::string till_file_stem(const TillName& name) {
  return protocol::till_key(name.store_id, name.till_id);
}

Pacer::Pacer(double rate, Clock::time_point start, double phase)
    : m_rate(rate), m_start(start), m_phase(phase) {}

std::uint64_t Pacer::events_due(Clock::time_point now) const {
  if (now <= m_start) {
    return 0;
  }
  const double seconds = std::chrono::duration<double>(now - m_start).count();
  return static_cast<std::uint64_t>(std::floor(m_rate * seconds + m_phase));
}

}  // namespace pos::fleetemu
