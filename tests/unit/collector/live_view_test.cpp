#include "pos/collector/live_view.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <optional>
#include <vector>

#include "collector_test_support.hpp"
#include "kpi_test_support.hpp"

namespace pos::collector {
namespace {

using test::ms;
using test::Published;

/// A LiveView without persistence, a ManualClock at 2026-11-22 10:00 +07:00.
class LiveViewTest : public ::testing::Test {
 protected:
  static Published received(std::int64_t at_ms, std::string id) {
    Published e;
    e.received_at = protocol::format_rfc3339_utc_ms(at_ms);
    e.pos_event_id = std::move(id);
    return e;
  }
  /// What the pipeline would report for `event`: the facts read from its published JSON.
  static std::optional<EventDigest> digest_of(const Published& event) {
    EventReader reader;
    auto facts = reader.read(test::published_json(event));
    EXPECT_TRUE(facts) << facts.error().message;
    return EventDigest(*facts);
  }

  boost::asio::io_context m_io;
  test::ManualClock m_clock = [] {
    test::ManualClock clock;
    clock.now_ms = ms("2026-11-22T10:00:00+07:00");
    return clock;
  }();
  LiveView m_live{m_io.get_executor(), m_clock, LiveViewOptions{}};
};

TEST_F(LiveViewTest, PublishedEventsFeedTheKpisAndTheEndToEndLatency) {
  Published sale = received(m_clock.now_ms - 1500, "r-1");
  sale.lines = {test::Line{"shoes", 2, 300'000, 120'000, 50'000}};
  const std::vector<std::optional<EventDigest>> digests = {
      digest_of(sale), digest_of(received(m_clock.now_ms - 250, "r-2"))};
  m_live.on_events_published(digests);
  EXPECT_EQ(m_live.stats().events_observed, 2U);
  EXPECT_EQ(m_live.stats().events_unreadable, 0U);
  EXPECT_EQ(m_live.kpis().totals().transactions, 2U);
  EXPECT_EQ(m_live.latency().count(), 2U);
  const auto summary = m_live.latency().summary(m_clock.now_ms);
  ASSERT_TRUE(summary.p99_ms.has_value());
  EXPECT_EQ(*summary.p99_ms, 1500.0);
}

TEST_F(LiveViewTest, AnEventWithoutFactsIsCountedMalformedAndTheRestStillObserved) {
  Published old = received(m_clock.now_ms - 5, "r-old");
  old.occurred_at = "2026-11-21T10:00:00+07:00";
  const std::vector<std::optional<EventDigest>> digests = {
      std::nullopt, digest_of(received(m_clock.now_ms, "r-2")), digest_of(old)};
  m_live.on_events_published(digests);
  EXPECT_EQ(m_live.stats().events_observed, 3U);
  EXPECT_EQ(m_live.stats().events_unreadable, 1U);
  EXPECT_EQ(m_live.kpis().lifetime_counters().malformed, 1U);
  EXPECT_EQ(m_live.kpis().lifetime_counters().not_today, 1U);
  EXPECT_EQ(m_live.kpis().totals().transactions, 1U);
  EXPECT_EQ(m_live.latency().count(), 2U) << "a late event still has a latency";
}

}  // namespace
}  // namespace pos::collector
