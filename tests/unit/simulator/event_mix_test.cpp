// EventMix, the context-free mix posfleet and the benchmarks use: valid per SPEC, deterministic,
// and drawn from the same catalogue and payment mix as possim.

#include "pos/simulator/event_mix.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <set>
#include <string>

#include "pos/protocol/event.hpp"
#include "pos/simulator/traffic_model.hpp"

namespace pos::simulator {
namespace {

TEST(EventMix, EveryEventValidates) {
  EventMix mix(3);
  for (int i = 0; i < 2000; ++i) {
    const auto text = mix.next_event();
    EXPECT_TRUE(protocol::parse_pos_event(text)) << text;
  }
}

TEST(EventMix, SameSeedSameSequenceOtherSeedOther) {
  EventMix a(7);
  EventMix b(7);
  EventMix c(8);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next_event();
    EXPECT_EQ(x, b.next_event());
    differs = differs || x != c.next_event();
  }
  EXPECT_TRUE(differs);
}

TEST(EventMix, DrawsFromPossimsCatalogueAndPaymentMix) {
  const Catalogue catalogue(1);
  std::set<std::string> skus;
  for (const auto& sku : catalogue.skus()) {
    skus.insert(sku.id);
  }
  EventMix mix(11);
  std::map<std::string, int> kinds;
  std::set<std::string> payments;
  for (int i = 0; i < 3000; ++i) {
    const auto text = mix.next_event();
    ASSERT_TRUE(protocol::parse_pos_event(text)) << text;
    const auto json = boost::json::parse(text).as_object();
    const std::string kind(json.at("type").as_string());
    ++kinds[kind];
    if (kind == "stock_change") {
      EXPECT_TRUE(skus.count(std::string(json.at("sku").as_string()))) << text;
      continue;
    }
    payments.insert(std::string(json.at("payment").at("method").as_string()));
    for (const auto& line : json.at("lines").as_array()) {
      EXPECT_TRUE(skus.count(std::string(line.at("sku").as_string()))) << text;
    }
  }
  EXPECT_GT(kinds["sale"], 2000);
  EXPECT_GT(kinds["return"], 100);
  EXPECT_GT(kinds["stock_change"], 200);
  for (const auto& method : payments) {
    EXPECT_NE(std::find(MixConstants::payment_methods.begin(), MixConstants::payment_methods.end(),
                        method),
              MixConstants::payment_methods.end())
        << method;
  }
  EXPECT_GE(payments.size(), 4U);
}

}  // namespace
}  // namespace pos::simulator
