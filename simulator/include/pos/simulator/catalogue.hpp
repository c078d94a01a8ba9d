#pragma once
// Fastyle's assortment: six categories, each with styles in sizes (one SKU per style and size),
// IDR shelf prices ending in 9,000 and unit costs of 35-60 % of the price.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pos/simulator/random.hpp"

namespace pos::simulator {

/// A category and the price band of its styles (IDR, whole rupiah as minor units).
struct Category {
  std::string_view name;
  std::string_view sku_prefix;
  std::int64_t min_price;
  std::int64_t max_price;
  double popularity;  ///< share of sold lines
  std::vector<std::string_view> sizes;
};

/// One sellable item.
struct Sku {
  std::string id;  ///< TOP-0012-M
  std::size_t category = 0;
  std::int64_t price = 0;
  std::int64_t cost = 0;
};

/// The catalogue of one layout seed. Immutable after construction; safe to share between threads.
class Catalogue {
 public:
  /// Styles per category.
  static constexpr int k_styles = 30;

  explicit Catalogue(std::uint64_t layout_seed);

  const std::vector<Category>& categories() const noexcept { return m_categories; }
  const std::vector<Sku>& skus() const noexcept { return m_skus; }

  /// A SKU index as shoppers pick them: category by popularity, popular styles more often, any
  /// size.
  std::size_t pick(Rng& rng) const noexcept;

 private:
  std::vector<Category> m_categories;
  std::vector<Sku> m_skus;
  std::vector<std::size_t> m_first_sku;  // per category: index of its first SKU
};

}  // namespace pos::simulator
