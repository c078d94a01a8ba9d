#include "pos/protocol/replay.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "pos/protocol/messages.hpp"

namespace pos::protocol {
namespace {

TEST(ReplayCommand, RoundTripsBothRangeForms) {
  ReplayCommand by_seq;
  by_seq.id = "r-1";
  by_seq.from_seq = 3;
  by_seq.to_seq = 9;
  EXPECT_EQ(encode_replay_command(by_seq),
            R"({"type":"replay","id":"r-1","from_seq":3,"to_seq":9})");
  EXPECT_EQ(parse_replay_command(encode_replay_command(by_seq)).value(), by_seq);
  ReplayCommand by_time;
  by_time.id = "t_1";
  by_time.from_ms = 1'795'000'000'000;
  by_time.to_ms = 1'795'000'060'000;
  by_time.epoch = 0x0123456789abcdefULL;
  const auto text = encode_replay_command(by_time);
  EXPECT_NE(text.find(R"("from":"2026-11-18T11:06:40.000Z")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("epoch":"0123456789abcdef")"), std::string::npos) << text;
  EXPECT_EQ(parse_replay_command(text).value(), by_time);
}

TEST(ReplayCommand, ErrorsNameTheField) {
  const struct {
    const char* text;
    const char* error;
  } cases[] = {
      {R"({"type":"replay","id":"a","from_seq":3})", "replay.to_seq: is required"},
      {R"({"type":"replay","id":"a","from_seq":3,"to_seq":2})",
       "replay.to_seq: must be >= from_seq"},
      {R"({"type":"replay","id":"a","from_seq":0,"to_seq":2})",
       "replay.from_seq: must be an integer >= 1"},
      {R"({"type":"replay","id":"a","from_seq":-1,"to_seq":2})",
       "replay.from_seq: must be an integer >= 1"},
      {R"({"type":"replay","id":"a"})", "replay: give either from_seq and to_seq, or from and to"},
      {R"({"type":"replay","id":"a","from_seq":1,"to_seq":2,"from":"2026-11-18T00:00:00Z","to":"2026-11-18T00:00:00Z"})",
       "replay: give either from_seq and to_seq, or from and to"},
      {R"({"type":"replay","id":"a","from":"yesterday","to":"2026-11-18T00:00:00Z"})",
       "replay.from: must be an RFC 3339 date-time"},
      {R"({"type":"replay","id":"a","from":"2026-11-18T00:00:01Z","to":"2026-11-18T00:00:00Z"})",
       "replay.to: must not be before from"},
      {R"({"type":"replay","id":"a b","from_seq":1,"to_seq":2})",
       "replay.id: must match [A-Za-z0-9_-]{1,64}"},
      {R"({"type":"replay","from_seq":1,"to_seq":2})", "replay.id: must match [A-Za-z0-9_-]{1,64}"},
      {R"({"type":"reboot","id":"a"})", "replay.type: must be \"replay\""},
      {R"({"type":"replay","id":"a","from_seq":1,"to_seq":2,"epoch":"xyz"})",
       "replay.epoch: must be 16 hex digits"},
      {R"([1])", "replay: must be a JSON object"},
  };
  for (const auto& c : cases) {
    const auto parsed = parse_replay_command(c.text);
    ASSERT_FALSE(parsed) << c.text;
    EXPECT_EQ(parsed.error().message, c.error) << c.text;
  }
  EXPECT_FALSE(parse_replay_command(std::string(2000, ' ')));
}

TEST(ReplayProgress, RoundTripsThroughTheStatusField) {
  ReplayProgress p{.id = "r1",
                   .state = ReplayState::running,
                   .epoch = 42,
                   .from_seq = 3,
                   .to_seq = 9,
                   .replayed_through = 5,
                   .events_total = 7,
                   .events_replayed = 3,
                   .error = "",
                   .updated_at = "2026-11-18T00:53:20.000Z"};
  const boost::json::value v = replay_progress_to_json(p);
  EXPECT_EQ(parse_replay_progress(v).value(), p);
  boost::json::value bad = v;
  bad.as_object()["state"] = "paused";
  EXPECT_EQ(parse_replay_progress(bad).error().message,
            "status.replay.state: must be one of running, done, refused");
  bad = v;
  bad.as_object()["events_total"] = -1;
  EXPECT_EQ(parse_replay_progress(bad).error().message,
            "status.replay.events_total: must be an integer >= 0");
}

TEST(ReplayAck, TheReplayFlagRoundTripsAndOldAcksAreUnchanged) {
  Ack ack{7, 9};
  EXPECT_EQ(encode_ack(ack), R"({"epoch":"0000000000000007","through_seq":9})");
  ack.replay = true;
  EXPECT_EQ(encode_ack(ack), R"({"epoch":"0000000000000007","through_seq":9,"replay":true})");
  EXPECT_EQ(parse_ack(encode_ack(ack)).value(), ack);
  EXPECT_EQ(parse_ack(R"({"epoch":"0000000000000007","through_seq":9,"replay":1})").error().message,
            "ack.replay: must be true or false");
}

}  // namespace
}  // namespace pos::protocol
