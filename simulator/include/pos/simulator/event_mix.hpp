#pragma once
// Context-free POS events for load generators and benchmarks (posfleet, the benchmarks, the fuzz
// seeds): sales, returns and stock changes drawn from possim's catalogue and payment mix, without
// the stores, opening hours, customers and stock levels that StoreGenerator models. Cheap: one
// event is a few random draws and one string.

#include <cstdint>
#include <string>

#include "pos/simulator/catalogue.hpp"
#include "pos/simulator/random.hpp"

namespace pos::simulator {

/// Generates POS event JSON (SPEC "POS events"): 80 % sales, 8 % returns, 12 % stock changes;
/// SKUs, prices and costs from Catalogue(catalogue_seed); 1-6 lines with possim's line-count and
/// payment weights. Same seeds, same sequence on every platform. Not thread-safe.
class EventMix {
 public:
  explicit EventMix(std::uint64_t seed, std::uint64_t catalogue_seed = 1);

  /// The next event as the POS sends it: one JSON object, no newline. Its pos_event_id
  /// ("RC-<n>" for receipts, "MV-<n>" for stock changes) is unique within this mix.
  std::string next_event();

 private:
  Catalogue m_catalogue;
  Rng m_rng;
  std::uint64_t m_receipt = 0;
};

}  // namespace pos::simulator
