// The live sales view and pipeline stats of the real poscollector (file sink) against a real
// mosquitto (TLS, client certificates): known events sent by fake tills come out of GET /v1/kpis
// exactly, GET /v1/stats reports plausible latency and compression, and the figures survive a
// restart.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <thread>

#include "collector_harness.hpp"
#include "pos/protocol/batch.hpp"
#include "pos/protocol/event.hpp"

namespace pos::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr std::uint64_t epoch_a = 0x0a0a0a0a0a0a0a0aULL;
constexpr std::uint64_t epoch_b = 0x0b0b0b0b0b0b0b0bULL;
constexpr std::int64_t hour_ms = 3'600'000;
constexpr std::int64_t day_ms = 86'400'000;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// The collector's kpis.timezone, in whole hours: chosen when the test starts so that it is
/// between 12:00 and 13:00 there, so "today" cannot change during the test, whatever the time of
/// day it runs (a fixed zone would need the test to wait out local midnight).
std::int64_t offset_hours() {
  static const std::int64_t hours = 12 - (now_ms() % day_ms) / hour_ms;  // -11 .. +12
  return hours;
}

/// The offset as kpis.timezone and the end of occurred_at write it: "+07:00", "-03:00".
std::string offset_text() {
  const std::int64_t h = offset_hours();
  const std::int64_t a = h < 0 ? -h : h;
  return std::string(h < 0 ? "-" : "+") + (a < 10 ? "0" : "") + std::to_string(a) + ":00";
}

/// `unix_ms` as RFC 3339 in the collector's zone, as a till there writes occurred_at.
std::string local_time(std::int64_t unix_ms) {
  std::string text = protocol::format_rfc3339_utc_ms(unix_ms + offset_hours() * hour_ms);
  text.pop_back();  // 'Z'
  return text + offset_text();
}

struct TestLine {
  const char* category;
  int qty;
  int price;
  int cost;
  int discount;
};

std::string sale_or_return(const std::string& type, const std::string& id,
                           const std::string& occurred_at, const std::string& customer_type,
                           const std::vector<TestLine>& lines) {
  json::array out_lines;
  int sku = 0;
  for (const auto& l : lines) {
    out_lines.push_back(json::object{{"sku", "SKU-" + std::to_string(++sku)},
                                     {"category", l.category},
                                     {"qty", l.qty},
                                     {"unit_price_minor", l.price},
                                     {"unit_cost_minor", l.cost},
                                     {"discount_minor", l.discount}});
  }
  return json::serialize(json::object{{"type", type},
                                      {"pos_event_id", id},
                                      {"occurred_at", occurred_at},
                                      {"currency", "IDR"},
                                      {"customer", {{"id", nullptr}, {"type", customer_type}}},
                                      {"lines", std::move(out_lines)},
                                      {"payment", {{"method", "qris"}}}});
}

std::string stock_change(const std::string& id, const std::string& occurred_at) {
  return json::serialize(json::object{{"type", "stock_change"},
                                      {"pos_event_id", id},
                                      {"occurred_at", occurred_at},
                                      {"sku", "SKU-1"},
                                      {"location", "floor"},
                                      {"delta", -2},
                                      {"reason", "sale"}});
}

/// Payload lines stamped as the agent does, received `age_ms` ago.
std::string batch(const std::string& store, const std::string& till, std::uint64_t epoch,
                  const std::vector<std::string>& events, std::int64_t age_ms) {
  const std::string received_at = protocol::format_rfc3339_utc_ms(now_ms() - age_ms);
  std::vector<std::string> lines;
  std::uint64_t seq = 0;
  for (const auto& text : events) {
    auto event = protocol::parse_pos_event(text);
    if (!event) {
      throw std::runtime_error("test event: " + event.error().message);
    }
    lines.push_back(protocol::make_payload_line(*event, {store, till, epoch, ++seq, received_at}));
  }
  protocol::BatchEncoder encoder;
  return *encoder.encode(epoch, 1, lines);
}

/// A poscollector with the file sink and a 1 s snapshot interval.
class KpisCollector {
 public:
  KpisCollector(const std::filesystem::path& dir, TestPki& pki, const std::string& broker_uri)
      : m_dir(dir), m_port(free_tcp_port()) {
    std::filesystem::create_directories(dir);
    const auto cert = pki.issue_client(collector_common_name);
    std::ofstream out(dir / "poscollector.toml");
    out << "collector_id = \"collector-1\"\ndata_dir = \"" << (dir / "data").string() << "\"\n"
        << "[mqtt]\nuri = \"" << broker_uri << "\"\nca_file = \"" << pki.ca_cert().string()
        << "\"\ncert_file = \"" << cert.cert.string() << "\"\nkey_file = \"" << cert.key.string()
        << "\"\n[sink]\ntype = \"file\"\npath = \"" << (dir / "out").string() << "\"\n"
        << "[http]\nlisten = \"127.0.0.1:" << m_port << "\"\n"
        << "[kpis]\ntimezone = \"" << offset_text() << "\"\nsnapshot_interval_s = 1\n";
  }

