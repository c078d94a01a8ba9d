#include "pos/simulator/traffic_model.hpp"

#include <algorithm>
#include <cmath>

namespace pos::simulator {

namespace {

constexpr std::int64_t k_open_minute = MixConstants::opening_ms / 60'000;
constexpr std::int64_t k_close_minute = MixConstants::closing_ms / 60'000;

// Unnormalized day shape at local hour `h` (10.0 to 22.0): a base level, a lunch peak around
// 12:45, an after-work peak around 19:15 and a slow first hour.
double raw_shape(const StoreLayout& store, double h) {
  const auto bump = [](double x, double centre, double width) {
    const double z = (x - centre) / width;
    return std::exp(-0.5 * z * z);
  };
  const double ramp = h < 11.0 ? 0.5 + 0.5 * (h - 10.0) : 1.0;
  return ramp *
         (0.45 + store.lunch_peak * bump(h, 12.75, 0.7) + store.evening_peak * bump(h, 19.25, 1.0));
}

double per_till_events_per_s(const StoreLayout& store, int till, double shape) {
  if (store.warehouse) {
    return 0;  // added separately: it depends on every store
  }
  const double checkouts = store.checkouts_per_hour / 3600.0 * shape;
  double events = checkouts / store.tills * (1.0 + MixConstants::mean_lines());
  if (till == 0) {
    const double transfer_lines =
        (MixConstants::min_transfer_lines + MixConstants::max_transfer_lines) / 2.0;
    events += checkouts * (MixConstants::transfers_per_checkout * transfer_lines +
                           MixConstants::misc_per_checkout);
  }
  return events;
}

double warehouse_events_per_s(const Layout& layout, const std::vector<double>& shapes) {
  const double transfer_lines =
      (MixConstants::min_transfer_lines + MixConstants::max_transfer_lines) / 2.0;
  double events =
      (MixConstants::warehouse_receipts_per_hour * 8 + MixConstants::warehouse_misc_per_hour) /
      3600.0;
  for (std::size_t s = 0; s < layout.stores().size(); ++s) {
    const auto& store = layout.stores()[s];
    if (!store.warehouse) {
      // Transfer outs, plus the supplier receipts that refill what they took.
      events += store.checkouts_per_hour / 3600.0 * shapes[s] *
                MixConstants::transfers_per_checkout * transfer_lines * 1.1;
    }
  }
  return events;
}

double expected_events_per_s(const Layout& layout, const std::vector<TillRef>& tills,
                             const std::vector<double>& shapes) {
  double total = 0;
  for (const auto& till : tills) {
    const auto s = layout.store_index(till.store_id);
    const auto t = layout.till_index(till);
    if (!s || !t) {
      continue;
    }
    const auto& store = layout.stores()[*s];
    total += store.warehouse ? warehouse_events_per_s(layout, shapes)
                             : per_till_events_per_s(store, *t, shapes[*s]);
  }
  return total;
}

}  // namespace

TrafficModel::TrafficModel(const Layout& layout, bool live) : m_live(live) {
  const auto& stores = layout.stores();
  m_shape.resize(stores.size());
  for (std::size_t s = 0; s < stores.size(); ++s) {
    const auto& store = stores[s];
    m_base_per_s.push_back(store.warehouse ? (MixConstants::warehouse_receipts_per_hour +
                                              MixConstants::warehouse_misc_per_hour) /
                                                 3600.0
                                           : store.checkouts_per_hour / 3600.0);
    double sum = 0;
    for (std::int64_t m = k_open_minute; m < k_close_minute; ++m) {
      sum += raw_shape(store, (static_cast<double>(m) + 0.5) / 60.0);
    }
    const double mean = sum / static_cast<double>(k_close_minute - k_open_minute);
    double quietest = 1e9;
    auto& shape = m_shape[s];
    for (std::int64_t m = 0; m < static_cast<std::int64_t>(k_minutes); ++m) {
      const bool open = m >= k_open_minute && m < k_close_minute;
      double v = 0;
      if (open) {
        v = store.warehouse ? 1.0 : raw_shape(store, (static_cast<double>(m) + 0.5) / 60.0) / mean;
        quietest = std::min(quietest, v);
      }
      shape[static_cast<std::size_t>(m)] = v;
    }
    if (live) {
      for (std::int64_t m = 0; m < static_cast<std::int64_t>(k_minutes); ++m) {
        if (m < k_open_minute || m >= k_close_minute) {
          shape[static_cast<std::size_t>(m)] = quietest;
        }
      }
    }
  }
  m_scale.fill(1.0);
}

TrafficModel TrafficModel::natural(const Layout& layout) {
  TrafficModel model(layout, false);
  for (std::size_t s = 0; s < layout.stores().size(); ++s) {
    const auto& shape = model.m_shape[s];
    model.m_bound.push_back(model.m_base_per_s[s] * *std::max_element(shape.begin(), shape.end()));
  }
  return model;
}

double TrafficModel::natural_events_per_s(const Layout& layout, const std::vector<TillRef>& tills) {
  return expected_events_per_s(layout, tills, std::vector<double>(layout.stores().size(), 1.0));
}

TrafficModel TrafficModel::scaled(const Layout& layout, const std::vector<TillRef>& tills,
                                  double events_per_s) {
  TrafficModel model = natural(layout);
  const double natural_rate = natural_events_per_s(layout, tills);
  const double k = natural_rate > 0 ? events_per_s / natural_rate : 1.0;
  model.m_scale.fill(k);
  for (auto& bound : model.m_bound) {
    bound *= k;
  }
  model.m_transfer_delay_ms = std::max<std::int64_t>(
      1000,
      static_cast<std::int64_t>(static_cast<double>(model.m_transfer_delay_ms) / std::max(1.0, k)));
  return model;
}

TrafficModel TrafficModel::live(const Layout& layout, const std::vector<TillRef>& tills,
                                double events_per_s) {
  TrafficModel model(layout, true);
  const std::size_t n = layout.stores().size();
  double max_scale = 0;
  for (std::size_t m = 0; m < k_minutes; ++m) {
    std::vector<double> shapes(n);
    for (std::size_t s = 0; s < n; ++s) {
      shapes[s] = model.m_shape[s][m];
    }
    const double expected = expected_events_per_s(layout, tills, shapes);
    model.m_scale[m] = expected > 0 ? events_per_s / expected : 1.0;
    max_scale = std::max(max_scale, model.m_scale[m]);
  }
  for (std::size_t s = 0; s < n; ++s) {
    const auto& shape = model.m_shape[s];
    model.m_bound.push_back(model.m_base_per_s[s] * max_scale *
                            *std::max_element(shape.begin(), shape.end()));
  }
  const double natural_rate = natural_events_per_s(layout, tills);
  const double k = natural_rate > 0 ? events_per_s / natural_rate : 1.0;
  model.m_transfer_delay_ms = std::max<std::int64_t>(
      1000,
      static_cast<std::int64_t>(static_cast<double>(model.m_transfer_delay_ms) / std::max(1.0, k)));
  return model;
}

bool TrafficModel::is_open(UnixMs t) const noexcept {
  if (m_live) {
    return true;
  }
  const std::int64_t ms = local_ms_of_day(t);
  return ms >= MixConstants::opening_ms && ms < MixConstants::closing_ms;
}

UnixMs TrafficModel::next_open(UnixMs t) const noexcept {
  if (is_open(t)) {
    return t;
  }
  const UnixMs midnight = local_midnight(t);
  const UnixMs today = midnight + MixConstants::opening_ms;
  return t < today ? today : today + k_ms_per_day;
}

double TrafficModel::shape(std::size_t store, UnixMs t) const noexcept {
  return m_shape[store][static_cast<std::size_t>(local_ms_of_day(t) / 60'000)];
}

double TrafficModel::scale_at(UnixMs t) const noexcept {
  return m_scale[static_cast<std::size_t>(local_ms_of_day(t) / 60'000)];
}

double TrafficModel::activity_rate(std::size_t store, UnixMs t) const noexcept {
  return m_base_per_s[store] * shape(store, t) * scale_at(t);
}

}  // namespace pos::simulator
