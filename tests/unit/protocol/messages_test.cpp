#include "pos/protocol/messages.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace pos::protocol {
namespace {

namespace json = boost::json;

TEST(Ack, EncodeAndRoundTrip) {
  EXPECT_EQ(encode_ack({0x0123456789abcdefULL, 42}),
            R"({"epoch":"0123456789abcdef","through_seq":42})");
  for (const Ack ack : {Ack{0, 0}, Ack{1, 1}, Ack{~0ULL, ~0ULL}, Ack{0xdeadbeefULL, 1000000}}) {
    const auto back = parse_ack(encode_ack(ack));
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(*back, ack);
  }
}

TEST(Ack, AcceptsUppercaseEpochAndUnknownFields) {
  const auto ack = parse_ack(R"({"x":[1],"through_seq":7,"epoch":"0123456789ABCDEF"})");
  ASSERT_TRUE(ack.has_value()) << ack.error().message;
  EXPECT_EQ(*ack, (Ack{0x0123456789abcdefULL, 7}));
}

TEST(Ack, ResendFlagIsWrittenOnlyWhenSetAndRoundTrips) {
  EXPECT_EQ(encode_ack({0x0123456789abcdefULL, 42, true}),
            R"({"epoch":"0123456789abcdef","through_seq":42,"resend":true})");
  // Without the flag the ack is byte for byte what collectors sent before it existed.
  EXPECT_EQ(encode_ack({0x0123456789abcdefULL, 42, false}),
            R"({"epoch":"0123456789abcdef","through_seq":42})");
  for (const Ack ack : {Ack{1, 0, true}, Ack{~0ULL, ~0ULL, true}, Ack{7, 9, false}}) {
    const auto back = parse_ack(encode_ack(ack));
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(*back, ack);
  }
}

TEST(Ack, MissingOrFalseResendIsAPlainAck) {
  auto ack = parse_ack(R"({"epoch":"0123456789abcdef","through_seq":7})");
  ASSERT_TRUE(ack.has_value()) << ack.error().message;
  EXPECT_FALSE(ack->resend);
  ack = parse_ack(R"({"epoch":"0123456789abcdef","through_seq":7,"resend":false})");
  ASSERT_TRUE(ack.has_value()) << ack.error().message;
  EXPECT_FALSE(ack->resend);
  ack = parse_ack(R"({"resend":true,"x":{"y":[]},"through_seq":7,"epoch":"0123456789abcdef"})");
  ASSERT_TRUE(ack.has_value()) << ack.error().message;
  EXPECT_TRUE(ack->resend);
  EXPECT_EQ(*ack, (Ack{0x0123456789abcdefULL, 7, true}));
}

// What agents before the resend flag see of an ack that carries it: an unknown field, ignored.
TEST(Ack, ResendFieldIsAnUnknownFieldToOlderDecoders) {
  const auto ack = parse_ack(R"({"epoch":"0123456789abcdef","through_seq":7,"resend":true})");
  ASSERT_TRUE(ack.has_value()) << ack.error().message;
  EXPECT_EQ(ack->epoch, 0x0123456789abcdefULL);
  EXPECT_EQ(ack->through_seq, 7U);
}

TEST(Ack, BadInput) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "ack: invalid JSON (incomplete JSON) at offset 0"},
      {"[]", "ack: must be a JSON object"},
      {R"({"through_seq":1})", "ack.epoch: is required"},
      {R"({"epoch":"0123456789abcde","through_seq":1})", "ack.epoch: must be 16 hex digits"},
      {R"({"epoch":"0123456789abcdeX","through_seq":1})", "ack.epoch: must be 16 hex digits"},
      {R"({"epoch":81985529216486895,"through_seq":1})", "ack.epoch: must be 16 hex digits"},
      {R"({"epoch":"0123456789abcdef"})", "ack.through_seq: is required"},
      {R"({"epoch":"0123456789abcdef","through_seq":-1})",
       "ack.through_seq: must be an integer >= 0"},
      {R"({"epoch":"0123456789abcdef","through_seq":1.5})",
       "ack.through_seq: must be an integer >= 0"},
      {R"({"epoch":"0123456789abcdef","through_seq":"5"})",
       "ack.through_seq: must be an integer >= 0"},
      {R"({"epoch":"0123456789abcdef","through_seq":1,"resend":1})",
       "ack.resend: must be true or false"},
      {R"({"epoch":"0123456789abcdef","through_seq":1,"resend":"true"})",
       "ack.resend: must be true or false"},
      {R"({"epoch":"0123456789abcdef","through_seq":1,"resend":null})",
       "ack.resend: must be true or false"},
      {R"({"epoch":"0123456789abcdef","through_seq":1,"pad":")" + std::string(1000, 'x') + "\"}",
       "ack: larger than the limit of 1024 bytes"},
  };
  for (const auto& [text, expected] : cases) {
    const auto ack = parse_ack(text);
    ASSERT_FALSE(ack.has_value()) << text;
    EXPECT_EQ(ack.error().message, expected);
  }
}

