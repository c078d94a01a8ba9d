#include "pos/collector/observed_sink.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "collector_test_support.hpp"
#include "fake_sink.hpp"
#include "kpi_test_support.hpp"

namespace pos::collector {
namespace {

using test::Line;
using test::ms;
using test::Published;

/// An ObservedSink around a FakeSink, a ManualClock at 2026-11-22 10:00 +07:00.
class ObservedSinkTest : public ::testing::Test {
 protected:
  std::vector<OutMessage> messages(const std::vector<Published>& events) {
    std::vector<OutMessage> out;
    for (const auto& e : events) {
      OutMessage m;
      m.data = test::published_json(e);
      m.ordering_key = e.store_id + "/" + e.till_id;
      out.push_back(std::move(m));
    }
    return out;
  }
  static Published received(std::int64_t at_ms, std::string id) {
    Published e;
    e.received_at = protocol::format_rfc3339_utc_ms(at_ms);
    e.pos_event_id = std::move(id);
    return e;
  }

  boost::asio::io_context m_io;
  test::ManualClock m_clock = [] {
    test::ManualClock clock;
    clock.now_ms = ms("2026-11-22T10:00:00+07:00");
    return clock;
  }();
  test::FakeSink m_inner{m_io.get_executor()};
  SalesKpis m_kpis{{}, m_clock};
  EndToEndLatency m_latency;
  ObservedSink m_sink{m_inner, m_clock, m_kpis, m_latency};
};

TEST_F(ObservedSinkTest, SuccessfulPublishFeedsKpisAndLatencyThenCompletes) {
  m_inner.auto_complete = false;
  const std::int64_t now = m_clock.now_ms;
  std::optional<Status> result;
  m_sink.publish(Destination::events,
                 messages({received(now - 1500, "r-1"), received(now - 250, "r-2")}),
                 [&](const Status& s) { result = s; });
  ASSERT_EQ(m_inner.calls.size(), 1U);
  EXPECT_EQ(m_inner.calls[0].destination, Destination::events);
  ASSERT_EQ(m_inner.calls[0].messages.size(), 2U);  // passed on unchanged
  EXPECT_EQ(m_inner.calls[0].messages[1].ordering_key, "S01/T1");
  EXPECT_EQ(m_kpis.totals().transactions, 0U) << "counted before Pub/Sub accepted it";

  m_clock.now_ms += 100;  // the completion time is what counts
  m_inner.complete(0);
  ASSERT_TRUE(test::run_until(m_io, [&] { return result.has_value(); }));
  EXPECT_TRUE(*result);
  EXPECT_EQ(m_kpis.totals().transactions, 2U);
  EXPECT_EQ(m_kpis.totals().gmv_minor, 200'000);
  EXPECT_EQ(m_sink.stats().events_observed, 2U);
  const auto summary = m_latency.summary(m_clock.now_ms);
  EXPECT_EQ(summary.samples, 2U);
  EXPECT_EQ(summary.p50_ms, 350.0);
  EXPECT_EQ(summary.p99_ms, 1600.0);
}

TEST_F(ObservedSinkTest, FailedPublishIsNotCountedAndTheErrorPassesThrough) {
  m_inner.auto_complete = false;
  std::optional<Status> result;
  m_sink.publish(Destination::events, messages({received(m_clock.now_ms - 10, "r-1")}),
                 [&](const Status& s) { result = s; });
  m_inner.complete(0, fail("topic not found"));
  ASSERT_TRUE(test::run_until(m_io, [&] { return result.has_value(); }));
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error().message, "topic not found");
  EXPECT_EQ(m_kpis.totals().transactions, 0U);
  EXPECT_EQ(m_latency.count(), 0U);
  EXPECT_EQ(m_sink.stats().calls_failed, 1U);
  EXPECT_EQ(m_sink.stats().events_observed, 0U);
  EXPECT_EQ(m_sink.pending_bytes(), 0U);
}

TEST_F(ObservedSinkTest, DeadLettersPassThroughUnobserved) {
  bool done = false;
  m_sink.publish(Destination::dead_letter, messages({received(m_clock.now_ms, "r-1")}),
                 [&](const Status& s) { done = s.has_value(); });
  ASSERT_TRUE(test::run_until(m_io, [&] { return done; }));
  ASSERT_EQ(m_inner.calls.size(), 1U);
  EXPECT_EQ(m_inner.calls[0].destination, Destination::dead_letter);
  EXPECT_EQ(m_kpis.totals().transactions, 0U);
  EXPECT_EQ(m_latency.count(), 0U);
}

TEST_F(ObservedSinkTest, HeldFactsCountInPendingBytesUntilCompletedOrAbandoned) {
  m_inner.auto_complete = false;
  m_inner.fake_pending_bytes = 1000;
  const auto batch = messages({received(m_clock.now_ms, "r-1"), received(m_clock.now_ms, "r-2")});
  std::size_t bytes = 0;
  EventReader reader;
  for (const auto& m : batch) {
    bytes += EventDigest(reader.read(m.data).value()).bytes();
  }
  bool done = false;
  m_sink.publish(Destination::events, batch, [&](const Status&) { done = true; });
  m_sink.publish(Destination::events, batch, [](const Status&) {});
  EXPECT_EQ(m_sink.pending_bytes(), 1000 + 2 * bytes);
  m_inner.complete(0);
  ASSERT_TRUE(test::run_until(m_io, [&] { return done; }));
  EXPECT_EQ(m_sink.pending_bytes(), 1000 + bytes);
  m_inner.calls.clear();  // the inner sink abandons the second call (stop): its done is dropped
  m_io.restart();
  m_io.poll();
  EXPECT_EQ(m_sink.pending_bytes(), 1000U);
}

TEST_F(ObservedSinkTest, AnAttachedDigestIsObservedWithoutReadingTheData) {
  Published sale = received(m_clock.now_ms - 40, "r-digest");
  sale.lines = {test::Line{"shoes", 2, 300'000, 120'000, 50'000}};
  EventReader reader;
  const auto facts = reader.read(test::published_json(sale));
  ASSERT_TRUE(facts) << facts.error().message;
  OutMessage message;
  message.data = "{\"not\": \"what the digest says\"}";  // would be unreadable if parsed
  message.digest.emplace(*facts);
  std::vector<OutMessage> batch;
  batch.push_back(std::move(message));
  bool done = false;
  m_sink.publish(Destination::events, std::move(batch),
                 [&](const Status& s) { done = s.has_value(); });
  ASSERT_TRUE(test::run_until(m_io, [&] { return done; }));
  EXPECT_EQ(m_sink.stats().events_observed, 1U);
  EXPECT_EQ(m_sink.stats().events_unreadable, 0U);
  EXPECT_EQ(m_kpis.totals().transactions, 1U);
  EXPECT_EQ(m_kpis.totals().gmv_minor, 2 * 300'000 - 50'000);
  EXPECT_EQ(m_kpis.totals().cost_minor, 2 * 120'000);
  EXPECT_EQ(m_latency.count(), 1U);
  ASSERT_EQ(m_inner.calls.size(), 1U);
  EXPECT_FALSE(m_inner.calls[0].messages[0].digest.has_value()) << "the sink gets no digest";
}

TEST_F(ObservedSinkTest, UnreadableEventsAreCountedAndTheRestStillObserved) {
  auto batch = messages({received(m_clock.now_ms - 20, "r-1"), received(m_clock.now_ms, "r-2")});
  batch[0].data = "{\"truncated\":";
  OutMessage not_today;
  Published old = received(m_clock.now_ms - 5, "r-old");
  old.occurred_at = "2026-11-21T10:00:00+07:00";
  not_today.data = test::published_json(old);
  batch.push_back(not_today);
  bool done = false;
  m_sink.publish(Destination::events, std::move(batch),
                 [&](const Status& s) { done = s.has_value(); });
  ASSERT_TRUE(test::run_until(m_io, [&] { return done; }));
  EXPECT_EQ(m_sink.stats().events_observed, 3U);
  EXPECT_EQ(m_sink.stats().events_unreadable, 1U);
  EXPECT_EQ(m_kpis.lifetime_counters().malformed, 1U);
  EXPECT_EQ(m_kpis.lifetime_counters().not_today, 1U);
  EXPECT_EQ(m_kpis.totals().transactions, 1U);
  EXPECT_EQ(m_latency.count(), 2U) << "a late event still has a latency";
}

TEST_F(ObservedSinkTest, HealthAndStopAreTheInnerSinks) {
  m_inner.fake_healthy = false;
  EXPECT_FALSE(m_sink.healthy());
  m_inner.fake_healthy = true;
  EXPECT_TRUE(m_sink.healthy());
  bool stopped = false;
  m_sink.stop(std::chrono::milliseconds(10), [&] { stopped = true; });
  EXPECT_TRUE(test::run_until(m_io, [&] { return stopped; }));
}

}  // namespace
}  // namespace pos::collector
