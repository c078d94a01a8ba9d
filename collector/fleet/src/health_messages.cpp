#include "pos/collector/health_messages.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "pos/protocol/event.hpp"

namespace pos::collector {
namespace {

OutMessage transition(const FleetAlert& alert, std::string_view kind,
                      const std::string& collector_id, std::int64_t now_ms) {
  boost::json::object data;
  data.emplace("kind", "alert");
  data.emplace("transition", kind);
  data.emplace("rule", alert.rule);
  data.emplace("severity", alert.severity);
  data.emplace("store_id", alert.store_id);
  data.emplace("till_id", alert.till_id);
  data.emplace("message", alert.message);
  data.emplace("since", protocol::format_rfc3339_utc_ms(alert.since_ms));
  data.emplace("at", protocol::format_rfc3339_utc_ms(now_ms));
  data.emplace("collector_id", collector_id);
  OutMessage m;
  m.data = boost::json::serialize(data);
  m.attributes = {{"transition", std::string(kind)},
                  {"rule", alert.rule},
                  {"severity", alert.severity},
                  {"store_id", alert.store_id},
                  {"till_id", alert.till_id}};
  m.ordering_key = alert.store_id + '/' + alert.till_id;
  return m;
}

}  // namespace

std::vector<OutMessage> alert_transition_messages(const AlertTracker::Changes& changes,
                                                  const std::string& collector_id,
                                                  std::int64_t now_ms) {
  std::vector<OutMessage> out;
  out.reserve(changes.raised.size() + changes.cleared.size());
  for (const auto& alert : changes.raised) {
    out.push_back(transition(alert, "raised", collector_id, now_ms));
  }
  for (const auto& alert : changes.cleared) {
    out.push_back(transition(alert, "cleared", collector_id, now_ms));
  }
  return out;
}

}  // namespace pos::collector
