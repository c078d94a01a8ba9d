#include "pos/collector/batch_processor.hpp"
#include "pos/collector/fleet.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstring>

#include "collector_test_support.hpp"
#include "fake_marks.hpp"
#include "fake_sink.hpp"
#include "pos/protocol/ids.hpp"
#include "pos/protocol/messages.hpp"
#include "support/fake_transport.hpp"

namespace pos::collector {
namespace {

using test::attribute;
using test::encode;
using test::lines_for;
using test::run_for;
using test::run_until;

constexpr std::uint64_t epoch = 0x1122334455667788ULL;
constexpr std::string_view batch_topic = "pos/v1/S07/T1/batch";
constexpr std::string_view ack_topic = "pos/v1/S07/T1/ack";

/// Keeps every digest the pipeline reports published, in order.
struct PublishedDigests final : PipelineObserver {
  void on_events_published(std::span<const std::optional<EventDigest>> published) override {
    digests.insert(digests.end(), published.begin(), published.end());
  }
  std::vector<std::optional<EventDigest>> digests;
};

class BatchProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override { open(); }

  void open(const BatchProcessorOptions& options = {}) {
    m_processor.reset();
    m_marks.reset();
    MarkStoreOptions mark_options;
    mark_options.path = m_dir.path() / "collector.db";
    mark_options.group_window = std::chrono::microseconds(0);
    m_marks = std::move(*MarkStore::open(mark_options, m_io.get_executor(), m_clock));
    m_processor =
        std::make_unique<BatchProcessor>(m_io.get_executor(), m_sink, *m_marks, m_transport,
                                         std::vector<PipelineObserver*>{&m_fleet, &m_published},
                                         m_clock, protocol::DictionaryLookup{}, options);
  }

  void send(const std::string& payload, std::string_view topic = batch_topic) {
    m_processor->handle_message({std::string(topic), payload});
  }

  std::vector<protocol::Ack> acks() const {
    std::vector<protocol::Ack> out;
    for (const auto& p : m_transport.publishes) {
      if (p.topic == ack_topic) {
        out.push_back(*protocol::parse_ack(p.payload));
      }
    }
    return out;
  }

  // Waits for n acks and then for what is ready to run, such as their PUBACKs: a duplicate that
  // arrives while the ack covering it is still in flight is answered by that ack alone.
  bool wait_acks(std::size_t n) {
    const bool result = run_until(m_io, [&] { return acks().size() >= n; });
    pos::test::run_ready(m_io);
    return result;
  }

  test::TempDir m_dir;
  boost::asio::io_context m_io;
  test::ManualClock m_clock;
  test::FakeSink m_sink{m_io.get_executor()};
  pos::test::FakeTransport m_transport{m_io.get_executor()};
  FleetState m_fleet;
  PublishedDigests m_published;
  std::unique_ptr<MarkStore> m_marks;
  std::unique_ptr<BatchProcessor> m_processor;
};

TEST_F(BatchProcessorTest, HappyPathPublishesEveryEventThenAcks) {
  const auto lines = lines_for("S07", "T1", epoch, 1, 3);
  send(encode(epoch, 1, lines));
  ASSERT_TRUE(wait_acks(1));
  const auto events = m_sink.messages(Destination::events);
  ASSERT_EQ(events.size(), 3U);
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& m = events[i];
    EXPECT_EQ(attribute(m, "event_id"), protocol::make_event_id("S07", "T1", epoch, i + 1));
    EXPECT_EQ(attribute(m, "event_type"), "sale");
    EXPECT_EQ(attribute(m, "store_id"), "S07");
    EXPECT_EQ(attribute(m, "till_id"), "T1");
    EXPECT_EQ(attribute(m, "schema_version"), "1");
    EXPECT_EQ(m.ordering_key, "S07/T1");
    auto data = boost::json::parse(m.data).as_object();
    EXPECT_EQ(data["schema_version"].as_int64(), 1);
    EXPECT_EQ(data["collected_at"].as_string(),
              protocol::format_rfc3339_utc_ms(m_clock.now_ms).c_str());
    EXPECT_EQ(data["seq"].as_int64(), static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(data["pos_event_id"].as_string(), ("r-" + std::to_string(i + 1)).c_str());
  }
  EXPECT_TRUE(m_sink.messages(Destination::dead_letter).empty());
  EXPECT_EQ(acks(), (std::vector<protocol::Ack>{{epoch, 3}}));
  EXPECT_FALSE(m_transport.publishes.front().retained);
  EXPECT_EQ(m_marks->mark({"S07", "T1", epoch}), 3U);
  EXPECT_EQ(m_processor->stats().events_published, 3U);
  const TillView* till = m_fleet.find("S07", "T1");
  ASSERT_NE(till, nullptr);
  EXPECT_EQ(till->published_total, 3U);
  EXPECT_EQ(till->last_ack_ms, m_clock.now_ms);
}

// The observers get each event's facts from the tree the pipeline parsed instead of parsing the
// data again: the digest must say exactly what a reader of the published data would read.
TEST_F(BatchProcessorTest, ObserversGetTheFactsAReaderOfThePublishedDataWouldRead) {
  const auto lines = lines_for("S07", "T1", epoch, 1, 3);
  send(encode(epoch, 1, lines));
  ASSERT_TRUE(wait_acks(1));
  const auto events = m_sink.messages(Destination::events);
  ASSERT_EQ(events.size(), 3U);
  ASSERT_EQ(m_published.digests.size(), 3U);
  EventReader reader;
  std::vector<SaleLineFacts> digest_lines;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& m = events[i];
    const auto& digest = m_published.digests[i];
    ASSERT_TRUE(digest.has_value()) << m.data;
    const auto read = reader.read(m.data);
    ASSERT_TRUE(read) << read.error().message;
    const EventFacts kept = digest->facts(digest_lines);
    EXPECT_EQ(kept.kind, read->kind);
    EXPECT_EQ(kept.event_id, read->event_id);
    EXPECT_EQ(kept.event_id, attribute(m, "event_id"));
    EXPECT_EQ(kept.store_id, read->store_id);
    EXPECT_EQ(kept.till_id, read->till_id);
    EXPECT_EQ(kept.pos_event_id, read->pos_event_id);
    EXPECT_EQ(kept.occurred_at, read->occurred_at);
    EXPECT_EQ(kept.currency, read->currency);
    EXPECT_EQ(kept.customer_type, read->customer_type);
    EXPECT_EQ(kept.occurred_ms, read->occurred_ms);
    EXPECT_EQ(kept.received_ms, read->received_ms);
    ASSERT_EQ(kept.lines.size(), read->lines.size());
    ASSERT_FALSE(kept.lines.empty());
    for (std::size_t j = 0; j < kept.lines.size(); ++j) {
      EXPECT_EQ(kept.lines[j].category, read->lines[j].category);
      EXPECT_EQ(kept.lines[j].qty, read->lines[j].qty);
      EXPECT_EQ(kept.lines[j].unit_price_minor, read->lines[j].unit_price_minor);
      EXPECT_EQ(kept.lines[j].unit_cost_minor, read->lines[j].unit_cost_minor);
      EXPECT_EQ(kept.lines[j].discount_minor, read->lines[j].discount_minor);
    }
  }
}

