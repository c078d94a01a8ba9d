#include <spdlog/spdlog.h>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <charconv>
#include <string_view>
#include <utility>
#include <vector>

#include "pos/agent/ingest_service.hpp"

namespace pos::agent {

namespace json = boost::json;
using common::HttpRequest;
using common::HttpResponse;
using common::HttpServer;

struct IngestService::Counters {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> events_accepted{0};
  std::atomic<std::uint64_t> events_duplicate{0};
  std::atomic<std::uint64_t> events_rejected{0};
  std::atomic<std::uint64_t> requests_failed{0};
  std::atomic<std::uint64_t> requests_unavailable{0};
};

namespace {

HttpResponse error_response(int status, std::string_view message) {
  HttpResponse response;
  response.status = status;
  response.body = json::serialize(json::object{{"error", message}});
  return response;
}

struct Outcome {
  enum class Kind { accepted, duplicate, rejected };
  Kind kind = Kind::rejected;
  std::string text;  ///< event id, or the rejection
};

void append_number(std::string& out, std::uint64_t value) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  (void)ec;
  out.append(digits, end);
}

// The SPEC answer, written directly (same text as serializing the equivalent json::object, whose
// keys keep insertion order). Event ids are [A-Za-z0-9_-] only; rejections are escaped.
HttpResponse results_response(const std::vector<Outcome>& outcomes) {
  std::uint64_t counts[3] = {0, 0, 0};
  std::size_t text_bytes = 0;
  for (const auto& outcome : outcomes) {
    ++counts[static_cast<int>(outcome.kind)];
    text_bytes += outcome.text.size();
  }
  HttpResponse response;
  std::string& out = response.body;
  out.reserve(64 + outcomes.size() * 64 + text_bytes);
  out.append("{\"accepted\":");
  append_number(out, counts[0]);
  out.append(",\"duplicates\":");
  append_number(out, counts[1]);
  out.append(",\"rejected\":");
  append_number(out, counts[2]);
  out.append(",\"results\":[");
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const auto& outcome = outcomes[i];
    if (i > 0) {
      out.push_back(',');
    }
    out.append("{\"index\":");
    append_number(out, i);
    switch (outcome.kind) {
      case Outcome::Kind::accepted:
        out.append(R"(,"status":"accepted","event_id":")").append(outcome.text).append("\"}");
        break;
      case Outcome::Kind::duplicate:
        out.append(R"(,"status":"duplicate","event_id":")").append(outcome.text).append("\"}");
        break;
      case Outcome::Kind::rejected:
        out.append(R"(,"status":"rejected","error":)")
            .append(json::serialize(json::string(outcome.text)))
            .append("}");
        break;
    }
  }
  out.append("]}");
  return response;
}

HttpResponse unavailable(const AppendError& error, const IngestRetryAfter& retry_after) {
  std::chrono::seconds after = retry_after.io;
  std::string message;
  switch (error.kind) {
    case AppendError::Kind::full:
      after = retry_after.full;
      message = "agent buffer is full, retry later (" + error.message + ")";
      break;
    case AppendError::Kind::busy:
      after = retry_after.busy;
      message = "agent is busy, retry later (" + error.message + ")";
      break;
    case AppendError::Kind::io:
      message = "storage error, nothing stored, retry later (" + error.message + ")";
      break;
    case AppendError::Kind::shutting_down:
      message = "agent is shutting down, retry later";
      break;
  }
  auto response = error_response(503, message);
  response.headers.emplace_back("Retry-After", std::to_string(after.count()));
  return response;
}

HttpResponse method_not_allowed(std::string_view allow) {
  auto response = error_response(405, "method not allowed; use " + std::string(allow));
  response.headers.emplace_back("Allow", std::string(allow));
  return response;
}

}  // namespace

IngestService::IngestService(Outbox& outbox, std::string store_id, std::string till_id,
                             IngestBodyLimits limits, IngestRoutes routes,
                             IngestRetryAfter retry_after)
    : m_outbox(outbox),
      m_store_id(std::move(store_id)),
      m_till_id(std::move(till_id)),
      m_limits(limits),
      m_routes(std::move(routes)),
      m_retry_after(retry_after),
      m_counters(std::make_shared<Counters>()) {}

