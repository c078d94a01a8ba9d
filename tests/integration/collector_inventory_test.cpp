// The live stock of the real poscollector (file sink) against a real mosquitto (TLS, client
// certificates): stock_change events sent by fake tills (two branches and the warehouse) come out
// of GET /v1/inventory with each filter, a low-stock alert shows in the JSON and in /metrics, and
// the figures survive a restart (inventory.db).

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>

#include "collector_harness.hpp"
#include "pos/protocol/batch.hpp"
#include "pos/protocol/event.hpp"

namespace pos::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr std::uint64_t stock_epoch = 0x0c0c0c0c0c0c0c0cULL;

std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string movement(const std::string& id, const std::string& sku, const std::string& location,
                     int delta, std::optional<int> on_hand_after = std::nullopt) {
  json::object event{{"type", "stock_change"},
                     {"pos_event_id", id},
                     {"occurred_at", protocol::format_rfc3339_utc_ms(unix_now_ms())},
                     {"sku", sku},
                     {"location", location},
                     {"delta", delta},
                     {"reason", delta > 0 ? "receipt" : "sale"}};
  if (on_hand_after) {
    event["on_hand_after"] = *on_hand_after;
  }
  return json::serialize(event);
}

std::string sale_of(const std::string& id, const std::string& sku, const std::string& category) {
  return json::serialize(
      json::object{{"type", "sale"},
                   {"pos_event_id", id},
                   {"occurred_at", protocol::format_rfc3339_utc_ms(unix_now_ms())},
                   {"currency", "IDR"},
                   {"customer", {{"id", nullptr}, {"type", "guest"}}},
                   {"lines", json::array{json::object{{"sku", sku},
                                                      {"category", category},
                                                      {"qty", 1},
                                                      {"unit_price_minor", 100'000},
                                                      {"unit_cost_minor", 40'000},
                                                      {"discount_minor", 0}}}},
                   {"payment", {{"method", "cash"}}}});
}

std::string stock_batch(const std::string& store, const std::vector<std::string>& events) {
  const std::string received_at = protocol::format_rfc3339_utc_ms(unix_now_ms());
  std::vector<std::string> lines;
  std::uint64_t seq = 0;
  for (const auto& text : events) {
    auto event = protocol::parse_pos_event(text);
    if (!event) {
      throw std::runtime_error("test event: " + event.error().message);
    }
    lines.push_back(
        protocol::make_payload_line(*event, {store, "T1", stock_epoch, ++seq, received_at}));
  }
  protocol::BatchEncoder encoder;
  return *encoder.encode(stock_epoch, 1, lines);
}

/// A poscollector with the file sink, thresholds default 5 and dresses 2, 1 s snapshots.
class StockCollector {
 public:
  StockCollector(const std::filesystem::path& dir, TestPki& pki, const std::string& broker_uri)
      : m_dir(dir), m_port(free_tcp_port()) {
    std::filesystem::create_directories(dir);
    const auto cert = pki.issue_client(collector_common_name);
    std::ofstream out(dir / "poscollector.toml");
    out << "collector_id = \"collector-1\"\ndata_dir = \"" << (dir / "data").string() << "\"\n"
        << "[mqtt]\nuri = \"" << broker_uri << "\"\nca_file = \"" << pki.ca_cert().string()
        << "\"\ncert_file = \"" << cert.cert.string() << "\"\nkey_file = \"" << cert.key.string()
        << "\"\n[sink]\ntype = \"file\"\npath = \"" << (dir / "out").string() << "\"\n"
        << "[http]\nlisten = \"127.0.0.1:" << m_port << "\"\n"
        << "[stock]\nlow_threshold = 5\nsnapshot_interval_s = 1\n"
        << "[stock.categories]\ndresses = 2\n";
  }

  void start() {
    m_process.reset();
    m_process.emplace(
        start_collector(m_dir / "poscollector.toml", m_dir / "poscollector.log", m_port));
  }
  int terminate() { return m_process->terminate(10s); }
  HttpAnswer request(const std::string& path) { return http_request(m_port, "GET", path); }
  json::object get(const std::string& path) {
    const auto answer = request(path);
    if (answer.status != 200) {
      throw std::runtime_error(path + ": HTTP " + std::to_string(answer.status) + "\n" + log());
    }
    return json::parse(answer.body).as_object();
  }
  std::string log() const { return read_text_file(m_dir / "poscollector.log"); }

 private:
  std::filesystem::path m_dir;
  std::uint16_t m_port;
  std::optional<ChildProcess> m_process;
};

/// "store/sku" of every item listed, in order.
std::vector<std::string> listed(const json::object& doc) {
  std::vector<std::string> out;
  for (const auto& row : doc.at("items").as_array()) {
    out.push_back(std::string(row.at("store_id").as_string()) + "/" +
                  std::string(row.at("sku").as_string()));
  }
  return out;
}

TEST(CollectorInventoryTest, StockFromPublishedEventsFiltersAlertsMetricsAndARestart) {
  TempDir dir{"collector-inventory-test"};
  std::filesystem::create_directories(dir.path() / "pki");
  TestPki pki(dir.path() / "pki");
  MosquittoBroker broker(pki);
  StockCollector collector(dir.path() / "collector", pki, broker.uri());
  collector.start();

  FakeTill s01(broker, pki, "S01", "T1");
  FakeTill s02(broker, pki, "S02", "T1");
  FakeTill wh(broker, pki, "WH01", "T1");
  s01.send_raw(
      stock_batch("S01", {sale_of("r-1", "DRS-1", "dresses"), movement("m-1", "DRS-1", "floor", 6),
                          movement("m-2", "DRS-1", "floor", -4),  // 2: dresses low
                          movement("m-3", "TOP-1", "backroom", 30),
                          movement("m-4", "TOP-1", "floor", -1, 8)}));       // 30 + 8
  s02.send_raw(stock_batch("S02", {movement("m-1", "TOP-1", "floor", 4)}));  // 4 <= 5: low
  wh.send_raw(stock_batch("WH01", {movement("m-1", "TOP-1", "warehouse", 500),
                                   movement("m-2", "DRS-1", "warehouse", 120)}));
  ASSERT_EQ(s01.wait_ack(stock_epoch, 5, 20s), 5U) << collector.log();
  ASSERT_EQ(s02.wait_ack(stock_epoch, 1, 20s), 1U) << collector.log();
  ASSERT_EQ(wh.wait_ack(stock_epoch, 2, 20s), 2U) << collector.log();

  auto check = [&](const std::string& when) -> std::string {
    SCOPED_TRACE(when);
    const auto all = collector.get("/v1/inventory");
    EXPECT_EQ(listed(all), (std::vector<std::string>{"S01/DRS-1", "S01/TOP-1", "S02/TOP-1",
                                                     "WH01/DRS-1", "WH01/TOP-1"}));
    const auto& items = all.at("items").as_array();
    EXPECT_EQ(items[0].at("on_hand").as_int64(), 2);
    EXPECT_EQ(items[0].at("category").as_string(), "dresses");
    EXPECT_EQ(items[0].at("threshold").as_int64(), 2);
    EXPECT_EQ(items[1].at("on_hand").as_int64(), 38);
    EXPECT_EQ(items[1].at("floor").as_int64(), 8);
    EXPECT_EQ(items[1].at("backroom").as_int64(), 30);
    EXPECT_EQ(items[4].at("warehouse").as_int64(), 500);
    EXPECT_EQ(all.at("low_items_total").as_int64(), 2);

    EXPECT_EQ(listed(collector.get("/v1/inventory?store=WH01")),
              (std::vector<std::string>{"WH01/DRS-1", "WH01/TOP-1"}));
    EXPECT_EQ(listed(collector.get("/v1/inventory?category=dresses")),
              (std::vector<std::string>{"S01/DRS-1", "WH01/DRS-1"}));
    const auto low = collector.get("/v1/inventory?low=1");
    EXPECT_EQ(listed(low), (std::vector<std::string>{"S01/DRS-1", "S02/TOP-1"}));
    const auto& alerts = low.at("alerts").as_array();
    if (alerts.size() != 2U) {
      ADD_FAILURE() << "alerts: " << json::serialize(alerts);
      return "";
    }
    EXPECT_EQ(alerts[1].at("rule").as_string(), "low_stock");
    EXPECT_EQ(alerts[1].at("severity").as_string(), "warning");
    EXPECT_EQ(alerts[1].at("store_id").as_string(), "S02");
    EXPECT_EQ(alerts[1].at("sku").as_string(), "TOP-1");
    EXPECT_EQ(alerts[1].at("message").as_string(), "low stock: 4 on hand, threshold 5 (default)");
    EXPECT_TRUE(alerts[1].at("since").is_string());
    EXPECT_EQ(listed(collector.get("/v1/inventory?store=S01&low=true&category=dresses")),
              (std::vector<std::string>{"S01/DRS-1"}));

    const std::string metrics = collector.request("/metrics").body;
    for (const char* line :
         {"poscollector_stock_items 5\n", "poscollector_stock_low_items{store_id=\"S02\"} 1\n",
          "poscollector_stock_alert{store_id=\"S02\",sku=\"TOP-1\",severity=\"warning\"} 1\n",
          "poscollector_stock_alerts_active{severity=\"warning\"} 2\n"}) {
      EXPECT_NE(metrics.find(line), std::string::npos) << line;
    }
    return std::string(alerts[0].at("since").as_string());
  };
  const auto since = check("before the restart");
  const auto bad = collector.request("/v1/inventory?limit=0");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("limit"), std::string::npos) << bad.body;

  // A clean restart keeps the figures and when each item went low (inventory.db).
  ASSERT_EQ(collector.terminate(), 0) << collector.log();
  collector.start();
  EXPECT_EQ(check("after the restart"), since);
  EXPECT_NE(collector.log().find("live stock: restored 5 item(s), 2 low"), std::string::npos)
      << collector.log();
}

}  // namespace
}  // namespace pos::test