TEST_F(BatchProcessorTest, EventNamingOurFieldsIsRebuiltWithoutDuplicateKeys) {
  std::string json = test::sale_json(1);
  json.insert(json.size() - 1, R"(,"schema_version":7,"collected_at":"x")");
  auto event = protocol::parse_pos_event(json);
  ASSERT_TRUE(event) << event.error().message;
  const std::vector<std::string> lines = {protocol::make_payload_line(
      *event, protocol::AgentStamp{"S07", "T1", epoch, 1, "2026-11-22T03:15:03.120Z"})};
  send(encode(epoch, 1, lines));
  ASSERT_TRUE(wait_acks(1));
  const auto events = m_sink.messages(Destination::events);
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(
      events[0].data.find("\"schema_version\"", events[0].data.find("\"schema_version\"") + 1),
      std::string::npos);
  auto data = boost::json::parse(events[0].data).as_object();
  EXPECT_EQ(data["schema_version"].as_int64(), 1);
  EXPECT_NE(data["collected_at"].as_string(), "x");
}

TEST_F(BatchProcessorTest, AcksOnlyAfterPublishAndCommit) {
  m_sink.auto_complete = false;
  send(encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 2)));
  run_for(m_io);
  ASSERT_EQ(m_sink.calls.size(), 1U);
  EXPECT_TRUE(acks().empty());
  EXPECT_EQ(m_marks->mark({"S07", "T1", epoch}), 0U);
  m_sink.complete(0);
  ASSERT_TRUE(wait_acks(1));
  // The mark was committed before the ack went out.
  EXPECT_EQ(m_marks->mark({"S07", "T1", epoch}), 2U);
  EXPECT_EQ(m_marks->stats().marks_committed, 1U);
}

TEST_F(BatchProcessorTest, WholeBatchDuplicateAcksAtOnce) {
  const auto payload = encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 3));
  send(payload);
  ASSERT_TRUE(wait_acks(1));
  const auto calls = m_sink.calls.size();
  send(payload);
  ASSERT_TRUE(wait_acks(2));
  EXPECT_EQ(m_sink.calls.size(), calls);
  EXPECT_EQ(acks().back(), (protocol::Ack{epoch, 3}));
  EXPECT_EQ(m_processor->stats().events_duplicate, 3U);
  EXPECT_EQ(m_processor->stats().batches_duplicate, 1U);
}

TEST_F(BatchProcessorTest, OverlappingBatchPublishesOnlyTheNewTail) {
  send(encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 3)));
  ASSERT_TRUE(wait_acks(1));
  send(encode(epoch, 2, lines_for("S07", "T1", epoch, 2, 4)));  // seqs 2..5
  ASSERT_TRUE(wait_acks(2));
  const auto events = m_sink.messages(Destination::events);
  ASSERT_EQ(events.size(), 5U);
  EXPECT_EQ(attribute(events[3], "event_id"), protocol::make_event_id("S07", "T1", epoch, 4));
  EXPECT_EQ(attribute(events[4], "event_id"), protocol::make_event_id("S07", "T1", epoch, 5));
  EXPECT_EQ(acks().back(), (protocol::Ack{epoch, 5}));
  EXPECT_EQ(m_processor->stats().events_duplicate, 2U);
}

