#include "pos/collector/replay_metrics.hpp"

namespace pos::collector {

void append_replay_metrics(common::PrometheusWriter& metrics, const ReplayStats& s,
                           const ReplayTracker& tracker) {
  metrics.counter("replay_batches_received_total", "Replayed batch messages received.",
                  s.batches_received);
  metrics.counter("replay_batches_acked_total", "Replayed batches published again and acked.",
                  s.batches_acked);
  metrics.counter("replay_batches_dropped_busy_total",
                  "Replayed batches dropped unacked to give way to live traffic.",
                  s.batches_dropped_busy);
  metrics.counter("replay_batches_not_owned_total",
                  "Replayed batches of tills another collector owns: dropped unacked.",
                  s.batches_not_owned);
  metrics.counter("replay_batches_dead_lettered_total", "Whole replayed batches dead-lettered.",
                  s.batches_dead_lettered);
  metrics.counter("replay_events_published_total",
                  "Events published again (attribute replay=\"true\").", s.events_published);
  metrics.counter("replay_events_dead_lettered_total", "Replayed events dead-lettered.",
                  s.events_dead_lettered);
  metrics.counter("replay_sink_failures_total", "Permanent sink errors of replayed batches.",
                  s.sink_failures);
  metrics.gauge("replays_running", "Replays the tills report running.",
                static_cast<double>(tracker.running()));
  metrics.counter("replay_invalid_reports_total",
                  "Till status messages whose replay field could not be read.",
                  tracker.invalid_reports());
}

}  // namespace pos::collector
