#include "pos/collector/sales_kpis.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <stdexcept>

#include "collector_test_support.hpp"
#include "fake_sink.hpp"
#include "kpi_test_support.hpp"
#include "pos/collector/config.hpp"
#include "pos/collector/kpi_snapshot_store.hpp"
#include "pos/collector/live_view.hpp"
#include "pos/common/config_reader.hpp"

namespace pos::collector {
namespace {

namespace json = boost::json;
using test::Line;
using test::ms;
using test::Published;

/// A SalesKpis at 2026-11-22 10:00 store-local time (+07:00) with a reader to feed it.
class SalesKpisTest : public ::testing::Test {
 protected:
  SalesKpisTest() { m_clock.now_ms = ms("2026-11-22T10:00:00+07:00"); }

  KpiOutcome add(SalesKpis& kpis, const Published& event) {
    auto facts = m_reader.read(test::published_json(event));
    EXPECT_TRUE(facts) << facts.error().message;
    return kpis.add(*facts);
  }
  static json::object doc(SalesKpis& kpis) { return json::parse(kpis.to_json()).as_object(); }
  static const json::object& row(const json::object& d, std::string_view list,
                                 std::string_view key_field, std::string_view key) {
    for (const auto& r : d.at(list).as_array()) {
      if (r.at(key_field).as_string() == key) {
        return r.as_object();
      }
    }
    throw std::runtime_error("no row " + std::string(key) + " in " + std::string(list));
  }

