// The generated traffic: deterministic, always valid per SPEC, and shaped like a Fastyle day.

#include "pos/simulator/generator.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <set>

#include "pos/protocol/event.hpp"

namespace pos::simulator {
namespace {

constexpr std::uint64_t k_seed = 42;

struct Fixture {
  Layout layout{1};
  Catalogue catalogue{1};
  TrafficModel model = TrafficModel::natural(layout);
  UnixMs start = *parse_rfc3339("2026-11-22T10:00:00+07:00", "start");

  std::vector<GeneratedEvent> generate(std::size_t n, const std::vector<TillRef>& tills = {},
                                       std::uint64_t seed = k_seed) const {
    FleetGenerator generator(layout, catalogue, model, seed, start, tills);
    std::vector<GeneratedEvent> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(generator.next());
    }
    return out;
  }
};

boost::json::object parse(const GeneratedEvent& e) {
  return boost::json::parse(e.json).as_object();
}

std::string str(const boost::json::value& v) {
  return std::string(v.as_string());
}

TEST(Layout, TwentyStoresAndTheWarehouseWithStableTills) {
  const Layout layout(1);
  ASSERT_EQ(layout.stores().size(), 21U);
  EXPECT_EQ(layout.stores().front().store_id, "S01");
  EXPECT_EQ(layout.stores()[19].store_id, "S20");
  EXPECT_EQ(layout.stores().back().store_id, "WH01");
  EXPECT_EQ(layout.stores().back().tills, 1);
  std::set<StoreSize> sizes;
  for (std::size_t s = 0; s < 20; ++s) {
    EXPECT_GE(layout.stores()[s].tills, 1);
    EXPECT_LE(layout.stores()[s].tills, 4);
    sizes.insert(layout.stores()[s].size);
  }
  EXPECT_EQ(sizes.size(), 3U) << "stores differ in size";
  EXPECT_EQ(Layout(1).tills(), layout.tills());
  EXPECT_EQ(layout.tills().back(), (TillRef{"WH01", "T1"}));
  EXPECT_FALSE(layout.till_index({"S01", "T9"}));
  EXPECT_FALSE(layout.till_index({"S21", "T1"}));
}

TEST(Generator, SameSeedSameBytesOtherSeedOtherEvents) {
  const Fixture f;
  const auto a = f.generate(5000);
  const auto b = f.generate(5000);
  const auto c = f.generate(5000, {}, k_seed + 1);
  ASSERT_EQ(a.size(), b.size());
  std::size_t same_as_c = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].json, b[i].json) << i;
    same_as_c += a[i].json == c[i].json ? 1 : 0;
  }
  EXPECT_LT(same_as_c, 10U);
}

