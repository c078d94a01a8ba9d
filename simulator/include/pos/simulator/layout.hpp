#pragma once
// The simulated Fastyle fleet: 20 stores S01..S20 with 1-4 tills each and the warehouse WH01 with
// one "till" T1. Till counts, store sizes and day profiles come from the layout seed, so the fleet
// stays the same while the traffic seed changes.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pos/protocol/result.hpp"

namespace pos::simulator {

enum class StoreSize { small, medium, large };

/// "small", "medium" or "large".
std::string_view to_string(StoreSize size) noexcept;

/// One store (or the warehouse) of the fleet.
struct StoreLayout {
  std::string store_id;  ///< S01..S20, WH01
  bool warehouse = false;
  StoreSize size = StoreSize::medium;
  int tills = 1;                  ///< T1..T<tills>
  double checkouts_per_hour = 0;  ///< at an average moment of the day (day shape 1.0)
  double lunch_peak = 0;          ///< height of the lunch peak over the base level
  double evening_peak = 0;        ///< height of the evening peak over the base level
};

/// One till of the fleet.
struct TillRef {
  std::string store_id;
  std::string till_id;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>.
  friend auto operator<=>(const TillRef&, const TillRef&) = default;
};

/// Parses "S07/T1" (the form of --till). Fails naming `what` when it is not STORE/TILL.
Result<TillRef> parse_till_ref(std::string_view text, std::string_view what);

/// The fleet for one layout seed. Immutable; safe to share between threads.
class Layout {
 public:
  /// Builds the fleet of `layout_seed`: 20 stores in order, then WH01.
  explicit Layout(std::uint64_t layout_seed);

  const std::vector<StoreLayout>& stores() const noexcept { return m_stores; }

  /// Index of `store_id` in stores(), or nullopt.
  std::optional<std::size_t> store_index(std::string_view store_id) const noexcept;

  /// Till index (0 for T1) of `till` in the store, or nullopt when the fleet has no such till.
  std::optional<int> till_index(const TillRef& till) const noexcept;

  /// Every till, stores in order: S01 T1, S01 T2, ..., WH01 T1.
  std::vector<TillRef> tills() const;

 private:
  std::vector<StoreLayout> m_stores;
};

/// "T1" for index 0.
std::string till_id(int index);

}  // namespace pos::simulator