TEST_F(BatchProcessorTest, GapIsNeitherPublishedNorAcked) {
  send(encode(epoch, 5, lines_for("S07", "T1", epoch, 5, 2)));
  run_for(m_io);
  EXPECT_TRUE(m_sink.calls.empty());
  EXPECT_TRUE(acks().empty());
  EXPECT_EQ(m_processor->stats().batches_gap, 1U);
  EXPECT_EQ(m_fleet.find("S07", "T1")->gaps_total, 1U);
  // go-back-N fills it
  send(encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 6)));
  ASSERT_TRUE(wait_acks(1));
  EXPECT_EQ(acks().back(), (protocol::Ack{epoch, 6}));
}

void send_status(BatchProcessor& processor, std::optional<std::uint64_t> status_epoch,
                 std::uint64_t acked_through) {
  protocol::AgentStatus status;
  status.agent_version = "1.2.3";
  status.sent_at = "2026-11-22T03:15:03.120Z";
  status.epoch = status_epoch;
  status.acked_through = acked_through;
  processor.handle_message({"pos/v1/S07/T1/status", protocol::encode_status(status)});
}

// collector.db lost: the till resends from its first unacknowledged seq (11); its status says
// 1..10 were acknowledged, hence published, so the collector adopts 10 and goes on.
TEST_F(BatchProcessorTest, LostMarkIsRecoveredFromTheTillsReportedAck) {
  send_status(*m_processor, epoch, 10);
  send(encode(epoch, 11, lines_for("S07", "T1", epoch, 11, 3)));
  ASSERT_TRUE(wait_acks(1));
  EXPECT_EQ(acks().back(), (protocol::Ack{epoch, 13}));
  EXPECT_EQ(m_sink.messages(Destination::events).size(), 3U);
  EXPECT_EQ(m_processor->stats().marks_adopted, 1U);
  EXPECT_EQ(m_processor->stats().batches_gap, 0U);
  EXPECT_EQ(m_marks->mark({"S07", "T1", epoch}), 13U);
}

TEST_F(BatchProcessorTest, ReportedAckOfAnotherEpochOrTooLowIsNotAdopted) {
  send_status(*m_processor, 0xaaaabbbbccccddddULL, 10);
  send(encode(epoch, 11, lines_for("S07", "T1", epoch, 11, 3)));
  run_for(m_io);
  EXPECT_EQ(m_processor->stats().batches_gap, 1U);
  send_status(*m_processor, epoch, 8);  // 9 and 10 unaccounted for: still a gap
  send(encode(epoch, 11, lines_for("S07", "T1", epoch, 11, 3)));
  run_for(m_io);
  EXPECT_EQ(m_processor->stats().batches_gap, 2U);
  send_status(*m_processor, std::nullopt, 10);  // an older agent: no epoch
  send(encode(epoch, 11, lines_for("S07", "T1", epoch, 11, 3)));
  run_for(m_io);
  EXPECT_EQ(m_processor->stats().batches_gap, 3U);
  EXPECT_TRUE(m_sink.calls.empty());
  EXPECT_TRUE(acks().empty());
  EXPECT_EQ(m_processor->stats().marks_adopted, 0U);
}

// A stale status (lower than the mark) never lowers the mark.
TEST_F(BatchProcessorTest, ReportedAckNeverLowersTheMark) {
  send(encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 5)));
  ASSERT_TRUE(wait_acks(1));
  send_status(*m_processor, epoch, 2);
  send(encode(epoch, 4, lines_for("S07", "T1", epoch, 4, 4)));  // 4, 5 duplicates; 6, 7 new
  ASSERT_TRUE(wait_acks(2));
  EXPECT_EQ(acks().back(), (protocol::Ack{epoch, 7}));
  EXPECT_EQ(m_sink.messages(Destination::events).size(), 7U);
  EXPECT_EQ(m_processor->stats().marks_adopted, 0U);
}

TEST_F(BatchProcessorTest, NewEpochStartsANewMark) {
  send(encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 3)));
  ASSERT_TRUE(wait_acks(1));
  constexpr std::uint64_t other = 0xaaaabbbbccccddddULL;
  send(encode(other, 1, lines_for("S07", "T1", other, 1, 2)));
  ASSERT_TRUE(wait_acks(2));
  EXPECT_EQ(acks().back(), (protocol::Ack{other, 2}));
  EXPECT_EQ(m_marks->mark({"S07", "T1", epoch}), 3U);
  EXPECT_EQ(m_marks->mark({"S07", "T1", other}), 2U);
  EXPECT_EQ(m_sink.messages(Destination::events).size(), 5U);
}