  test::ManualClock m_clock;
  EventReader m_reader;
};

TEST_F(SalesKpisTest, GmvCostAndMarginWithDiscountsAndReturns) {
  SalesKpis kpis({}, m_clock);
  Published sale;
  sale.customer_type = "returning";
  sale.lines = {Line{"tops", 2, 100'000, 40'000, 20'000}, Line{"shoes", 1, 50'000, 20'000, 0}};
  EXPECT_EQ(add(kpis, sale), KpiOutcome::counted);
  Published ret;
  ret.type = "return";
  ret.pos_event_id = "ret-1";
  ret.store_id = "S02";
  ret.customer_type = "returning";
  ret.lines = {Line{"tops", 1, 100'000, 40'000, 10'000}};
  EXPECT_EQ(add(kpis, ret), KpiOutcome::counted);

  const auto d = doc(kpis);
  EXPECT_EQ(d.at("day").as_string(), "2026-11-22");
  EXPECT_EQ(d.at("currency").as_string(), "IDR");
  const auto& t = d.at("totals").as_object();
  // sale: (2*100000 - 20000) + 50000 = 230000; return: -(100000 - 10000) = -90000
  EXPECT_EQ(t.at("gmv_minor").as_int64(), 140'000);
  EXPECT_EQ(t.at("units").as_int64(), 2);
  EXPECT_EQ(t.at("cost_minor").as_int64(), 80'000 + 20'000 - 40'000);
  EXPECT_EQ(t.at("margin_minor").as_int64(), 140'000 - 60'000);
  EXPECT_EQ(t.at("transactions").as_int64(), 1);
  EXPECT_EQ(t.at("returns").as_int64(), 1);
  EXPECT_DOUBLE_EQ(t.at("margin_pct").as_double(), 57.14);

  const auto& tops = row(d, "by_category", "category", "tops");
  EXPECT_EQ(tops.at("gmv_minor").as_int64(), 180'000 - 90'000);
  EXPECT_EQ(tops.at("units").as_int64(), 1);
  EXPECT_EQ(tops.at("cost_minor").as_int64(), 40'000);
  EXPECT_EQ(tops.at("margin_minor").as_int64(), 50'000);
  EXPECT_DOUBLE_EQ(tops.at("margin_pct").as_double(), 55.56);
  const auto& shoes = row(d, "by_category", "category", "shoes");
  EXPECT_EQ(shoes.at("gmv_minor").as_int64(), 50'000);
  EXPECT_DOUBLE_EQ(shoes.at("margin_pct").as_double(), 60.0);
  EXPECT_EQ(d.at("by_category").as_array()[0].at("category").as_string(), "tops");  // by GMV

  const auto& s01 = row(d, "by_store", "store_id", "S01");
  EXPECT_EQ(s01.at("gmv_minor").as_int64(), 230'000);
  EXPECT_EQ(s01.at("units").as_int64(), 3);
  EXPECT_EQ(s01.at("transactions").as_int64(), 1);
  const auto& s02 = row(d, "by_store", "store_id", "S02");
  EXPECT_EQ(s02.at("gmv_minor").as_int64(), -90'000);
  EXPECT_EQ(s02.at("transactions").as_int64(), 0);
  EXPECT_EQ(s02.at("returns").as_int64(), 1);

  const auto& returning = row(d, "by_customer_type", "customer_type", "returning");
  EXPECT_EQ(returning.at("gmv_minor").as_int64(), 140'000);
  EXPECT_EQ(returning.at("transactions").as_int64(), 1);

  const auto& latest = d.at("latest").as_array();
  ASSERT_EQ(latest.size(), 2U);
  EXPECT_EQ(latest[0].at("type").as_string(), "return");  // same occurred_at: later arrival first
  EXPECT_EQ(latest[0].at("amount_minor").as_int64(), -90'000);
  EXPECT_EQ(latest[0].at("units").as_int64(), -1);
  EXPECT_EQ(latest[1].at("pos_event_id").as_string(), "r-1");
  EXPECT_EQ(latest[1].at("amount_minor").as_int64(), 230'000);
  EXPECT_EQ(latest[1].at("till_id").as_string(), "T1");
  EXPECT_EQ(latest[1].at("customer_type").as_string(), "returning");
  EXPECT_EQ(latest[1].at("occurred_at").as_string(), sale.occurred_at);
}

TEST_F(SalesKpisTest, TodayIsTheStoreLocalDayOfTheConfiguredOffset) {
  SalesKpis kpis({}, m_clock);
  struct Case {
    const char* occurred_at;
    KpiOutcome expected;
  };
  const Case cases[] = {
      {"2026-11-22T00:00:00.000+07:00", KpiOutcome::counted},
      {"2026-11-21T17:00:00Z", KpiOutcome::counted},  // the same instant in UTC
      {"2026-11-22T23:59:59.999+07:00", KpiOutcome::counted},
      {"2026-11-22T01:30:00+08:00", KpiOutcome::counted},  // 00:30 at +07:00
      {"2026-11-21T23:59:59.999+07:00", KpiOutcome::not_today},
      {"2026-11-21T16:59:59.999Z", KpiOutcome::not_today},
      {"2026-11-22T00:30:00+08:00", KpiOutcome::not_today},  // 23:30 the day before at +07:00
      {"2026-11-23T00:00:00+07:00", KpiOutcome::not_today},
  };
  std::uint64_t n = 0;
  for (const auto& c : cases) {
    Published e;
    e.occurred_at = c.occurred_at;
    e.pos_event_id = "r-" + std::to_string(++n);
    EXPECT_EQ(add(kpis, e), c.expected) << c.occurred_at;
  }
  EXPECT_EQ(kpis.totals().transactions, 4U);
  EXPECT_EQ(kpis.lifetime_counters().not_today, 4U);
  EXPECT_EQ(doc(kpis).at("events").at("not_today").as_int64(), 4);

  // The same instants with the day defined at UTC.
  SalesKpisOptions utc;
  utc.utc_offset = std::chrono::minutes(0);
  SalesKpis at_utc(utc, m_clock);  // 2026-11-22T03:00Z
  Published late;
  late.occurred_at = "2026-11-21T23:59:59.999+07:00";  // 16:59Z on the 21st
  EXPECT_EQ(add(at_utc, late), KpiOutcome::not_today);
  Published early;
  early.occurred_at = "2026-11-22T06:59:59+07:00";  // 23:59:59Z on the 21st
  EXPECT_EQ(add(at_utc, early), KpiOutcome::not_today);
  early.occurred_at = "2026-11-22T07:00:00+07:00";
  EXPECT_EQ(add(at_utc, early), KpiOutcome::counted);
}

TEST_F(SalesKpisTest, MidnightRollsTheDayOver) {
  m_clock.now_ms = ms("2026-11-22T23:59:59.000+07:00");
  SalesKpis kpis({}, m_clock);
  Published e;
  e.occurred_at = "2026-11-22T23:59:58.000+07:00";
  EXPECT_EQ(add(kpis, e), KpiOutcome::counted);
  EXPECT_EQ(kpis.totals().gmv_minor, 100'000);
  EXPECT_EQ(kpis.day(), "2026-11-22");

  m_clock.now_ms = ms("2026-11-23T00:00:00.000+07:00");
  EXPECT_EQ(kpis.day(), "2026-11-23");
  EXPECT_EQ(kpis.totals().gmv_minor, 0);
  const auto d = doc(kpis);
  EXPECT_TRUE(d.at("latest").as_array().empty());
  EXPECT_TRUE(d.at("by_store").as_array().empty());
  EXPECT_EQ(d.at("events").at("counted").as_int64(), 0);

  e.pos_event_id = "r-late";  // yesterday's sale arriving after midnight: not today's
  EXPECT_EQ(add(kpis, e), KpiOutcome::not_today);
  e.pos_event_id = "r-new";
  e.occurred_at = "2026-11-23T00:00:00.500+07:00";
  EXPECT_EQ(add(kpis, e), KpiOutcome::counted);
  EXPECT_EQ(kpis.totals().transactions, 1U);
  EXPECT_EQ(kpis.lifetime_counters().counted, 2U);  // lifetime counters survive the rollover
}

TEST_F(SalesKpisTest, StoresAndCategoriesBeyondTheBoundsAreSummedUnderOther) {
  SalesKpisOptions options;
  options.max_stores = 2;
  options.max_categories = 2;
  SalesKpis kpis(options, m_clock);
  std::int64_t price = 1000;
  for (const char* store : {"S01", "S02", "S03", "S04", "S01"}) {
    Published e;
    e.store_id = store;
    e.pos_event_id = "r-" + std::to_string(price);
    e.lines = {Line{std::string("cat-") + store, 1, price, 0, 0}};
    EXPECT_EQ(add(kpis, e), KpiOutcome::counted);
    price += 1000;
  }
  const auto d = doc(kpis);
  ASSERT_EQ(d.at("by_store").as_array().size(), 3U);
  EXPECT_EQ(row(d, "by_store", "store_id", "S01").at("gmv_minor").as_int64(), 1000 + 5000);
  EXPECT_EQ(row(d, "by_store", "store_id", "S02").at("gmv_minor").as_int64(), 2000);
  const auto& other = row(d, "by_store", "store_id", other_key);
  EXPECT_EQ(other.at("gmv_minor").as_int64(), 3000 + 4000);
  EXPECT_EQ(other.at("transactions").as_int64(), 2);
  ASSERT_EQ(d.at("by_category").as_array().size(), 3U);
  EXPECT_EQ(row(d, "by_category", "category", other_key).at("gmv_minor").as_int64(), 7000);
  EXPECT_EQ(d.at("totals").at("gmv_minor").as_int64(), 15'000);
}

TEST_F(SalesKpisTest, LatestIsBoundedAndNewestOccurredFirst) {
  SalesKpisOptions options;
  options.latest_transactions = 3;
  SalesKpis kpis(options, m_clock);
  // Arrival order differs from occurred order (a till replaying its backlog).
  const char* times[] = {"09:00:00", "09:30:00", "08:00:00", "09:45:00", "09:30:00", "07:00:00"};
  int n = 0;
  for (const char* time : times) {
    Published e;
    e.occurred_at = std::string("2026-11-22T") + time + ".000+07:00";
    e.pos_event_id = "r-" + std::to_string(++n);
    EXPECT_EQ(add(kpis, e), KpiOutcome::counted);
  }
  const auto latest = doc(kpis).at("latest").as_array();
  ASSERT_EQ(latest.size(), 3U);
  EXPECT_EQ(latest[0].at("pos_event_id").as_string(), "r-4");  // 09:45
  EXPECT_EQ(latest[1].at("pos_event_id").as_string(), "r-5");  // 09:30, arrived after r-2
  EXPECT_EQ(latest[2].at("pos_event_id").as_string(), "r-2");  // 09:30
  EXPECT_EQ(kpis.totals().transactions, 6U);
}

TEST_F(SalesKpisTest, OneCurrencyIsSummedOthersAreFlaggedAndLeftOut) {
  SalesKpis kpis({}, m_clock);
  Published idr;
  EXPECT_EQ(add(kpis, idr), KpiOutcome::counted);
  Published usd;
  usd.currency = "USD";
  usd.pos_event_id = "r-usd";
  EXPECT_EQ(add(kpis, usd), KpiOutcome::other_currency);
  auto d = doc(kpis);
  EXPECT_EQ(d.at("currency").as_string(), "IDR");
  EXPECT_TRUE(d.at("currency_mixed").as_bool());
  EXPECT_EQ(d.at("currencies_seen").as_array().size(), 2U);
  EXPECT_EQ(d.at("totals").at("gmv_minor").as_int64(), 100'000);
  EXPECT_EQ(d.at("events").at("other_currency").as_int64(), 1);

  SalesKpisOptions pinned;
  pinned.currency = "USD";
  SalesKpis usd_only(pinned, m_clock);
  EXPECT_EQ(doc(usd_only).at("currency").as_string(), "USD");
  EXPECT_EQ(add(usd_only, idr), KpiOutcome::other_currency);
  EXPECT_EQ(add(usd_only, usd), KpiOutcome::counted);
  EXPECT_EQ(usd_only.totals().gmv_minor, 100'000);
}

TEST_F(SalesKpisTest, StockChangesMoveNoMoney) {
  SalesKpis kpis({}, m_clock);
  Published stock;
  stock.type = "stock_change";
  auto facts = m_reader.read(test::published_json(stock));
  ASSERT_TRUE(facts) << facts.error().message;
  EXPECT_EQ(facts->kind, EventKind::stock_change);
  EXPECT_EQ(facts->received_ms, ms(stock.received_at));
  EXPECT_EQ(kpis.add(*facts), KpiOutcome::stock_change);
  const auto d = doc(kpis);
  EXPECT_EQ(d.at("totals").at("gmv_minor").as_int64(), 0);
  EXPECT_EQ(d.at("totals").at("transactions").as_int64(), 0);
  EXPECT_TRUE(d.at("latest").as_array().empty());
  EXPECT_EQ(d.at("events").at("stock_changes").as_int64(), 1);
  EXPECT_TRUE(d.at("currency").is_null());
}

TEST_F(SalesKpisTest, MalformedDataIsRefusedNamingTheFieldAndNeverThrows) {
  const std::string good = test::published_json(Published{});
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
  };
  const std::pair<std::string, std::string> cases[] = {
      {"", "data: not a JSON object"},
      {"[1,2]", "data: not a JSON object"},
      {good.substr(0, good.size() - 1), "data: not a JSON object"},
      {replaced(R"("type":"sale")", R"("type":"refund")"), "type:"},
      {replaced(R"("received_at":"2026-11-22T03:15:03.500Z")", R"("received_at":"yesterday")"),
       "received_at:"},
      {replaced(R"("occurred_at":)", R"("occurred":)"), "occurred_at:"},
      {replaced(R"("qty":1)", R"("qty":0)"), "lines[0].qty:"},
      {replaced(R"("qty":1)", R"("qty":1.5)"), "lines[0].qty:"},
      {replaced(R"("unit_price_minor":100000)", R"("unit_price_minor":-1)"),
       "lines[0].unit_price_minor:"},
      {replaced(R"("discount_minor":0)", R"("discount_minor":"0")"), "lines[0].discount_minor:"},
      {replaced(R"("type":"guest")", R"("kind":"guest")"), "customer.type:"},
      {replaced(R"("currency":"IDR",)", ""), "currency:"},
      {replaced(R"("lines":[)", R"("lines":[],"x":[)"), "lines:"},
  };
  for (const auto& [data, error] : cases) {
    auto facts = m_reader.read(data);
    ASSERT_FALSE(facts) << data;
    EXPECT_TRUE(facts.error().message.starts_with(error)) << facts.error().message;
  }

  // Every prefix of a valid event: refused or read, never a throw.
  for (std::size_t n = 0; n < good.size(); n += 7) {
    EXPECT_NO_THROW(static_cast<void>(m_reader.read(good.substr(0, n))));
  }

  // Amounts that overflow 64 bits: the event is malformed, nothing of it is counted.
  SalesKpis kpis({}, m_clock);
  Published huge;
  huge.lines = {Line{"tops", 1, 1000, 0, 0}, Line{"tops", 4'000'000'000, 4'000'000'000'000, 0, 0}};
  EXPECT_EQ(add(kpis, huge), KpiOutcome::malformed);
  kpis.record_malformed();
  EXPECT_EQ(kpis.totals().gmv_minor, 0);
  EXPECT_EQ(kpis.lifetime_counters().malformed, 2U);
  EXPECT_EQ(doc(kpis).at("events").at("malformed").as_int64(), 2);
}

TEST_F(SalesKpisTest, SnapshotRestoresTodayExactly) {
  SalesKpisOptions options;
  options.latest_transactions = 2;
  options.max_stores = 1;
  SalesKpis kpis(options, m_clock);
  Published a;
  a.lines = {Line{"tops", 3, 120'000, 50'000, 6'000},
             Line{"bags \\\"big\\\"", 1, 80'000, 30'000, 0}};
  add(kpis, a);
  Published b;
  b.type = "return";
  b.store_id = "S09";
  b.pos_event_id = "ret-9";
  b.customer_type = "new";
  b.occurred_at = "2026-11-22T09:00:00+07:00";
  add(kpis, b);
  Published c;
  c.pos_event_id = "r-3";  // the same occurred_at as a: the later arrival is listed first
  add(kpis, c);
  Published stock;
  stock.type = "stock_change";
  add(kpis, stock);
  const std::string before = kpis.to_json();

  SalesKpis restored(options, m_clock);
  ASSERT_TRUE(restored.restore(kpis.snapshot()));
  const auto original = json::parse(before).as_object();
  ASSERT_EQ(original.at("latest").as_array().size(), 2U);
  EXPECT_EQ(original.at("latest").as_array()[0].at("pos_event_id").as_string(), "r-3");
  auto copy = json::parse(restored.to_json()).as_object();
  EXPECT_EQ(copy.at("counting_since"), original.at("counting_since"));
  EXPECT_EQ(copy, original) << restored.to_json() << "\n" << before;

  // Counting continues on top of the restored figures.
  Published d;
  d.pos_event_id = "r-4";
  add(restored, d);
  EXPECT_EQ(restored.totals().transactions, 3U);
}

TEST_F(SalesKpisTest, RestoreRefusesOtherDaysOffsetsAndGarbageKeepingTheState) {
  SalesKpis kpis({}, m_clock);
  add(kpis, Published{});
  const std::string snapshot = kpis.snapshot();

  m_clock.now_ms += 24LL * 3600 * 1000;
  SalesKpis tomorrow({}, m_clock);
  const auto refused = tomorrow.restore(snapshot);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("another day"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(tomorrow.totals().transactions, 0U);
  m_clock.now_ms -= 24LL * 3600 * 1000;

  SalesKpisOptions utc;
  utc.utc_offset = std::chrono::minutes(0);
  SalesKpis other_offset(utc, m_clock);
  EXPECT_FALSE(other_offset.restore(snapshot));

  SalesKpis target({}, m_clock);
  add(target, Published{});
  for (const std::string& bad :
       {std::string("{"), std::string("[]"), std::string(R"({"version":1})"),
        snapshot.substr(0, snapshot.size() / 2)}) {
    EXPECT_FALSE(target.restore(bad)) << bad;
  }
  std::string wrong_row = snapshot;
  const std::string stores = R"("stores":[["S01",[)";
  ASSERT_NE(wrong_row.find(stores), std::string::npos) << snapshot;
  wrong_row.replace(wrong_row.find(stores), stores.size(), stores + R"("x",)");
  EXPECT_FALSE(target.restore(wrong_row));
  EXPECT_EQ(target.totals().transactions, 1U);
}

TEST_F(SalesKpisTest, SnapshotStoreRoundTripThroughSqlite) {
  test::TempDir dir;
  const auto path = dir.path() / "kpis.db";
  {
    auto store = KpiSnapshotStore::open(path);
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_FALSE((*store)->loaded());
    (*store)->save("first", 1);
    (*store)->save("second", 2);
    (*store)->stop();
    EXPECT_GE((*store)->saved(), 1U);
    EXPECT_EQ((*store)->failures(), 0U);
  }
  auto reopened = KpiSnapshotStore::open(path);
  ASSERT_TRUE(reopened) << reopened.error().message;
  ASSERT_TRUE((*reopened)->loaded());
  EXPECT_EQ(*(*reopened)->loaded(), "second");

  std::filesystem::create_directories(dir.path() / "not-a-file.db");
  auto bad = KpiSnapshotStore::open(dir.path() / "not-a-file.db");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("not-a-file.db"), std::string::npos) << bad.error().message;
}

TEST_F(SalesKpisTest, LiveViewSurvivesARestart) {
  test::TempDir dir;
  LiveViewOptions options;
  options.snapshot_path = dir.path() / "kpis.db";
  boost::asio::io_context io;
  const std::int64_t completed_ms = m_clock.now_ms;
  {
    LiveView view(io.get_executor(), m_clock, options);
    view.start();
    Published e;
    e.lines = {Line{"tops", 2, 150'000, 60'000, 10'000}};
    EventReader reader;
    const auto facts = reader.read(test::published_json(e));
    ASSERT_TRUE(facts) << facts.error().message;
    const std::vector<std::optional<EventDigest>> published = {EventDigest(*facts)};
    view.on_events_published(published);
    EXPECT_EQ(view.kpis().totals().gmv_minor, 290'000);
    view.stop();  // the final snapshot
  }
  m_clock.now_ms = completed_ms + 60'000;
  LiveView restarted(io.get_executor(), m_clock, options);
  const auto d = json::parse(restarted.kpis_json()).as_object();
  EXPECT_EQ(d.at("totals").at("gmv_minor").as_int64(), 290'000);
  EXPECT_EQ(d.at("totals").at("cost_minor").as_int64(), 120'000);
  EXPECT_EQ(d.at("latest").as_array().size(), 1U);
  restarted.stop();
}

TEST(UtcOffsetTest, ParsesFixedOffsetsAndNamesTheRule) {
  EXPECT_EQ(parse_utc_offset("+07:00").value(), std::chrono::minutes(420));
  EXPECT_EQ(parse_utc_offset("-03:30").value(), std::chrono::minutes(-210));
  EXPECT_EQ(parse_utc_offset("Z").value(), std::chrono::minutes(0));
  EXPECT_EQ(parse_utc_offset("+14:00").value(), std::chrono::minutes(840));
  for (const char* bad : {"", "07:00", "+7:00", "+07", "+15:00", "+07:60", "UTC", "+07:00x"}) {
    const auto parsed = parse_utc_offset(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_NE(parsed.error().message.find("+07:00"), std::string::npos);
  }
  EXPECT_EQ(format_utc_offset(std::chrono::minutes(-210)), "-03:30");
  EXPECT_EQ(format_utc_offset(std::chrono::minutes(420)), "+07:00");
}

TEST(KpisConfigTest, SectionKeysDefaultsAndErrorsNamingTheKey) {
  const std::string base =
      "collector_id = \"c1\"\ndata_dir = \"/tmp/x\"\n[mqtt]\nuri = \"mqtt://127.0.0.1:1883\"\n"
      "[sink]\ntype = \"file\"\npath = \"/tmp/out\"\n";
  const auto defaults = parse_collector_config(base);
  EXPECT_EQ(defaults.kpis.utc_offset, std::chrono::minutes(420));
  EXPECT_EQ(defaults.kpis.latest_transactions, 50U);
  EXPECT_EQ(defaults.kpis.max_stores, 1000U);
  EXPECT_EQ(defaults.kpis.max_categories, 200U);
  EXPECT_EQ(defaults.kpis.latency_window, std::chrono::seconds(60));
  EXPECT_EQ(defaults.kpis.latency_max_samples, 100'000U);
  const auto set = parse_collector_config(
      base +
      "[kpis]\ntimezone = \"-05:00\"\nlatest_transactions = 10\nmax_stores = 25\n"
      "max_categories = 30\ncurrency = \"USD\"\nsnapshot_interval_s = 2\n"
      "latency_window_s = 30\nlatency_max_samples = 5000\n");
  EXPECT_EQ(set.kpis.utc_offset, std::chrono::minutes(-300));
  EXPECT_EQ(set.kpis.latest_transactions, 10U);
  EXPECT_EQ(set.kpis.max_stores, 25U);
  EXPECT_EQ(set.kpis.max_categories, 30U);
  EXPECT_EQ(set.kpis.currency, "USD");
  EXPECT_EQ(set.kpis.snapshot_interval, std::chrono::seconds(2));
  EXPECT_EQ(set.kpis.latency_window, std::chrono::seconds(30));
  EXPECT_EQ(set.kpis.latency_max_samples, 5000U);
  const std::pair<std::string, std::string> bad_keys[] = {
      {"timezone = \"Asia/Jakarta\"", "kpis.timezone"},
      {"currency = \"idr\"", "kpis.currency"},
      {"latest_transactions = 0", "kpis.latest_transactions"},
      {"max_stores = 0", "kpis.max_stores"},
      {"bogus = 1", "kpis.bogus"}};
  for (const auto& [text, key] : bad_keys) {
    try {
      static_cast<void>(parse_collector_config(base + "[kpis]\n" + text + "\n"));
      ADD_FAILURE() << text << " was accepted";
    } catch (const common::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace pos::collector
