#include "pos/agent/forwarder.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>

#include "fake_outbox.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/messages.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_transport.hpp"
#include "support/wait.hpp"

namespace pos::agent::test {
namespace {

using namespace std::chrono_literals;

using pos::test::FakeClock;
using pos::test::FakeTransport;

class FakeBackoff final : public common::Backoff {
 public:
  std::chrono::milliseconds delay{20};
  int next_calls = 0;
  int reset_calls = 0;
  std::chrono::milliseconds next_delay() override {
    ++next_calls;
    return delay * next_calls;
  }
  void reset() override { ++reset_calls; }
};

struct SentBatch {
  std::uint64_t first_seq = 0;
  std::uint32_t count = 0;
  std::uint32_t raw_len = 0;
  std::uint64_t last_seq() const { return first_seq + count - 1; }
};

class ForwarderTest : public ::testing::Test {
 protected:
  ForwarderTest() {
    options.store_id = "S01";
    options.till_id = "T1";
    options.batch_max_events = 10;
    options.batch_max_bytes = 1024 * 1024;
    options.batch_delay = 20ms;
    options.window_batches = 2;
    options.ack_timeout = 10s;
    options.heartbeat = 10s;
    options.status_payload = [] { return std::string(R"({"state":"online"})"); };
    options.offline_payload = [] { return std::string(R"({"state":"offline"})"); };
  }

  void add_events(int n) {
    std::vector<protocol::PosEvent> events;
    for (int i = 0; i < n; ++i) {
      auto event = protocol::parse_pos_event(
          R"({"type":"stock_change","pos_event_id":"e)" + std::to_string(m_next_event++) +
          R"(","occurred_at":"2026-11-22T10:15:03.120+07:00","sku":"SKU-1","location":"floor",)"
          R"("delta":-1,"reason":"sale"})");
      EXPECT_TRUE(event) << event.error().message;
      events.push_back(std::move(*event));
    }
    outbox.append(std::move(events), [](auto result) { EXPECT_TRUE(result.has_value()); });
    io.poll();
  }

  void start() {
    forwarder = std::make_unique<Forwarder>(io.get_executor(), outbox, transport, backoff, clock,
                                            limiter.get(), protocol::BatchEncoder(), options);
    forwarder->start();
    io.restart();
    io.poll();
  }

  void run_for(std::chrono::milliseconds d) {
    io.restart();
    io.run_for(d);
  }
  /// Runs the io_context until `pred` holds or 2 s pass; the failure names `what`.
  template <class Pred>
  ::testing::AssertionResult run_until(Pred pred, std::string_view what) {
    return pos::test::run_until(io, pred, 2s, what);
  }
  void poll() {
    io.restart();
    io.poll();
  }
  std::uint64_t send_passes() const { return forwarder->stats().send_passes; }
  /// Runs the io_context until the sender has run since it had run `passes` times: before a test
  /// asserts that nothing was sent.
  ::testing::AssertionResult run_until_send_pass_after(std::uint64_t passes) {
    return run_until([&] { return send_passes() > passes; }, "a send pass");
  }

  std::vector<SentBatch> batches() {
    std::vector<SentBatch> out;
    protocol::BatchDecoder decoder;
    for (const auto& p : transport.on_topic(forwarder->batch_topic())) {
      auto decoded = decoder.decode(p.payload);
      EXPECT_TRUE(decoded) << decoded.error().message;
      if (decoded) {
        EXPECT_EQ(decoded->header.epoch, outbox.epoch());
        out.push_back({decoded->header.first_seq, decoded->header.count, decoded->header.raw_len});
      }
    }
    return out;
  }

  void ack(std::uint64_t through, std::optional<std::uint64_t> epoch = std::nullopt) {
    transport.inject(forwarder->ack_topic(),
                     protocol::encode_ack({epoch.value_or(outbox.epoch()), through}));
    poll();
  }