// A till sending batches of random epochs (each would be a permanent mark row, all loaded into
// memory): beyond max_epochs_per_till, and with none idle past the retention, a new epoch is
// refused (not published, not acked: the till keeps its events); the mark table does not grow.
TEST_F(BatchProcessorTest, RandomEpochsFromOneTillDoNotGrowTheMarksBeyondTheCap) {
  BatchProcessorOptions options;
  options.max_epochs_per_till = 4;
  open(options);
  for (std::uint64_t e = 1; e <= 4; ++e) {
    send(encode(e, 1, lines_for("S07", "T1", e, 1, 1)));
  }
  ASSERT_TRUE(wait_acks(4));
  EXPECT_EQ(m_fleet.find("S07", "T1")->epochs_total, 4U);
  EXPECT_EQ(m_processor->stats().new_epochs, 4U);
  for (std::uint64_t e = 100; e < 150; ++e) {
    send(encode(e, 1, lines_for("S07", "T1", e, 1, 1)));
  }
  send(encode(2, 2, lines_for("S07", "T1", 2, 2, 1)));  // a known epoch goes on
  ASSERT_TRUE(wait_acks(5));
  run_for(m_io);
  EXPECT_EQ(m_marks->size(), 4U);
  EXPECT_EQ(m_sink.messages(Destination::events).size(), 5U);
  EXPECT_EQ(acks().back(), (protocol::Ack{2, 2}));
  EXPECT_EQ(acks().size(), 5U);
  EXPECT_EQ(m_processor->stats().batches_epoch_refused, 50U);
  const TillView* till = m_fleet.find("S07", "T1");
  EXPECT_EQ(till->epochs_refused_total, 50U);
  EXPECT_EQ(till->epochs_total, 4U);
  // Another till has its own allowance.
  send(encode(7, 1, lines_for("S07", "T2", 7, 1, 1)), "pos/v1/S07/T2/batch");
  ASSERT_TRUE(run_until(m_io, [&] { return m_marks->size() == 5; }));
  // After a restart the cap holds with the marks read from the database.
  open(options);
  send(encode(151, 1, lines_for("S07", "T1", 151, 1, 1)));
  run_for(m_io);
  EXPECT_EQ(m_marks->size(), 5U);
  EXPECT_EQ(m_processor->stats().batches_epoch_refused, 1U);
}

// An epoch idle past the retention is pruned: by a pruning pass, or when the till starts a new
// epoch at the cap (a genuine new epoch, e.g. after a restored disk, is not stalled). The till's
// newest epoch is kept by the pass.
TEST_F(BatchProcessorTest, IdleEpochsArePrunedAfterTheRetention) {
  BatchProcessorOptions options;
  options.max_epochs_per_till = 2;
  options.epoch_retention = std::chrono::hours(24);
  open(options);
  send(encode(1, 1, lines_for("S07", "T1", 1, 1, 1)));
  ASSERT_TRUE(wait_acks(1));
  m_clock.now_ms += 3'600'000;
  send(encode(2, 1, lines_for("S07", "T1", 2, 1, 1)));
  ASSERT_TRUE(wait_acks(2));
  EXPECT_EQ(m_processor->prune_idle_epochs(), 0U);  // nothing idle long enough
  EXPECT_EQ(m_marks->size(), 2U);

  m_clock.now_ms += 24 * 3'600'000 - 1'000;  // epoch 1 idle past the retention, epoch 2 not
  EXPECT_EQ(m_processor->prune_idle_epochs(), 1U);
  EXPECT_EQ(m_processor->stats().epochs_pruned, 1U);
  EXPECT_EQ(m_processor->stats().prune_passes, 2U);
  EXPECT_EQ(m_marks->mark({"S07", "T1", 1}), 0U);
  EXPECT_EQ(m_marks->mark({"S07", "T1", 2}), 1U);
  m_clock.now_ms += 10 * 24 * 3'600'000LL;
  EXPECT_EQ(m_processor->prune_idle_epochs(), 0U);  // the till's newest epoch stays
  EXPECT_EQ(m_marks->size(), 1U);

  // At the cap, a new epoch prunes an idle one instead of being refused.
  send(encode(3, 1, lines_for("S07", "T1", 3, 1, 1)));
  ASSERT_TRUE(wait_acks(3));
  m_clock.now_ms += 25 * 3'600'000LL;
  send(encode(4, 1, lines_for("S07", "T1", 4, 1, 1)));
  ASSERT_TRUE(wait_acks(4));
  EXPECT_EQ(acks().back(), (protocol::Ack{4, 1}));
  EXPECT_EQ(m_processor->stats().batches_epoch_refused, 0U);
  EXPECT_EQ(m_fleet.find("S07", "T1")->epoch, 4U);
  // Epochs that never got a mark (a gap: nothing published) make room at once. (The gap batch of
  // epoch 5 made room by pruning epoch 3, idle for 25 h.)
  m_clock.now_ms += 1000;
  send(encode(5, 7, lines_for("S07", "T1", 5, 7, 1)));  // starts at seq 7: a gap
  run_for(m_io);
  EXPECT_EQ(m_processor->stats().batches_gap, 1U);
  send(encode(6, 1, lines_for("S07", "T1", 6, 1, 1)));
  ASSERT_TRUE(wait_acks(5));
  EXPECT_EQ(acks().back(), (protocol::Ack{6, 1}));
  EXPECT_EQ(m_processor->stats().batches_epoch_refused, 0U);
  // The deletions are durable.
  ASSERT_TRUE(run_until(m_io, [&] { return m_marks->stats().marks_deleted == 3; }));
  open(options);
  EXPECT_EQ(m_marks->size(), 2U);
  EXPECT_EQ(m_marks->mark({"S07", "T1", 2}), 0U);
  EXPECT_EQ(m_marks->mark({"S07", "T1", 3}), 0U);
  EXPECT_EQ(m_marks->mark({"S07", "T1", 4}), 1U);
  EXPECT_EQ(m_marks->mark({"S07", "T1", 6}), 1U);
}

