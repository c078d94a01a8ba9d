// Batch codec throughput: encode and decode of realistic payload lines, with and without a
// dictionary trained on a separate sample set. Bytes processed are raw (uncompressed) bytes.
#include <benchmark/benchmark.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "event_mix.hpp"
#include "pos/protocol/batch.hpp"
#include "pos/protocol/dictionary.hpp"

namespace {

using pos::protocol::BatchDecoder;
using pos::protocol::BatchEncoder;
using pos::protocol::Dictionary;

constexpr std::uint64_t sample_seed = 7;
constexpr std::uint64_t bench_seed = 20261122;

std::shared_ptr<const Dictionary> dictionary() {
  static const std::shared_ptr<const Dictionary> dict = [] {
    const auto samples = pos::bench::make_payload_lines(20'000, sample_seed, 0x1111, 1);
    auto bytes = pos::protocol::train_dictionary(samples, {std::size_t{16} * 1024, 0x00f5a7e1});
    if (!bytes) {
      throw std::runtime_error(bytes.error().message);
    }
    auto loaded = Dictionary::load(*bytes);
    if (!loaded) {
      throw std::runtime_error(loaded.error().message);
    }
    return *loaded;
  }();
  return dict;
}

const std::vector<std::string>& lines() {
  static const auto all = pos::bench::make_payload_lines(1000, bench_seed);
  return all;
}

std::size_t raw_bytes(std::span<const std::string> batch) {
  std::size_t n = 0;
  for (const auto& line : batch) {
    n += line.size() + 1;
  }
  return n;
}

BatchDecoder make_decoder() {
  auto dict = dictionary();
  return BatchDecoder({}, [dict](std::uint32_t id) { return id == dict->id() ? dict : nullptr; });
}

void set_counters(benchmark::State& state, std::size_t raw, std::size_t encoded) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * raw));
  state.counters["ratio"] = static_cast<double>(raw) / static_cast<double>(encoded);
  state.counters["raw_B"] = static_cast<double>(raw);
  state.counters["enc_B"] = static_cast<double>(encoded);
}

void encode_batch(benchmark::State& state, bool with_dictionary) {
  const std::span<const std::string> batch(lines().data(),
                                           static_cast<std::size_t>(state.range(0)));
  BatchEncoder encoder(3, with_dictionary ? dictionary() : nullptr);
  std::size_t encoded = 0;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    auto message = encoder.encode(1, 1, batch);
    if (!message) {
      state.SkipWithError(message.error().message.c_str());
      return;
    }
    encoded = message->size();
    benchmark::DoNotOptimize(message->data());
  }
  set_counters(state, raw_bytes(batch), encoded);
  // The timed batch is the first n lines; one event's ratio depends on that event. `ratio_all`
  // is over every batch of n consecutive lines of the 1,000 (1,000 batches of 1, 200 of 5, ...).
  std::size_t all_raw = 0;
  std::size_t all_encoded = 0;
  for (std::size_t first = 0; first + batch.size() <= lines().size(); first += batch.size()) {
    const std::span<const std::string> next(lines().data() + first, batch.size());
    auto message = encoder.encode(1, 1, next);
    if (!message) {
      state.SkipWithError(message.error().message.c_str());
      return;
    }
    all_raw += raw_bytes(next);
    all_encoded += message->size();
  }
  state.counters["ratio_all"] = static_cast<double>(all_raw) / static_cast<double>(all_encoded);
}

void decode_batch(benchmark::State& state, bool with_dictionary) {
  const std::span<const std::string> batch(lines().data(),
                                           static_cast<std::size_t>(state.range(0)));
  BatchEncoder encoder(3, with_dictionary ? dictionary() : nullptr);
  auto message = encoder.encode(1, 1, batch);
  if (!message) {
    state.SkipWithError(message.error().message.c_str());
    return;
  }
  BatchDecoder decoder = make_decoder();
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    auto decoded = decoder.decode(*message);
    if (!decoded) {
      state.SkipWithError(decoded.error().message.c_str());
      return;
    }
    benchmark::DoNotOptimize(decoded->lines.data());
  }
  set_counters(state, raw_bytes(batch), message->size());
}

void batch_sizes(benchmark::internal::Benchmark* b) {
  for (int n : {1, 5, 20, 100, 1000}) {
    b->Arg(n);
  }
}

BENCHMARK_CAPTURE(encode_batch, plain, false)->Apply(batch_sizes);
BENCHMARK_CAPTURE(encode_batch, dict, true)->Apply(batch_sizes);
BENCHMARK_CAPTURE(decode_batch, plain, false)->Apply(batch_sizes);
BENCHMARK_CAPTURE(decode_batch, dict, true)->Apply(batch_sizes);

}  // namespace

BENCHMARK_MAIN();