  void start() {
    m_process.reset();
    m_process.emplace(
        start_collector(m_dir / "poscollector.toml", m_dir / "poscollector.log", m_port));
  }
  int terminate() { return m_process->terminate(10s); }
  json::object get(const std::string& path) {
    const auto answer = http_request(m_port, "GET", path);
    if (answer.status != 200) {
      throw std::runtime_error(path + ": HTTP " + std::to_string(answer.status) + "\n" + log());
    }
    return json::parse(answer.body).as_object();
  }
  std::string metrics() { return http_request(m_port, "GET", "/metrics").body; }
  std::string log() const { return read_text_file(m_dir / "poscollector.log"); }

 private:
  std::filesystem::path m_dir;
  std::uint16_t m_port;
  std::optional<ChildProcess> m_process;
};

const json::object& row(const json::object& doc, std::string_view list, std::string_view key,
                        std::string_view value) {
  for (const auto& r : doc.at(list).as_array()) {
    if (r.at(key).as_string() == value) {
      return r.as_object();
    }
  }
  throw std::runtime_error("no " + std::string(value) + " in " + std::string(list));
}

TEST(CollectorKpisTest, KnownEventsGiveExactFiguresPlausibleStatsAndSurviveARestart) {
  // Today stays today for the whole test: the collector's zone puts it around local noon.
  SCOPED_TRACE("kpis.timezone " + offset_text());
  const std::int64_t time_of_day = (now_ms() + offset_hours() * hour_ms) % day_ms;
  ASSERT_GE(time_of_day, 12 * hour_ms);
  ASSERT_LT(time_of_day, 14 * hour_ms);

  TempDir dir{"collector-kpis-test"};
  std::filesystem::create_directories(dir.path() / "pki");
  TestPki pki(dir.path() / "pki");
  MosquittoBroker broker(pki);
  KpisCollector collector(dir.path() / "collector", pki, broker.uri());
  collector.start();

  const std::int64_t t = now_ms();
  const std::vector<std::string> s01 = {
      sale_or_return("sale", "r-1", local_time(t - 50'000), "returning",
                     {{"tops", 2, 150'000, 60'000, 20'000}, {"shoes", 1, 300'000, 120'000, 0}}),
      sale_or_return("sale", "r-2", local_time(t - 40'000), "guest",
                     {{"bags", 1, 200'000, 90'000, 0}}),
      sale_or_return("return", "ret-1", local_time(t - 30'000), "returning",
                     {{"tops", 1, 150'000, 60'000, 10'000}}),
  };
  const std::vector<std::string> s02 = {
      sale_or_return("sale", "r-9", local_time(t - 20'000), "new",
                     {{"tops", 3, 100'000, 40'000, 0}}),
      stock_change("mv-1", local_time(t - 10'000)),
      sale_or_return("sale", "r-old", local_time(t - 2 * day_ms), "new",
                     {{"tops", 1, 999'000, 1, 0}}),  // two days ago: not today's
  };
  FakeTill till1(broker, pki, "S01", "T1");
  FakeTill till2(broker, pki, "S02", "T1");
  till1.send_raw(batch("S01", "T1", epoch_a, s01, 300));
  till2.send_raw(batch("S02", "T1", epoch_b, s02, 300));
  ASSERT_EQ(till1.wait_ack(epoch_a, 3, 20s), 3U) << collector.log();
  ASSERT_EQ(till2.wait_ack(epoch_b, 3, 20s), 3U) << collector.log();

  auto check_kpis = [](const json::object& kpis) {
    const auto& totals = kpis.at("totals").as_object();
    EXPECT_EQ(totals.at("gmv_minor").as_int64(), 940'000);
    EXPECT_EQ(totals.at("units").as_int64(), 6);
    EXPECT_EQ(totals.at("transactions").as_int64(), 3);
    EXPECT_EQ(totals.at("returns").as_int64(), 1);
    EXPECT_EQ(totals.at("cost_minor").as_int64(), 390'000);
    EXPECT_EQ(totals.at("margin_minor").as_int64(), 550'000);
    EXPECT_EQ(kpis.at("currency").as_string(), "IDR");

    const auto& s01 = row(kpis, "by_store", "store_id", "S01");
    EXPECT_EQ(s01.at("gmv_minor").as_int64(), 640'000);
    EXPECT_EQ(s01.at("units").as_int64(), 3);
    EXPECT_EQ(s01.at("transactions").as_int64(), 2);
    const auto& s02 = row(kpis, "by_store", "store_id", "S02");
    EXPECT_EQ(s02.at("gmv_minor").as_int64(), 300'000);
    EXPECT_EQ(s02.at("transactions").as_int64(), 1);

    const auto& tops = row(kpis, "by_category", "category", "tops");
    EXPECT_EQ(tops.at("gmv_minor").as_int64(), 440'000);
    EXPECT_EQ(tops.at("units").as_int64(), 4);
    EXPECT_EQ(tops.at("cost_minor").as_int64(), 180'000);
    EXPECT_EQ(tops.at("margin_minor").as_int64(), 260'000);
    EXPECT_DOUBLE_EQ(tops.at("margin_pct").as_double(), 59.09);
    EXPECT_EQ(row(kpis, "by_category", "category", "shoes").at("gmv_minor").as_int64(), 300'000);
    EXPECT_EQ(row(kpis, "by_category", "category", "bags").at("cost_minor").as_int64(), 90'000);

    const auto& returning = row(kpis, "by_customer_type", "customer_type", "returning");
    EXPECT_EQ(returning.at("gmv_minor").as_int64(), 440'000);
    EXPECT_EQ(returning.at("units").as_int64(), 2);
    EXPECT_EQ(returning.at("transactions").as_int64(), 1);
    EXPECT_EQ(row(kpis, "by_customer_type", "customer_type", "new").at("gmv_minor").as_int64(),
              300'000);
    EXPECT_EQ(row(kpis, "by_customer_type", "customer_type", "guest").at("units").as_int64(), 1);

    const auto& latest = kpis.at("latest").as_array();
    ASSERT_EQ(latest.size(), 4U);
    const char* order[] = {"r-9", "ret-1", "r-2", "r-1"};
    for (std::size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(latest[i].at("pos_event_id").as_string(), order[i]);
    }
    EXPECT_EQ(latest[1].at("type").as_string(), "return");
    EXPECT_EQ(latest[1].at("amount_minor").as_int64(), -140'000);
    EXPECT_EQ(latest[1].at("units").as_int64(), -1);
    EXPECT_EQ(latest[3].at("store_id").as_string(), "S01");
    EXPECT_EQ(latest[3].at("till_id").as_string(), "T1");
    EXPECT_EQ(latest[3].at("customer_type").as_string(), "returning");
    EXPECT_EQ(latest[3].at("amount_minor").as_int64(), 580'000);
  };

  const auto kpis = collector.get("/v1/kpis");
  check_kpis(kpis);
  EXPECT_EQ(kpis.at("day").as_string(), local_time(now_ms()).substr(0, 10));
  EXPECT_EQ(kpis.at("events").at("not_today").as_int64(), 1);
  EXPECT_EQ(kpis.at("events").at("stock_changes").as_int64(), 1);

  const auto stats = collector.get("/v1/stats");
  EXPECT_EQ(stats.at("events_published").as_int64(), 6);
  EXPECT_EQ(stats.at("batches_acked").as_int64(), 2);
  EXPECT_EQ(stats.at("latency_samples").as_int64(), 6);
  const double p50 = stats.at("latency_p50_ms").to_number<double>();
  const double p99 = stats.at("latency_p99_ms").to_number<double>();
  EXPECT_GE(p50, 300.0) << "received_at was 300 ms before the batch was sent";
  EXPECT_LT(p99, 30'000.0);
  EXPECT_GE(p99, p50);
  EXPECT_GT(stats.at("bytes_encoded").as_int64(), 0);
  EXPECT_GT(stats.at("bytes_raw").as_int64(), stats.at("bytes_encoded").as_int64());
  EXPECT_GT(stats.at("compression_ratio").to_number<double>(), 1.0);
  EXPECT_GE(stats.at("uptime_s").as_int64(), 0);

  const std::string metrics = collector.metrics();
  for (const char* line :
       {"poscollector_end_to_end_seconds_count 6\n", "poscollector_sales_today_gmv_minor 940000\n",
        "poscollector_sales_today_category_gmv_minor{category=\"tops\"} 440000\n",
        "poscollector_kpi_events_total{outcome=\"not_today\"} 1\n"}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line;
  }

  // A clean restart keeps today's figures (kpis.db); nothing is published twice.
  ASSERT_EQ(collector.terminate(), 0) << collector.log();
  collector.start();
  check_kpis(collector.get("/v1/kpis"));
  EXPECT_EQ(collector.get("/v1/stats").at("latency_samples").as_int64(), 0);
}

}  // namespace
}  // namespace pos::test