AgentStatus full_status() {
  AgentStatus s;
  s.state = AgentState::online;
  s.agent_version = "0.1.0";
  s.sent_at = "2026-11-22T03:15:03.120Z";
  s.backlog_events = 12;
  s.backlog_bytes = 3456;
  s.oldest_unacked_at = "2026-11-22T03:10:00.000Z";
  s.last_ack_at = std::nullopt;
  s.ingested_total = 1000;
  s.rejected_total = 3;
  s.db_bytes = 1ULL << 40;
  s.disk_free_bytes = ~0ULL;
  s.epoch = 0x3f2a9c4e8d1b7a60ULL;
  s.acked_through = 1234;
  s.broker = "ssl://broker-b.example:8883";
  s.cert_not_after = "2029-02-24T10:00:00Z";
  s.extra["uplink"] = "4g";
  s.extra["queue"] = json::object{{"a", 1}};
  return s;
}

void expect_equal(const AgentStatus& a, const AgentStatus& b) {
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.agent_version, b.agent_version);
  EXPECT_EQ(a.sent_at, b.sent_at);
  EXPECT_EQ(a.backlog_events, b.backlog_events);
  EXPECT_EQ(a.backlog_bytes, b.backlog_bytes);
  EXPECT_EQ(a.oldest_unacked_at, b.oldest_unacked_at);
  EXPECT_EQ(a.last_ack_at, b.last_ack_at);
  EXPECT_EQ(a.ingested_total, b.ingested_total);
  EXPECT_EQ(a.rejected_total, b.rejected_total);
  EXPECT_EQ(a.db_bytes, b.db_bytes);
  EXPECT_EQ(a.disk_free_bytes, b.disk_free_bytes);
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.acked_through, b.acked_through);
  EXPECT_EQ(a.broker, b.broker);
  EXPECT_EQ(a.cert_not_after, b.cert_not_after);
  EXPECT_EQ(a.extra, b.extra);
}

TEST(Status, JsonHasAllSpecFields) {
  const json::object obj = status_to_json(full_status());
  for (std::string_view key :
       {"state", "agent_version", "sent_at", "backlog_events", "backlog_bytes", "oldest_unacked_at",
        "last_ack_at", "ingested_total", "rejected_total", "db_bytes", "disk_free_bytes", "broker",
        "uplink", "queue"}) {
    EXPECT_TRUE(obj.contains(key)) << key;
  }
  EXPECT_EQ(obj.at("state"), "online");
  EXPECT_TRUE(obj.at("last_ack_at").is_null());
  EXPECT_EQ(obj.at("oldest_unacked_at"), "2026-11-22T03:10:00.000Z");
  EXPECT_EQ(obj.at("epoch"), "3f2a9c4e8d1b7a60");
  EXPECT_EQ(obj.at("acked_through"), 1234);
  EXPECT_EQ(obj.at("broker"), "ssl://broker-b.example:8883");
  EXPECT_EQ(obj.at("cert_not_after"), "2029-02-24T10:00:00Z");
}

TEST(Status, CertNotAfterIsOptional) {
  AgentStatus s = full_status();
  s.cert_not_after.reset();
  EXPECT_FALSE(status_to_json(s).contains("cert_not_after"));
  const auto back = parse_status(encode_status(s));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_FALSE(back->cert_not_after.has_value());
}

