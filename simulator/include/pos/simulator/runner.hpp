#pragma once
// `possim run`: paces the generators on a simulated clock and posts each till's events to its
// agent like a real POS: one request in flight per till, HTTP/1.1 keep-alive, the same events
// retried until they are answered, an accepted log in per-till acceptance order.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pos/protocol/result.hpp"
#include "pos/simulator/agents.hpp"
#include "pos/simulator/catalogue.hpp"
#include "pos/simulator/layout.hpp"
#include "pos/simulator/time.hpp"
#include "pos/simulator/traffic_model.hpp"

namespace pos::simulator {

/// How the simulated clock runs.
struct SimClock {
  /// Live: simulated time is the wall clock. Otherwise it starts at `start` and runs `speed`
  /// times real time until `end`.
  bool live = true;
  UnixMs start = 0;
  std::optional<UnixMs> end;
  double speed = 1.0;
};

struct RunnerSettings {
  std::vector<AgentTarget> targets;  ///< checked with check_agents
  std::uint64_t seed = 1;
  SimClock clock;
  double duration_s = 0;  ///< 0: until SIGINT/SIGTERM (or the end of a replayed day)
  std::size_t batch = 1;  ///< events per request, 1-1000
  std::size_t max_queue_per_till = 1000;  ///< generated but unsent events per till
  std::string accepted_log;               ///< empty: none
  double stats_interval_s = 5;
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds drain_timeout{10'000};
};

/// Counters of a run; the summary JSON.
struct RunSummary {
  std::uint64_t sent = 0;  ///< events posted at least once
  std::uint64_t accepted = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t rejected = 0;
  std::uint64_t errors = 0;       ///< requests answered 4xx or with an unreadable 200 (a bug)
  std::uint64_t retries = 0;      ///< requests sent again after no answer, 503 or 5xx
  std::uint64_t unconfirmed = 0;  ///< sent events without a per-event answer at exit
  double elapsed_s = 0;
  bool any_answer = false;  ///< some agent answered at least one request
};

/// The summary as one JSON object (no newline).
std::string to_json(const RunSummary& summary);

/// One event's outcome in an agent's answer.
struct EventOutcome {
  enum class Status { accepted, duplicate, rejected } status = Status::accepted;
  std::string event_id;
  std::string error;
};

/// Parses a 200 answer of POST /v1/events for a request of `expected` events: one outcome per
/// event in request order. Fails naming what is wrong (not JSON, results missing, count or index
/// mismatch, unknown status).
Result<std::vector<EventOutcome>> parse_ingest_answer(std::string_view body, std::size_t expected);

/// One accepted-log line (with newline): store, till, ids, status, answer time and the event text
/// exactly as sent.
std::string accepted_log_line(const TillRef& till, std::string_view pos_event_id,
                              const EventOutcome& outcome, std::int64_t answered_at_ms,
                              std::string_view event_json);

/// Runs the traffic until it ends (duration, replayed day, SIGINT/SIGTERM) and the requests in
/// flight are answered or `drain_timeout` passed. Resolves the agents' hosts first. Runs one
/// io_context on the calling thread; SIGINT/SIGTERM are handled while it runs. Fails (before any
/// traffic) when a host does not resolve or the accepted log cannot be opened.
Result<RunSummary> run_traffic(const Layout& layout, const Catalogue& catalogue,
                               const TrafficModel& model, const RunnerSettings& settings);

}  // namespace pos::simulator
