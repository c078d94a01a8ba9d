#include "pos/collector/replay_api.hpp"

#include <spdlog/spdlog.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cstdio>

#include "pos/common/url_query.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/ids.hpp"
#include "pos/protocol/topics.hpp"

namespace pos::collector {
namespace {

namespace json = boost::json;

constexpr std::string_view k_path = "/v1/replays";
constexpr std::size_t k_max_body = 4096;
constexpr std::size_t k_max_limit = 1000;

common::HttpResponse json_response(int status, const json::object& body) {
  return common::HttpResponse{status, "application/json", json::serialize(body) + '\n', {}};
}

common::HttpResponse error(int status, const std::string& message) {
  json::object body;
  body.emplace("error", message);
  return json_response(status, body);
}

/// "S07/T1" into store and till; the error names the field `till`.
Status split_till(std::string_view text, std::string& store_id, std::string& till_id) {
  auto name = protocol::parse_till_name(text);
  if (!name) {
    return fail("till: " + name.error().message);
  }
  store_id = std::move(name->store_id);
  till_id = std::move(name->till_id);
  return {};
}

/// The id of a request without one: derived from till and range, so that repeating the request
/// (a retry, a second operator) asks for the same replay.
std::string derived_id(const std::string& store_id, const std::string& till_id,
                       const protocol::ReplayCommand& c) {
  const std::string range = c.from_seq
                                ? std::to_string(*c.from_seq) + '-' + std::to_string(*c.to_seq)
                                : std::to_string(*c.from_ms) + '-' + std::to_string(*c.to_ms);
  const std::uint64_t hash = protocol::till_hash(store_id + '/' + till_id, range);
  char hex[17] = {};
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return std::string("r") + (c.from_seq ? "s" : "t") + hex;
}

}  // namespace

ReplayApi::ReplayApi(ReplayTracker& tracker, common::Transport& transport,
                     const common::Clock& clock, std::string topic_prefix)
    : m_tracker(tracker),
      m_transport(transport),
      m_clock(clock),
      m_topic_prefix(std::move(topic_prefix)) {}

bool ReplayApi::handles(std::string_view target) noexcept {
  const std::string_view path = target.substr(0, target.find('?'));
  return path == k_path;
}

common::HttpResponse ReplayApi::handle(const common::HttpRequest& request) {
  if (request.method == "POST") {
    return post(request);
  }
  if (request.method == "GET" || request.method == "HEAD") {
    return get(request);
  }
  auto response = error(405, "method not allowed: use GET or POST");
  response.headers.emplace_back("Allow", "GET, HEAD, POST");
  return response;
}

common::HttpResponse ReplayApi::post(const common::HttpRequest& request) {
  if (request.content_type.rfind("application/json", 0) != 0) {
    return error(415, "Content-Type must be application/json");
  }
  if (request.body.size() > k_max_body) {
    return error(413, "body over 4096 bytes");
  }
  boost::system::error_code ec;
  const json::value doc = json::parse(request.body, ec);
  if (ec || !doc.is_object()) {
    return error(400, "body: must be a JSON object");
  }
  const json::object& obj = doc.get_object();
  for (const auto& kv : obj) {
    const std::string_view key = kv.key();
    if (key != "till" && key != "id" && key != "from_seq" && key != "to_seq" && key != "from" &&
        key != "to") {
      return error(400, std::string(key) + ": unknown field");
    }
  }
  const json::value* till = obj.if_contains("till");
  if (till == nullptr || !till->is_string()) {
    return error(400, "till: is required (STORE/TILL)");
  }
  std::string store_id;
  std::string till_id;
  if (auto s = split_till(till->get_string(), store_id, till_id); !s) {
    return error(400, s.error().message);
  }
  // The till's parser checks the rest, so that both sides agree on what a command is.
  json::object command = obj;
  command.erase("till");
  command["type"] = "replay";
  if (!command.contains("id")) {
    command["id"] = "placeholder";
  }
  auto parsed = protocol::parse_replay_command(json::serialize(command));
  if (!parsed) {
    std::string message = parsed.error().message;
    if (message.rfind("replay.", 0) == 0) {
      message.erase(0, 7);
    }
    return error(400, message);
  }
  if (!obj.contains("id")) {
    parsed->id = derived_id(store_id, till_id, *parsed);
  }
  parsed->epoch = m_tracker.epoch_of(store_id, till_id);
  if (const ReplayEntry* known = m_tracker.find(store_id, till_id, parsed->id);
      known != nullptr && known->progress) {
    // Already answered by the till: nothing to send again.
    return json_response(200, replay_entry_to_json(*known));
  }
  if (!m_transport.is_connected()) {
    return error(503, "not connected to a broker: the command cannot be sent now");
  }
  if (auto s = m_tracker.record_request(store_id, till_id, *parsed, m_clock.now_unix_ms()); !s) {
    return error(503, s.error().message);
  }
  auto topic = protocol::make_topic(m_topic_prefix, store_id, till_id, protocol::TopicKind::cmd);
  if (!topic) {
    return error(400, topic.error().message);
  }
  spdlog::info("replay {}: asking {}/{} to replay ({})", parsed->id, store_id, till_id,
               protocol::encode_replay_command(*parsed));
  // Retained: a till offline now gets it when it connects; the till ignores an id it has seen.
  m_transport.publish(*topic, protocol::encode_replay_command(*parsed), true,
                      [id = parsed->id](const Status& status) {
                        if (!status) {
                          spdlog::warn("replay {}: command not delivered to the broker: {}", id,
                                       status.error().message);
                        }
                      });
  return json_response(202, replay_entry_to_json(*m_tracker.find(store_id, till_id, parsed->id)));
}

common::HttpResponse ReplayApi::get(const common::HttpRequest& request) const {
  auto parameters = common::parse_query(common::query_of(request.target));
  if (!parameters) {
    return error(400, parameters.error().message);
  }
  std::string store_id;
  std::string till_id;
  std::size_t limit = 100;
  for (const auto& [name, value] : *parameters) {
    if (name == "till") {
      if (auto s = split_till(value, store_id, till_id); !s) {
        return error(400, s.error().message);
      }
    } else if (name == "limit") {
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), limit);
      if (ec != std::errc() || end != value.data() + value.size() || limit == 0 ||
          limit > k_max_limit) {
        return error(400, "limit: must be an integer 1-1000");
      }
    } else {
      return error(400, name.substr(0, 64) + ": unknown parameter");
    }
  }
  json::object body;
  body.emplace("replays", m_tracker.to_json(store_id, till_id, limit));
  body.emplace("total", m_tracker.size());
  return json_response(200, body);
}

}  // namespace pos::collector