TEST(Status, BrokerIsOptional) {
  AgentStatus s = full_status();
  s.broker.reset();
  EXPECT_FALSE(status_to_json(s).contains("broker"));
  const auto back = parse_status(encode_status(s));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_FALSE(back->broker.has_value());
}

TEST(Status, EpochAndAckedThroughAreOptional) {
  AgentStatus s = full_status();
  s.epoch.reset();
  s.acked_through.reset();
  const json::object obj = status_to_json(s);
  EXPECT_FALSE(obj.contains("epoch"));
  EXPECT_FALSE(obj.contains("acked_through"));
  const auto back = parse_status(encode_status(s));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_FALSE(back->epoch.has_value());
  EXPECT_FALSE(back->acked_through.has_value());
}

TEST(Status, ExtraDoesNotOverrideKnownFields) {
  AgentStatus s = full_status();
  s.extra["state"] = "offline";
  s.extra["backlog_events"] = -1;
  const json::object obj = status_to_json(s);
  EXPECT_EQ(obj.at("state"), "online");
  EXPECT_EQ(obj.at("backlog_events"), 12);
}

TEST(Status, RoundTrip) {
  AgentStatus s = full_status();
  auto back = parse_status(encode_status(s));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  expect_equal(*back, s);
  s.state = AgentState::offline;
  s.oldest_unacked_at.reset();
  s.last_ack_at = "2026-11-22T03:15:00+07:00";
  back = parse_status(encode_status(s));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  expect_equal(*back, s);
}

TEST(Status, LastWill) {
  EXPECT_EQ(offline_will(), R"({"state":"offline"})");
  const auto will = parse_status(offline_will());
  ASSERT_TRUE(will.has_value()) << will.error().message;
  expect_equal(*will, [] {
    AgentStatus s;
    s.state = AgentState::offline;
    return s;
  }());
}

TEST(Status, BadInput) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{", "status: invalid JSON (incomplete JSON) at offset 1"},
      {R"("online")", "status: must be a JSON object"},
      {R"({"agent_version":"1"})", "status.state: is required"},
      {R"({"state":"sleeping"})", "status.state: must be one of online, offline"},
      {R"({"state":null})", "status.state: must be one of online, offline"},
      {R"({"state":"online","agent_version":1})", "status.agent_version: must be a string"},
      {R"({"state":"online","sent_at":"now"})", "status.sent_at: must be an RFC 3339 date-time"},
      {R"({"state":"online","sent_at":null})", "status.sent_at: must be an RFC 3339 date-time"},
      {R"({"state":"online","backlog_events":-1})",
       "status.backlog_events: must be an integer >= 0"},
      {R"({"state":"online","db_bytes":1.5})", "status.db_bytes: must be an integer >= 0"},
      {R"({"state":"online","oldest_unacked_at":5})",
       "status.oldest_unacked_at: must be null or an RFC 3339 date-time"},
      {R"({"state":"online","last_ack_at":"2026-02-30T00:00:00Z"})",
       "status.last_ack_at: must be null or an RFC 3339 date-time"},
      {R"({"state":"online","epoch":"xyz"})", "status.epoch: must be 16 hex digits"},
      {R"({"state":"online","epoch":7})", "status.epoch: must be 16 hex digits"},
      {R"({"state":"online","acked_through":-3})", "status.acked_through: must be an integer >= 0"},
      {R"({"state":"online","broker":5})", "status.broker: must be a string"},
      {R"({"state":"online","broker":null})", "status.broker: must be a string"},
      {R"({"state":"online","cert_not_after":"soon"})",
       "status.cert_not_after: must be an RFC 3339 date-time"},
      {R"({"state":"online","cert_not_after":null})",
       "status.cert_not_after: must be an RFC 3339 date-time"},
      {R"({"state":"online","x":")" + std::string(70000, 'x') + "\"}",
       "status: larger than the limit of 65536 bytes"},
  };
  for (const auto& [text, expected] : cases) {
    const auto status = parse_status(text);
    ASSERT_FALSE(status.has_value()) << text.substr(0, 80);
    EXPECT_EQ(status.error().message, expected);
  }
}

}  // namespace
}  // namespace pos::protocol
