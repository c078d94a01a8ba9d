#include "pos/common/mqtt_settings.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "pos/protocol/ids.hpp"

namespace pos::common {
namespace {

std::vector<std::string> three_brokers() {
  return {"ssl://a:8883", "ssl://b:8883", "ssl://c:8883"};
}

TEST(TillBrokerOrder, RotatesTheListToTheTillsHashAndWraps) {
  const auto brokers = three_brokers();
  const auto start = protocol::till_hash("S07", "T1") % 3;
  const auto order = till_broker_order(brokers, "S07", "T1");
  ASSERT_EQ(order.size(), 3U);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(order[i], brokers[(start + i) % 3]) << i;
  }
  EXPECT_EQ(till_broker_order(brokers, "S07", "T1"), order) << "stable";
  EXPECT_EQ(till_broker_order({"ssl://a:8883"}, "S07", "T1"),
            std::vector<std::string>{"ssl://a:8883"});
  EXPECT_TRUE(till_broker_order({}, "S07", "T1").empty());
}

// The fleet: 20 branches and a warehouse, up to 8 tills each. Every broker is the first choice of
// about a third of them.
TEST(TillBrokerOrder, SpreadsAFleetOverTheBrokers) {
  const auto brokers = three_brokers();
  std::map<std::string, int> first;
  int tills = 0;
  for (int store = 1; store <= 21; ++store) {
    const std::string store_id =
        store == 21 ? "WH01" : "S" + std::string(store < 10 ? "0" : "") + std::to_string(store);
    for (int till = 1; till <= 8; ++till) {
      ++first[till_broker_order(brokers, store_id, "T" + std::to_string(till)).front()];
      ++tills;
    }
  }
  ASSERT_EQ(first.size(), 3U);
  for (const auto& [uri, count] : first) {
    EXPECT_GT(count, tills / 3 - tills / 10) << uri;
    EXPECT_LT(count, tills / 3 + tills / 10) << uri;
  }
}

TEST(MqttUris, ChecksAndTls) {
  EXPECT_FALSE(check_mqtt_uris(three_brokers()));
  EXPECT_FALSE(check_mqtt_uris({"mqtt://a:1883", "tcp://b:1883"}));
  const auto problem = check_mqtt_uris({"ssl://a:8883", "mqtt://b:1883"});
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->index, 1U);
  EXPECT_EQ(mqtt_uri_key(*problem, true), "mqtt.uri[1]");
  EXPECT_EQ(mqtt_uri_key(*problem, false), "mqtt.uri");
  const auto empty = check_mqtt_uris({});
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->index);
  EXPECT_EQ(mqtt_uri_key(*empty, true), "mqtt.uri");
  MqttSettings settings;
  EXPECT_FALSE(uses_tls(settings));
  settings.uris = {"mqtts://a:8883"};
  EXPECT_TRUE(uses_tls(settings));
  settings.uris = {"tcp://a:1883"};
  EXPECT_FALSE(uses_tls(settings));
}

TEST(MqttUris, DescribeForLogs) {
  EXPECT_EQ(describe_uris({"ssl://a:8883"}), "ssl://a:8883");
  EXPECT_EQ(describe_uris({"ssl://a:8883", "ssl://b:8883"}), "[ssl://a:8883, ssl://b:8883]");
  EXPECT_EQ(describe_uris({}), "[]");
}

}  // namespace
}  // namespace pos::common