  /// An ack with `"resend": true`, written out (not encode_ack) so that the test also shows what
  /// a forwarder makes of the JSON a collector sends.
  void resend_ack(std::uint64_t through, std::optional<std::uint64_t> epoch = std::nullopt) {
    transport.inject(forwarder->ack_topic(),
                     R"({"epoch":")" + protocol::format_epoch(epoch.value_or(outbox.epoch())) +
                         R"(","through_seq":)" + std::to_string(through) + R"(,"resend":true})");
    poll();
  }

  boost::asio::io_context io;
  FakeOutbox outbox{io.get_executor()};
  FakeTransport transport{io.get_executor(), FakeTransport::Initially::disconnected};
  FakeBackoff backoff;
  // The forwarder's timers run on the real io_context: its steady clock is the real one.
  FakeClock clock{1'800'000'000'000, FakeClock::Steady::real};
  std::unique_ptr<UploadLimiter> limiter;
  ForwarderOptions options;
  std::unique_ptr<Forwarder> forwarder;
  int m_next_event = 1;
};

TEST_F(ForwarderTest, ConnectsSubscribesAndPublishesRetainedStatus) {
  start();
  ASSERT_EQ(transport.connect_calls, 1);
  EXPECT_EQ(transport.subscriptions, std::vector<std::string>{"pos/v1/S01/T1/ack"});
  auto status = transport.on_topic("pos/v1/S01/T1/status");
  ASSERT_EQ(status.size(), 1U);
  EXPECT_TRUE(status[0].retained);
  EXPECT_EQ(status[0].payload, R"({"state":"online"})");
  EXPECT_TRUE(forwarder->stats().connected);
  EXPECT_EQ(forwarder->stats().broker, "mqtt://fake-broker:1883");
  transport.fail_connects = 1000;
  transport.drop();
  poll();
  EXPECT_FALSE(forwarder->stats().connected);
  EXPECT_EQ(forwarder->stats().broker, "");
}

TEST_F(ForwarderTest, BatchesAreContiguousAndBoundedByCount) {
  options.window_batches = 8;
  add_events(25);
  start();
  run_for(50ms);
  auto sent = batches();
  ASSERT_EQ(sent.size(), 3U);
  EXPECT_EQ(sent[0].first_seq, 1U);
  EXPECT_EQ(sent[0].count, 10U);
  EXPECT_EQ(sent[1].first_seq, 11U);
  EXPECT_EQ(sent[1].count, 10U);
  EXPECT_EQ(sent[2].first_seq, 21U);
  EXPECT_EQ(sent[2].count, 5U);
  for (const auto& p : transport.on_topic(forwarder->batch_topic())) {
    EXPECT_FALSE(p.retained);
  }
  const auto stats = forwarder->stats();
  EXPECT_EQ(stats.batches_sent, 3U);
  EXPECT_EQ(stats.events_sent, 25U);
  EXPECT_GT(stats.bytes_sent, 0U);
  EXPECT_GT(stats.raw_bytes_sent, 0U);
}

TEST_F(ForwarderTest, BatchesAreBoundedByBytes) {
  options.window_batches = 8;
  options.batch_max_events = 1000;
  add_events(1);
  const auto line_bytes = outbox.read_from(1, 1, 1 << 20)->front().payload_line.size();
  options.batch_max_bytes = line_bytes * 3 + 10;
  add_events(9);
  start();
  run_for(50ms);
  auto sent = batches();
  ASSERT_EQ(sent.size(), 4U);
  std::uint64_t next = 1;
  for (const auto& b : sent) {
    EXPECT_EQ(b.first_seq, next);
    EXPECT_LE(b.count, 3U);
    next = b.last_seq() + 1;
  }
  EXPECT_EQ(next, 11U);
}

TEST_F(ForwarderTest, WindowLimitsBatchesInFlight) {
  add_events(100);
  start();
  // More passes than batches: a pass found the window full.
  ASSERT_TRUE(run_until(
      [&] {
        const auto s = forwarder->stats();
        return s.batches_sent >= 2 && s.send_passes > s.batches_sent;
      },
      "two batches and a send pass that declined"));
  EXPECT_EQ(batches().size(), 2U);
  EXPECT_EQ(forwarder->stats().inflight_batches, 2U);
}

