// The live stock book: deltas, on_hand_after winning over deltas, thresholds (default and per
// category, replaced at run time), the bound on items, replays skipped, the JSON of
// GET /v1/inventory with its filters, metrics, and the snapshot round trip.

#include "pos/collector/stock_book.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

namespace pos::collector {
namespace {

namespace json = boost::json;

constexpr std::int64_t stock_t0 = 1'790'000'000'000;

EventFacts stock(std::string_view store, std::string_view sku, std::int64_t delta,
                 std::optional<std::int64_t> after = std::nullopt,
                 StockLocation location = StockLocation::floor) {
  EventFacts f;
  f.kind = EventKind::stock_change;
  f.store_id = store;
  f.till_id = "T1";
  f.stock.sku = sku;
  f.stock.location = location;
  f.stock.delta = delta;
  f.stock.on_hand_after = after;
  return f;
}

/// A sale whose lines teach sku -> category.
struct Sale {
  std::vector<SaleLineFacts> lines;
  EventFacts facts(std::string_view store) const {
    EventFacts f;
    f.kind = EventKind::sale;
    f.store_id = store;
    f.lines = lines;
    return f;
  }
};

StockQuery query_of(std::string store, std::string category, bool low_only,
                    std::size_t limit = 500) {
  StockQuery query;
  query.store_id = std::move(store);
  query.category = std::move(category);
  query.low_only = low_only;
  query.limit = limit;
  return query;
}

json::object inventory(const StockBook& book, StockQuery query = {}) {
  return json::parse(book.to_json(query, stock_t0)).as_object();
}

const json::object& item(const json::object& doc, std::string_view store, std::string_view sku) {
  for (const auto& row : doc.at("items").as_array()) {
    if (row.at("store_id").as_string() == store && row.at("sku").as_string() == sku) {
      return row.as_object();
    }
  }
  throw std::runtime_error("no item " + std::string(store) + "/" + std::string(sku));
}

std::int64_t on_hand(const StockBook& book, std::string_view store, std::string_view sku) {
  return item(inventory(book), store, sku).at("on_hand").as_int64();
}

TEST(StockBookTest, DeltasAddUpPerStoreSkuAndLocation) {
  StockBook book;
  book.add(stock("S01", "TOP-1", 20, std::nullopt, StockLocation::backroom), stock_t0);
  book.add(stock("S01", "TOP-1", 10), stock_t0);
  book.add(stock("S01", "TOP-1", -3), stock_t0 + 1);
  book.add(stock("S02", "TOP-1", 7), stock_t0);
  book.add(stock("WH01", "TOP-1", 500, std::nullopt, StockLocation::warehouse), stock_t0);
  const auto doc = inventory(book);
  const auto& s01 = item(doc, "S01", "TOP-1");
  EXPECT_EQ(s01.at("on_hand").as_int64(), 27);
  EXPECT_EQ(s01.at("floor").as_int64(), 7);
  EXPECT_EQ(s01.at("backroom").as_int64(), 20);
  EXPECT_EQ(s01.at("warehouse").as_int64(), 0);
  EXPECT_EQ(on_hand(book, "S02", "TOP-1"), 7);
  EXPECT_EQ(item(doc, "WH01", "TOP-1").at("warehouse").as_int64(), 500);
  EXPECT_EQ(doc.at("items_total").as_int64(), 3);
  EXPECT_EQ(book.stats().changes_applied, 5U);
}

TEST(StockBookTest, OnHandAfterWinsOverTheSumOfDeltasAndHealsDrift) {
  StockBook book;
  book.add(stock("S01", "TOP-1", 10), stock_t0);
  book.add(stock("S01", "TOP-1", -1), stock_t0);      // 9 by deltas
  book.add(stock("S01", "TOP-1", -1, 12), stock_t0);  // the till counted 12 after the change
  EXPECT_EQ(on_hand(book, "S01", "TOP-1"), 12);
  book.add(stock("S01", "TOP-1", -2), stock_t0);
  EXPECT_EQ(on_hand(book, "S01", "TOP-1"), 10);
  // on_hand_after is per location: the backroom's does not reset the floor.
  book.add(stock("S01", "TOP-1", 5, 5, StockLocation::backroom), stock_t0);
  EXPECT_EQ(on_hand(book, "S01", "TOP-1"), 15);
}

TEST(StockBookTest, ThresholdsDefaultAndPerCategoryLearnedFromSaleLinesAndStockEvents) {
  StockBookOptions options;
  options.thresholds.low_default = 5;
  options.thresholds.categories = {{"dresses", 2}, {"socks", 20}};
  StockBook book(options);
  book.add(Sale{{{.sku = "DRS-1", .category = "dresses", .qty = 1}}}.facts("S01"), stock_t0);
  book.add(stock("S01", "DRS-1", 3), stock_t0);  // dresses: 3 > 2, not low
  book.add(stock("S01", "TOP-1", 5), stock_t0);  // unknown category: default 5, low
  auto with_category = stock("S01", "SCK-1", 15);
  with_category.stock.category = "socks";  // an extra field passed through
  book.add(with_category, stock_t0);       // socks: 15 <= 20, low
  auto doc = inventory(book);
  EXPECT_FALSE(item(doc, "S01", "DRS-1").at("low").as_bool());
  EXPECT_EQ(item(doc, "S01", "DRS-1").at("threshold").as_int64(), 2);
  EXPECT_EQ(item(doc, "S01", "DRS-1").at("category").as_string(), "dresses");
  EXPECT_TRUE(item(doc, "S01", "TOP-1").at("low").as_bool());
  EXPECT_TRUE(item(doc, "S01", "TOP-1").at("category").is_null());
  EXPECT_TRUE(item(doc, "S01", "SCK-1").at("low").as_bool());
  EXPECT_EQ(book.low_items(), 2U);

  // Learning TOP-1's category later moves it to that category's threshold.
  book.add(Sale{{{.sku = "TOP-1", .category = "dresses", .qty = 1}}}.facts("S02"), stock_t0);
  EXPECT_FALSE(item(inventory(book), "S01", "TOP-1").at("low").as_bool());
  EXPECT_EQ(book.low_items(), 1U);

  // Alerts: warning at or below the threshold, critical at 0 or less, since = when it went low.
  book.add(stock("S01", "DRS-1", -3), stock_t0 + 5000);
  const auto alerts = book.alerts(10);
  ASSERT_EQ(alerts.size(), 2U);
  EXPECT_EQ(alerts[0].rule, "low_stock");
  EXPECT_EQ(alerts[0].sku, "DRS-1");
  EXPECT_EQ(alerts[0].severity, "critical");
  EXPECT_EQ(alerts[0].since_ms, stock_t0 + 5000);
  EXPECT_EQ(alerts[0].message, "out of stock: 0 on hand, threshold 2 (dresses)");
  EXPECT_EQ(alerts[1].sku, "SCK-1");
  EXPECT_EQ(alerts[1].severity, "warning");
}

TEST(StockBookTest, SetThresholdsReevaluatesAndKeepsSinceOfItemsThatStayLow) {
  StockBook book;
  book.add(stock("S01", "A", 3), stock_t0);
  book.add(stock("S01", "B", 8), stock_t0);
  EXPECT_EQ(book.low_items(), 1U);
  StockThresholds higher;
  higher.low_default = 10;
  book.set_thresholds(higher, stock_t0 + 1000);
  EXPECT_EQ(book.low_items(), 2U);
  const auto alerts = book.alerts(10);
  ASSERT_EQ(alerts.size(), 2U);
  EXPECT_EQ(alerts[0].since_ms, stock_t0);  // A stayed low
  EXPECT_EQ(alerts[1].since_ms, stock_t0 + 1000);
  StockThresholds none;
  none.low_default = 0;
  book.set_thresholds(none, stock_t0 + 2000);
  EXPECT_EQ(book.low_items(), 0U);
  EXPECT_TRUE(book.alerts(10).empty());
}

TEST(StockBookTest, ItemsAreBoundedAndDropsCounted) {
  StockBookOptions options;
  options.max_items = 2;
  options.max_skus = 1;
  StockBook book(options);
  book.add(stock("S01", "A", 1), stock_t0);
  book.add(stock("S02", "A", 1), stock_t0);
  book.add(stock("S03", "A", 1), stock_t0);  // a third item: dropped
  book.add(stock("S01", "A", 1), stock_t0);  // an existing one still moves
  EXPECT_EQ(book.size(), 2U);
  EXPECT_EQ(book.stats().items_dropped, 1U);
  EXPECT_EQ(on_hand(book, "S01", "A"), 2);
  book.add(
      Sale{{{.sku = "A", .category = "tops", .qty = 1}, {.sku = "B", .category = "tops", .qty = 1}}}
          .facts("S01"),
      stock_t0);
  EXPECT_EQ(book.skus_known(), 1U);
  EXPECT_EQ(book.stats().skus_not_learned, 1U);
  std::ostringstream metrics;
  book.append_metrics(metrics, 10);
  EXPECT_NE(metrics.str().find("poscollector_stock_items_dropped_total 1\n"), std::string::npos)
      << metrics.str();
}

TEST(StockBookTest, ReplayedEventsAreNotCountedAgain) {
  StockBook book;
  book.add(stock("S01", "A", 10), stock_t0);
  auto replayed = stock("S01", "A", 10);
  replayed.replay = true;
  book.add(replayed, stock_t0);
  EXPECT_EQ(on_hand(book, "S01", "A"), 10);
  EXPECT_EQ(book.stats().replays_skipped, 1U);
}

TEST(StockBookTest, JsonFiltersByStoreCategoryAndLowOnlyWithALimit) {
  StockBook book;
  book.add(Sale{{{.sku = "D1", .category = "dresses", .qty = 1}}}.facts("S01"), stock_t0);
  book.add(stock("S02", "D1", 2), stock_t0);
  book.add(stock("S01", "D1", 9), stock_t0);
  book.add(stock("S01", "T1", 1), stock_t0);
  book.add(stock("S01", "T2", 50), stock_t0);
  auto doc = inventory(book, query_of("S01", "", false));
  EXPECT_EQ(doc.at("matched").as_int64(), 3);
  EXPECT_EQ(doc.at("items").as_array().size(), 3U);
  EXPECT_EQ(doc.at("items").as_array()[0].at("sku").as_string(), "D1");  // by store, sku
  doc = inventory(book, query_of("", "dresses", false));
  ASSERT_EQ(doc.at("items").as_array().size(), 2U);
  EXPECT_EQ(doc.at("items").as_array()[0].at("store_id").as_string(), "S01");
  doc = inventory(book, query_of("", "", true));
  ASSERT_EQ(doc.at("items").as_array().size(), 2U);
  EXPECT_EQ(doc.at("alerts").as_array().size(), 2U);
  EXPECT_EQ(doc.at("alerts").as_array()[0].at("rule").as_string(), "low_stock");
  EXPECT_EQ(doc.at("low_items_total").as_int64(), 2);
  doc = inventory(book, query_of("", "", false, 1));
  EXPECT_EQ(doc.at("items").as_array().size(), 1U);
  EXPECT_TRUE(doc.at("truncated").as_bool());
  EXPECT_EQ(doc.at("matched").as_int64(), 4);
  EXPECT_EQ(doc.at("thresholds").at("low_default").as_int64(), 5);
}

TEST(StockBookTest, MetricsShowLowItemsPerStoreAndOneSeriesPerAlert) {
  StockBook book;
  book.add(stock("S01", "A", 1), stock_t0);
  book.add(stock("S01", "B", -1), stock_t0);
  book.add(stock("S02", "A", 100), stock_t0);
  std::ostringstream out;
  book.append_metrics(out, 1);
  const std::string text = out.str();
  for (const char* line :
       {"poscollector_stock_items 3\n", "poscollector_stock_low_items{store_id=\"S01\"} 2\n",
        "poscollector_stock_alerts_active{severity=\"warning\"} 1\n",
        "poscollector_stock_alerts_active{severity=\"critical\"} 1\n",
        "poscollector_stock_alert{store_id=\"S01\",sku=\"A\",severity=\"warning\"} 1\n",
        "poscollector_stock_changes_total 3\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << text;
  }
  EXPECT_EQ(text.find("sku=\"B\""), std::string::npos) << "capped at one series";
}

TEST(StockBookTest, SnapshotRoundTripKeepsFiguresCategoriesAndSince) {
  StockBook book;
  book.add(Sale{{{.sku = "D1", .category = "dresses", .qty = 1}}}.facts("S01"), stock_t0);
  book.add(stock("S01", "D1", 3, std::nullopt, StockLocation::backroom), stock_t0);
  book.add(stock("WH01", "D1", 400, std::nullopt, StockLocation::warehouse), stock_t0 + 7);
  const std::string text = book.snapshot();
  StockBook restored;
  ASSERT_TRUE(restored.restore(text));
  EXPECT_EQ(restored.snapshot(), text);
  EXPECT_EQ(inventory(restored).at("items"), inventory(book).at("items"));
  EXPECT_EQ(restored.low_items(), 1U);
  EXPECT_EQ(restored.alerts(1).at(0).since_ms, stock_t0);
  EXPECT_EQ(restored.stats().restored_items, 2U);

  EXPECT_FALSE(restored.restore("{\"version\":99,\"items\":[],\"categories\":{}}"));
  EXPECT_FALSE(restored.restore("{\"version\":1,\"items\":[[1]],\"categories\":{}}"));
  EXPECT_FALSE(restored.restore("not json"));
  EXPECT_EQ(restored.size(), 2U) << "a bad snapshot leaves the state as it was";

  StockBookOptions small;
  small.max_items = 1;
  StockBook bounded(small);
  ASSERT_TRUE(bounded.restore(text));
  EXPECT_EQ(bounded.size(), 1U);
  EXPECT_EQ(bounded.stats().items_dropped, 1U);
}

TEST(StockBookTest, SnapshotEscapesSkusThatNeedIt) {
  StockBook book;
  const std::string odd = "Q\"1\\\t\xc3\xa9";
  book.add(Sale{{{.sku = odd, .category = "caf\xc3\xa9 \"x\"", .qty = 1}}}.facts("S01"), stock_t0);
  book.add(stock("S01", odd, 3), stock_t0);
  StockBook restored;
  const auto done = restored.restore(book.snapshot());
  ASSERT_TRUE(done) << done.error().message << "\n" << book.snapshot();
  EXPECT_EQ(inventory(restored).at("items"), inventory(book).at("items"));
}

}  // namespace
}  // namespace pos::collector

#include "pos/collector/http_api.hpp"

namespace pos::collector {
namespace {

TEST(InventoryQueryTest, ParametersAreDecodedAndBadOnesNamed) {
  const auto q =
      parse_inventory_query("/v1/inventory?store=S01&category=t+shirts%2Fpolo&low=1&limit=20");
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->store_id, "S01");
  EXPECT_EQ(q->category, "t shirts/polo");
  EXPECT_TRUE(q->low_only);
  EXPECT_EQ(q->limit, 20U);
  const auto none = parse_inventory_query("/v1/inventory");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->low_only);
  EXPECT_EQ(none->limit, 500U);
  EXPECT_EQ(parse_inventory_query("/v1/inventory?limit=0").error().message,
            "limit: not an integer 1-10000");
  EXPECT_EQ(parse_inventory_query("/v1/inventory?low=yes").error().message,
            "low: must be 1, true, 0 or false");
  EXPECT_EQ(parse_inventory_query("/v1/inventory?colour=red").error().message,
            "colour: unknown parameter");
  EXPECT_EQ(parse_inventory_query("/v1/inventory?store=%zz").error().message,
            "store: bad percent-encoding");
}

}  // namespace
}  // namespace pos::collector
