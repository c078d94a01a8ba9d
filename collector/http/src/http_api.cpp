#include "pos/collector/http_api.hpp"

#include <charconv>
#include <sstream>
#include <utility>

#include "pos/collector/dashboard.hpp"
#include "pos/collector/fleet_query.hpp"
#include "pos/collector/pipeline_stats.hpp"
#include "pos/common/prometheus_text.hpp"
#include "pos/common/url_query.hpp"

namespace pos::collector {
namespace {

std::string target_path(const std::string& target) {
  return target.substr(0, target.find('?'));
}

/// The batch processor's counters and gauges.
void append_lease_metrics(common::PrometheusWriter& metrics, const LeaseStats& s) {
  metrics.gauge("partitions_owned", "Till partitions this collector holds and publishes.",
                static_cast<double>(s.owned));
  metrics.gauge("partitions_releasing", "Partitions being handed back once idle.",
                static_cast<double>(s.releasing));
  metrics.gauge("live_collectors", "Collectors with a live heartbeat in the lease table.",
                static_cast<double>(s.live_collectors));
  metrics.gauge("leases_healthy", "1 while the last lease round succeeded.", s.healthy ? 1 : 0);
  metrics.counter("lease_rounds_total", "Lease rounds run.", s.rounds);
  metrics.counter("lease_round_failures_total", "Lease rounds that failed.", s.round_failures);
  metrics.counter("partitions_acquired_total", "Partitions taken.", s.acquired);
  metrics.counter("partitions_released_total", "Partitions handed back.", s.released);
  metrics.counter("partitions_lost_total", "Partitions found taken over by another collector.",
                  s.lost);
}

void append_pipeline_metrics(common::PrometheusWriter& metrics, const BatchStats& s) {
  metrics.counter("batches_not_owned_total",
                  "Batches of tills another collector owns: not published, not acked.",
                  s.batches_not_owned);
  metrics.counter("commits_fenced_total",
                  "Mark commits refused because the lease was lost: not acked.", s.commits_fenced);
  metrics.counter("resends_requested_total", "Resend requests sent to tills taken over.",
                  s.resends_requested);
  metrics.counter("batches_received_total", "Batch messages received.", s.batches_received);
  metrics.counter("batches_acked_total", "Batches published, committed and acknowledged.",
                  s.batches_acked);
  metrics.counter("batches_duplicate_total", "Batches wholly at or below the mark.",
                  s.batches_duplicate);
  metrics.counter("batches_gap_total", "Batches refused because they start past mark + 1.",
                  s.batches_gap);
  metrics.counter("batches_dropped_busy_total", "Batches dropped by flow control (not acked).",
                  s.batches_dropped_busy);
  metrics.counter("batches_dead_lettered_total", "Whole batches dead-lettered and acked.",
                  s.batches_dead_lettered);
  metrics.counter("batches_invalid_total", "Batches dead-lettered that cannot be acked.",
                  s.batches_invalid);
  metrics.counter("marks_adopted_total",
                  "Marks raised to the acked_through a till reported (lost or stale collector.db).",
                  s.marks_adopted);
  metrics.counter("events_published_total", "Events published to the events topic.",
                  s.events_published);
  metrics.counter("events_dead_lettered_total", "Events dead-lettered after failing validation.",
                  s.events_dead_lettered);
  metrics.counter("events_duplicate_total", "Events dropped as duplicates.", s.events_duplicate);
  metrics.counter("acks_sent_total", "Acks delivered to the broker.", s.acks_sent);
  metrics.counter("ack_failures_total", "Acks that could not be published.", s.ack_failures);
  metrics.counter("sink_failures_total", "Permanent sink errors.", s.sink_failures);
  metrics.counter("commit_failures_total", "Mark commits that failed.", s.commit_failures);
  metrics.counter("commit_retries_total", "Failed marks committed again.", s.commit_retries);
  metrics.counter("batches_dropped_paused_total",
                  "Batches dropped unacked while intake was paused by failed mark commits.",
                  s.batches_dropped_paused);
  metrics.counter(
      "new_epochs_total",
      "Epochs started by tills (a batch of an epoch without a mark): a new till database.",
      s.new_epochs);
  metrics.counter(
      "batches_epoch_refused_total",
      "Batches of a new epoch refused unacked: the till is at marks.max_epochs_per_till.",
      s.batches_epoch_refused);
  metrics.counter("epochs_pruned_total", "Marks of epochs idle past the retention deleted.",
                  s.epochs_pruned);
  metrics.counter("epoch_prune_passes_total", "Pruning passes over the marks.", s.prune_passes);
  metrics.counter("status_received_total", "Agent status messages recorded.", s.status_received);
}

}  // namespace

Result<StockQuery> parse_inventory_query(const std::string& target) {
  StockQuery query;
  auto parameters = common::parse_query(common::query_of(target));
  if (!parameters) {
    return fail(parameters.error());
  }
  for (const auto& parameter : *parameters) {
    const std::string& name = parameter.name;
    const std::string& value = parameter.value;
    if (name == "store") {
      query.store_id = value;
    } else if (name == "category") {
      query.category = value;
    } else if (name == "low") {
      if (value == "1" || value == "true") {
        query.low_only = true;
      } else if (value == "0" || value == "false") {
        query.low_only = false;
      } else {
        return fail("low: must be 1, true, 0 or false");
      }
    } else if (name == "limit") {
      std::size_t limit = 0;
      const auto* first = value.data();
      const auto [ptr, ec] = std::from_chars(first, first + value.size(), limit);
      if (ec != std::errc{} || ptr != first + value.size() || limit < 1 || limit > 10'000) {
        return fail("limit: not an integer 1-10000");
      }
      query.limit = limit;
    } else {
      return fail(std::string(name.substr(0, 64)) + ": unknown parameter");
    }
  }
  return query;
}

HttpApi::HttpApi(const BatchProcessor& processor, const MarkStore& marks, const Sink& sink,
                 const FleetState& fleet, AlertTracker& alerts, LiveView& live,
                 const common::Clock& clock, HttpProbes probes)
    : m_processor(processor),
      m_marks(marks),
      m_sink(sink),
      m_fleet(fleet),
      m_alerts(alerts),
      m_live(live),
      m_clock(clock),
      m_probes(std::move(probes)) {}

void HttpApi::update_alerts() {
  log_alert_changes(m_alerts.update(m_fleet, m_clock.now_unix_ms()));
}

std::optional<std::string> HttpApi::not_ready() const {
  if (m_probes.stopping()) {
    return "stopping";
  }
  if (!m_probes.broker_connected()) {
    return "broker not connected";
  }
  if (m_processor.commits_paused()) {
    return "mark store cannot commit: intake paused";
  }
  if (!m_sink.healthy()) {
    return "sink not healthy";
  }
  if (const auto leases = m_probes.leases ? m_probes.leases() : std::nullopt;
      leases && !leases->healthy) {
    return "lease store unreachable: taking no till over";
  }
  return std::nullopt;
}

common::HttpResponse HttpApi::handle(const common::HttpRequest& request) {
  const std::string path = target_path(request.target);
  if (request.method != "GET" && request.method != "HEAD") {
    return {405, "text/plain", "method not allowed\n", {{"Allow", "GET, HEAD"}}};
  }
  if (path == "/v1/fleet" || path == "/v1/fleet/summary") {
    return fleet_response(path, request.target);
  }
  if (path == "/v1/inventory" && m_inventory != nullptr) {
    auto query = parse_inventory_query(request.target);
    if (!query) {
      return {400, "text/plain", query.error().message + "\n", {}};
    }
    return json_response(m_inventory->inventory_json(*query));
  }
  if (path == "/v1/kpis") {
    return json_response(m_live.kpis_json());
  }
  if (path == "/v1/stats") {
    PipelineStatsInput input;
    const std::int64_t now_ms = m_clock.now_unix_ms();
    for (const auto& [key, till] : m_fleet.tills()) {
      input.backlog_events_total += till.backlog_events;
      switch (m_fleet.state_of(till, now_ms)) {
        case TillState::online:
          ++input.tills_online;
          break;
        case TillState::offline:
          ++input.tills_offline;
          break;
        case TillState::stale:
          ++input.tills_stale;
          break;
      }
    }
    input.pending_batches = m_processor.pending_batches();
    input.sink_healthy = m_sink.healthy();
    return json_response(m_live.stats_json(m_processor.stats(), input));
  }
  if (path == "/metrics") {
    return {200, "text/plain; version=0.0.4", metrics_text(), {}};
  }
  if (path == "/v1/config" && m_probes.config_document) {
    return json_response(m_probes.config_document());
  }
  if (path == "/healthz") {
    const bool ok = m_probes.healthy();
    return {ok ? 200 : 503, "text/plain", ok ? "ok\n" : "database not writable\n", {}};
  }
  if (path == "/readyz") {
    if (auto why = not_ready()) {
      return {503, "text/plain", *why + "\n", {}};
    }
    return {200, "text/plain", "ready\n", {}};
  }
  if (auto page = dashboard_response(path)) {
    return *std::move(page);
  }
  return {404, "text/plain", "not found\n", {}};
}

common::HttpResponse HttpApi::fleet_response(const std::string& path, const std::string& target) {
  const auto question = target.find('?');
  const std::string_view query = question == std::string::npos
                                     ? std::string_view{}
                                     : std::string_view(target).substr(question + 1);
  update_alerts();
  const std::int64_t now_ms = m_clock.now_unix_ms();
  if (path == "/v1/fleet/summary") {
    if (!query.empty()) {
      return {400, "text/plain", "/v1/fleet/summary takes no parameters\n", {}};
    }
    return json_response(fleet_summary_json(m_fleet, m_alerts.active(), now_ms));
  }
  if (query.empty()) {
    // No parameter: every row, as SPEC "Collector HTTP" defines it for existing clients.
    return json_response(m_fleet.to_json(now_ms, m_alerts.active()));
  }
  auto parsed = parse_fleet_query(query);
  if (!parsed) {
    return {400, "text/plain", "bad parameter: " + parsed.error().message + "\n", {}};
  }
  return json_response(fleet_page_json(m_fleet, m_alerts.active(), *parsed, now_ms));
}

std::string HttpApi::metrics_text() {
  update_alerts();
  const auto& s = m_processor.stats();
  std::ostringstream out;
  common::PrometheusWriter metrics(out, "poscollector_");
  append_pipeline_metrics(metrics, s);
  metrics.counter("mark_transactions_total", "Mark store transactions (fsyncs).",
                  m_marks.stats().transactions);
  metrics.histogram("publish_latency_seconds", "From sink submit to sink completion.",
                    std::span<const double>(latency_buckets),
                    std::span<const std::uint64_t>(s.latency_counts), s.latency_sum_s);
  metrics.gauge("pending_batches", "Batches in the sink, not yet acked.",
                static_cast<double>(m_processor.pending_batches()));
  metrics.gauge("sink_pending_bytes", "Bytes accepted by the sink and not yet completed.",
                static_cast<double>(m_sink.pending_bytes()));
  metrics.gauge("sink_healthy", "1 while the sink's last attempt succeeded.",
                m_sink.healthy() ? 1 : 0);
  metrics.gauge("broker_connected", "1 while connected and subscribed.",
                m_probes.broker_connected() ? 1 : 0);
  metrics.gauge("ready", "1 while GET /readyz answers 200 (the reason is in its body).",
                not_ready() ? 0 : 1);
  metrics.gauge("marks", "Dedup marks in memory.", static_cast<double>(m_marks.size()));
  metrics.gauge(
      "intake_paused",
      "1 while a mark commit failed and none succeeded since: no batch is published or acked.",
      m_processor.commits_paused() ? 1 : 0);
  if (const auto leases = m_probes.leases ? m_probes.leases() : std::nullopt) {
    append_lease_metrics(metrics, *leases);
    metrics.counter("marks_fenced_off_total",
                    "Mark commits refused: the till's lease had been taken over.",
                    m_marks.stats().fenced_off);
  }
  metrics.family("tills", "Known tills by state.", "gauge");
  for (const auto& [state, count] : m_fleet.count_by_state(m_clock.now_unix_ms())) {
    metrics.sample("tills", {{"state", to_string(state)}}, count);
  }
  if (m_probes.extra_metrics) {
    m_probes.extra_metrics(metrics);
  }
  if (m_probes.reloads) {
    common::append_reload_metrics(metrics, m_probes.reloads());
  }
  out << alerts_metrics_text(m_alerts.active());
  m_live.append_metrics(out, s);
  if (m_inventory != nullptr) {
    m_inventory->append_metrics(out);
  }
  return out.str();
}

}  // namespace pos::collector