TEST_F(ForwarderTest, CumulativeAckFreesWindowAndSendsMore) {
  add_events(100);
  start();
  run_for(20ms);
  ASSERT_EQ(batches().size(), 2U);
  ack(20);
  run_for(20ms);
  auto sent = batches();
  ASSERT_EQ(sent.size(), 4U);
  EXPECT_EQ(sent[2].first_seq, 21U);
  EXPECT_EQ(sent[3].first_seq, 31U);
  EXPECT_EQ(outbox.acked_through(), 20U);
  const auto passes = send_passes();
  ack(25);  // inside batch 21-30: the window stays full
  ASSERT_TRUE(run_until_send_pass_after(passes));
  EXPECT_EQ(batches().size(), 4U);
  EXPECT_EQ(outbox.acked_through(), 25U);
  ack(30);
  run_for(20ms);
  sent = batches();
  ASSERT_EQ(sent.size(), 5U);
  EXPECT_EQ(sent[4].first_seq, 41U);
  const auto stats = forwarder->stats();
  EXPECT_EQ(stats.acks_received, 3U);
  EXPECT_EQ(stats.acked_through, 30U);
  EXPECT_EQ(stats.last_ack_unix_ms, clock.now_unix_ms());
}

TEST_F(ForwarderTest, DuplicateOutOfOrderOtherEpochAndBeyondSentAcksAreIgnored) {
  start();
  add_events(100);
  run_for(20ms);
  ack(10);
  run_for(20ms);
  ASSERT_EQ(batches().size(), 3U);
  ack(10);                      // duplicate
  ack(5);                       // out of order
  ack(30, outbox.epoch() + 1);  // another epoch
  ack(31);                      // beyond the last seq sent (30)
  transport.inject(forwarder->ack_topic(), "not json");
  ASSERT_TRUE(run_until([&] { return forwarder->stats().acks_ignored >= 5; }, "5 acks ignored"));
  EXPECT_EQ(batches().size(), 3U);
  EXPECT_EQ(outbox.acked_through(), 10U);
  const auto stats = forwarder->stats();
  EXPECT_EQ(stats.acks_received, 1U);
  EXPECT_EQ(stats.acks_ignored, 5U);
  ack(30);
  run_for(20ms);
  EXPECT_EQ(outbox.acked_through(), 30U);
  EXPECT_EQ(batches().size(), 5U);
}

TEST_F(ForwarderTest, AckTimeoutResendsFromFirstUnacked) {
  options.ack_timeout = 100ms;
  add_events(40);
  start();
  run_for(20ms);
  ack(5);
  run_for(20ms);
  ASSERT_EQ(batches().size(), 2U);
  ASSERT_TRUE(run_until([&] { return batches().size() >= 4; }, "two batches resent"));
  auto sent = batches();
  ASSERT_EQ(sent.size(), 4U);
  EXPECT_EQ(sent[2].first_seq, 6U);
  EXPECT_EQ(sent[2].count, 10U);
  EXPECT_EQ(sent[3].first_seq, 16U);
  EXPECT_EQ(forwarder->stats().resends, 1U);
}

// A collector that took the till over (failover) has nothing in flight beyond its mark: the
// resend flag makes the forwarder go back to the mark at once instead of after the ack timeout.
TEST_F(ForwarderTest, ResendAckAppliesTheAckThenResendsTheUnackedBatchesAtOnce) {
  add_events(40);
  start();
  run_for(20ms);
  ASSERT_EQ(batches().size(), 2U);  // 1-10 and 11-20: the window is full
  resend_ack(5);
  EXPECT_EQ(outbox.acked_through(), 5U);
  ASSERT_TRUE(run_until([&] { return batches().size() >= 4; }, "two batches resent"));
  const auto sent = batches();
  ASSERT_EQ(sent.size(), 4U);
  EXPECT_EQ(sent[2].first_seq, 6U);
  EXPECT_EQ(sent[2].count, 10U);
  EXPECT_EQ(sent[3].first_seq, 16U);
  const auto stats = forwarder->stats();
  EXPECT_EQ(stats.resends, 1U);
  EXPECT_EQ(stats.acks_received, 1U);
  EXPECT_EQ(stats.acked_through, 5U);
}

