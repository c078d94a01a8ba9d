// The pure parts of posfleet: names, pacing, batch building, ack bookkeeping, the latency
// histogram and the command line.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <variant>

#include "pos/fleetemu/batch_source.hpp"
#include "pos/fleetemu/fleet.hpp"
#include "pos/fleetemu/fleet_layout.hpp"
#include "pos/fleetemu/ledger.hpp"
#include "pos/fleetemu/options.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/ids.hpp"

namespace pos::fleetemu {
namespace {

using namespace std::chrono_literals;

TEST(FleetLayout, NamesTillsPerStore) {
  EXPECT_EQ(till_name(0, 10).store_id, "S001");
  EXPECT_EQ(till_name(0, 10).till_id, "T1");
  EXPECT_EQ(till_name(9, 10).till_id, "T10");
  EXPECT_EQ(till_name(10, 10).store_id, "S002");
  EXPECT_EQ(till_name(10, 10).till_id, "T1");
  EXPECT_EQ(till_name(4999, 10).store_id, "S500");
  EXPECT_EQ(till_name(12345, 10).store_id, "S1235");
  EXPECT_EQ(till_file_stem(till_name(0, 10)), "S001-T1");
}

TEST(Pacer, OffersRateTimesElapsedPlusPhase) {
  const auto start = Clock::now();
  const Pacer pacer(10.0, start, 0.5);
  EXPECT_EQ(pacer.events_due(start - 1s), 0U);
  EXPECT_EQ(pacer.events_due(start), 0U);
  EXPECT_EQ(pacer.events_due(start + 49ms), 0U);
  EXPECT_EQ(pacer.events_due(start + 51ms), 1U);
  EXPECT_EQ(pacer.events_due(start + 1s), 10U);
  EXPECT_EQ(pacer.events_due(start + 10s + 60ms), 101U);
  std::uint64_t last = 0;
  for (int ms = 0; ms < 3000; ms += 7) {
    const auto due = pacer.events_due(start + std::chrono::milliseconds(ms));
    EXPECT_GE(due, last);
    last = due;
  }
}

TEST(BatchSource, BuildsBatchesTheCollectorAccepts) {
  auto source = BatchSource::create(7, 64, "");
  ASSERT_TRUE(source) << source.error().message;
  const std::uint64_t epoch = 0x1234abcd5678ef01ULL;
  auto message = source->batch("S001", "T3", epoch, 11, 5, 99, "2026-12-05T23:00:00.000Z");
  ASSERT_TRUE(message) << message.error().message;
  protocol::BatchDecoder decoder;
  auto batch = decoder.decode(*message);
  ASSERT_TRUE(batch) << batch.error().message;
  EXPECT_EQ(batch->header.codec, protocol::Codec::zstd);
  EXPECT_EQ(batch->header.epoch, epoch);
  EXPECT_EQ(batch->header.first_seq, 11U);
  ASSERT_EQ(batch->lines.size(), 5U);
  for (std::size_t i = 0; i < 5; ++i) {
    auto event = protocol::parse_payload_line(batch->lines[i], {"S001", "T3"});
    ASSERT_TRUE(event) << event.error().message;
    EXPECT_EQ(event->stamp.seq, 11 + i);
    EXPECT_EQ(event->event_id, protocol::make_event_id("S001", "T3", epoch, 11 + i));
  }
  // The same seqs give the same lines (a resend is byte-identical).
  EXPECT_EQ(source->lines("S001", "T3", epoch, 11, 5, 99, "2026-12-05T23:00:00.000Z"),
            source->lines("S001", "T3", epoch, 11, 5, 99, "2026-12-05T23:00:00.000Z"));
}

TEST(BatchSource, TrainedDictionaryGivesDictionaryBatches) {
  auto plain = BatchSource::create(5, 256, "");
  ASSERT_TRUE(plain) << plain.error().message;
  std::vector<std::string> samples;
  for (std::uint64_t till = 0; till < 8; ++till) {
    auto lines = plain->lines("S001", "T" + std::to_string(till + 1), 0xabcdULL, 1, 400, till,
                              "2026-12-05T23:00:00.000Z");
    samples.insert(samples.end(), lines.begin(), lines.end());
  }
  protocol::TrainOptions train;
  train.dictionary_bytes = 8 * 1024;
  train.dictionary_id = 4242;
  auto trained = protocol::train_dictionary(samples, train);
  ASSERT_TRUE(trained) << trained.error().message;
  const auto path = std::filesystem::temp_directory_path() /
                    ("fleetemu-dict-" + std::to_string(::getpid()) + ".zdict");
  {
    std::ofstream out(path, std::ios::binary);
    out << *trained;
  }
  auto source = BatchSource::create(5, 256, path.string());
  std::filesystem::remove(path);
  ASSERT_TRUE(source) << source.error().message;
  EXPECT_EQ(source->dictionary_id(), 4242U);
  auto message = source->batch("S002", "T1", 7, 1, 3, 0, "2026-12-05T23:00:00.000Z");
  ASSERT_TRUE(message) << message.error().message;
  auto dictionary = protocol::Dictionary::load(*trained);
  ASSERT_TRUE(dictionary);
  protocol::BatchDecoder decoder({}, [&](std::uint32_t id) {
    return id == 4242 ? *dictionary : std::shared_ptr<const protocol::Dictionary>();
  });
  auto batch = decoder.decode(*message);
  ASSERT_TRUE(batch) << batch.error().message;
  EXPECT_EQ(batch->header.codec, protocol::Codec::zstd_dictionary);
  EXPECT_EQ(batch->header.dictionary_id, 4242U);
  EXPECT_EQ(batch->lines.size(), 3U);
}

TEST(BatchSource, MissingDictionaryNamesTheOption) {
  auto source = BatchSource::create(1, 8, "/nonexistent/dict");
  ASSERT_FALSE(source);
  EXPECT_NE(source.error().message.find("--dictionary"), std::string::npos);
}

TEST(TillLedger, CumulativeAcksFreeWholeBatches) {
  TillLedger ledger(3);
  const auto t0 = Clock::now();
  ledger.add(5, "a", t0);        // 1..5
  ledger.add(5, "b", t0 + 1ms);  // 6..10
  ledger.add(2, "c", t0 + 2ms);  // 11..12
  EXPECT_TRUE(ledger.window_full());
  EXPECT_EQ(ledger.next_seq(), 13U);
  EXPECT_EQ(ledger.inflight_events(), 12U);
  std::vector<std::string> acked;
  auto record = [&](const InflightBatch& b) { acked.push_back(b.message); };

  auto out = ledger.on_ack(7, false, t0 + 5ms, record);  // batch a, half of b
  EXPECT_TRUE(out.applied);
  EXPECT_EQ(out.events_acked, 7U);
  EXPECT_EQ(out.batches_acked, 1U);
  EXPECT_EQ(acked, std::vector<std::string>{"a"});
  EXPECT_FALSE(ledger.window_full());
  EXPECT_EQ(ledger.inflight_batches(), 2U);

  out = ledger.on_ack(7, false, t0 + 6ms, record);  // duplicate
  EXPECT_FALSE(out.applied);
  EXPECT_FALSE(out.ignored);
  out = ledger.on_ack(13, false, t0 + 6ms, record);  // beyond what was sent
  EXPECT_TRUE(out.ignored);
  EXPECT_EQ(ledger.acked_through(), 7U);

  out = ledger.on_ack(12, false, t0 + 7ms, record);
  EXPECT_EQ(out.events_acked, 5U);
  EXPECT_EQ(out.batches_acked, 2U);
  EXPECT_TRUE(ledger.empty());
  EXPECT_EQ(ledger.inflight_events(), 0U);
}

TEST(TillLedger, AckTimeoutAndResendFlag) {
  TillLedger ledger(4);
  const auto t0 = Clock::now();
  EXPECT_FALSE(ledger.ack_overdue(t0 + 1h, 10s));  // nothing in flight
  ledger.add(1, "a", t0);
  ledger.add(1, "b", t0 + 5s);
  EXPECT_FALSE(ledger.ack_overdue(t0 + 9s, 10s));
  EXPECT_TRUE(ledger.ack_overdue(t0 + 10s, 10s));
  // Progress re-arms the deadline.
  auto out = ledger.on_ack(1, false, t0 + 10s, [](const InflightBatch&) {});
  EXPECT_TRUE(out.applied);
  EXPECT_FALSE(ledger.ack_overdue(t0 + 19s, 10s));
  EXPECT_TRUE(ledger.ack_overdue(t0 + 20s, 10s));
  // Go-back-N returns what is in flight and re-arms.
  const auto& again = ledger.rewind(t0 + 20s);
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(again.front().message, "b");
  EXPECT_EQ(again.front().first_seq, 2U);
  EXPECT_FALSE(ledger.ack_overdue(t0 + 29s, 10s));
  // The resend flag asks for a resend even without progress, only while batches are in flight.
  out = ledger.on_ack(1, true, t0 + 21s, [](const InflightBatch&) {});
  EXPECT_FALSE(out.applied);
  EXPECT_TRUE(out.resend_now);
  out = ledger.on_ack(2, true, t0 + 22s, [](const InflightBatch&) {});
  EXPECT_TRUE(out.applied);
  EXPECT_FALSE(out.resend_now);
}

TEST(LatencyHistogram, QuantilesWithinThreePercent) {
  LatencyHistogram h;
  EXPECT_EQ(h.quantile(0.5).count(), 0);
  for (int i = 1; i <= 1000; ++i) {
    h.record(std::chrono::milliseconds(i));
  }
  EXPECT_EQ(h.count(), 1000U);
  EXPECT_NEAR(static_cast<double>(h.quantile(0.5).count()), 500'000.0, 500'000.0 * 0.03);
  EXPECT_NEAR(static_cast<double>(h.quantile(0.99).count()), 990'000.0, 990'000.0 * 0.03);
  EXPECT_EQ(h.quantile(1.0), h.max());
  EXPECT_EQ(h.max(), std::chrono::milliseconds(1000));
  LatencyHistogram small;
  small.record(std::chrono::microseconds(7));
  EXPECT_EQ(small.quantile(0.5).count(), 7);
}

Result<Command> parse(std::vector<std::string> args) {
  return parse_command_line(args);
}

TEST(CommandLine, RunDefaultsAndValues) {
  auto c = parse({"run", "--broker", "ssl://a:8883,ssl://b:8883", "--ca", "ca.crt", "--pki-dir",
                  "pki", "--tills", "5000", "--total-rate", "10000", "--duration=60", "--json",
                  "out.json", "--quiet"});
  ASSERT_TRUE(c) << c.error().message;
  const auto& o = std::get<RunOptions>(*c);
  EXPECT_EQ(o.brokers, (std::vector<std::string>{"ssl://a:8883", "ssl://b:8883"}));
  EXPECT_EQ(o.tills, 5000U);
  EXPECT_DOUBLE_EQ(o.rate_per_till, 2.0);
  EXPECT_EQ(o.duration, std::chrono::seconds(60));
  EXPECT_EQ(o.json_file, "out.json");
  EXPECT_TRUE(o.quiet);
  EXPECT_EQ(o.window, 4U);
  EXPECT_EQ(o.first_till, 0U);
  auto second = parse({"run", "--broker", "tcp://a:1", "--tills", "10", "--first-till", "2500"});
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(std::get<RunOptions>(*second).first_till, 2500U);
  auto plain = parse({"--broker", "tcp://localhost:1883"});  // `run` may be left out
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_TRUE(std::holds_alternative<RunOptions>(*plain));
}

TEST(CommandLine, ErrorsNameTheArgument) {
  const auto error_of = [](std::vector<std::string> args) {
    auto c = parse_command_line(args);
    return c ? std::string() : c.error().message;
  };
  EXPECT_NE(error_of({}).find("subcommand"), std::string::npos);
  EXPECT_EQ(error_of({"fly"}).find("fly: unknown subcommand"), 0U);
  EXPECT_EQ(error_of({"run"}).find("--broker: required"), 0U);
  EXPECT_EQ(error_of({"run", "--broker", "ssl://a:1"}).find("--ca: required"), 0U);
  EXPECT_EQ(error_of({"run", "--broker", "ssl://a:1", "--ca", "c"}).find("--pki-dir: required"),
            0U);
  EXPECT_EQ(error_of({"run", "--broker", "tcp://a:1", "--tills", "0"})
                .find("--tills: must be an integer in 1..100000"),
            0U);
  EXPECT_EQ(error_of({"run", "--broker", "tcp://a:1", "--tills", "x"}).find("--tills"), 0U);
  EXPECT_EQ(error_of({"run", "--broker", "tcp://a:1", "--rate", "-1"}).find("--rate"), 0U);
  EXPECT_EQ(error_of({"run", "--broker", "tcp://a:1", "--rate", "1", "--total-rate", "5"})
                .find("--total-rate"),
            0U);
  EXPECT_EQ(
      error_of({"run", "--broker", "tcp://a:1", "--bogus", "1"}).find("--bogus: unknown option"),
      0U);
  EXPECT_EQ(error_of({"run", "--broker", "tcp://a:1", "--duration"}).find("--duration: needs a"),
            0U);
  EXPECT_EQ(
      error_of({"run", "--broker", "tcp://a:1", "--topic-prefix", "a//b"}).find("--topic-prefix"),
      0U);
  EXPECT_EQ(error_of({"pki", "--ca-cert", "c"}).find("--ca-key: required"), 0U);
}

TEST(CommandLine, HelpAndExitCodes) {
  auto help = parse({"run", "--help"});
  ASSERT_TRUE(help);
  EXPECT_TRUE(std::holds_alternative<HelpRequest>(*help));
  EXPECT_EQ(run({"run", "--tills", "abc", "--broker", "tcp://a:1"}), 2);
  EXPECT_EQ(run({"--help"}), 0);
}

TEST(Summary, OneLinePerFigureAndJson) {
  Summary s;
  s.tills = 3;
  s.duration_s = 2;
  s.events_acked_in_run = 10;
  const auto text = format_summary(s);
  EXPECT_NE(text.find("tills 3\n"), std::string::npos);
  EXPECT_NE(text.find("events_acked_per_s 5.000\n"), std::string::npos);
  const auto json = summary_json(s);
  EXPECT_EQ(json.front(), '{');
  EXPECT_NE(json.find("\"batches_unacked\":0"), std::string::npos);
}

}  // namespace
}  // namespace pos::fleetemu
