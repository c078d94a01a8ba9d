#pragma once
// Deterministic generation of a store's POS events: checkouts (sales and a few returns) with the
// stock movements they cause, deliveries from the warehouse, and occasional stock corrections;
// for WH01 the matching transfer_outs, supplier receipts and corrections. Same seed, same start,
// same model: byte-identical events.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "pos/simulator/catalogue.hpp"
#include "pos/simulator/layout.hpp"
#include "pos/simulator/random.hpp"
#include "pos/simulator/time.hpp"
#include "pos/simulator/traffic_model.hpp"

namespace pos::simulator {

enum class EventKind { sale, return_event, stock_change };

/// One event as the POS sends it.
struct GeneratedEvent {
  UnixMs occurred_at = 0;
  std::size_t store = 0;  ///< index in Layout::stores()
  int till = 0;           ///< till index in the store (0 for T1)
  EventKind kind = EventKind::sale;
  std::string pos_event_id;
  std::string json;  ///< one JSON object, no newline
};

/// A delivery from WH01 to one store.
struct Transfer {
  UnixMs dispatched_at = 0;
  UnixMs arrives_at = 0;
  std::string transfer_id;                                  ///< TR-S07-000012
  std::string store_id;                                     ///< the receiving store
  std::vector<std::pair<std::size_t, std::int64_t>> lines;  ///< SKU index, units
};

/// The deliveries to one store, a pure function of (seed, store, model, start): the store and the
/// warehouse each run their own copy and so agree on every transfer without talking to each other.
/// Not thread-safe.
class TransferSchedule {
 public:
  TransferSchedule(const Catalogue& catalogue, const TrafficModel& model, std::size_t store,
                   const std::string& store_id, std::uint64_t seed, UnixMs start);
  const Transfer& peek() const noexcept { return m_next; }
  void pop();

 private:
  const Catalogue* m_catalogue;
  const TrafficModel* m_model;
  std::size_t m_store;
  std::string m_store_id;
  Rng m_rng;
  double m_clock_ms;
  std::uint64_t m_count = 0;
  Transfer m_next;
};

/// A non-homogeneous Poisson process (thinning) over a store's activity rate times `factor`,
/// skipping closed hours. Not thread-safe.
class ActivityClock {
 public:
  ActivityClock(std::uint64_t seed, UnixMs start, double factor)
      : m_rng(seed), m_clock_ms(static_cast<double>(start)), m_factor(factor) {}
  /// The time of the next event after the previous one.
  UnixMs advance(const TrafficModel& model, std::size_t store);

 private:
  Rng m_rng;
  double m_clock_ms;
  double m_factor;
};

/// All events of one store's tills (or of the warehouse) in time order, generated on demand.
/// Not thread-safe; holds references to layout, catalogue and model, which must outlive it.
class StoreGenerator {
 public:
  StoreGenerator(const Layout& layout, const Catalogue& catalogue, const TrafficModel& model,
                 std::size_t store, std::uint64_t seed, UnixMs start);
  ~StoreGenerator();
  StoreGenerator(StoreGenerator&&) noexcept;
  StoreGenerator& operator=(StoreGenerator&&) noexcept;

  /// The next event (generated if needed). Stays valid until pop().
  const GeneratedEvent& peek();
  /// Removes and returns the next event.
  GeneratedEvent pop();
  std::size_t store() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> m_state;
};

/// The events of a set of tills, in time order across stores (ties: store order). Stores none of
/// whose tills are selected are not simulated; the other tills of a selected store are simulated
/// (they share its stock and customers) but their events are dropped, so a till's events do not
/// depend on which other tills are selected. Not thread-safe.
class FleetGenerator {
 public:
  /// `tills` must be tills of `layout` (empty: all). Throws std::invalid_argument when none of
  /// them is.
  FleetGenerator(const Layout& layout, const Catalogue& catalogue, const TrafficModel& model,
                 std::uint64_t seed, UnixMs start, const std::vector<TillRef>& tills);
  GeneratedEvent next();

 private:
  std::vector<StoreGenerator> m_stores;
  std::vector<std::vector<bool>> m_selected;  // per store index in m_stores, per till
};

}  // namespace pos::simulator