TEST_F(ForwarderTest, PlainDuplicateAckResendsNothingAResendAckAtTheMarkDoes) {
  add_events(40);
  start();
  run_for(20ms);
  ack(10);
  run_for(20ms);
  ASSERT_EQ(batches().size(), 3U);  // 1-10, 11-20, 21-30
  ack(10);                          // a plain duplicate: nothing happens before the ack timeout
  ASSERT_TRUE(run_until([&] { return forwarder->stats().acks_ignored >= 1; }, "ack ignored"));
  run_for(20ms);
  EXPECT_EQ(batches().size(), 3U);
  EXPECT_EQ(forwarder->stats().resends, 0U);
  resend_ack(10);  // the same mark, with the flag: 11-20 and 21-30 again, now
  ASSERT_TRUE(run_until([&] { return batches().size() >= 5; }, "two batches resent"));
  const auto sent = batches();
  ASSERT_EQ(sent.size(), 5U);
  EXPECT_EQ(sent[3].first_seq, 11U);
  EXPECT_EQ(sent[4].first_seq, 21U);
  EXPECT_EQ(forwarder->stats().resends, 1U);
  EXPECT_EQ(outbox.acked_through(), 10U);
}

TEST_F(ForwarderTest, ResendAckOfAnotherEpochOrBeyondTheLastSeqSentIsIgnored) {
  start();
  add_events(40);  // after start: 20 is the last seq sent
  run_for(20ms);
  ASSERT_EQ(batches().size(), 2U);
  const auto ignored = forwarder->stats().acks_ignored;
  resend_ack(5, outbox.epoch() + 1);
  resend_ack(21);  // beyond the last seq sent (20)
  ASSERT_TRUE(
      run_until([&] { return forwarder->stats().acks_ignored >= ignored + 2; }, "2 acks ignored"));
  run_for(20ms);
  EXPECT_EQ(batches().size(), 2U);
  EXPECT_EQ(forwarder->stats().resends, 0U);
  EXPECT_EQ(outbox.acked_through(), 0U);
}

TEST_F(ForwarderTest, ResendAckResetsTheAdaptedAckTimeoutToTheFloor) {
  options.ack_timeout = 50ms;
  options.ack_timeout_max = 10s;
  add_events(20);
  start();
  // No acks: each expiry doubles the timeout (50, 100, 200 ms).
  ASSERT_TRUE(run_until([&] { return forwarder->stats().resends >= 2; }, "two ack timeouts"));
  ASSERT_GE(forwarder->stats().ack_timeout_ms, 200);
  // run_until may return between the go-back-N's first batch and the second, already posted:
  // let it go out now, or it would be the first batch sent after the resend ack.
  pos::test::run_ready(io);
  const auto sent_before = batches().size();
  resend_ack(0);
  EXPECT_EQ(forwarder->stats().ack_timeout_ms, 50);
  EXPECT_EQ(forwarder->stats().resends, 3U);
  const auto sent = batches();
  ASSERT_GT(sent.size(), sent_before) << "resent at once, not after the ack timeout";
  EXPECT_EQ(sent[sent_before].first_seq, 1U);
}

TEST_F(ForwarderTest, SlowButSteadyAcksRaiseTheAckTimeoutInsteadOfResendingEveryRound) {
  options.ack_timeout = 50ms;
  options.ack_timeout_max = 2s;
  add_events(200);
  start();
  run_for(20ms);
  std::uint64_t through = 0;
  constexpr int rounds = 12;
  for (int round = 0; round < rounds; ++round) {
    run_for(120ms);  // the collector acks a batch every 120 ms: slower than the 50 ms floor
    through += 10;
    ack(through);
  }
  EXPECT_EQ(outbox.acked_through(), through);
  const auto stats = forwarder->stats();
  // A fixed 50 ms timeout resends in every round (12 or more); adapted, only until the pace is
  // learnt (expiries double the timeout; resent batches give no sample).
  EXPECT_LE(stats.resends, 4U);
  EXPECT_GT(stats.ack_timeout_ms, 120);
  EXPECT_LE(stats.ack_timeout_ms, 2000);
}

