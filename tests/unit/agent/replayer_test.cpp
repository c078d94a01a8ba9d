// The till's side of a replay (docs/replay.md), through the Forwarder that routes commands and
// replay acks to it: what it sends for a command, what it refuses and why, idempotence across
// restarts, resend after an ack timeout.

#include "pos/agent/replayer.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <filesystem>

#include "fake_outbox.hpp"
#include "pos/agent/forwarder.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/ids.hpp"
#include "pos/protocol/messages.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_transport.hpp"
#include "support/wait.hpp"

namespace pos::agent::test {
namespace {

using namespace std::chrono_literals;
using pos::test::FakeClock;
using pos::test::FakeTransport;

class ReplayNoBackoff final : public common::Backoff {
 public:
  std::chrono::milliseconds next_delay() override { return 10ms; }
  void reset() override {}
};

struct ReplayBatch {
  std::uint64_t epoch = 0;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
};

class ReplayerTest : public ::testing::Test {
 protected:
  ReplayerTest() {
    std::string dir_template =
        (std::filesystem::temp_directory_path() / "pos-replayer-XXXXXX").string();
    dir = ::mkdtemp(dir_template.data());
    outbox.received_at_step_ms = 1000;
    forwarder_options.store_id = "S01";
    forwarder_options.till_id = "T1";
    forwarder_options.status_payload = [] { return std::string(R"({"state":"online"})"); };
    replayer_options.store_id = "S01";
    replayer_options.till_id = "T1";
    replayer_options.batch_max_events = 4;
    replayer_options.ack_timeout = 200ms;
    replayer_options.state_file = dir / "replays.json";
  }
  ~ReplayerTest() override {
    forwarder.reset();
    replayer.reset();
    std::filesystem::remove_all(dir);
  }

  void add_acked_events(int n) {
    std::vector<protocol::PosEvent> events;
    for (int i = 0; i < n; ++i) {
      auto event = protocol::parse_pos_event(
          R"({"type":"stock_change","pos_event_id":"e)" + std::to_string(m_next_event++) +
          R"(","occurred_at":"2026-11-22T10:15:03.120+07:00","sku":"SKU-1","location":"floor",)"
          R"("delta":-1,"reason":"sale"})");
      events.push_back(std::move(*event));
    }
    outbox.append(std::move(events), [](auto result) { EXPECT_TRUE(result.has_value()); });
    poll();
    outbox.acknowledge(outbox.stats().last_seq, [](const Status& s) { EXPECT_TRUE(s); });
    poll();
  }

  void start() {
    replayer =
        std::make_unique<Replayer>(io.get_executor(), outbox, transport, clock, limiter.get(),
                                   protocol::BatchEncoder(), replayer_options);
    forwarder = std::make_unique<Forwarder>(io.get_executor(), outbox, transport, backoff, clock,
                                            nullptr, protocol::BatchEncoder(), forwarder_options);
    forwarder->set_replayer(*replayer);
    forwarder->start();
    ASSERT_TRUE(run_until([&] { return forwarder->stats().connected; }, "connected"));
  }

  /// Stops both and starts them again on the same outbox and state file (an agent restart).
  void restart() {
    forwarder.reset();
    replayer.reset();
    transport.drop();
    poll();
    start();
  }

  void poll() {
    io.restart();
    io.poll();
  }
  template <class Pred>
  ::testing::AssertionResult run_until(Pred pred, std::string_view what) {
    return pos::test::run_until(io, pred, 3s, what);
  }

  void command(const std::string& json) {
    transport.inject(replayer->command_topic(), json);
    poll();
  }
  void replay_ack(std::uint64_t through) {
    protocol::Ack ack{outbox.epoch(), through};
    ack.replay = true;
    transport.inject(forwarder->ack_topic(), protocol::encode_ack(ack));
    poll();
  }

