#pragma once
// The collector's HTTP API (SPEC "Collector HTTP"): GET /v1/fleet, /v1/kpis, /v1/stats,
// /v1/inventory, /v1/config, /metrics, /healthz, /readyz and the dashboard's files. Routes and
// handlers only: the server is common::HttpServer, the components are owned by the composition
// root.

#include <functional>
#include <optional>
#include <string>

#include "pos/collector/alerts.hpp"
#include "pos/collector/batch_processor.hpp"
#include "pos/collector/fleet.hpp"
#include "pos/collector/inventory_view.hpp"
#include "pos/collector/leases.hpp"
#include "pos/collector/live_view.hpp"
#include "pos/collector/mark_store.hpp"
#include "pos/collector/sink.hpp"
#include "pos/common/clock.hpp"
#include "pos/common/config_reload.hpp"
#include "pos/common/http_server.hpp"
#include "pos/common/prometheus_text.hpp"

namespace pos::collector {

/// What the API asks of the running process beyond its components.
struct HttpProbes {
  /// /healthz: the mark store can be written (its last transaction succeeded, data_dir writable).
  std::function<bool()> healthy;
  /// True while connected to the broker and subscribed.
  std::function<bool()> broker_connected;
  /// True from SIGTERM on.
  std::function<bool()> stopping;
  /// Several collectors: the partition leases' state; empty (or nullopt) with one collector.
  std::function<std::optional<LeaseStats>()> leases;
  /// Appends further families (other subsystems' metrics) to /metrics; may be empty.
  std::function<void(common::PrometheusWriter&)> extra_metrics;
  /// Configuration reloads (SIGHUP) since start, for /metrics; empty: none reported.
  std::function<common::ReloadStats()> reloads;
  /// GET /v1/config: the live settings in force and the last reload (JSON); empty: 404.
  std::function<std::string()> config_document;
};

/// Answers the collector's HTTP requests from its components. Every component must outlive the
/// API. Not thread-safe: call on the io thread (where the components live).
class HttpApi {
 public:
  HttpApi(const BatchProcessor& processor, const MarkStore& marks, const Sink& sink,
          const FleetState& fleet, AlertTracker& alerts, LiveView& live, const common::Clock& clock,
          HttpProbes probes);

  /// The response to `request`: 405 for a method other than GET or HEAD, 404 for an unknown
  /// path. Never throws except std::bad_alloc.
  common::HttpResponse handle(const common::HttpRequest& request);

  /// Why the collector is not ready ("stopping", "broker not connected", ...), or nullopt when it
  /// is: connected and subscribed, the sink healthy, mark commits not paused, not stopping.
  std::optional<std::string> not_ready() const;

  /// Re-evaluates the alert rules now and logs what was raised or cleared.
  void update_alerts();

  /// The /metrics document.
  std::string metrics_text();

  /// Serves GET /v1/inventory and adds the stock metrics from `inventory` (which must outlive
  /// the API); without one, /v1/inventory answers 404.
  void set_inventory(const InventoryView* inventory) noexcept { m_inventory = inventory; }

 private:
  /// GET /v1/fleet (every row without a query; a filtered page with one, 400 for a bad
  /// parameter) and GET /v1/fleet/summary.
  common::HttpResponse fleet_response(const std::string& path, const std::string& target);

  const BatchProcessor& m_processor;
  const MarkStore& m_marks;
  const Sink& m_sink;
  const FleetState& m_fleet;
  AlertTracker& m_alerts;
  LiveView& m_live;
  const common::Clock& m_clock;
  HttpProbes m_probes;
  const InventoryView* m_inventory = nullptr;
};

/// The StockQuery of a GET /v1/inventory target: `store`, `category` (percent-decoded), `low`
/// (1, true, 0 or false) and `limit` (1-10000, default 500). Fails naming the parameter (`limit:
/// not an integer 1-10000`, `colour: unknown parameter`).
Result<StockQuery> parse_inventory_query(const std::string& target);

}  // namespace pos::collector