TEST_F(ForwarderTest, AckTimerStartsAtPubackOnly) {
  options.ack_timeout = 50ms;
  transport.auto_complete = false;
  add_events(10);
  start();
  run_for(120ms);
  ASSERT_EQ(batches().size(), 1U);
  const auto publishes_before = transport.publishes.size();
  for (std::size_t i = 0; i < transport.publishes.size(); ++i) {
    transport.complete(i);
  }
  ASSERT_TRUE(run_until([&] { return batches().size() >= 2; }, "the batch resent"));
  EXPECT_GT(transport.publishes.size(), publishes_before);
  EXPECT_EQ(batches().size(), 2U);
  EXPECT_EQ(batches()[1].first_seq, 1U);
}

TEST_F(ForwarderTest, ReconnectsWithBackoffAndResends) {
  add_events(40);
  start();
  run_for(20ms);
  ack(10);
  run_for(20ms);
  ASSERT_EQ(batches().size(), 3U);
  EXPECT_EQ(backoff.reset_calls, 1);
  transport.fail_connects = 2;
  transport.drop();
  poll();
  EXPECT_FALSE(forwarder->stats().connected);
  EXPECT_EQ(transport.connect_calls, 1);
  // Retries after 20 ms (fails), 40 ms (fails) and 60 ms (succeeds).
  ASSERT_TRUE(run_until([&] { return forwarder->stats().connected; }, "connected"));
  EXPECT_EQ(transport.connect_calls, 4);
  EXPECT_EQ(backoff.next_calls, 3);
  EXPECT_EQ(backoff.reset_calls, 2);
  run_for(20ms);
  auto sent = batches();
  ASSERT_EQ(sent.size(), 5U);
  EXPECT_EQ(sent[3].first_seq, 11U);
  EXPECT_EQ(sent[4].first_seq, 21U);
  const auto stats = forwarder->stats();
  EXPECT_TRUE(stats.connected);
  EXPECT_EQ(stats.reconnects, 1U);
  EXPECT_EQ(stats.connect_failures, 2U);
  EXPECT_EQ(stats.resends, 1U);
  EXPECT_EQ(transport.on_topic(forwarder->status_topic()).size(), 2U);
}

TEST_F(ForwarderTest, AcksForEventsStoredBeforeStartAreAccepted) {
  // A previous run sent them; its acks may arrive from the persistent session before resending.
  add_events(30);
  transport.hold_connect = true;
  start();
  transport.finish_connect();
  ack(30);
  run_for(20ms);
  EXPECT_EQ(outbox.acked_through(), 30U);
}

// Decoded batches as sent, any epoch, with their payload lines.
struct SentLines {
  std::uint64_t epoch = 0;
  std::uint64_t first_seq = 0;
  std::vector<std::string> pos_event_ids;
};
std::vector<SentLines> sent_lines(FakeTransport& transport, const std::string& topic) {
  std::vector<SentLines> out;
  protocol::BatchDecoder decoder;
  for (const auto& p : transport.on_topic(topic)) {
    auto decoded = decoder.decode(p.payload);
    EXPECT_TRUE(decoded) << decoded.error().message;
    if (!decoded) {
      continue;
    }
    SentLines sent{decoded->header.epoch, decoded->header.first_seq, {}};
    for (const auto& line : decoded->lines) {
      auto parsed = protocol::parse_payload_line(line, {});
      EXPECT_TRUE(parsed) << parsed.error().message;
      if (parsed) {
        sent.pos_event_ids.push_back(parsed->event.pos_event_id());
      }
    }
    out.push_back(std::move(sent));
  }
  return out;
}

