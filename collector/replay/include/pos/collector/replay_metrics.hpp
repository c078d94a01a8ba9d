#pragma once
// The replay subsystem's /metrics families (docs/replay.md).

#include "pos/collector/replay_processor.hpp"
#include "pos/collector/replay_tracker.hpp"
#include "pos/common/prometheus_text.hpp"

namespace pos::collector {

/// Appends poscollector_replay_* counters and gauges.
void append_replay_metrics(common::PrometheusWriter& metrics, const ReplayStats& stats,
                           const ReplayTracker& tracker);

}  // namespace pos::collector
