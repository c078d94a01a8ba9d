#pragma once
// The optional health topic (docs/dashboard.md, "Health topic"): alert transitions as messages,
// for systems that read Pub/Sub rather than the dashboard or Prometheus.

#include <cstdint>
#include <vector>

#include "pos/collector/alerts.hpp"
#include "pos/collector/sink.hpp"

namespace pos::collector {

/// One message per transition of `changes`, raised first: data
/// `{"kind":"alert","transition":"raised"|"cleared","rule","severity","store_id","till_id",
/// "message","since","at","collector_id"}` (times RFC 3339 UTC; `at` is `now_ms`), attributes
/// `transition`, `rule`, `severity`, `store_id`, `till_id`; ordering key `{store}/{till}` so a
/// till's transitions stay in order. Throws only std::bad_alloc.
std::vector<OutMessage> alert_transition_messages(const AlertTracker::Changes& changes,
                                                  const std::string& collector_id,
                                                  std::int64_t now_ms);

}  // namespace pos::collector
