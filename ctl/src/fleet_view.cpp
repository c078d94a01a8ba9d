#include "pos/ctl/fleet_view.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <map>

#include "pos/protocol/event.hpp"

namespace pos::ctl {
namespace {

namespace json = boost::json;

// Reads optional typed fields of one JSON object; the first type error wins.
class Fields {
 public:
  Fields(const json::object& object, std::string path)
      : m_object(object), m_path(std::move(path)) {}

  void text(std::string_view key, std::string& out) {
    const auto* v = present(key);
    if (v == nullptr) {
      return;
    }
    if (!v->is_string()) {
      return mismatch(key, "a string");
    }
    out = std::string(v->as_string());
  }
  void time(std::string_view key, std::optional<std::int64_t>& out) {
    const auto* v = present(key);
    if (v == nullptr) {
      return;
    }
    if (!v->is_string()) {
      return mismatch(key, "an RFC 3339 timestamp");
    }
    out = protocol::parse_rfc3339_ms(v->as_string());
    if (!out) {
      mismatch(key, "an RFC 3339 timestamp");
    }
  }
  template <class Int>
  void number(std::string_view key, std::optional<Int>& out) {
    const auto* v = present(key);
    if (v == nullptr) {
      return;
    }
    if (v->is_int64() && (std::is_signed_v<Int> || v->as_int64() >= 0)) {
      out = static_cast<Int>(v->as_int64());
    } else if (v->is_uint64()) {
      out = static_cast<Int>(v->as_uint64());
    } else if (v->is_double()) {
      out = static_cast<Int>(v->as_double());
    } else {
      mismatch(key, "a number");
    }
  }
  void names(std::string_view key, std::vector<std::string>& out) {
    const auto* v = present(key);
    if (v == nullptr) {
      return;
    }
    if (!v->is_array()) {
      return mismatch(key, "an array of strings");
    }
    for (const auto& item : v->as_array()) {
      if (!item.is_string()) {
        return mismatch(key, "an array of strings");
      }
      out.emplace_back(item.as_string());
    }
  }
  const std::optional<Error>& error() const { return m_error; }

 private:
  const json::value* present(std::string_view key) const {
    const auto* v = m_object.if_contains(key);
    return v == nullptr || v->is_null() ? nullptr : v;
  }
  void mismatch(std::string_view key, std::string_view expected) {
    if (!m_error) {
      m_error = Error{m_path + "." + std::string(key) + ": expected " + std::string(expected)};
    }
  }
  const json::object& m_object;
  std::string m_path;
  std::optional<Error> m_error;
};

// Reads each object of `items` (named `name[i]`) into one T with `read(fields, item)`, which
// returns the first error of that item (a type error of its fields comes first).
template <class T, class Read>
Status read_objects(const json::array& items, std::string_view name, std::vector<T>& out,
                    Read read) {
  std::size_t i = 0;
  for (const auto& value : items) {
    const std::string path = std::string(name) + "[" + std::to_string(i++) + "]";
    if (!value.is_object()) {
      return fail(path + ": expected an object");
    }
    T item;
    Fields f(value.as_object(), path);
    Status checked = read(f, item, path);
    if (f.error()) {
      return fail(*f.error());
    }
    if (!checked) {
      return checked;
    }
    out.push_back(std::move(item));
  }
  return {};
}

std::string count(const std::optional<std::uint64_t>& v) {
  return v ? std::to_string(*v) : std::string("-");
}

std::optional<std::int64_t> age_s(const std::optional<std::int64_t>& at_ms, std::int64_t now_ms) {
  if (!at_ms) {
    return std::nullopt;
  }
  return (now_ms - *at_ms) / 1000;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    out += (out.empty() ? "" : ",") + item;
  }
  return out.empty() ? "-" : out;
}

}  // namespace

Result<FleetSnapshot> parse_fleet(std::string_view text) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) {
    return fail("fleet document: not JSON: " + ec.message());
  }
  if (!doc.is_object()) {
    return fail("fleet document: expected a JSON object");
  }
  const auto& root = doc.as_object();
  FleetSnapshot snapshot;
  Fields top(root, "fleet");
  top.time("generated_at", snapshot.generated_at_ms);
  if (top.error()) {
    return fail(*top.error());
  }
  const auto* tills = root.if_contains("tills");
  if (tills == nullptr || !tills->is_array()) {
    return fail("fleet.tills: expected an array");
  }
  auto read_till = [](Fields& f, FleetTill& till, const std::string& path) -> Status {
    f.text("store_id", till.store_id);
    f.text("till_id", till.till_id);
    f.text("state", till.state);
    f.time("last_seen", till.last_seen_ms);
    f.text("agent_version", till.agent_version);
    f.number("backlog_events", till.backlog_events);
    f.number("oldest_unacked_age_s", till.oldest_unacked_age_s);
    f.time("last_ack_at", till.last_ack_ms);
    f.number("published_total", till.published_total);
    f.number("duplicates_total", till.duplicates_total);
    f.number("rejected_total", till.rejected_total);
    f.names("alerts", till.alerts);
    if (till.store_id.empty() || till.till_id.empty()) {
      return fail(path + ": store_id and till_id are required");
    }
    return {};
  };
  if (auto read = read_objects(tills->as_array(), "tills", snapshot.tills, read_till); !read) {
    return fail(read.error());
  }
  if (const auto* alerts = root.if_contains("alerts"); alerts != nullptr && !alerts->is_null()) {
    if (!alerts->is_array()) {
      return fail("fleet.alerts: expected an array");
    }
    auto read_alert = [](Fields& f, FleetAlert& alert, const std::string& /*path*/) -> Status {
      f.text("rule", alert.rule);
      f.text("severity", alert.severity);
      f.text("store_id", alert.store_id);
      f.text("till_id", alert.till_id);
      f.text("message", alert.message);
      f.time("since", alert.since_ms);
      return {};
    };
    if (auto read = read_objects(alerts->as_array(), "alerts", snapshot.alerts, read_alert);
        !read) {
      return fail(read.error());
    }
  }
  return snapshot;
}

