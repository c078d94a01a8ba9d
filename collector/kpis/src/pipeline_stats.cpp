// EndToEndLatency keeps the window as a ring of (time, latency) in record order; eviction pops
// from the oldest end while it is older than the window or the ring is full. Quantiles copy the
// window's latencies into a reused scratch vector and select with nth_element: exact, O(n), and
// only paid when /v1/stats is asked.

#include "pos/collector/pipeline_stats.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <limits>

#include "pos/common/prometheus_text.hpp"
#include "pos/protocol/event.hpp"

namespace pos::collector {
namespace {

namespace json = boost::json;

json::value optional_number(const std::optional<double>& value) {
  return value ? json::value(*value) : json::value(nullptr);
}

/// The shortest text that reads back as `value` (ostream's default keeps 6 digits).
std::string exact(double value) {
  std::array<char, 32> text{};
  const auto [end, ec] = std::to_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc{} ? std::string(text.data(), end) : std::string("NaN");
}

double round_to(double value, double step) {
  return std::round(value / step) * step;
}

}  // namespace

EndToEndLatency::EndToEndLatency(LatencyWindowOptions options)
    : m_options(options), m_ring(std::max<std::size_t>(options.max_samples, 1)) {}

void EndToEndLatency::record(std::int64_t now_ms, std::int64_t latency_ms) {
  if (latency_ms < 0) {
    ++m_clock_skewed;
    latency_ms = 0;
  }
  const double seconds = static_cast<double>(latency_ms) / 1000.0;
  std::size_t bucket = 0;
  while (bucket < end_to_end_buckets.size() && seconds > end_to_end_buckets[bucket]) {
    ++bucket;
  }
  ++m_buckets[bucket];
  m_sum_s += seconds;
  ++m_count;

  evict(now_ms);
  if (m_size == m_ring.size()) {
    m_head = (m_head + 1) % m_ring.size();
    --m_size;
  }
  const auto clamped = static_cast<std::uint32_t>(
      std::min<std::int64_t>(latency_ms, std::numeric_limits<std::uint32_t>::max()));
  m_ring[(m_head + m_size) % m_ring.size()] = Sample{now_ms, clamped};
  ++m_size;
}

void EndToEndLatency::evict(std::int64_t now_ms) {
  const std::int64_t oldest_kept = now_ms - m_options.window.count();
  while (m_size > 0 && m_ring[m_head].at_ms <= oldest_kept) {
    m_head = (m_head + 1) % m_ring.size();
    --m_size;
  }
}

LatencySummary EndToEndLatency::summary(std::int64_t now_ms) {
  evict(now_ms);
  LatencySummary out;
  out.samples = m_size;
  if (m_size == 0) {
    return out;
  }
  m_scratch.clear();
  m_scratch.reserve(m_size);
  for (std::size_t i = 0; i < m_size; ++i) {
    m_scratch.push_back(m_ring[(m_head + i) % m_ring.size()].latency_ms);
  }
  // Nearest rank: the smallest value with at least q * n samples at or below it.
  auto quantile = [&](double q) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(m_size)));
    const std::size_t index = std::clamp<std::size_t>(rank, 1, m_size) - 1;
    std::nth_element(m_scratch.begin(), m_scratch.begin() + static_cast<std::ptrdiff_t>(index),
                     m_scratch.end());
    return static_cast<double>(m_scratch[index]);
  };
  out.p50_ms = quantile(0.50);
  out.p99_ms = quantile(0.99);
  return out;
}

void EndToEndLatency::append_metrics(std::ostream& out) const {
  common::PrometheusWriter metrics(out, "poscollector_");
  metrics.histogram("end_to_end_seconds",
                    "From the agent accepting an event (received_at, the till's clock) to Pub/Sub "
                    "accepting it (the collector's clock).",
                    std::span<const double>(end_to_end_buckets),
                    std::span<const std::uint64_t>(m_buckets), exact(m_sum_s));
  metrics.counter("end_to_end_clock_skewed_total",
                  "Events whose received_at was later than their publish (the till's clock "
                  "ahead); recorded as 0 s.",
                  m_clock_skewed);
}

std::string pipeline_stats_json(const BatchStats& s, const PipelineStatsInput& in) {
  json::value ratio = nullptr;
  if (s.bytes_encoded > 0) {
    ratio = round_to(static_cast<double>(s.bytes_raw) / static_cast<double>(s.bytes_encoded), 0.01);
  }
  const std::uint64_t accepted_batches = [&] {
    std::uint64_t n = 0;
    for (const auto count : s.events_per_batch_counts) {
      n += count;
    }
    return n;
  }();
  json::value events_per_batch = nullptr;
  if (accepted_batches > 0) {
    events_per_batch =
        round_to(static_cast<double>(s.batch_events) / static_cast<double>(accepted_batches), 0.1);
  }
  json::object doc{
      {"generated_at", protocol::format_rfc3339_utc_ms(in.now_ms)},
      {"events_published", s.events_published},
      {"events_duplicate", s.events_duplicate},
      {"events_dead_lettered", s.events_dead_lettered},
      {"batches_received", s.batches_received},
      {"batches_acked", s.batches_acked},
      {"batches_accepted", accepted_batches},
      {"batches_duplicate", s.batches_duplicate},
      {"batches_gap", s.batches_gap},
      {"batches_dropped_busy", s.batches_dropped_busy},
      {"batches_dead_lettered", s.batches_dead_lettered + s.batches_invalid},
      {"bytes_encoded", s.bytes_encoded},
      {"bytes_raw", s.bytes_raw},
      {"compression_ratio", ratio},
      {"events_per_batch_avg", events_per_batch},
      {"latency_p50_ms", optional_number(in.latency.p50_ms)},
      {"latency_p99_ms", optional_number(in.latency.p99_ms)},
      {"latency_samples", in.latency.samples},
      {"latency_window_s", static_cast<double>(in.latency_window.count()) / 1000.0},
      {"backlog_events_total", in.backlog_events_total},
      {"tills_online", in.tills_online},
      {"tills_offline", in.tills_offline},
      {"tills_stale", in.tills_stale},
      {"pending_batches", in.pending_batches},
      {"sink_healthy", in.sink_healthy},
      {"uptime_s", in.uptime_s},
  };
  return json::serialize(doc);
}

void append_batch_size_metrics(std::ostream& out, const BatchStats& s) {
  common::PrometheusWriter metrics(out, "poscollector_");
  metrics.family("batch_bytes_total",
                 "Bytes of batches accepted for publishing: as received (encoded) and their "
                 "NDJSON before compression (raw).",
                 "counter");
  metrics.sample("batch_bytes_total", {{"kind", "encoded"}}, s.bytes_encoded);
  metrics.sample("batch_bytes_total", {{"kind", "raw"}}, s.bytes_raw);
  metrics.histogram("batch_events", "Events per batch accepted for publishing.",
                    std::span<const std::uint32_t>(events_per_batch_buckets),
                    std::span<const std::uint64_t>(s.events_per_batch_counts), s.batch_events);
}

}  // namespace pos::collector