  std::vector<ReplayBatch> replay_batches() {
    std::vector<ReplayBatch> out;
    protocol::BatchDecoder decoder;
    for (const auto& p : transport.on_topic("pos/v1/S01/T1/replay")) {
      auto decoded = decoder.decode(p.payload);
      EXPECT_TRUE(decoded) << decoded.error().message;
      if (decoded) {
        out.push_back({decoded->header.epoch, decoded->header.first_seq,
                       decoded->header.first_seq + decoded->header.count - 1});
      }
    }
    return out;
  }

  protocol::ReplayProgress progress() {
    auto p = replayer->progress();
    EXPECT_TRUE(p.has_value());
    return p.value_or(protocol::ReplayProgress{});
  }

  std::filesystem::path dir;
  boost::asio::io_context io;
  FakeOutbox outbox{io.get_executor()};
  FakeTransport transport{io.get_executor(), FakeTransport::Initially::disconnected};
  FakeClock clock{FakeClock::default_unix_ms, FakeClock::Steady::real};
  ReplayNoBackoff backoff;
  ForwarderOptions forwarder_options;
  ReplayerOptions replayer_options;
  std::unique_ptr<UploadLimiter> limiter;  ///< null: no cap
  std::unique_ptr<Replayer> replayer;
  std::unique_ptr<Forwarder> forwarder;

 private:
  int m_next_event = 1;
};

TEST_F(ReplayerTest, ReSendsASeqRangeInBatchesOneAtATimeUntilAcked) {
  add_acked_events(12);
  start();
  EXPECT_NE(std::find(transport.subscriptions.begin(), transport.subscriptions.end(),
                      "pos/v1/S01/T1/cmd"),
            transport.subscriptions.end());
  command(R"({"type":"replay","id":"r1","from_seq":3,"to_seq":9})");
  ASSERT_EQ(replay_batches().size(), 1U);
  EXPECT_EQ(replay_batches()[0].first_seq, 3U);
  EXPECT_EQ(replay_batches()[0].last_seq, 6U);
  EXPECT_EQ(replay_batches()[0].epoch, outbox.epoch());
  EXPECT_EQ(progress().state, protocol::ReplayState::running);
  replay_ack(6);
  ASSERT_EQ(replay_batches().size(), 2U);
  EXPECT_EQ(replay_batches()[1].first_seq, 7U);
  EXPECT_EQ(replay_batches()[1].last_seq, 9U);
  replay_ack(9);
  const auto p = progress();
  EXPECT_EQ(p.state, protocol::ReplayState::done);
  EXPECT_EQ(p.events_replayed, 7U);
  EXPECT_EQ(p.events_total, 7U);
  EXPECT_EQ(replayer->stats().completed, 1U);
  // A replay ack says nothing about the normal stream.
  EXPECT_EQ(forwarder->stats().acks_received, 0U);
}

TEST_F(ReplayerTest, ATimeRangeIsResolvedByReceivedAt) {
  add_acked_events(10);  // received at 1 s, 2 s, ... 10 s after the UNIX epoch
  start();
  command(R"({"type":"replay","id":"t1","from":"1970-01-01T00:00:03.500Z",)"
          R"("to":"1970-01-01T00:00:06Z"})");
  const auto p = progress();
  EXPECT_EQ(p.state, protocol::ReplayState::running) << p.error;
  EXPECT_EQ(p.from_seq, 4U);
  EXPECT_EQ(p.to_seq, 6U);
}

