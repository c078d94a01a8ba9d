#include "pos/simulator/layout.hpp"

#include <cstdio>

#include "pos/protocol/ids.hpp"
#include "pos/simulator/random.hpp"

namespace pos::simulator {

namespace {

constexpr int k_store_count = 20;

}  // namespace

std::string_view to_string(StoreSize size) noexcept {
  switch (size) {
    case StoreSize::small:
      return "small";
    case StoreSize::medium:
      return "medium";
    case StoreSize::large:
      return "large";
  }
  return "medium";
}

std::string till_id(int index) {
  return "T" + std::to_string(index + 1);
}

Result<TillRef> parse_till_ref(std::string_view text, std::string_view what) {
  auto name = protocol::parse_till_name(text);
  if (!name) {
    return fail(std::string(what) + ": must be STORE/TILL such as S07/T1, got '" +
                std::string(text) + "'");
  }
  return TillRef{std::move(name->store_id), std::move(name->till_id)};
}

Layout::Layout(std::uint64_t layout_seed) {
  Rng rng(derive_seed(layout_seed, "layout"));
  for (int i = 1; i <= k_store_count; ++i) {
    StoreLayout store;
    char id[8];
    std::snprintf(id, sizeof id, "S%02d", i);
    store.store_id = id;
    const double u = rng.unit();
    // A third small street stores, a bit more medium ones, a quarter large mall flagships.
    if (u < 0.35) {
      store.size = StoreSize::small;
      store.tills = static_cast<int>(rng.between(1, 2));
      store.checkouts_per_hour = 10 + 6 * rng.unit();
    } else if (u < 0.75) {
      store.size = StoreSize::medium;
      store.tills = static_cast<int>(rng.between(2, 3));
      store.checkouts_per_hour = 20 + 10 * rng.unit();
    } else {
      store.size = StoreSize::large;
      store.tills = static_cast<int>(rng.between(3, 4));
      store.checkouts_per_hour = 35 + 15 * rng.unit();
    }
    // Office-district stores peak at lunch, mall stores after work.
    store.lunch_peak = 0.5 + 1.0 * rng.unit();
    store.evening_peak = 0.7 + 1.1 * rng.unit();
    m_stores.push_back(std::move(store));
  }
  StoreLayout warehouse;
  warehouse.store_id = "WH01";
  warehouse.warehouse = true;
  warehouse.size = StoreSize::large;
  warehouse.tills = 1;
  warehouse.checkouts_per_hour = 0;
  warehouse.lunch_peak = 0.3;
  warehouse.evening_peak = 0.0;
  m_stores.push_back(std::move(warehouse));
}

std::optional<std::size_t> Layout::store_index(std::string_view store_id) const noexcept {
  for (std::size_t i = 0; i < m_stores.size(); ++i) {
    if (m_stores[i].store_id == store_id) {
      return i;
    }
  }
  return std::nullopt;
}

std::optional<int> Layout::till_index(const TillRef& till) const noexcept {
  const auto store = store_index(till.store_id);
  if (!store) {
    return std::nullopt;
  }
  for (int t = 0; t < m_stores[*store].tills; ++t) {
    if (till.till_id == till_id(t)) {
      return t;
    }
  }
  return std::nullopt;
}

std::vector<TillRef> Layout::tills() const {
  std::vector<TillRef> out;
  for (const auto& store : m_stores) {
    for (int t = 0; t < store.tills; ++t) {
      out.push_back({store.store_id, till_id(t)});
    }
  }
  return out;
}

}  // namespace pos::simulator
