#pragma once
// A Sink decorator that watches what is actually published: when a publish to the events topic
// completes ok, each event's data feeds the live sales view and the end-to-end latency.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "pos/collector/pipeline_stats.hpp"
#include "pos/collector/sales_kpis.hpp"
#include "pos/collector/sink.hpp"
#include "pos/common/clock.hpp"

namespace pos::collector {

/// Counters of the observer (io thread).
struct ObservedSinkStats {
  std::uint64_t events_observed = 0;    ///< events of successful events publishes
  std::uint64_t events_unreadable = 0;  ///< of those without a digest, data the EventReader refused
  std::uint64_t calls_failed = 0;       ///< events publishes that failed: nothing observed
  std::uint64_t observer_errors = 0;    ///< exceptions caught while observing (bad_alloc)
};

/// Wraps the real sink. publish() to Destination::events keeps each event's facts until the call
/// completes: the message's digest when the batch processor attached one (no second parse), else
/// what an EventReader reads from its data. On success it records latency = completion time
/// (Clock::now_unix_ms) − received_at in `latency` and adds each event to `kpis`, then runs the
/// caller's `done`. Failed calls and dead letters are passed through unobserved. The facts held
/// count in pending_bytes(), so the caller's flow control bounds them.
/// Same threading as Sink: every call and completion on the inner sink's executor;
/// pending_bytes() and healthy() from any thread. Never throws from a completion.
class ObservedSink final : public Sink {
 public:
  /// `inner`, `clock`, `kpis` and `latency` must outlive this object.
  ObservedSink(Sink& inner, const common::Clock& clock, SalesKpis& kpis, EndToEndLatency& latency);
  ~ObservedSink() override;
  ObservedSink(const ObservedSink&) = delete;
  ObservedSink& operator=(const ObservedSink&) = delete;

  void publish(Destination destination, std::vector<OutMessage> messages, Done done) override;
  /// The inner sink's pending bytes plus the data copies held for observation.
  std::size_t pending_bytes() const override;
  bool healthy() const override;
  void stop(std::chrono::milliseconds drain_timeout, std::function<void()> stopped) override;

  const ObservedSinkStats& stats() const noexcept { return m_stats; }

 private:
  struct Held;
  std::optional<EventDigest> digest_of(OutMessage& message);
  void observe(const std::vector<std::optional<EventDigest>>& digests);

  Sink& m_inner;
  const common::Clock& m_clock;
  SalesKpis& m_kpis;
  EndToEndLatency& m_latency;
  EventReader m_reader;
  std::vector<SaleLineFacts> m_lines;  ///< scratch for EventDigest::facts
  ObservedSinkStats m_stats;
  std::shared_ptr<std::atomic<std::size_t>> m_held_bytes =
      std::make_shared<std::atomic<std::size_t>>(0);
  std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

}  // namespace pos::collector