std::string patched(std::string batch, std::size_t offset, const void* bytes, std::size_t n) {
  std::memcpy(batch.data() + offset, bytes, n);
  return batch;
}

TEST_F(BatchProcessorTest, PoisonBatchesAreDeadLetteredAndAcked) {
  std::uint64_t next = 1;
  auto poison = [&](const std::string& what, auto mutate, std::uint64_t covered = 2) {
    SCOPED_TRACE(what);
    const auto lines = lines_for("S07", "T1", epoch, next, 2);
    const std::string batch = mutate(encode(epoch, next, lines));
    const auto dead_before = m_sink.messages(Destination::dead_letter).size();
    send(batch);
    const auto acks_before = acks().size();
    ASSERT_TRUE(wait_acks(acks_before + 1));
    const auto dead = m_sink.messages(Destination::dead_letter);
    ASSERT_EQ(dead.size(), dead_before + 1);
    EXPECT_FALSE(attribute(dead.back(), "error").empty());
    EXPECT_EQ(attribute(dead.back(), "store_id"), "S07");
    EXPECT_EQ(attribute(dead.back(), "till_id"), "T1");
    EXPECT_EQ(attribute(dead.back(), "epoch"), protocol::format_epoch(epoch));
    EXPECT_EQ(attribute(dead.back(), "first_seq"), std::to_string(next));
    EXPECT_EQ(acks().back(), (protocol::Ack{epoch, next + covered - 1}));
    next += covered;
  };
  poison("truncated frame", [](const std::string& b) { return b.substr(0, b.size() - 5); });
  poison("zip-bomb raw_len", [](std::string b) {
    const std::uint32_t huge = 0xF0000000U;
    return patched(std::move(b), 32, &huge, 4);
  });
  poison("corrupted frame", [](std::string b) {
    b[b.size() / 2 + 18] ^= 0x5a;
    b[b.size() - 2] ^= 0x33;
    return b;
  });
  poison(
      "wrong line count",
      [](std::string b) {
        const std::uint32_t three = 3;  // two lines in the payload; the ack then covers three seqs
        return patched(std::move(b), 28, &three, 4);
      },
      3);
  EXPECT_TRUE(m_sink.messages(Destination::events).empty());
  EXPECT_EQ(m_processor->stats().batches_dead_lettered, 4U);
}

TEST_F(BatchProcessorTest, BadHeaderIsDeadLetteredWithoutAck) {
  auto batch = encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 2));
  batch[0] = 'X';
  send(batch);
  send("POS");  // shorter than a header
  send("garbage", "pos/v1/S07/bad id/batch");
  run_for(m_io);
  EXPECT_EQ(m_sink.messages(Destination::dead_letter).size(), 3U);
  EXPECT_TRUE(acks().empty());
  EXPECT_EQ(m_processor->stats().batches_invalid, 3U);
  // The till is not blocked: a good batch still goes through.
  send(encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 2)));
  ASSERT_TRUE(wait_acks(1));
}

TEST_F(BatchProcessorTest, OversizedMessageIsDeadLetteredTruncatedAndAcked) {
  BatchProcessorOptions options;
  options.limits.max_encoded_bytes = 1024;
  options.max_dead_letter_bytes = 100;
  open(options);
  auto lines = lines_for("S07", "T1", epoch, 1, 20);
  send(encode(epoch, 1, lines, protocol::Codec::none));
  ASSERT_TRUE(wait_acks(1));
  const auto dead = m_sink.messages(Destination::dead_letter);
  ASSERT_EQ(dead.size(), 1U);
  EXPECT_EQ(dead[0].data.size(), 100U);
  EXPECT_EQ(attribute(dead[0], "data_truncated"), "true");
  EXPECT_EQ(acks().back(), (protocol::Ack{epoch, 20}));
}

TEST_F(BatchProcessorTest, EventOfAnotherStoreIsDeadLetteredOthersPublished) {
  auto lines = lines_for("S07", "T1", epoch, 1, 3);
  lines[1] = test::payload_line("S99", "T1", epoch, 2);
  send(encode(epoch, 1, lines));
  ASSERT_TRUE(wait_acks(1));
  const auto events = m_sink.messages(Destination::events);
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(attribute(events[0], "event_id"), protocol::make_event_id("S07", "T1", epoch, 1));
  EXPECT_EQ(attribute(events[1], "event_id"), protocol::make_event_id("S07", "T1", epoch, 3));
  const auto dead = m_sink.messages(Destination::dead_letter);
  ASSERT_EQ(dead.size(), 1U);
  EXPECT_EQ(dead[0].data, lines[1]);
  EXPECT_NE(attribute(dead[0], "error").find("store_id"), std::string::npos);
  EXPECT_EQ(attribute(dead[0], "first_seq"), "1");
  EXPECT_EQ(acks().back(), (protocol::Ack{epoch, 3}));
  EXPECT_EQ(m_fleet.find("S07", "T1")->rejected_total, 1U);
  EXPECT_EQ(m_processor->stats().events_dead_lettered, 1U);
}