HttpServer::Handler IngestService::handler() {
  return [this](const HttpRequest& request, HttpServer::Respond respond) {
    handle(request, std::move(respond));
  };
}

void IngestService::handle(const HttpRequest& request, HttpServer::Respond respond) {
  m_counters->requests.fetch_add(1);
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  if (path == "/v1/events") {
    if (request.method != "POST") {
      respond(method_not_allowed("POST"));
      return;
    }
    post_events(request, std::move(respond));
    return;
  }
  const std::function<HttpResponse()>* route = nullptr;
  if (path == "/v1/status") {
    route = &m_routes.status;
  } else if (path == "/healthz") {
    route = &m_routes.healthz;
  } else if (path == "/metrics") {
    route = &m_routes.metrics;
  }
  if (route == nullptr || !*route) {
    respond(error_response(404, "no such path: " + std::string(path)));
    return;
  }
  if (request.method != "GET" && request.method != "HEAD") {  // HEAD: the server drops the body
    respond(method_not_allowed("GET, HEAD"));
    return;
  }
  respond((*route)());
}

void IngestService::post_events(const HttpRequest& request, HttpServer::Respond respond) {
  const protocol::EventOwner owner{m_store_id, m_till_id};
  auto parsed = parse_ingest_body(request.content_type, request.body, owner, m_limits);
  if (!parsed) {
    m_counters->requests_failed.fetch_add(1);
    respond(error_response(parsed.error().status, parsed.error().message));
    return;
  }
  auto& items = *parsed;
  std::vector<Outcome> outcomes(items.size());
  std::vector<protocol::PosEvent> events;
  std::vector<std::size_t> event_index;
  events.reserve(items.size());
  event_index.reserve(items.size());
  std::uint64_t rejected = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].event) {
      events.push_back(std::move(*items[i].event));
      event_index.push_back(i);
    } else {
      outcomes[i].text = items[i].event.error().message;
      ++rejected;
    }
  }
  if (events.empty()) {
    m_counters->events_rejected.fetch_add(rejected);
    respond(results_response(outcomes));
    return;
  }
  m_outbox.append(
      std::move(events),
      [counters = m_counters, retry_after = m_retry_after, outcomes = std::move(outcomes),
       event_index = std::move(event_index), respond = std::move(respond),
       rejected](Result<std::vector<AppendResult>, AppendError> appended) mutable {
        if (!appended) {
          const auto& error = appended.error();
          counters->requests_failed.fetch_add(1);
          counters->requests_unavailable.fetch_add(1);
          spdlog::warn("ingest: append of {} events failed: {}", event_index.size(), error.message);
          respond(unavailable(error, retry_after));
          return;
        }
        auto& results = *appended;
        if (results.size() != event_index.size()) {
          spdlog::error("ingest: outbox returned {} results for {} events", results.size(),
                        event_index.size());
          counters->requests_failed.fetch_add(1);
          respond(error_response(500, "internal error: outbox result count mismatch"));
          return;
        }
        std::uint64_t accepted = 0;
        std::uint64_t duplicates = 0;
        for (std::size_t k = 0; k < results.size(); ++k) {
          auto& outcome = outcomes[event_index[k]];
          outcome.text = std::move(results[k].event_id);
          if (results[k].status == AppendResult::Status::accepted) {
            outcome.kind = Outcome::Kind::accepted;
            ++accepted;
          } else {
            outcome.kind = Outcome::Kind::duplicate;
            ++duplicates;
          }
        }
        counters->events_rejected.fetch_add(rejected);
        counters->events_accepted.fetch_add(accepted);
        counters->events_duplicate.fetch_add(duplicates);
        respond(results_response(outcomes));
      });
}

IngestStats IngestService::stats() const {
  IngestStats s;
  s.requests = m_counters->requests.load();
  s.events_accepted = m_counters->events_accepted.load();
  s.events_duplicate = m_counters->events_duplicate.load();
  s.events_rejected = m_counters->events_rejected.load();
  s.requests_failed = m_counters->requests_failed.load();
  s.requests_unavailable = m_counters->requests_unavailable.load();
  return s;
}

}  // namespace pos::agent
