#pragma once
// Pipeline statistics: end-to-end latency (the agent accepted an event -> Pub/Sub accepted it) as
// a Prometheus histogram and as exact quantiles over a sliding window, and the GET /v1/stats
// document. See docs/collector.md, "Live sales view and pipeline stats".

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "pos/collector/batch_processor.hpp"

namespace pos::collector {

/// Upper bounds (seconds) of poscollector_end_to_end_seconds; the last bucket is +Inf. Wider than
/// latency_buckets: events a till held while offline arrive hours late.
inline constexpr std::array<double, 16> end_to_end_buckets = {
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400};

struct LatencyWindowOptions {
  std::chrono::milliseconds window{60'000};  ///< quantiles cover samples this recent
  std::size_t max_samples = 100'000;         ///< more in the window: the oldest are dropped
};

/// Quantiles of the window; p50/p99 empty when it holds no sample.
struct LatencySummary {
  std::size_t samples = 0;
  std::optional<double> p50_ms;
  std::optional<double> p99_ms;
};

/// End-to-end latency of published events. record() is O(1); summary() copies the window and
/// selects (O(n), n <= max_samples). Not thread-safe (io thread).
class EndToEndLatency {
 public:
  explicit EndToEndLatency(LatencyWindowOptions options = {});

  /// One event published at `now_ms` whose agent accepted it `latency_ms` earlier. A negative
  /// latency (the till's clock ahead of ours) is recorded as 0 and counted in clock_skewed().
  void record(std::int64_t now_ms, std::int64_t latency_ms);

  /// Exact nearest-rank p50 and p99 of the samples recorded in (now_ms - window, now_ms].
  LatencySummary summary(std::int64_t now_ms);

  /// The histogram poscollector_end_to_end_seconds (since start).
  void append_metrics(std::ostream& out) const;

  std::uint64_t count() const noexcept { return m_count; }
  std::uint64_t clock_skewed() const noexcept { return m_clock_skewed; }
  const LatencyWindowOptions& options() const noexcept { return m_options; }

 private:
  struct Sample {
    std::int64_t at_ms;
    std::uint32_t latency_ms;
  };
  void evict(std::int64_t now_ms);

  LatencyWindowOptions m_options;
  std::vector<Sample> m_ring;  ///< capacity max_samples; m_head is the oldest
  std::size_t m_head = 0;
  std::size_t m_size = 0;
  std::vector<std::uint32_t> m_scratch;
  std::array<std::uint64_t, end_to_end_buckets.size() + 1> m_buckets{};  ///< not cumulative
  double m_sum_s = 0;
  std::uint64_t m_count = 0;
  std::uint64_t m_clock_skewed = 0;
};

/// What GET /v1/stats reports besides the batch counters.
struct PipelineStatsInput {
  std::int64_t now_ms = 0;
  std::int64_t uptime_s = 0;  ///< whole seconds since the collector started
  LatencySummary latency;
  std::chrono::milliseconds latency_window{0};
  std::uint64_t backlog_events_total = 0;  ///< sum of the tills' last reported backlogs
  std::size_t tills_online = 0;
  std::size_t tills_offline = 0;
  std::size_t tills_stale = 0;
  std::size_t pending_batches = 0;
  bool sink_healthy = true;
};

/// The GET /v1/stats document (docs/collector.md): batch and event counters, bytes and
/// compression ratio of accepted batches, latency quantiles, fleet backlog and till states.
/// Ratios and quantiles are null while there is nothing to compute them from.
std::string pipeline_stats_json(const BatchStats& batches, const PipelineStatsInput& input);

/// Prometheus lines of accepted batches: poscollector_batch_bytes_total{kind="encoded"|"raw"} and
/// the histogram poscollector_batch_events (events per accepted batch).
void append_batch_size_metrics(std::ostream& out, const BatchStats& batches);

}  // namespace pos::collector