// The forgery of a till that writes its line by hand: `store_id` twice, the last one matching the
// topic. A reader keeping the first value would see a sale of S99. Dead-lettered, not published.
TEST_F(BatchProcessorTest, LineWithADuplicateKeyIsDeadLetteredNotPublished) {
  auto lines = lines_for("S07", "T1", epoch, 1, 3);
  lines[1].insert(1, R"("store_id":"S99",)");
  lines[2].insert(1, R"("lines":[],)");
  send(encode(epoch, 1, lines));
  ASSERT_TRUE(wait_acks(1));
  const auto events = m_sink.messages(Destination::events);
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(attribute(events[0], "event_id"), protocol::make_event_id("S07", "T1", epoch, 1));
  const auto dead = m_sink.messages(Destination::dead_letter);
  ASSERT_EQ(dead.size(), 2U);
  EXPECT_EQ(dead[0].data, lines[1]);
  EXPECT_NE(attribute(dead[0], "error").find("store_id: duplicate key"), std::string::npos)
      << attribute(dead[0], "error");
  EXPECT_EQ(attribute(dead[0], "seq"), "2");
  EXPECT_NE(attribute(dead[1], "error").find("lines: duplicate key"), std::string::npos)
      << attribute(dead[1], "error");
  EXPECT_EQ(acks().back(), (protocol::Ack{epoch, 3}));
}

// What is published is the validated line itself with our two fields appended, unless the event
// names one of them: then it is rebuilt from the validated values. Whether it does is read from
// the parsed event, not the text, so a key spelled with an escape cannot slip a second
// `collected_at` into the published data.
TEST_F(BatchProcessorTest, PublishedDataIsTheValidatedLineWithoutDuplicateKeys) {
  auto lines = lines_for("S07", "T1", epoch, 1, 2);
  lines[1].insert(1, R"("\u0063ollected_at":"2000-01-01T00:00:00Z",)");
  send(encode(epoch, 1, lines));
  ASSERT_TRUE(wait_acks(1));
  const auto events = m_sink.messages(Destination::events);
  ASSERT_EQ(events.size(), 2U);
  const std::string ours = protocol::format_rfc3339_utc_ms(m_clock.now_ms);
  EXPECT_EQ(events[0].data, lines[0].substr(0, lines[0].size() - 1) + R"(,"collected_at":")" +
                                ours + R"(","schema_version":1})");
  const auto strict = protocol::parse_json_bounded(events[1].data, protocol::EventLimits{});
  ASSERT_TRUE(strict) << strict.error().message;
  EXPECT_EQ(strict->at("collected_at").as_string(), ours.c_str());
  EXPECT_EQ(protocol::to_canonical_json(*strict), events[1].data);
}

TEST_F(BatchProcessorTest, SeqMismatchInALineIsDeadLettered) {
  auto lines = lines_for("S07", "T1", epoch, 1, 3);
  lines[2] = test::payload_line("S07", "T1", epoch, 7);
  send(encode(epoch, 1, lines));
  ASSERT_TRUE(wait_acks(1));
  EXPECT_EQ(m_sink.messages(Destination::events).size(), 2U);
  const auto dead = m_sink.messages(Destination::dead_letter);
  ASSERT_EQ(dead.size(), 1U);
  EXPECT_NE(attribute(dead[0], "error").find("seq"), std::string::npos);
  EXPECT_EQ(attribute(dead[0], "seq"), "3");
  EXPECT_EQ(acks().back(), (protocol::Ack{epoch, 3}));
}

TEST_F(BatchProcessorTest, PermanentSinkErrorIsNotAckedAndResendIsProcessed) {
  m_sink.auto_complete = false;
  const auto payload = encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 3));
  send(payload);
  run_for(m_io, std::chrono::milliseconds(5));
  m_sink.complete(0, fail("topic projects/p/topics/t does not exist"));
  run_for(m_io);
  EXPECT_TRUE(acks().empty());
  EXPECT_EQ(m_marks->mark({"S07", "T1", epoch}), 0U);
  EXPECT_EQ(m_processor->stats().sink_failures, 1U);
  EXPECT_EQ(m_processor->pending_batches(), 0U);
  EXPECT_TRUE(m_published.digests.empty()) << "a failed call is not observed";
  m_sink.auto_complete = true;
  send(payload);
  ASSERT_TRUE(wait_acks(1));
  EXPECT_EQ(acks().back(), (protocol::Ack{epoch, 3}));
  EXPECT_EQ(m_sink.calls.size(), 2U);
  EXPECT_EQ(m_published.digests.size(), 3U) << "observed once, when the resend succeeded";
}

// The facts kept for the observers until a batch's events call completes count against
// max_pending_bytes with the sink's own bytes, so they are bounded by the same flow control.
TEST_F(BatchProcessorTest, FactsHeldForObserversCountAgainstThePendingBytesLimit) {
  BatchProcessorOptions options;
  options.max_pending_bytes = 1;  // the sink holds nothing (fake): only the held facts count
  open(options);
  m_sink.auto_complete = false;
  send(encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 2)));
  ASSERT_EQ(m_sink.calls.size(), 1U);
  send(encode(epoch, 3, lines_for("S07", "T1", epoch, 3, 2)));
  EXPECT_EQ(m_sink.calls.size(), 1U);
  EXPECT_EQ(m_processor->stats().batches_dropped_busy, 1U);
  m_sink.complete(0);
  ASSERT_TRUE(wait_acks(1));
  EXPECT_EQ(m_published.digests.size(), 2U);
  send(encode(epoch, 3, lines_for("S07", "T1", epoch, 3, 2)));
  EXPECT_EQ(m_sink.calls.size(), 2U) << "released once the events call completed";
}