// After a connect nothing beyond what the collector can legitimately hold is sent before an ack
// tells the collector's mark: with nothing unacknowledged, the last acknowledged event goes out as
// a probe, and the events stored since follow its answer.
TEST_F(ForwarderTest, EventsAfterConnectWaitForTheCollectorsMarkThenFlow) {
  add_events(3);
  outbox.acknowledge(3, [](const Status&) {});
  start();
  ASSERT_TRUE(run_until([&] { return batches().size() == 1; }, "the probe"));
  const auto passes = send_passes();
  add_events(2);  // sales taken while the forwarder does not know the collector's mark yet
  ASSERT_TRUE(run_until_send_pass_after(passes));
  auto sent = sent_lines(transport, forwarder->batch_topic());
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_EQ(sent[0].first_seq, 3U);
  EXPECT_EQ(sent[0].pos_event_ids, std::vector<std::string>{"e3"});
  EXPECT_FALSE(forwarder->stats().mark_checked);

  ack(3);  // the collector's mark is 3: the database is not behind
  run_for(50ms);
  sent = sent_lines(transport, forwarder->batch_topic());
  ASSERT_EQ(sent.size(), 2U);
  EXPECT_EQ(sent[1].first_seq, 4U);
  EXPECT_EQ(sent[1].pos_event_ids, (std::vector<std::string>{"e4", "e5"}));
  EXPECT_TRUE(forwarder->stats().mark_checked);
  EXPECT_EQ(outbox.renew_calls, 0);
  ack(5);
  EXPECT_EQ(outbox.acked_through(), 5U);
}

// A restored database: the collector already acknowledged seq 7 of this epoch, the database ends
// at 3 and took two new sales (4, 5) since. Sending them as 4 and 5 would have them dropped as
// duplicates and acknowledged: they move to a new epoch as 1 and 2 and go out from there.
TEST_F(ForwarderTest, AckBeyondTheDatabaseRenewsTheEpochBeforeNewEventsAreSent) {
  add_events(3);
  outbox.acknowledge(3, [](const Status&) {});
  const std::uint64_t old_epoch = outbox.epoch();
  start();
  add_events(2);
  run_for(50ms);
  ack(7);
  run_for(50ms);
  EXPECT_EQ(outbox.renew_calls, 1);
  EXPECT_EQ(outbox.last_keep_through, 3U);
  EXPECT_EQ(forwarder->stats().epoch_renewals, 1U);
  const auto sent = sent_lines(transport, forwarder->batch_topic());
  ASSERT_EQ(sent.size(), 2U);
  EXPECT_EQ(sent[0].epoch, old_epoch);
  EXPECT_EQ(sent[0].first_seq, 3U);  // the probe
  EXPECT_NE(sent[1].epoch, old_epoch);
  EXPECT_EQ(sent[1].epoch, outbox.epoch());
  EXPECT_EQ(sent[1].first_seq, 1U);
  EXPECT_EQ(sent[1].pos_event_ids, (std::vector<std::string>{"e4", "e5"}));
  for (const auto& p : transport.on_topic(forwarder->batch_topic())) {
    auto decoded = protocol::BatchDecoder().decode(p.payload);
    ASSERT_TRUE(decoded);
    EXPECT_FALSE(decoded->header.epoch == old_epoch && decoded->header.first_seq > 3)
        << "an event after seq 3 went out in the old epoch";
  }
  ack(7, old_epoch);  // late acks of the old epoch change nothing
  EXPECT_EQ(outbox.acked_through(), 0U);
  ack(2);
  EXPECT_EQ(outbox.acked_through(), 2U);
}

// Without the event that would be the probe (pruned by an older agent's retention) nothing can show
// the collector is not ahead: the forwarder renews the epoch rather than send the new events.
TEST_F(ForwarderTest, NoEventToProbeWithRenewsTheEpochBeforeSendingNewEvents) {
  add_events(3);
  outbox.acknowledge(3, [](const Status&) {});
  outbox.prune_before(4);
  const std::uint64_t old_epoch = outbox.epoch();
  start();
  add_events(2);
  run_for(50ms);
  EXPECT_EQ(outbox.renew_calls, 1);
  EXPECT_EQ(outbox.last_keep_through, 3U);
  const auto sent = sent_lines(transport, forwarder->batch_topic());
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_NE(sent[0].epoch, old_epoch);
  EXPECT_EQ(sent[0].first_seq, 1U);
  EXPECT_EQ(sent[0].pos_event_ids, (std::vector<std::string>{"e4", "e5"}));
}

