// Durable ingest throughput of SqliteOutbox on a temp file (real fsync): appends of 1 and 100
// events from 1 and 32 threads, each thread waiting for its answer like an HTTP connection.
// Events come from a pre-parsed pool so that the figures measure the outbox, not JSON parsing.

#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>

#include "event_mix.hpp"
#include "pos/agent/sqlite_outbox.hpp"

namespace {

namespace fs = std::filesystem;
using pos::agent::AppendError;
using pos::agent::AppendResult;
using AppendOutcome = pos::Result<std::vector<AppendResult>, AppendError>;

constexpr std::size_t pool_size = 100'000;

const std::vector<pos::protocol::PosEvent>& event_pool() {
  static const auto pool = [] {
    std::vector<pos::protocol::PosEvent> events;
    events.reserve(pool_size);
    pos::bench::EventMix mix(42);
    while (events.size() < pool_size) {
      auto parsed = pos::protocol::parse_pos_event(mix.next_event());
      if (!parsed) {
        throw std::runtime_error(parsed.error().message);
      }
      events.push_back(std::move(*parsed));
    }
    return events;
  }();
  return pool;
}

/// One outbox per benchmark run, shared by its threads; thread 0 creates and destroys it.
struct Shared {
  fs::path dir;
  boost::asio::io_context io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard;
  std::thread io_thread;
  pos::common::SystemClock clock;
  std::unique_ptr<pos::agent::SqliteOutbox> outbox;
  std::atomic<std::size_t> next{0};
};
Shared* g_shared = nullptr;

void set_up() {
  auto* shared = new Shared;
  std::string tmpl = (fs::temp_directory_path() / "outbox_bench_XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  shared->dir = tmpl;
  shared->guard.emplace(shared->io.get_executor());
  shared->io_thread = std::thread([shared] { shared->io.run(); });
  pos::agent::SqliteOutboxOptions options;
  options.path = shared->dir / "outbox.db";
  options.store_id = "S07";
  options.till_id = "T1";
  auto opened = pos::agent::SqliteOutbox::open(options, shared->io.get_executor(), shared->clock);
  if (!opened) {
    throw std::runtime_error(opened.error().message);
  }
  shared->outbox = std::move(*opened);
  g_shared = shared;
}

void tear_down(benchmark::State& state) {
  Shared* shared = std::exchange(g_shared, nullptr);
  const auto stats = shared->outbox->stats();
  state.counters["commits"] = static_cast<double>(stats.commits_total);
  state.counters["events_per_commit"] =
      stats.commits_total == 0
          ? 0.0
          : static_cast<double>(stats.accepted_total) / static_cast<double>(stats.commits_total);
  state.counters["duplicates"] = static_cast<double>(stats.duplicates_total);
  shared->outbox.reset();
  shared->guard.reset();
  shared->io_thread.join();
  fs::remove_all(shared->dir);
  delete shared;
}

void BM_append(benchmark::State& state) {
  const auto per_call = static_cast<std::size_t>(state.range(0));
  const auto& pool = event_pool();
  if (state.thread_index() == 0) {
    set_up();
  }
  std::size_t events = 0;
  for (auto _ : state) {
    const std::size_t first = g_shared->next.fetch_add(per_call) % pool_size;
    std::vector<pos::protocol::PosEvent> batch;
    batch.reserve(per_call);
    for (std::size_t i = 0; i < per_call; ++i) {
      batch.push_back(pool[(first + i) % pool_size]);
    }
    std::promise<AppendOutcome> promise;
    auto future = promise.get_future();
    g_shared->outbox->append(std::move(batch),
                             [&promise](AppendOutcome r) { promise.set_value(std::move(r)); });
    auto result = future.get();
    if (!result) {
      state.SkipWithError(result.error().message.c_str());
      break;
    }
    events += per_call;
  }
  state.counters["events_per_s"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
  if (state.thread_index() == 0) {
    tear_down(state);
  }
}

// Iterations are fixed so that one run never wraps around the event pool (no duplicates).
BENCHMARK(BM_append)
    ->Name("append/1_event/1_thread")
    ->Arg(1)
    ->Threads(1)
    ->Iterations(2000)
    ->UseRealTime();
BENCHMARK(BM_append)
    ->Name("append/1_event/32_threads")
    ->Arg(1)
    ->Threads(32)
    ->Iterations(2000)
    ->UseRealTime();
BENCHMARK(BM_append)
    ->Name("append/100_events/1_thread")
    ->Arg(100)
    ->Threads(1)
    ->Iterations(500)
    ->UseRealTime();
BENCHMARK(BM_append)
    ->Name("append/100_events/32_threads")
    ->Arg(100)
    ->Threads(32)
    ->Iterations(30)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