TEST(Generator, EveryEventPassesTheAgentsValidationForItsTill) {
  const Fixture f;
  for (const auto& e : f.generate(30'000)) {
    const auto& store = f.layout.stores()[e.store].store_id;
    const auto till = till_id(e.till);
    const auto valid = protocol::parse_pos_event(e.json, {store, till});
    ASSERT_TRUE(valid) << valid.error().message << "\n" << e.json;
    EXPECT_EQ(valid->pos_event_id(), e.pos_event_id);
  }
}

TEST(Generator, PosEventIdsAreUniquePerTillAndNumberedInOrder) {
  const Fixture f;
  std::set<std::string> seen;
  std::map<std::string, UnixMs> last_time;
  for (const auto& e : f.generate(30'000)) {
    const std::string till = f.layout.stores()[e.store].store_id + "-" + till_id(e.till);
    ASSERT_TRUE(seen.insert(e.pos_event_id).second) << e.pos_event_id;
    ASSERT_TRUE(e.pos_event_id.starts_with(till + "-R") || e.pos_event_id.starts_with(till + "-M"))
        << e.pos_event_id;
    ASSERT_EQ(e.pos_event_id.size(), till.size() + 8) << "six digits: " << e.pos_event_id;
    auto [it, inserted] = last_time.emplace(till, e.occurred_at);
    if (!inserted) {
      EXPECT_GT(e.occurred_at, it->second) << "per-till time order at " << e.pos_event_id;
      it->second = e.occurred_at;
    }
  }
}

TEST(Generator, ATillsEventsDoNotDependOnWhichOtherTillsAreSelected) {
  const Fixture f;
  std::vector<std::string> from_fleet;
  for (const auto& e : f.generate(20'000)) {
    if (f.layout.stores()[e.store].store_id == "S03" && e.till == 0) {
      from_fleet.push_back(e.json);
    }
  }
  ASSERT_GT(from_fleet.size(), 100U);
  const auto alone = f.generate(from_fleet.size(), {{"S03", "T1"}});
  for (std::size_t i = 0; i < from_fleet.size(); ++i) {
    ASSERT_EQ(alone[i].json, from_fleet[i]) << i;
  }
}

TEST(Generator, MixOfCategoriesCustomersPaymentsAndReturns) {
  const Fixture f;
  std::map<std::string, int> categories, customers, payments;
  int sales = 0, returns = 0, returns_with_original = 0;
  std::map<std::string, std::string> customer_of_sale;
  std::map<std::string, int> visits;
  for (const auto& e : f.generate(60'000)) {
    if (e.kind == EventKind::stock_change) {
      continue;
    }
    const auto o = parse(e);
    const auto& customer = o.at("customer").as_object();
    const std::string type = str(customer.at("type"));
    EXPECT_EQ(customer.at("id").is_null(), type == "guest") << e.json;
    EXPECT_EQ(str(o.at("currency")), "IDR");
    if (e.kind == EventKind::sale) {
      ++sales;
      ++customers[type];
      ++payments[str(o.at("payment").at("method"))];
      if (!customer.at("id").is_null()) {
        ++visits[str(customer.at("id"))];
      }
      for (const auto& line : o.at("lines").as_array()) {
        ++categories[str(line.at("category"))];
      }
      customer_of_sale[e.pos_event_id] = type == "guest" ? "" : str(customer.at("id"));
    } else {
      ++returns;
      if (const auto* original = o.if_contains("original_pos_event_id")) {
        ++returns_with_original;
        // The original is an earlier sale of the same till, bought by the same customer.
        const std::string id = str(*original);
        ASSERT_TRUE(customer_of_sale.contains(id)) << e.json;
        EXPECT_EQ(id.substr(0, id.find("-R")), e.pos_event_id.substr(0, e.pos_event_id.find("-R")));
        EXPECT_EQ(customer_of_sale[id], customer.at("id").is_null() ? "" : str(customer.at("id")));
      }
    }
  }
  const double share = static_cast<double>(returns) / (sales + returns);
  EXPECT_GE(share, 0.01);
  EXPECT_LE(share, 0.06);
  EXPECT_GT(returns_with_original, returns * 9 / 10);
  ASSERT_EQ(categories.size(), 6U);
  for (const auto& [name, n] : categories) {
    EXPECT_GT(n, sales / 20) << name;
  }
  EXPECT_GT(categories["tops"], categories["outerwear"] * 2) << "tops sell most";
  ASSERT_EQ(customers.size(), 3U);
  for (const auto& [type, n] : customers) {
    EXPECT_GT(n, sales / 10) << type;
  }
  EXPECT_GT(customers["returning"], customers["new"]);
  EXPECT_EQ(payments.size(), 6U);
  int regulars = 0;
  for (const auto& [id, n] : visits) {
    regulars += n >= 3 ? 1 : 0;
  }
  EXPECT_GT(regulars, 50) << "returning customers keep stable ids";
}

TEST(Generator, PricesCostsAndDiscountsAreSensible) {
  const Fixture f;
  int lines = 0, discounted = 0;
  for (const auto& e : f.generate(30'000)) {
    if (e.kind != EventKind::sale) {
      continue;
    }
    const auto sale = parse(e);
    for (const auto& v : sale.at("lines").as_array()) {
      const auto& line = v.as_object();
      const std::int64_t price = line.at("unit_price_minor").as_int64();
      const std::int64_t cost = line.at("unit_cost_minor").as_int64();
      const std::int64_t qty = line.at("qty").as_int64();
      const std::int64_t discount = line.at("discount_minor").as_int64();
      ++lines;
      EXPECT_GE(price, 49'000);
      EXPECT_LE(price, 1'299'000);
      EXPECT_EQ(price % 10'000, 9'000) << "shelf prices end in 9,000";
      EXPECT_GE(cost * 100, price * 34) << "cost at least ~35 % of the price";
      EXPECT_LE(cost * 100, price * 60);
      EXPECT_GE(qty, 1);
      EXPECT_LE(qty, 3);
      EXPECT_LE(discount, qty * price / 2);
      discounted += discount > 0 ? 1 : 0;
    }
  }
  EXPECT_GT(discounted, lines / 20);
  EXPECT_LT(discounted, lines / 4);
}

TEST(Generator, StockFollowsSalesReturnsAndTransfers) {
  const Fixture f;
  std::map<std::pair<std::string, std::string>, std::int64_t> on_hand;  // store, sku
  std::map<std::string, boost::json::object> pending_receipt;  // sale/return by pos_event_id
  std::map<std::string, std::int64_t> transferred_out, transferred_in;  // transfer_id/sku
  for (const auto& e : f.generate(80'000)) {
    const auto o = parse(e);
    const std::string store = f.layout.stores()[e.store].store_id;
    if (e.kind != EventKind::stock_change) {
      pending_receipt[e.pos_event_id] = o;
      continue;
    }
    const std::string sku = str(o.at("sku"));
    const std::int64_t delta = o.at("delta").as_int64();
    const std::int64_t after = o.at("on_hand_after").as_int64();
    ASSERT_GE(after, 0) << e.json;
    const auto key = std::make_pair(store, sku);
    if (on_hand.contains(key)) {
      ASSERT_EQ(on_hand[key] + delta, after) << e.json;
    }
    on_hand[key] = after;
    const std::string reason = str(o.at("reason"));
    if (store == "WH01") {
      EXPECT_EQ(str(o.at("location")), "warehouse");
      EXPECT_TRUE(reason == "receipt" || reason == "transfer_out" || reason == "adjustment" ||
                  reason == "damage" || reason == "count")
          << reason;
    } else {
      EXPECT_EQ(str(o.at("location")), "floor");
      EXPECT_NE(reason, "transfer_out");
      EXPECT_NE(reason, "receipt");
    }
    if (reason == "sale" || reason == "return") {
      // Each line of the receipt moves its SKU by its quantity, on the same till.
      const std::string ref = str(o.at("ref_pos_event_id"));
      ASSERT_TRUE(pending_receipt.contains(ref)) << e.json;
      EXPECT_EQ(ref.substr(0, ref.size() - 8), e.pos_event_id.substr(0, e.pos_event_id.size() - 8));
      bool found = false;
      for (const auto& line : pending_receipt[ref].at("lines").as_array()) {
        if (str(line.at("sku")) == sku) {
          found = true;
          EXPECT_EQ(delta, (reason == "sale" ? -1 : 1) * line.at("qty").as_int64());
        }
      }
      EXPECT_TRUE(found) << e.json;
    }
    if (reason == "transfer_out") {
      transferred_out[str(o.at("to_store")) + "/" + str(o.at("transfer_id")) + "/" + sku] -= delta;
    }
    if (reason == "transfer_in") {
      transferred_in[store + "/" + str(o.at("transfer_id")) + "/" + sku] += delta;
    }
  }
  // Every delivery that arrived was dispatched by WH01 with the same SKUs and units.
  ASSERT_GT(transferred_in.size(), 100U);
  for (const auto& [key, units] : transferred_in) {
    ASSERT_TRUE(transferred_out.contains(key)) << key;
    EXPECT_EQ(transferred_out[key], units) << key;
  }
}

TEST(Generator, WarehouseSendsOnlyStockChanges) {
  const Fixture f;
  const auto events = f.generate(3000, {{"WH01", "T1"}});
  std::map<std::string, int> reasons;
  for (const auto& e : events) {
    ASSERT_EQ(e.kind, EventKind::stock_change) << e.json;
    ASSERT_TRUE(e.pos_event_id.starts_with("WH01-T1-M")) << e.pos_event_id;
    ++reasons[str(parse(e).at("reason"))];
  }
  EXPECT_GT(reasons["transfer_out"], 1000);
  EXPECT_GT(reasons["receipt"], 10);
}

TEST(Generator, BusyAtLunchAndInTheEveningQuietMidAfternoonClosedAtNight) {
  const Fixture f;
  std::map<std::int64_t, int> checkouts_by_hour;
  for (const auto& e : f.generate(100'000)) {
    const std::int64_t hour = local_ms_of_day(e.occurred_at) / k_ms_per_hour;
    ASSERT_GE(hour, 10) << e.json;
    ASSERT_LT(hour, 22) << e.json;
    if (e.kind != EventKind::stock_change) {
      ++checkouts_by_hour[hour];
    }
  }
  const int lunch = checkouts_by_hour[12] + checkouts_by_hour[13];
  const int afternoon = checkouts_by_hour[15] + checkouts_by_hour[16];
  const int evening = checkouts_by_hour[18] + checkouts_by_hour[19];
  EXPECT_GT(lunch, afternoon * 3 / 2);
  EXPECT_GT(evening, afternoon * 2);
  EXPECT_GT(afternoon, 0);
}

TEST(Generator, BigStoresSellMoreThanSmallOnes) {
  const Fixture f;
  std::map<StoreSize, int> sales;
  std::map<StoreSize, int> stores;
  for (const auto& store : f.layout.stores()) {
    if (!store.warehouse) {
      ++stores[store.size];
    }
  }
  for (const auto& e : f.generate(60'000)) {
    if (e.kind == EventKind::sale) {
      ++sales[f.layout.stores()[e.store].size];
    }
  }
  const auto per_store = [&](StoreSize s) { return static_cast<double>(sales[s]) / stores[s]; };
  EXPECT_GT(per_store(StoreSize::large), 1.5 * per_store(StoreSize::medium));
  EXPECT_GT(per_store(StoreSize::medium), 1.3 * per_store(StoreSize::small));
}

TEST(TrafficModel, ScaledRatesMatchTheRequestedRate) {
  const Layout layout(1);
  const Catalogue catalogue(1);
  const std::vector<TillRef> tills = {{"S01", "T1"}, {"S05", "T1"}, {"WH01", "T1"}};
  const TrafficModel model = TrafficModel::scaled(layout, tills, 5.0);
  const UnixMs start = *parse_rfc3339("2026-11-22T10:00:00+07:00", "start");
  FleetGenerator generator(layout, catalogue, model, 7, start, tills);
  std::size_t n = 0;
  for (;; ++n) {
    if (generator.next().occurred_at >= start + 12 * k_ms_per_hour) {
      break;
    }
  }
  const double per_s = static_cast<double>(n) / (12 * 3600.0);
  EXPECT_NEAR(per_s, 5.0, 5.0 * 0.15) << n;
}

}  // namespace
}  // namespace pos::simulator
