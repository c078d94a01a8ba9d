#include "subscription_checker.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "pos/protocol/ids.hpp"

namespace pos::test {

namespace json = boost::json;

namespace {

constexpr std::size_t findings_kept = 8;

// Fields the agent and the collector add to the POS's event.
constexpr std::string_view added_fields[] = {
    "event_id", "seq", "store_id", "till_id", "received_at", "collected_at", "schema_version"};

std::string string_field(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::string till_key(std::string_view store, std::string_view till) {
  return std::string(store) + "/" + std::string(till);
}

json::object without_added_fields(json::object o) {
  for (const auto key : added_fields) {
    o.erase(key);
  }
  return o;
}

// One published message, parsed.
struct Published {
  const PubSubMessage* message = nullptr;
  json::object data;
  std::string event_id;
  std::string stream;  // event_id without "-{seq}": store-till-epoch
  std::string till;    // store/till
  std::uint64_t seq = 0;
};

// Parses a message's data; returns what is wrong, or an empty string.
std::string parse_published(const PubSubMessage& m, Published& out) {
  out.message = &m;
  boost::system::error_code ec;
  auto value = json::parse(m.data, ec);
  if (ec || !value.is_object()) {
    return "message " + m.message_id + ": data is not a JSON object";
  }
  out.data = std::move(value.as_object());
  out.event_id = string_field(out.data, "event_id");
  const auto* seq = out.data.if_contains("seq");
  if (out.event_id.empty() || !seq || !seq->is_int64() || seq->as_int64() < 1) {
    return "message " + m.message_id + ": no event_id or seq: " + m.data.substr(0, 200);
  }
  out.seq = static_cast<std::uint64_t>(seq->as_int64());
  out.till = till_key(string_field(out.data, "store_id"), string_field(out.data, "till_id"));
  const auto dash = out.event_id.rfind('-');
  if (dash == std::string::npos || out.event_id.substr(dash + 1) != std::to_string(out.seq)) {
    return out.event_id + ": event_id does not end with its seq " + std::to_string(out.seq);
  }
  out.stream = out.event_id.substr(0, dash);
  return {};
}

// Checks attributes, ordering key and the fixed fields of a first delivery.
void check_envelope(const Published& p, Findings& content) {
  const auto& m = *p.message;
  const auto attribute = [&](const char* key) {
    const auto it = m.attributes.find(key);
    return it == m.attributes.end() ? std::string("<none>") : it->second;
  };
  const auto expect = [&](const char* what, const std::string& got, const std::string& want) {
    if (got != want) {
      content.add(p.event_id + ": " + what + " is '" + got + "', expected '" + want + "'");
    }
  };
  const std::string store = string_field(p.data, "store_id");
  const std::string till = string_field(p.data, "till_id");
  expect("attribute event_id", attribute("event_id"), p.event_id);
  expect("attribute event_type", attribute("event_type"), string_field(p.data, "type"));
  expect("attribute store_id", attribute("store_id"), store);
  expect("attribute till_id", attribute("till_id"), till);
  expect("attribute schema_version", attribute("schema_version"), "1");
  expect("ordering key", m.ordering_key, p.till);
  expect("event_id prefix", p.stream.substr(0, store.size() + till.size() + 2),
         protocol::till_key(store, till) + "-");
  const auto* schema = p.data.if_contains("schema_version");
  if (!schema || !schema->is_int64() || schema->as_int64() != 1) {
    content.add(p.event_id + ": data.schema_version is not 1");
  }
  for (const char* key : {"received_at", "collected_at"}) {
    if (string_field(p.data, key).empty()) {
      content.add(p.event_id + ": data." + key + " missing");
    }
  }
}

}  // namespace

void Findings::add(std::string what) {
  ++count;
  if (first.size() < findings_kept) {
    first.push_back(std::move(what));
  }
}

std::vector<AcceptedEvent> read_accepted_log(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("accepted log " + path.string() + " cannot be read");
  }
  std::vector<AcceptedEvent> events;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (line.empty()) {
      continue;
    }
    if (in.eof()) {
      // No newline: a writer killed in the middle of its last line. Its event counts as never
      // answered (allowed only as its till's tail).
      break;
    }
    const auto fail = [&](const std::string& why) {
      return std::runtime_error(path.string() + ":" + std::to_string(number) + ": " + why);
    };
    boost::system::error_code ec;
    auto value = json::parse(line, ec);
    if (ec || !value.is_object()) {
      throw fail("not a JSON object");
    }
    auto& o = value.as_object();
    AcceptedEvent e;
    e.store_id = string_field(o, "store_id");
    e.till_id = string_field(o, "till_id");
    e.pos_event_id = string_field(o, "pos_event_id");
    e.event_id = string_field(o, "event_id");
    e.status = string_field(o, "status");
    const auto* event = o.if_contains("event");
    if (e.store_id.empty() || e.till_id.empty() || e.pos_event_id.empty() || e.event_id.empty() ||
        !event || !event->is_object()) {
      throw fail("needs store_id, till_id, pos_event_id, event_id and event");
    }
    if (e.status != "accepted" && e.status != "duplicate") {
      throw fail("status must be accepted or duplicate, got '" + e.status + "'");
    }
    e.event = event->as_object();
    events.push_back(std::move(e));
  }
  return events;
}

