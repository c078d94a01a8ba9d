// The checker must catch what the e2e suite exists to catch: a lost, duplicated, reordered or
// altered event. Hand-made messages against a hand-made accepted log (no processes).

#include "subscription_checker.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace pos::test {
namespace {

namespace json = boost::json;

constexpr const char* epoch = "00000000000000aa";

json::object sent_event(int n) {
  return json::parse(R"({"type":"stock_change","pos_event_id":"P)" + std::to_string(n) +
                     R"(","occurred_at":"2026-11-22T10:15:03.120+07:00","sku":"TOP-1",)"
                     R"("location":"floor","delta":-1,"reason":"sale","extra":{"a":[1,2]}})")
      .as_object();
}

std::string event_id(int seq) {
  return std::string("S01-T1-") + epoch + "-" + std::to_string(seq);
}

AcceptedEvent accepted(int n) {
  return {"S01", "T1", "P" + std::to_string(n), event_id(n), "accepted", sent_event(n)};
}

PubSubMessage published(int seq, const std::string& message_id = "") {
  auto data = sent_event(seq);
  data["event_id"] = event_id(seq);
  data["seq"] = seq;
  data["store_id"] = "S01";
  data["till_id"] = "T1";
  data["received_at"] = "2026-11-22T03:15:03.200Z";
  data["collected_at"] = "2026-11-22T03:15:03.300Z";
  data["schema_version"] = 1;
  PubSubMessage m;
  m.data = json::serialize(data);
  m.attributes = {{"event_id", event_id(seq)},
                  {"event_type", "stock_change"},
                  {"store_id", "S01"},
                  {"till_id", "T1"},
                  {"schema_version", "1"}};
  m.ordering_key = "S01/T1";
  m.message_id = message_id.empty() ? "m" + std::to_string(seq) : message_id;
  return m;
}

std::vector<AcceptedEvent> log_of(int count) {
  std::vector<AcceptedEvent> log;
  for (int n = 1; n <= count; ++n) {
    log.push_back(accepted(n));
  }
  return log;
}

TEST(SubscriptionChecker, EverythingOnceInOrderPasses) {
  const auto r = check_delivery(log_of(3), {published(1), published(2), published(3)});
  EXPECT_TRUE(r.ok(false)) << r.findings();
  EXPECT_EQ(r.accepted, 3U);
  EXPECT_EQ(r.published, 3U);
}

TEST(SubscriptionChecker, MissingEventIsReported) {
  const auto r = check_delivery(log_of(3), {published(1), published(2)});
  EXPECT_FALSE(r.ok(true));
  EXPECT_EQ(r.missing.count, 1U);
  EXPECT_NE(r.findings().find("P3"), std::string::npos) << r.findings();
}

TEST(SubscriptionChecker, DuplicateCountsRedeliveryDoesNot) {
  auto again = published(2, "m2-again");
  const auto r = check_delivery(log_of(2), {published(1), published(2), again, published(2, "m2")});
  EXPECT_EQ(r.duplicates, 1U);
  EXPECT_EQ(r.redeliveries, 1U);
  EXPECT_FALSE(r.ok(false));
  EXPECT_TRUE(r.ok(true)) << r.findings();
}

TEST(SubscriptionChecker, SeqGapOrReorderIsReported) {
  const auto r = check_delivery(log_of(3), {published(1), published(3), published(2)});
  EXPECT_FALSE(r.ok(true));
  EXPECT_GE(r.out_of_order.count, 1U) << r.findings();
}

TEST(SubscriptionChecker, AcceptanceOrderMustBeSeqOrder) {
  auto log = log_of(2);
  std::swap(log[0], log[1]);
  const auto r = check_delivery(log, {published(1), published(2)});
  EXPECT_EQ(r.out_of_order.count, 1U) << r.findings();
}

TEST(SubscriptionChecker, ChangedContentOrAttributesAreReported) {
  auto changed = published(2);
  changed.data.replace(changed.data.find("\"delta\":-1"), 10, "\"delta\":-2");
  auto bad_attribute = published(3);
  bad_attribute.attributes["event_type"] = "sale";
  auto bad_key = published(4);
  bad_key.ordering_key = "S01/T9";
  const auto r = check_delivery(log_of(4), {published(1), changed, bad_attribute, bad_key});
  EXPECT_EQ(r.content.count, 3U) << r.findings();
  EXPECT_FALSE(r.ok(true));
}

TEST(SubscriptionChecker, UnansweredOnlyAllowedAsTail) {
  // Seq 3 was stored but possim was never answered (in flight at SIGTERM): allowed.
  auto r = check_delivery(log_of(2), {published(1), published(2), published(3)});
  EXPECT_TRUE(r.ok(false)) << r.findings();
  EXPECT_EQ(r.unanswered, 1U);
  // Seq 2 unanswered but seq 3 answered: the POS never learnt about an event in the middle.
  auto log = log_of(3);
  log.erase(log.begin() + 1);
  r = check_delivery(log, {published(1), published(2), published(3)});
  EXPECT_EQ(r.unexpected.count, 1U) << r.findings();
}

}  // namespace
}  // namespace pos::test
