#pragma once
// The agent's HTTP ingest API (SPEC "Agent ingest API"): routes requests of a common::HttpServer.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "pos/agent/ingest_body.hpp"
#include "pos/agent/outbox.hpp"
#include "pos/common/http_server.hpp"

namespace pos::agent {

/// Answers for the GET routes, supplied by the app. Each is called on a connection's strand and
/// must not block for long; an empty function answers 404. Exceptions are caught by the server.
struct IngestRoutes {
  std::function<common::HttpResponse()> status;   ///< GET /v1/status
  std::function<common::HttpResponse()> healthz;  ///< GET /healthz
  std::function<common::HttpResponse()> metrics;  ///< GET /metrics
};

/// Counters since start, for /metrics. Events count per event, requests per request.
struct IngestStats {
  std::uint64_t requests = 0;  ///< every request routed, any path
  std::uint64_t events_accepted = 0;
  std::uint64_t events_duplicate = 0;
  std::uint64_t events_rejected = 0;
  std::uint64_t requests_failed = 0;       ///< POST /v1/events answered 4xx/5xx (nothing stored)
  std::uint64_t requests_unavailable = 0;  ///< of those, 503 (buffer full, busy, storage error)
};

/// Retry-After values (seconds) for 503 answers.
struct IngestRetryAfter {
  std::chrono::seconds full{5};
  std::chrono::seconds busy{1};
  std::chrono::seconds io{5};
};

/// Maps HTTP requests to the outbox. POST /v1/events: parse and validate (ingest_body.hpp), then
/// all valid events of the request in one Outbox::append; answers 200 with per-event results
/// after the commit, or a whole-request error `{"error":"..."}` (400/413/415, 503 + Retry-After
/// when the outbox is full, busy or failing). The GET routes answer HEAD too (the server drops
/// the body). Other paths 404, wrong method 405 with Allow.
/// Thread-safe: handle() may run concurrently on several strands. The outbox must outlive every
/// pending append; the service itself may be destroyed while appends are pending.
class IngestService {
 public:
  IngestService(Outbox& outbox, std::string store_id, std::string till_id,
                IngestBodyLimits limits = {}, IngestRoutes routes = {},
                IngestRetryAfter retry_after = {});

  /// The HttpServer handler. Never throws except std::bad_alloc.
  void handle(const common::HttpRequest& request, common::HttpServer::Respond respond);

  /// A handler bound to this service (which must outlive the server using it).
  common::HttpServer::Handler handler();

  /// Counters since start. Thread-safe.
  IngestStats stats() const;

 private:
  struct Counters;
  void post_events(const common::HttpRequest& request, common::HttpServer::Respond respond);

  Outbox& m_outbox;
  std::string m_store_id;
  std::string m_till_id;
  IngestBodyLimits m_limits;
  IngestRoutes m_routes;
  IngestRetryAfter m_retry_after;
  std::shared_ptr<Counters> m_counters;
};

}  // namespace pos::agent
