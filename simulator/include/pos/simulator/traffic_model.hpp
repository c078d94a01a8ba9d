#pragma once
// How busy each store is at each moment: opening hours 10:00-22:00 local time, a day shape with a
// lunch and an evening peak (its height differs per store), store size, and a scale that turns the
// model's natural rates into the rate the user asked for.

#include <array>
#include <cstddef>
#include <string_view>
#include <vector>

#include "pos/simulator/layout.hpp"
#include "pos/simulator/time.hpp"

namespace pos::simulator {

/// Shape constants shared by the model and the generator (the rate normalization depends on them).
struct MixConstants {
  /// Probability of 1, 2, ... lines in a sale.
  static constexpr std::array<double, 6> line_count_weights = {0.45, 0.28, 0.14, 0.07, 0.04, 0.02};
  static constexpr double return_share = 0.03;            ///< of checkouts
  static constexpr double transfers_per_checkout = 0.05;  ///< warehouse deliveries to a store
  static constexpr int min_transfer_lines = 3;
  static constexpr int max_transfer_lines = 8;
  static constexpr double misc_per_checkout = 0.01;  ///< adjustments, damage, counts at a store
  static constexpr double warehouse_receipts_per_hour = 1.5;
  static constexpr double warehouse_misc_per_hour = 2.0;
  static constexpr std::int64_t opening_ms = 10 * k_ms_per_hour;
  static constexpr std::int64_t closing_ms = 22 * k_ms_per_hour;
  static constexpr std::int64_t natural_transfer_delay_ms = 90 * 60'000;
  /// How checkouts are paid, and the share of each method.
  static constexpr std::array<std::string_view, 6> payment_methods = {
      "card", "qris", "cash", "ewallet", "voucher", "other"};
  static constexpr std::array<double, 6> payment_weights = {0.30, 0.30, 0.20, 0.15, 0.03, 0.02};

  /// Expected lines per sale.
  static constexpr double mean_lines() {
    double sum = 0;
    for (std::size_t i = 0; i < line_count_weights.size(); ++i) {
      sum += static_cast<double>(i + 1) * line_count_weights[i];
    }
    return sum;
  }
};

/// Rates of the generator's Poisson processes as a function of simulated time. Immutable; safe to
/// share between threads.
class TrafficModel {
 public:
  /// The model's own rates (a realistic day: a few events per second for the whole fleet). Stores
  /// are closed outside opening hours. For `possim generate`.
  static TrafficModel natural(const Layout& layout);

  /// Rates scaled so that `tills` together get `events_per_s` on average over the opening hours,
  /// peaks above, quiet hours below; closed at night. For `--replay-day` (events_per_s is the
  /// simulated rate: the real rate divided by the speed).
  static TrafficModel scaled(const Layout& layout, const std::vector<TillRef>& tills,
                             double events_per_s);

  /// Live traffic on the wall clock: `tills` together get `events_per_s` at every moment; the day
  /// shape and store sizes only split it. Outside opening hours the shops trade as in their
  /// quietest open hour, so that a test run at night still gets traffic.
  static TrafficModel live(const Layout& layout, const std::vector<TillRef>& tills,
                           double events_per_s);

  /// True when stores trade at `t` (always in live mode).
  bool is_open(UnixMs t) const noexcept;
  /// The next opening at or after `t` (t itself when open).
  UnixMs next_open(UnixMs t) const noexcept;

  /// The store's day shape at `t`: mean 1.0 over the opening hours, 0 when closed.
  double shape(std::size_t store, UnixMs t) const noexcept;

  /// Checkouts per simulated second at store `store` at time `t`; for the warehouse, its own
  /// operations (supplier receipts and stock corrections) per second.
  double activity_rate(std::size_t store, UnixMs t) const noexcept;
  /// An upper bound of activity_rate over all t (for thinning).
  double activity_rate_bound(std::size_t store) const noexcept { return m_bound[store]; }

  /// Time between a warehouse transfer_out and the store's transfer_in.
  std::int64_t transfer_delay_ms() const noexcept { return m_transfer_delay_ms; }

  /// Expected events per simulated second of `tills` at day shape 1.0 with the model's natural
  /// rates (scale 1).
  static double natural_events_per_s(const Layout& layout, const std::vector<TillRef>& tills);

 private:
  explicit TrafficModel(const Layout& layout, bool live);
  double scale_at(UnixMs t) const noexcept;

  static constexpr std::size_t k_minutes = 1440;
  std::vector<double> m_base_per_s;                    // per store: activity at shape 1, scale 1
  std::vector<std::array<double, k_minutes>> m_shape;  // per store, per local minute
  std::array<double, k_minutes> m_scale{};             // per local minute
  std::vector<double> m_bound;
  std::int64_t m_transfer_delay_ms = MixConstants::natural_transfer_delay_ms;
  bool m_live = false;
};

}  // namespace pos::simulator