TEST_F(ReplayerTest, RefusesWhatItNoLongerHoldsOrHasNotAcknowledged) {
  add_acked_events(10);
  outbox.prune_before(5);
  start();
  command(R"({"type":"replay","id":"p1","from_seq":2,"to_seq":8})");
  EXPECT_EQ(progress().state, protocol::ReplayState::refused);
  EXPECT_NE(progress().error.find("seqs 2..4 are no longer held"), std::string::npos)
      << progress().error;
  EXPECT_NE(progress().error.find("holds seqs 5..10"), std::string::npos) << progress().error;

  command(R"({"type":"replay","id":"p2","from_seq":11,"to_seq":20})");
  EXPECT_EQ(progress().id, "p2");
  EXPECT_NE(progress().error.find("not acknowledged yet"), std::string::npos) << progress().error;

  command(R"({"type":"replay","id":"p3","from":"1970-01-01T00:00:01Z",)"
          R"("to":"1970-01-01T00:00:08Z"})");
  EXPECT_NE(progress().error.find("no longer held"), std::string::npos) << progress().error;

  command(R"({"type":"replay","id":"p4","from_seq":5,"to_seq":6,"epoch":"0000000000000001"})");
  EXPECT_NE(progress().error.find("epoch"), std::string::npos) << progress().error;
  EXPECT_TRUE(replay_batches().empty());
  EXPECT_EQ(replayer->stats().refused, 4U);
}

TEST_F(ReplayerTest, ACommandSeenBeforeDoesNothingNewEvenAfterARestart) {
  add_acked_events(6);
  start();
  const std::string cmd = R"({"type":"replay","id":"same","from_seq":1,"to_seq":3})";
  command(cmd);
  replay_ack(3);
  ASSERT_EQ(progress().state, protocol::ReplayState::done);
  command(cmd);
  EXPECT_EQ(replay_batches().size(), 1U);
  restart();
  command(cmd);  // the retained command arrives again at the new connection
  EXPECT_EQ(replayer->stats().commands, 1U);
  EXPECT_EQ(replayer->stats().batches_sent, 0U);
  EXPECT_EQ(progress().id, "same");
  EXPECT_EQ(progress().state, protocol::ReplayState::done);
}

TEST_F(ReplayerTest, ARunningReplayResumesAfterARestartFromItsLastAckedBatch) {
  add_acked_events(10);
  start();
  command(R"({"type":"replay","id":"long","from_seq":1,"to_seq":10})");
  replay_ack(4);
  restart();
  ASSERT_TRUE(run_until([&] { return replayer->stats().batches_sent == 1; }, "a replay batch"));
  const auto batches = replay_batches();
  ASSERT_FALSE(batches.empty());
  EXPECT_EQ(batches.back().first_seq, 5U);
}

TEST_F(ReplayerTest, AnUnackedBatchIsSentAgainAfterTheAckTimeout) {
  add_acked_events(3);
  start();
  command(R"({"type":"replay","id":"slow","from_seq":1,"to_seq":3})");
  ASSERT_EQ(replayer->stats().batches_sent, 1U);
  ASSERT_TRUE(run_until([&] { return replayer->stats().batches_sent == 2; }, "a resend"));
  const auto batches = replay_batches();
  EXPECT_EQ(batches.back().first_seq, 1U);
  replay_ack(3);
  EXPECT_EQ(progress().state, protocol::ReplayState::done);
}

TEST_F(ReplayerTest, TheUploadCapPacesReplayBatchesToo) {
  add_acked_events(3);
  UploadLimiterOptions cap;
  cap.rate_kbit_s = 8;  // 1000 bytes/s
  limiter = std::make_unique<UploadLimiter>(cap);
  // The live stream used the whole budget just now.
  ASSERT_EQ(limiter->delay_for(1000, std::chrono::steady_clock::now(), 0).count(), 0);
  start();
  command(R"({"type":"replay","id":"capped","from_seq":1,"to_seq":3})");
  EXPECT_EQ(replayer->stats().batches_sent, 0U) << "the batch waits for the cap";
  EXPECT_EQ(progress().state, protocol::ReplayState::running);
  ASSERT_TRUE(run_until([&] { return replayer->stats().batches_sent == 1; }, "the capped batch"));
}

TEST_F(ReplayerTest, ABadCommandIsCountedAndIgnored) {
  add_acked_events(3);
  start();
  command(R"({"type":"replay","id":"x","from_seq":3,"to_seq":1})");
  command("not json");
  EXPECT_EQ(replayer->stats().commands_invalid, 2U);
  EXPECT_FALSE(replayer->progress().has_value());
}

}  // namespace
}  // namespace pos::agent::test
