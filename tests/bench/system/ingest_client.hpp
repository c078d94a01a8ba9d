#pragma once
// The POS side of the system benchmarks: one keep-alive HTTP/1.1 connection per till to its
// agent's real ingest API (POST /v1/events), events of the realistic Fastyle mix
// (tests/bench/event_mix.hpp), either paced (live traffic) or as fast as the agent answers
// (building a backlog). Every accepted event is recorded with its event_id and the wall-clock time
// the POS got the 200.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pos::bench {

/// One till's agent.
struct TillTarget {
  std::string store;
  std::string till;
  std::uint16_t port = 0;  ///< the agent's ingest port on 127.0.0.1
  std::uint64_t seed = 1;  ///< EventMix seed: each till's pos_event_ids are unique
};

/// An event the agent answered `accepted`.
struct AcceptedEvent {
  std::string event_id;
  std::int64_t answered_at_ms = 0;  ///< system clock (Unix ms) when the POS read the 200
};

struct LoadOptions {
  std::size_t events_per_request = 1;  ///< 1..1000; 1 sends one JSON object, else an array
  /// Paced: events per second per till (requests spaced evenly, a random phase per till) for
  /// `duration`. 0: each till sends `events_per_till` events as fast as its agent answers.
  double events_per_second_per_till = 0;
  std::chrono::milliseconds duration{0};
  std::uint64_t events_per_till = 0;
  bool record_events = true;  ///< keep every AcceptedEvent (off for large backlogs)
};

struct LoadResult {
  std::vector<AcceptedEvent> accepted;  ///< empty unless record_events
  std::uint64_t events_accepted = 0;
  std::uint64_t events_duplicate = 0;
  std::uint64_t events_rejected = 0;
  std::uint64_t requests = 0;
  std::uint64_t retried_requests = 0;      ///< non-200 answers and transport errors, sent again
  std::vector<double> request_latency_ms;  ///< per 200 answer, send to answer
  double wall_s = 0;
};

/// Runs the load on one io thread and returns when every till is done (paced: the duration is
/// over and the last answer arrived; bulk: all its events are accepted). A request answered with
/// anything but 200, or lost to a transport error, is sent again unchanged after 100 ms (the POS
/// retries; pos_event_id makes it idempotent). Throws std::runtime_error when a till cannot make
/// progress for 60 s (agent gone). Not thread-safe.
LoadResult run_ingest_load(const std::vector<TillTarget>& tills, const LoadOptions& options);

}  // namespace pos::bench
