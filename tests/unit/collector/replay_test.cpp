// The collector's side of a replay (docs/replay.md): ReplayProcessor (publish again with
// replay="true", ack with the replay flag, marks untouched), ReplayTracker and ReplayApi.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

#include "collector_test_support.hpp"
#include "fake_sink.hpp"
#include "pos/collector/replay_api.hpp"
#include "pos/collector/replay_processor.hpp"
#include "pos/collector/replay_tracker.hpp"
#include "pos/protocol/ids.hpp"
#include "pos/protocol/messages.hpp"
#include "pos/protocol/replay.hpp"
#include "support/fake_transport.hpp"

namespace pos::collector::test {
namespace {

using pos::test::FakeTransport;
namespace json = boost::json;

constexpr std::uint64_t k_epoch = 0x1122334455667788ULL;

std::string attribute(const OutMessage& m, const std::string& key) {
  for (const auto& [k, v] : m.attributes) {
    if (k == key) {
      return v;
    }
  }
  return "<none>";
}

class NoOwner final : public Ownership {
 public:
  std::optional<Fence> fence_for(std::string_view, std::string_view) const override {
    return std::nullopt;
  }
};

class ReplayProcessorTest : public ::testing::Test {
 protected:
  void poll() {
    io.restart();
    io.poll();
  }
  std::vector<protocol::Ack> acks() {
    std::vector<protocol::Ack> out;
    for (const auto& p : transport.on_topic("pos/v1/S07/T1/ack")) {
      out.push_back(protocol::parse_ack(p.payload).value());
    }
    return out;
  }
  protocol::TillTopic topic{"S07", "T1", protocol::TopicKind::replay};
  boost::asio::io_context io;
  ManualClock clock;
  FakeSink sink{io.get_executor()};
  FakeTransport transport{io.get_executor()};
};

TEST_F(ReplayProcessorTest, PublishesEveryEventAgainMarkedAndAcksWithTheReplayFlag) {
  ReplayProcessor processor(io.get_executor(), sink, transport, clock, {}, {});
  sink.auto_complete = false;
  processor.handle_batch(topic, encode(k_epoch, 5, lines_for("S07", "T1", k_epoch, 5, 3)));
  ASSERT_EQ(sink.calls.size(), 1U);
  ASSERT_EQ(sink.calls[0].messages.size(), 3U);
  for (const auto& m : sink.calls[0].messages) {
    EXPECT_EQ(attribute(m, "replay"), "true");
    EXPECT_EQ(m.ordering_key, "S07/T1");
  }
  EXPECT_EQ(attribute(sink.calls[0].messages[0], "event_id"),
            "S07-T1-" + protocol::format_epoch(k_epoch) + "-5");
  poll();
  EXPECT_TRUE(acks().empty()) << "no ack before the sink confirmed the publish";
  sink.complete(0);
  poll();
  ASSERT_EQ(acks().size(), 1U);
  EXPECT_TRUE(acks()[0].replay);
  EXPECT_EQ(acks()[0].through_seq, 7U);
  EXPECT_EQ(acks()[0].epoch, k_epoch);
  EXPECT_EQ(processor.stats().events_published, 3U);
}

TEST_F(ReplayProcessorTest, InvalidEventsAreDeadLetteredMarkedAndTheBatchIsStillAcked) {
  ReplayProcessor processor(io.get_executor(), sink, transport, clock, {}, {});
  auto lines = lines_for("S07", "T1", k_epoch, 1, 2);
  lines[1] = R"({"not":"an event"})";
  processor.handle_batch(topic, encode(k_epoch, 1, lines));
  poll();
  const auto dead = sink.messages(Destination::dead_letter);
  ASSERT_EQ(dead.size(), 1U);
  EXPECT_EQ(attribute(dead[0], "replay"), "true");
  ASSERT_EQ(acks().size(), 1U);
  EXPECT_EQ(acks()[0].through_seq, 2U);
}

TEST_F(ReplayProcessorTest, NotOwnedOrBusyIsDroppedUnacked) {
  NoOwner nobody;
  ReplayProcessorOptions options;
  options.ownership = &nobody;
  ReplayProcessor not_ours(io.get_executor(), sink, transport, clock, {}, options);
  not_ours.handle_batch(topic, encode(k_epoch, 1, lines_for("S07", "T1", k_epoch, 1, 1)));
  EXPECT_EQ(not_ours.stats().batches_not_owned, 1U);

  ReplayProcessorOptions small;
  small.max_pending_batches = 1;
  sink.auto_complete = false;
  ReplayProcessor busy(io.get_executor(), sink, transport, clock, {}, small);
  busy.handle_batch(topic, encode(k_epoch, 1, lines_for("S07", "T1", k_epoch, 1, 1)));
  busy.handle_batch(topic, encode(k_epoch, 2, lines_for("S07", "T1", k_epoch, 2, 1)));
  EXPECT_EQ(busy.stats().batches_dropped_busy, 1U);
  EXPECT_EQ(sink.calls.size(), 1U);
  poll();
  EXPECT_TRUE(acks().empty());
}

protocol::AgentStatus status_with_replay(const std::string& id, protocol::ReplayState state) {
  protocol::AgentStatus status;
  status.epoch = k_epoch;
  protocol::ReplayProgress p;
  p.id = id;
  p.state = state;
  p.epoch = k_epoch;
  p.from_seq = 3;
  p.to_seq = 9;
  p.events_total = 7;
  p.updated_at = "2026-11-18T11:06:40.000Z";
  status.extra["replay"] = protocol::replay_progress_to_json(p);
  return status;
}

TEST(ReplayTracker, KeepsRequestsAndReportedProgressWithinItsBound) {
  ReplayTracker tracker(2);
  protocol::ReplayCommand c;
  c.id = "a";
  c.from_seq = 3;
  c.to_seq = 9;
  ASSERT_TRUE(tracker.record_request("S07", "T1", c, 1000));
  tracker.on_status("S07", "T1", status_with_replay("a", protocol::ReplayState::running), 2000);
  EXPECT_EQ(tracker.epoch_of("S07", "T1"), k_epoch);
  EXPECT_EQ(tracker.running(), 1U);
  c.id = "b";
  ASSERT_TRUE(tracker.record_request("S07", "T2", c, 3000));
  c.id = "c";
  EXPECT_FALSE(tracker.record_request("S07", "T3", c, 4000)) << "full of unfinished replays";
  tracker.on_status("S07", "T1", status_with_replay("a", protocol::ReplayState::done), 5000);
  EXPECT_TRUE(tracker.record_request("S07", "T3", c, 6000)) << "the finished one makes room";
  EXPECT_EQ(tracker.find("S07", "T1", "a"), nullptr);
  const auto only_t3 = tracker.to_json("S07", "T3", 10);
  ASSERT_EQ(only_t3.size(), 1U);
  EXPECT_EQ(only_t3[0].as_object().at("state").as_string(), "requested");

  protocol::AgentStatus bad;
  bad.extra["replay"] = json::parse(R"({"id":"x"})");
  tracker.on_status("S07", "T9", bad, 7000);
  EXPECT_EQ(tracker.invalid_reports(), 1U);
}

class ReplayApiTest : public ::testing::Test {
 protected:
  void poll() {
    io.restart();
    io.poll();
  }
  common::HttpResponse post(const std::string& body, const std::string& type = "application/json") {
    auto r = api.handle(common::HttpRequest{"POST", "/v1/replays", type, body});
    poll();
    return r;
  }
  boost::asio::io_context io;
  ManualClock clock;
  FakeTransport transport{io.get_executor()};
  ReplayTracker tracker;
  ReplayApi api{tracker, transport, clock, "pos/v1"};
};

TEST_F(ReplayApiTest, SendsARetainedCommandWithTheTillsEpochAndADerivedId) {
  protocol::AgentStatus status;
  status.epoch = k_epoch;
  tracker.on_status("S07", "T1", status, 1);
  const auto r = post(R"({"till":"S07/T1","from_seq":3,"to_seq":9})");
  ASSERT_EQ(r.status, 202) << r.body;
  const auto sent = transport.on_topic("pos/v1/S07/T1/cmd");
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_TRUE(sent[0].retained);
  const auto command = protocol::parse_replay_command(sent[0].payload).value();
  EXPECT_EQ(command.epoch, k_epoch);
  EXPECT_EQ(command.from_seq, 3U);
  const std::string id = json::parse(r.body).as_object().at("id").as_string().c_str();
  EXPECT_EQ(command.id, id);
  EXPECT_EQ(id.rfind("rs", 0), 0U) << id;

  // The same request is the same replay; once the till answered, nothing is sent again.
  EXPECT_EQ(json::parse(post(R"({"till":"S07/T1","from_seq":3,"to_seq":9})").body)
                .as_object()
                .at("id")
                .as_string(),
            id);
  tracker.on_status("S07", "T1", status_with_replay(id, protocol::ReplayState::done), 2);
  const auto again = post(R"({"till":"S07/T1","from_seq":3,"to_seq":9})");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(transport.on_topic("pos/v1/S07/T1/cmd").size(), 2U);
  EXPECT_NE(post(R"({"till":"S07/T1","from_seq":3,"to_seq":10})").body.find(R"("id":"rs)"),
            std::string::npos);
  EXPECT_NE(json::parse(post(R"({"till":"S07/T1","from_seq":3,"to_seq":10})").body)
                .as_object()
                .at("id")
                .as_string(),
            id);
}

TEST_F(ReplayApiTest, BadRequestsNameWhatIsWrong) {
  const struct {
    const char* body;
    int status;
    const char* error;
  } cases[] = {
      {R"({"from_seq":1,"to_seq":2})", 400, "till: is required"},
      {R"({"till":"S07","from_seq":1,"to_seq":2})", 400, "till: must be STORE/TILL"},
      {R"({"till":"S07/T1","from_seq":5,"to_seq":2})", 400, "to_seq: must be >= from_seq"},
      {R"({"till":"S07/T1","from":"monday","to":"2026-11-18T00:00:00Z"})", 400,
       "from: must be an RFC 3339 date-time"},
      {R"({"till":"S07/T1","from_seq":1,"to_seq":2,"force":true})", 400, "force: unknown field"},
      {R"([])", 400, "body: must be a JSON object"},
  };
  for (const auto& c : cases) {
    const auto r = post(c.body);
    EXPECT_EQ(r.status, c.status) << c.body;
    EXPECT_NE(r.body.find(c.error), std::string::npos) << c.body << " -> " << r.body;
  }
  EXPECT_EQ(post(R"({"till":"S07/T1","from_seq":1,"to_seq":2})", "text/plain").status, 415);
  EXPECT_TRUE(transport.on_topic("pos/v1/S07/T1/cmd").empty());
  transport.set_handlers({[] {}, [](const std::string&) {}, [](common::TransportMessage) {}});
  transport.drop();
  poll();
  EXPECT_EQ(post(R"({"till":"S07/T1","from_seq":1,"to_seq":2})").status, 503);
}

TEST_F(ReplayApiTest, ListsReplaysNewestFirstAndByTill) {
  ASSERT_EQ(post(R"({"till":"S07/T1","from_seq":1,"to_seq":2})").status, 202);
  clock.now_ms += 1000;
  ASSERT_EQ(post(R"({"till":"S07/T2","from_seq":1,"to_seq":2,"id":"mine"})").status, 202);
  auto all = json::parse(api.handle({"GET", "/v1/replays", "", ""}).body).as_object();
  ASSERT_EQ(all.at("replays").as_array().size(), 2U);
  EXPECT_EQ(all.at("replays").as_array()[0].as_object().at("id").as_string(), "mine");
  auto one = json::parse(api.handle({"GET", "/v1/replays?till=S07%2FT1", "", ""}).body).as_object();
  ASSERT_EQ(one.at("replays").as_array().size(), 1U);
  EXPECT_EQ(one.at("replays").as_array()[0].as_object().at("till_id").as_string(), "T1");
  EXPECT_EQ(api.handle({"GET", "/v1/replays?limit=0", "", ""}).status, 400);
  EXPECT_EQ(api.handle({"DELETE", "/v1/replays", "", ""}).status, 405);
  EXPECT_TRUE(ReplayApi::handles("/v1/replays?till=S07/T1"));
  EXPECT_FALSE(ReplayApi::handles("/v1/replaysX"));
}

}  // namespace
}  // namespace pos::collector::test