TEST_F(BatchProcessorTest, PipelinedBatchesAckInOrder) {
  m_sink.auto_complete = false;
  send(encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 2)));
  send(encode(epoch, 3, lines_for("S07", "T1", epoch, 3, 2)));
  send(encode(epoch, 5, lines_for("S07", "T1", epoch, 5, 2)));
  ASSERT_EQ(m_sink.calls.size(), 3U);
  EXPECT_EQ(m_processor->pending_batches(), 3U);
  // A resend of what is in flight is a duplicate, not published again and not acked yet.
  send(encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 4)));
  EXPECT_EQ(m_sink.calls.size(), 3U);
  m_sink.complete(2);
  m_sink.complete(1);
  ASSERT_GE(pos::test::run_ready(m_io), 2U) << "the two completions were handled";
  EXPECT_TRUE(acks().empty());  // the first batch is still in the sink
  m_sink.complete(0);
  // Acks are cumulative and coalesced: marks committed while an ack is in flight go out as one.
  ASSERT_TRUE(run_until(m_io, [&] { return !acks().empty() && acks().back().through_seq == 6; }));
  const auto sent = acks();
  EXPECT_EQ(sent.front(), (protocol::Ack{epoch, 2}));
  for (std::size_t i = 1; i < sent.size(); ++i) {
    EXPECT_GT(sent[i].through_seq, sent[i - 1].through_seq) << "acks out of order";
  }
}

TEST_F(BatchProcessorTest, FailedAckIsRetriedWithTheNewestMark) {
  m_transport.fail_publishes = 1;
  send(encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 2)));
  ASSERT_TRUE(run_until(m_io, [&] { return m_processor->stats().acks_sent == 1; }));
  EXPECT_EQ(m_processor->stats().ack_failures, 1U);
  EXPECT_EQ(acks(), (std::vector<protocol::Ack>{{epoch, 2}, {epoch, 2}}));
}

TEST_F(BatchProcessorTest, FailureInThePipelineDropsLaterBatches) {
  m_sink.auto_complete = false;
  send(encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 2)));
  send(encode(epoch, 3, lines_for("S07", "T1", epoch, 3, 2)));
  send(encode(epoch, 5, lines_for("S07", "T1", epoch, 5, 2)));
  m_sink.complete(0);
  m_sink.complete(1, fail("permission denied"));
  m_sink.complete(2);
  ASSERT_TRUE(wait_acks(1));
  run_for(m_io);
  EXPECT_EQ(acks(), (std::vector<protocol::Ack>{{epoch, 2}}));
  EXPECT_EQ(m_processor->pending_batches(), 0U);
  // The agent resends from 3: published again and acked.
  m_sink.auto_complete = true;
  send(encode(epoch, 3, lines_for("S07", "T1", epoch, 3, 4)));
  ASSERT_TRUE(wait_acks(2));
  EXPECT_EQ(acks().back(), (protocol::Ack{epoch, 6}));
}

TEST_F(BatchProcessorTest, FlowControlDropsWithoutAck) {
  BatchProcessorOptions options;
  options.max_pending_batches = 1;
  options.max_pending_bytes = 1000;
  open(options);
  m_sink.auto_complete = false;
  send(encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 2)));
  send(encode(epoch, 3, lines_for("S07", "T1", epoch, 3, 2)));  // over max_pending_batches
  EXPECT_EQ(m_processor->stats().batches_dropped_busy, 1U);
  m_sink.complete(0);
  ASSERT_TRUE(wait_acks(1));
  m_sink.fake_pending_bytes = 5000;  // over max_pending_bytes
  send(encode(epoch, 3, lines_for("S07", "T1", epoch, 3, 2)));
  EXPECT_EQ(m_processor->stats().batches_dropped_busy, 2U);
  m_sink.fake_pending_bytes = 0;
  m_sink.auto_complete = true;
  send(encode(epoch, 3, lines_for("S07", "T1", epoch, 3, 2)));
  ASSERT_TRUE(wait_acks(2));
  EXPECT_EQ(acks().back(), (protocol::Ack{epoch, 4}));
  EXPECT_EQ(m_sink.calls.size(), 2U);
}

TEST_F(BatchProcessorTest, MarksSurviveRestart) {
  send(encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 3)));
  ASSERT_TRUE(wait_acks(1));
  open();
  send(encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 3)));
  ASSERT_TRUE(wait_acks(2));
  EXPECT_EQ(m_sink.messages(Destination::events).size(), 3U);
  EXPECT_EQ(acks().back(), (protocol::Ack{epoch, 3}));
}

