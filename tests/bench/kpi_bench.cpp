// Cost of the collector's live view per published event (Google Benchmark): reading an event's
// JSON, adding it to the sales KPIs, the live view observing published events, and the cost of
// rendering /v1/kpis and /v1/stats. See docs/collector.md, "Live sales view and pipeline stats".

#include <benchmark/benchmark.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <string>
#include <vector>

#include "event_mix.hpp"
#include "pos/collector/live_view.hpp"
#include "pos/collector/pipeline_stats.hpp"
#include "pos/collector/sales_kpis.hpp"

namespace {

using namespace pos::collector;

/// 2026-11-22 14:00 at +07:00.
class FixedClock final : public pos::common::Clock {
 public:
  std::int64_t now_unix_ms() const override { return 1'795'330'800'000; }
  std::chrono::steady_clock::time_point now_steady() const override { return {}; }
};

/// Published events of the realistic mix, all occurring today (2026-11-22 +07:00) at one of 21
/// stores, so that every sale and return is counted (the most expensive path).
const std::vector<std::string>& events() {
  static const std::vector<std::string> out = [] {
    auto lines = pos::bench::make_payload_lines(4096, 42);
    int n = 0;
    for (auto& line : lines) {
      const auto day = line.find("\"occurred_at\":\"2026-11-");
      line.replace(day + 23, 2, "22");
      const auto store = line.find("\"store_id\":\"S07\"");
      const std::string id = std::to_string(101 + n++ % 21).substr(1);
      line.replace(store + 13, 2, id);
      line.insert(line.size() - 1,
                  R"(,"collected_at":"2026-11-22T05:00:00.000Z","schema_version":1)");
    }
    return lines;
  }();
  return out;
}

void read_event(benchmark::State& state) {
  EventReader reader;
  std::size_t i = 0;
  for (auto _ : state) {
    auto facts = reader.read(events()[i++ % events().size()]);
    benchmark::DoNotOptimize(facts);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(read_event);

void read_and_add(benchmark::State& state) {
  FixedClock clock;
  SalesKpis kpis({}, clock);
  EndToEndLatency latency;
  EventReader reader;
  std::size_t i = 0;
  for (auto _ : state) {
    auto facts = reader.read(events()[i++ % events().size()]);
    latency.record(clock.now_unix_ms(), clock.now_unix_ms() - facts->received_ms);
    benchmark::DoNotOptimize(kpis.add(*facts));
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["counted"] = static_cast<double>(kpis.lifetime_counters().counted);
}
BENCHMARK(read_and_add);

/// The live view observing one published call of `range(0)` events: latency and KPIs from
/// the digests the pipeline hands its observers.
void live_view_observe(benchmark::State& state) {
  FixedClock clock;
  boost::asio::io_context io;
  LiveView view(io.get_executor(), clock, LiveViewOptions{});
  EventReader reader;
  std::vector<std::optional<EventDigest>> digests;
  const auto batch_size = static_cast<std::size_t>(state.range(0));
  for (std::size_t i = 0; i < batch_size; ++i) {
    digests.emplace_back(std::in_place, *reader.read(events()[i % events().size()]));
  }
  for (auto _ : state) {
    view.on_events_published(digests);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(live_view_observe)->Arg(100);

void kpis_json(benchmark::State& state) {
  FixedClock clock;
  SalesKpis kpis({}, clock);
  EventReader reader;
  for (const auto& e : events()) {
    kpis.add(*reader.read(e));
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(kpis.to_json());
  }
}
BENCHMARK(kpis_json);

void stats_json_full_window(benchmark::State& state) {
  EndToEndLatency latency;
  const std::int64_t now = 1'795'330'800'000;
  for (std::int64_t i = 0; i < 100'000; ++i) {
    latency.record(now, (i * 7919) % 2000);
  }
  BatchStats batches;
  for (auto _ : state) {
    PipelineStatsInput in;
    in.now_ms = now;
    in.latency = latency.summary(now);
    benchmark::DoNotOptimize(pipeline_stats_json(batches, in));
  }
}
BENCHMARK(stats_json_full_window);

void snapshot(benchmark::State& state) {
  FixedClock clock;
  SalesKpis kpis({}, clock);
  EventReader reader;
  for (const auto& e : events()) {
    kpis.add(*reader.read(e));
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(kpis.snapshot());
  }
}
BENCHMARK(snapshot);

}  // namespace

BENCHMARK_MAIN();