int problem_rank(const FleetTill& till, const std::vector<FleetAlert>& alerts) {
  const bool critical = std::any_of(alerts.begin(), alerts.end(), [&](const FleetAlert& a) {
    return a.severity == "critical" && a.store_id == till.store_id && a.till_id == till.till_id;
  });
  if (critical) {
    return 0;
  }
  if (till.state == "offline") {
    return 1;
  }
  if (till.state == "stale") {
    return 2;
  }
  if (!till.alerts.empty() || till.state != "online") {
    return 3;
  }
  return 4;
}

std::vector<FleetTill> order_for_display(const FleetSnapshot& snapshot) {
  std::map<std::string, int> store_rank;
  for (const auto& till : snapshot.tills) {
    const int rank = problem_rank(till, snapshot.alerts);
    const auto [it, inserted] = store_rank.emplace(till.store_id, rank);
    if (!inserted) {
      it->second = std::min(it->second, rank);
    }
  }
  std::vector<std::pair<int, const FleetTill*>> keyed;
  keyed.reserve(snapshot.tills.size());
  for (const auto& till : snapshot.tills) {
    keyed.emplace_back(problem_rank(till, snapshot.alerts), &till);
  }
  std::sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    const auto& ta = *a.second;
    const auto& tb = *b.second;
    const int sa = store_rank.at(ta.store_id);
    const int sb = store_rank.at(tb.store_id);
    return std::tie(sa, ta.store_id, a.first, ta.till_id) <
           std::tie(sb, tb.store_id, b.first, tb.till_id);
  });
  std::vector<FleetTill> out;
  out.reserve(keyed.size());
  for (const auto& [rank, till] : keyed) {
    out.push_back(*till);
  }
  return out;
}

std::string format_age(std::optional<std::int64_t> seconds) {
  if (!seconds) {
    return "-";
  }
  const std::int64_t s = std::max<std::int64_t>(0, *seconds);
  if (s < 120) {
    return std::to_string(s) + "s";
  }
  if (s < 120 * 60) {
    return std::to_string(s / 60) + "m";
  }
  if (s < 48 * 3600) {
    return std::to_string(s / 3600) + "h";
  }
  return std::to_string(s / 86400) + "d";
}

std::string render_fleet(const FleetSnapshot& snapshot, std::int64_t now_ms) {
  const std::vector<std::string> header = {"STORE",     "TILL",           "STATE",    "LAST SEEN",
                                           "BACKLOG",   "OLDEST UNACKED", "LAST ACK", "VERSION",
                                           "PUBLISHED", "DUPLICATES",     "REJECTED", "ALERTS"};
  const auto ordered = order_for_display(snapshot);
  std::vector<std::vector<std::string>> rows;
  rows.reserve(ordered.size());
  std::map<std::string, std::size_t> states;
  for (const auto& t : ordered) {
    ++states[t.state.empty() ? std::string("unknown") : t.state];
    rows.push_back({t.store_id, t.till_id, t.state.empty() ? "-" : t.state,
                    format_age(age_s(t.last_seen_ms, now_ms)), count(t.backlog_events),
                    format_age(t.oldest_unacked_age_s), format_age(age_s(t.last_ack_ms, now_ms)),
                    t.agent_version.empty() ? "-" : t.agent_version, count(t.published_total),
                    count(t.duplicates_total), count(t.rejected_total), join(t.alerts)});
  }
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
  }
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      out += cells[c];
      if (c + 1 < cells.size()) {
        out += std::string(width[c] - cells[c].size() + 2, ' ');
      }
    }
    return out + "\n";
  };

  std::string out = std::to_string(ordered.size()) + " tills";
  for (const auto& [state, n] : states) {
    out += ", " + std::to_string(n) + " " + state;
  }
  std::size_t critical = 0;
  for (const auto& a : snapshot.alerts) {
    critical += a.severity == "critical" ? 1 : 0;
  }
  out += "; alerts: " + std::to_string(snapshot.alerts.size()) + " (" + std::to_string(critical) +
         " critical)\n\n";
  out += line(header);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i > 0 && ordered[i].store_id != ordered[i - 1].store_id) {
      out += "\n";
    }
    out += line(rows[i]);
  }
  if (!snapshot.alerts.empty()) {
    std::vector<const FleetAlert*> alerts;
    for (const auto& a : snapshot.alerts) {
      alerts.push_back(&a);
    }
    std::stable_sort(alerts.begin(), alerts.end(), [](const FleetAlert* a, const FleetAlert* b) {
      return (a->severity == "critical") > (b->severity == "critical");
    });
    out += "\nALERTS\n";
    for (const auto* a : alerts) {
      out += "  " + (a->severity.empty() ? std::string("-") : a->severity) + "  " + a->store_id +
             "/" + a->till_id + "  " + a->rule + "  since " +
             format_age(age_s(a->since_ms, now_ms)) + "  " + a->message + "\n";
    }
  }
  return out;
}

}  // namespace pos::ctl