// Unacknowledged events up to the limit are the probe themselves; the limit on a reconnect is
// the highest seq sent, so events stored while offline wait for the mark again.
// A renewed certificate: a clean disconnect (no offline status), an immediate connect (no
// backoff) and a resend of what is unacknowledged.
TEST_F(ForwarderTest, RenewConnectionReconnectsAtOnceAndResendsTheUnacknowledged) {
  add_events(25);
  start();
  run_for(20ms);
  ack(10);
  run_for(20ms);
  ASSERT_EQ(batches().size(), 3U);  // 1-10 (acked), 11-20, 21-25
  const auto connects = transport.connect_calls;
  forwarder->renew_connection("TLS files changed");
  ASSERT_TRUE(run_until([&] { return transport.connect_calls == connects + 1; }, "reconnect"));
  ASSERT_TRUE(run_until([&] { return forwarder->stats().connected; }, "connected"));
  EXPECT_EQ(transport.disconnect_calls, 1);
  EXPECT_EQ(backoff.next_calls, 0) << "no backoff delay";
  run_for(20ms);
  const auto sent = batches();
  ASSERT_EQ(sent.size(), 5U);
  EXPECT_EQ(sent[3].first_seq, 11U);
  EXPECT_EQ(sent[4].first_seq, 21U);
  EXPECT_EQ(forwarder->stats().reconnects, 1U);
  for (const auto& status : transport.on_topic(forwarder->status_topic())) {
    EXPECT_EQ(status.payload, R"({"state":"online"})") << "no offline status on a renewal";
  }
  ack(25);
  run_for(20ms);
  EXPECT_EQ(outbox.acked_through(), 25U);
}

TEST_F(ForwarderTest, RenewConnectionWhileWaitingToRetryConnectsAtOnce) {
  add_events(3);
  transport.fail_connects = 1;
  start();
  ASSERT_TRUE(run_until([&] { return backoff.next_calls == 1; }, "the first connect failed"));
  EXPECT_FALSE(forwarder->stats().connected);
  forwarder->renew_connection("TLS files changed");
  poll();
  EXPECT_EQ(transport.connect_calls, 2) << "not after the backoff delay";
  ASSERT_TRUE(run_until([&] { return forwarder->stats().connected; }, "connected"));
}

TEST_F(ForwarderTest, RenewConnectionWhileConnectingRenewsOnceConnected) {
  add_events(3);
  transport.hold_connect = true;
  start();
  poll();
  ASSERT_EQ(transport.connect_calls, 1);
  forwarder->renew_connection("TLS files changed");
  poll();
  EXPECT_EQ(transport.disconnect_calls, 0);
  transport.hold_connect = false;
  transport.finish_connect();
  ASSERT_TRUE(run_until([&] { return transport.connect_calls == 2; }, "the renewal's connect"));
  EXPECT_EQ(transport.disconnect_calls, 1);
  ASSERT_TRUE(run_until([&] { return forwarder->stats().connected; }, "connected"));
}

TEST_F(ForwarderTest, ReconnectChecksTheMarkAgainBeforeSendingEventsStoredOffline) {
  add_events(4);
  start();
  run_for(50ms);
  ack(4);
  ASSERT_EQ(outbox.acked_through(), 4U);
  transport.drop();
  poll();
  add_events(3);  // 5-7, stored while the link was down
  ASSERT_TRUE(run_until([&] { return forwarder->stats().connected; }, "connected"));
  run_for(50ms);
  auto sent = sent_lines(transport, forwarder->batch_topic());
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(sent.back().first_seq, 4U);  // the probe, not 5
  ack(9);  // the collector holds seqs this database never sent: behind
  run_for(50ms);
  EXPECT_EQ(outbox.renew_calls, 1);
  EXPECT_EQ(outbox.last_keep_through, 4U);
}

TEST_F(ForwarderTest, FirstConnectFailureRetriesWithBackoff) {
  transport.fail_connects = 1;
  start();
  EXPECT_FALSE(forwarder->stats().connected);
  ASSERT_TRUE(run_until([&] { return forwarder->stats().connected; }, "connected"));
  EXPECT_EQ(transport.connect_calls, 2);
  EXPECT_EQ(forwarder->stats().reconnects, 0U);
}