std::vector<PubSubMessage> drain_subscription(PubSubEmulator& emulator, std::string_view project,
                                              std::string_view subscription,
                                              std::chrono::milliseconds quiet,
                                              std::chrono::milliseconds timeout) {
  std::vector<PubSubMessage> all;
  const auto start = std::chrono::steady_clock::now();
  auto last_message = start;
  while (std::chrono::steady_clock::now() - last_message < quiet &&
         std::chrono::steady_clock::now() - start < timeout) {
    auto batch = emulator.pull(project, subscription, 1000);
    if (batch.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    std::vector<std::string> ack_ids;
    ack_ids.reserve(batch.size());
    for (auto& m : batch) {
      ack_ids.push_back(m.ack_id);
      all.push_back(std::move(m));
    }
    emulator.acknowledge(project, subscription, ack_ids);
    last_message = std::chrono::steady_clock::now();
  }
  return all;
}

DeliveryReport check_delivery(const std::vector<AcceptedEvent>& accepted,
                              const std::vector<PubSubMessage>& messages) {
  DeliveryReport r;
  r.messages = messages.size();

  // First deliveries by event_id, in delivery order; per-stream seq continuity.
  std::unordered_set<std::string> message_ids;
  std::unordered_map<std::string, Published> first;        // event_id -> first delivery
  std::map<std::string, std::uint64_t> stream_last;        // stream -> last seq delivered
  std::map<std::string, std::string> stream_till;          // stream -> store/till
  std::unordered_map<std::string, std::string> by_pos_id;  // store/till/pos_event_id -> event_id
  for (const auto& m : messages) {
    if (!message_ids.insert(m.message_id).second) {
      ++r.redeliveries;
      continue;
    }
    Published p;
    if (auto error = parse_published(m, p); !error.empty()) {
      r.unexpected.add(error);
      continue;
    }
    if (const auto it = first.find(p.event_id); it != first.end()) {
      ++r.duplicates;
      r.duplicated.add(p.event_id + " (" + string_field(p.data, "pos_event_id") + ")");
      auto a = it->second.data;
      auto b = p.data;
      a.erase("collected_at");
      b.erase("collected_at");
      if (a != b) {
        r.content.add(p.event_id + ": a duplicate differs from the first delivery");
      }
      continue;
    }
    check_envelope(p, r.content);
    auto& last = stream_last[p.stream];
    if (p.seq != last + 1) {
      r.out_of_order.add(p.till + ": " + p.event_id + " delivered after seq " +
                         std::to_string(last));
    }
    last = std::max(last, p.seq);
    stream_till[p.stream] = p.till;
    by_pos_id[p.till + "/" + string_field(p.data, "pos_event_id")] = p.event_id;
    first.emplace(p.event_id, std::move(p));
  }
  r.published = first.size();

  // Every accepted event: published once, same content; acceptance order is seq order.
  std::unordered_set<std::string> answered;  // event_ids possim was answered
  std::map<std::string, std::pair<std::string, std::uint64_t>>
      last_answered;  // till -> (stream, seq)
  for (const auto& e : accepted) {
    const std::string till = till_key(e.store_id, e.till_id);
    if (!answered.insert(e.event_id).second) {
      r.unexpected.add(e.event_id + ": listed twice in the accepted log");
      continue;
    }
    ++r.accepted;
    const auto it = first.find(e.event_id);
    if (it == first.end()) {
      r.missing.add(till + " " + e.pos_event_id + " (" + e.event_id + ", " + e.status + ")");
      continue;
    }
    const auto& p = it->second;
    if (string_field(p.data, "pos_event_id") != e.pos_event_id || p.till != till) {
      r.content.add(e.event_id + ": published for " + p.till + " " +
                    string_field(p.data, "pos_event_id") + ", answered for " + till + " " +
                    e.pos_event_id);
      continue;
    }
    auto sent = e.event;
    for (const char* key : {"store_id", "till_id"}) {
      if (const auto* v = sent.if_contains(key);
          v && (!v->is_string() || string_field(sent, key) != string_field(p.data, key))) {
        r.content.add(e.event_id + ": " + key + " differs from the one sent");
      }
    }
    if (without_added_fields(p.data) != without_added_fields(sent)) {
      r.content.add(e.event_id + ": data differs from the event sent\n      sent:      " +
                    json::serialize(without_added_fields(sent)) +
                    "\n      published: " + json::serialize(without_added_fields(p.data)));
    }
    auto& [stream, seq] = last_answered[till];
    if (stream == p.stream && p.seq <= seq) {
      r.out_of_order.add(till + ": accepted log has " + e.event_id + " after seq " +
                         std::to_string(seq));
    }
    stream = p.stream;
    seq = std::max(seq, p.seq);
  }

  // Published events possim never had answered: only the tail of a till (its last request was
  // still in flight at SIGTERM) is possible.
  for (const auto& [event_id, p] : first) {
    if (answered.count(event_id) != 0) {
      continue;
    }
    const auto it = last_answered.find(p.till);
    if (it != last_answered.end() && it->second.first == p.stream && p.seq > it->second.second) {
      ++r.unanswered;
    } else {
      r.unexpected.add(event_id + " (" + string_field(p.data, "pos_event_id") +
                       "): published but never answered to the POS");
    }
  }
  return r;
}

bool DeliveryReport::ok(bool allow_duplicates) const {
  return missing.count == 0 && out_of_order.count == 0 && content.count == 0 &&
         unexpected.count == 0 && (allow_duplicates || duplicated.count == 0);
}

std::string DeliveryReport::counts() const {
  std::ostringstream out;
  out << "accepted " << accepted << ", messages " << messages << ", published " << published
      << ", duplicates " << duplicates << ", redeliveries " << redeliveries
      << ", published-unanswered " << unanswered << ", missing " << missing.count
      << ", out-of-order " << out_of_order.count << ", content " << content.count << ", unexpected "
      << unexpected.count;
  return out.str();
}

std::string DeliveryReport::findings() const {
  std::ostringstream out;
  const auto section = [&](const char* name, const Findings& f) {
    if (f.count == 0) {
      return;
    }
    out << name << ": " << f.count << " (first " << f.first.size() << ")\n";
    for (const auto& line : f.first) {
      out << "  " << line << '\n';
    }
  };
  section("missing", missing);
  section("duplicated", duplicated);
  section("out of order", out_of_order);
  section("content differs", content);
  section("unexpected", unexpected);
  return out.str();
}

}  // namespace pos::test