TEST_F(BatchProcessorTest, StatusMessagesFeedTheFleet) {
  protocol::AgentStatus status;
  status.agent_version = "1.2.3";
  status.sent_at = "2026-11-22T03:15:03.120Z";
  status.backlog_events = 17;
  send(protocol::encode_status(status), "pos/v1/S07/T2/status");
  send("{not json", "pos/v1/S07/T3/status");
  const TillView* till = m_fleet.find("S07", "T2");
  ASSERT_NE(till, nullptr);
  EXPECT_EQ(till->agent_version, "1.2.3");
  EXPECT_EQ(till->backlog_events, 17U);
  EXPECT_EQ(m_fleet.find("S07", "T3"), nullptr);
  EXPECT_EQ(m_processor->stats().status_invalid, 1U);
}

TEST_F(BatchProcessorTest, StopIntakeIgnoresBatchesAndWaitsForInFlight) {
  m_sink.auto_complete = false;
  send(encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 2)));
  m_processor->stop_intake();
  send(encode(epoch, 3, lines_for("S07", "T1", epoch, 3, 2)));
  EXPECT_EQ(m_sink.calls.size(), 1U);
  bool idle = false;
  m_processor->when_idle([&] { idle = true; });
  pos::test::run_ready(m_io);  // a waiter called at once would have run by now
  EXPECT_FALSE(idle);
  m_sink.complete(0);
  ASSERT_TRUE(run_until(m_io, [&] { return idle; }));
  EXPECT_EQ(acks(), (std::vector<protocol::Ack>{{epoch, 2}}));
}

// The mark store seam: a fake whose commits fail like a full disk.
class BatchProcessorCommitFailureTest : public ::testing::Test {
 protected:
  BatchProcessorCommitFailureTest() {
    BatchProcessorOptions options;
    options.commit_retry_initial = std::chrono::milliseconds(5);
    options.commit_retry_max = std::chrono::milliseconds(20);
    m_processor = std::make_unique<BatchProcessor>(
        m_io.get_executor(), m_sink, m_marks, m_transport, std::vector<PipelineObserver*>{&m_fleet},
        m_clock, protocol::DictionaryLookup{}, options);
  }

  void send(const std::string& payload) {
    m_processor->handle_message({std::string(batch_topic), payload});
  }

  std::vector<protocol::Ack> acks() const {
    std::vector<protocol::Ack> out;
    for (const auto& p : m_transport.publishes) {
      out.push_back(*protocol::parse_ack(p.payload));
    }
    return out;
  }

  boost::asio::io_context m_io;
  test::ManualClock m_clock;
  test::FakeSink m_sink{m_io.get_executor()};
  pos::test::FakeTransport m_transport{m_io.get_executor()};
  test::FakeMarks m_marks{m_io.get_executor()};
  FleetState m_fleet;
  std::unique_ptr<BatchProcessor> m_processor;
};

// A persistent commit error (disk full): the batch was published but its mark is not durable.
// Until a commit succeeds again the collector takes no batch: a resend is neither published
// again nor acked. Once the disk has room, the retried commit acks what was published, and the
// resend is a duplicate.
TEST_F(BatchProcessorCommitFailureTest, AfterAFailedCommitAResendIsNotPublishedAgain) {
  m_marks.fail_commits = true;
  const auto payload = encode(epoch, 1, lines_for("S07", "T1", epoch, 1, 3));
  send(payload);
  ASSERT_TRUE(run_until(m_io, [&] { return m_processor->stats().commit_failures >= 1; }));
  EXPECT_TRUE(m_processor->commits_paused());
  EXPECT_EQ(m_sink.calls.size(), 1U);
  // The agent resends after its ack timeout, more than once.
  send(payload);
  send(encode(epoch, 4, lines_for("S07", "T1", epoch, 4, 2)));
  ASSERT_TRUE(run_until(m_io, [&] { return m_marks.failed_commits >= 3; }));  // retried, failed
  EXPECT_EQ(m_sink.calls.size(), 1U) << "published again while the mark store cannot commit";
  EXPECT_TRUE(acks().empty());
  EXPECT_EQ(m_processor->stats().batches_dropped_paused, 2U);
  EXPECT_TRUE(m_processor->commits_paused());

  m_marks.fail_commits = false;  // space freed
  ASSERT_TRUE(run_until(m_io, [&] { return !acks().empty(); }));
  EXPECT_EQ(acks().back(), (protocol::Ack{epoch, 3}));
  EXPECT_FALSE(m_processor->commits_paused());
  EXPECT_EQ(m_marks.mark({"S07", "T1", epoch}), 3U);
  EXPECT_EQ(m_processor->stats().events_published, 3U);
  pos::test::run_ready(m_io);  // the ack's PUBACK: an ack still in flight would cover the resend
  send(payload);
  ASSERT_TRUE(run_until(m_io, [&] { return acks().size() >= 2; }));
  EXPECT_EQ(m_sink.calls.size(), 1U);
  EXPECT_EQ(m_processor->stats().batches_duplicate, 1U);
  // New events flow again.
  send(encode(epoch, 4, lines_for("S07", "T1", epoch, 4, 2)));
  ASSERT_TRUE(run_until(m_io, [&] { return acks().back().through_seq == 5; }));
  EXPECT_EQ(m_sink.messages(Destination::events).size(), 5U);
}

}  // namespace
}  // namespace pos::collector