TEST_F(ForwarderTest, CommitListenerWakesSender) {
  start();
  run_for(10ms);
  EXPECT_TRUE(batches().empty());
  add_events(3);
  run_for(10ms);
  auto sent = batches();
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_EQ(sent[0].count, 3U);
}

TEST_F(ForwarderTest, YoungEventWaitsAtMostBatchDelay) {
  options.batch_delay = 60ms;
  start();
  clock.set_unix_ms(10);  // the fake outbox stamps received_at_ms = 0: the event is 10 ms old
  const auto passes = send_passes();
  add_events(1);
  ASSERT_TRUE(run_until_send_pass_after(passes));
  EXPECT_TRUE(batches().empty());
  add_events(2);  // its poll() has run the commit listener: the armed batch delay holds them
  EXPECT_TRUE(batches().empty());
  ASSERT_TRUE(run_until([&] { return !batches().empty(); }, "a batch"));
  auto sent = batches();
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_EQ(sent[0].count, 3U);
}

TEST_F(ForwarderTest, FullBatchIsNotDelayed) {
  options.batch_delay = 5s;
  start();
  clock.set_unix_ms(10);
  add_events(15);
  run_for(20ms);
  auto sent = batches();
  ASSERT_EQ(sent.size(), 1U);
  EXPECT_EQ(sent[0].count, 10U);
}

TEST_F(ForwarderTest, HeartbeatPublishesRetainedStatus) {
  options.heartbeat = 40ms;
  start();
  ASSERT_TRUE(run_until([&] { return transport.on_topic(forwarder->status_topic()).size() >= 3; },
                        "three statuses"));
  auto status = transport.on_topic(forwarder->status_topic());
  for (const auto& p : status) {
    EXPECT_TRUE(p.retained);
  }
}

TEST_F(ForwarderTest, StopWaitsForAcksThenPublishesOfflineAndDisconnects) {
  add_events(5);
  start();
  run_for(20ms);
  ASSERT_EQ(batches().size(), 1U);
  bool done = false;
  forwarder->stop(1s, [&] { done = true; });
  add_events(5);
  run_for(20ms);
  EXPECT_FALSE(done);
  EXPECT_EQ(batches().size(), 1U);
  ack(5);
  run_for(20ms);
  EXPECT_TRUE(done);
  EXPECT_EQ(batches().size(), 1U);
  auto status = transport.on_topic(forwarder->status_topic());
  ASSERT_GE(status.size(), 2U);
  EXPECT_EQ(status.back().payload, R"({"state":"offline"})");
  EXPECT_TRUE(status.back().retained);
  EXPECT_EQ(transport.disconnect_calls, 1);
  EXPECT_EQ(outbox.acked_through(), 5U);
}

TEST_F(ForwarderTest, StopGivesUpAfterDrainTimeout) {
  add_events(5);
  start();
  run_for(20ms);
  bool done = false;
  forwarder->stop(50ms, [&] { done = true; });
  run_for(30ms);
  EXPECT_FALSE(done);
  ASSERT_TRUE(run_until([&] { return done; }, "stop done"));
  EXPECT_EQ(transport.on_topic(forwarder->status_topic()).back().payload, R"({"state":"offline"})");
  EXPECT_EQ(transport.disconnect_calls, 1);
}

TEST_F(ForwarderTest, StopWhileDisconnectedCompletes) {
  transport.hold_connect = true;
  start();
  bool done = false;
  forwarder->stop(1s, [&] { done = true; });
  run_for(20ms);
  EXPECT_TRUE(done);
  EXPECT_TRUE(transport.publishes.empty());
}

TEST_F(ForwarderTest, UploadLimiterSpacesBatches) {
  options.window_batches = 8;
  add_events(30);
  // 1 kbit/s: the first batch empties the bucket, the next waits about 2 s for tokens.
  limiter = std::make_unique<UploadLimiter>(UploadLimiterOptions{1, {}, 0});
  start();
  ASSERT_TRUE(run_until(
      [&] {
        const auto s = forwarder->stats();
        return s.batches_sent >= 1 && s.send_passes > s.batches_sent;
      },
      "a batch and a send pass that declined"));
  EXPECT_EQ(batches().size(), 1U);
}

}  // namespace
}  // namespace pos::agent::test
