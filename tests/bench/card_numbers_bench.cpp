// Cost of the card-number guard per event (docs/benchmarks.md, "Card-number guard"): the guard
// on EventMix events next to parsing and validating the same events, in one run.
//   build/bin/card_numbers_bench

#include <benchmark/benchmark.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "event_mix.hpp"
#include "pos/agent/card_numbers.hpp"
#include "pos/protocol/event.hpp"

namespace {

std::vector<std::string> events(std::size_t n) {
  pos::bench::EventMix mix(7);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(mix.next_event());
  }
  return out;
}

std::vector<boost::json::object> objects(const std::vector<std::string>& texts) {
  std::vector<boost::json::object> out;
  for (const auto& text : texts) {
    out.push_back(boost::json::parse(text).as_object());
  }
  return out;
}

void guard(benchmark::State& state) {
  auto parsed = objects(events(1000));
  std::size_t i = 0;
  for (auto _ : state) {
    auto result = pos::agent::guard_card_numbers(parsed[i++ % parsed.size()],
                                                 pos::agent::CardNumberPolicy::reject);
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}

void parse_and_validate(benchmark::State& state) {
  const auto texts = events(1000);
  std::size_t i = 0;
  for (auto _ : state) {
    auto event = pos::protocol::parse_pos_event(texts[i++ % texts.size()]);
    benchmark::DoNotOptimize(event);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(guard);
BENCHMARK(parse_and_validate);

}  // namespace

BENCHMARK_MAIN();
