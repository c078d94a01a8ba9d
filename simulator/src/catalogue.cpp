#include "pos/simulator/catalogue.hpp"

#include <cmath>
#include <cstdio>

namespace pos::simulator {

Catalogue::Catalogue(std::uint64_t layout_seed) {
  m_categories = {
      {"tops", "TOP", 99'000, 349'000, 0.30, {"S", "M", "L", "XL"}},
      {"bottoms", "BTM", 199'000, 499'000, 0.20, {"S", "M", "L"}},
      {"dresses", "DRS", 249'000, 799'000, 0.15, {"S", "M", "L"}},
      {"outerwear", "OUT", 399'000, 1'299'000, 0.08, {"S", "M", "L"}},
      {"accessories", "ACC", 49'000, 249'000, 0.17, {"OS"}},
      {"shoes", "SHO", 299'000, 999'000, 0.10, {"37", "38", "39", "40", "41", "42"}},
  };
  Rng rng(derive_seed(layout_seed, "catalogue"));
  for (std::size_t c = 0; c < m_categories.size(); ++c) {
    const Category& category = m_categories[c];
    m_first_sku.push_back(m_skus.size());
    for (int style = 1; style <= k_styles; ++style) {
      // Shelf prices end in 9,000 rupiah (149,000), the way Indonesian fashion chains price.
      const double raw = static_cast<double>(category.min_price) +
                         rng.unit() * static_cast<double>(category.max_price - category.min_price);
      const std::int64_t price = static_cast<std::int64_t>(raw / 10'000) * 10'000 + 9'000;
      const double margin = 0.35 + 0.25 * rng.unit();
      const std::int64_t cost =
          static_cast<std::int64_t>(static_cast<double>(price) * margin / 100) * 100;
      for (const auto size : category.sizes) {
        char id[40];
        std::snprintf(id, sizeof id, "%.*s-%04d-%.*s", static_cast<int>(category.sku_prefix.size()),
                      category.sku_prefix.data(), style, static_cast<int>(size.size()),
                      size.data());
        m_skus.push_back({id, c, price, cost});
      }
    }
  }
}

std::size_t Catalogue::pick(Rng& rng) const noexcept {
  double u = rng.unit();
  std::size_t c = 0;
  for (; c + 1 < m_categories.size(); ++c) {
    if (u < m_categories[c].popularity) {
      break;
    }
    u -= m_categories[c].popularity;
  }
  // A few bestsellers: style index skewed towards 0.
  const double v = rng.unit();
  const auto style = static_cast<std::size_t>(std::floor(v * v * k_styles));
  const std::size_t sizes = m_categories[c].sizes.size();
  return m_first_sku[c] + style * sizes + rng.below(sizes);
}

}  // namespace pos::simulator
