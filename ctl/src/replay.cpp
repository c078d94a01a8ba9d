#include "pos/ctl/replay.hpp"

#include <boost/json.hpp>
#include <thread>

#include "pos/common/http_get.hpp"
#include "pos/ctl/commands.hpp"

namespace pos::ctl {
namespace {

namespace json = boost::json;

constexpr std::size_t max_answer_bytes = std::size_t{4} * 1024 * 1024;

int failed(std::ostream& err, const std::string& message, int code) {
  err << "posctl replay: " << message << "\n";
  return code;
}

std::string text_of(const json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::int64_t number_of(const json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  return v != nullptr && v->is_int64() ? v->get_int64() : 0;
}

/// "done, 30 of 30 events published again" and the like.
std::string describe(const json::object& entry) {
  std::string line = "replay " + text_of(entry, "id") + " of " + text_of(entry, "store_id") + "/" +
                     text_of(entry, "till_id") + ": " + text_of(entry, "state");
  const auto* progress = entry.if_contains("progress");
  if (progress != nullptr && progress->is_object()) {
    const auto& p = progress->get_object();
    if (number_of(p, "events_total") > 0) {
      line += ", " + std::to_string(number_of(p, "events_replayed")) + " of " +
              std::to_string(number_of(p, "events_total")) + " events published again (seqs " +
              std::to_string(number_of(p, "from_seq")) + ".." +
              std::to_string(number_of(p, "to_seq")) + ")";
    }
  }
  return line;
}

std::optional<json::object> parse_object(const std::string& body) {
  boost::system::error_code ec;
  auto doc = json::parse(body, ec);
  if (ec || !doc.is_object()) {
    return std::nullopt;
  }
  return std::move(doc.as_object());
}

}  // namespace

int replay(const ReplayArgs& args, std::ostream& out, std::ostream& err) {
  const bool by_time = args.from || args.to;
  const bool by_seq = args.from_seq || args.to_seq;
  if (by_time == by_seq) {
    return failed(err, "give either --from and --to, or --from-seq and --to-seq", exit_usage);
  }
  if (by_time && (!args.from || !args.to)) {
    return failed(err, args.from ? "--to is required with --from" : "--from is required with --to",
                  exit_usage);
  }
  if (by_seq && (!args.from_seq || !args.to_seq)) {
    return failed(err,
                  args.from_seq ? "--to-seq is required with --from-seq"
                                : "--from-seq is required with --to-seq",
                  exit_usage);
  }
  json::object request;
  request.emplace("till", args.till);
  if (by_time) {
    request.emplace("from", *args.from);
    request.emplace("to", *args.to);
  } else {
    request.emplace("from_seq", *args.from_seq);
    request.emplace("to_seq", *args.to_seq);
  }
  if (args.id) {
    request.emplace("id", *args.id);
  }
  auto answer = common::http_call(
      args.url,
      common::HttpCall{"POST", "/v1/replays", "application/json", json::serialize(request)},
      max_answer_bytes);
  if (!answer) {
    return failed(err, answer.error().message, exit_failure);
  }
  auto entry = parse_object(answer->body);
  if (answer->status != 200 && answer->status != 202) {
    const std::string why = entry ? text_of(*entry, "error") : answer->body;
    return failed(err, "the collector answered " + std::to_string(answer->status) + ": " + why,
                  answer->status == 400 ? exit_usage : exit_failure);
  }
  if (!entry) {
    return failed(err, "the collector's answer is not a JSON object", exit_failure);
  }
  const std::string id = text_of(*entry, "id");
  out << describe(*entry) << "\n";
  if (!args.wait) {
    return exit_ok;
  }
  const auto deadline = std::chrono::steady_clock::now() + args.wait_timeout;
  std::string last_line = describe(*entry);
  while (true) {
    const std::string state = text_of(*entry, "state");
    if (state == "done") {
      return exit_ok;
    }
    if (state == "refused") {
      return failed(err, "refused by the till: " + text_of(*entry, "error"), exit_failure);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return failed(err, "still " + state + " after the wait timeout", exit_failure);
    }
    std::this_thread::sleep_for(args.poll_interval);
    auto listing = common::http_get(args.url, "/v1/replays?till=" + args.till + "&limit=1000",
                                    max_answer_bytes);
    if (!listing) {
      err << "posctl replay: " << listing.error().message << " (retrying)\n";
      continue;
    }
    const auto doc = parse_object(*listing);
    const auto* replays = doc ? doc->if_contains("replays") : nullptr;
    if (replays == nullptr || !replays->is_array()) {
      continue;
    }
    for (const auto& e : replays->get_array()) {
      if (e.is_object() && text_of(e.get_object(), "id") == id) {
        entry = e.get_object();
      }
    }
    if (const std::string line = describe(*entry); line != last_line) {
      out << line << "\n";
      last_line = line;
    }
  }
}

}  // namespace pos::ctl
