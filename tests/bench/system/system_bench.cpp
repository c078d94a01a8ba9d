#include "system_bench.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "fleet.hpp"
#include "ingest_client.hpp"
#include "integration/collector_harness.hpp"
#include "support/process.hpp"

namespace pos::bench {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Nearest-rank percentile of sorted values (q in 0..1); 0 when empty.
double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) {
    return 0;
  }
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

/// An RFC 3339 UTC time ("2026-11-22T05:40:00.123456Z") as Unix milliseconds; nullopt when it is
/// not of that form.
std::optional<double> rfc3339_utc_ms(std::string_view text) {
  std::tm tm{};
  int consumed = 0;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  double ms = static_cast<double>(::timegm(&tm)) * 1000.0;
  auto at = static_cast<std::size_t>(consumed);
  if (at < s.size() && s[at] == '.') {
    double scale = 100.0;
    for (++at; at < s.size() && s[at] >= '0' && s[at] <= '9'; ++at, scale /= 10) {
      ms += (s[at] - '0') * scale;
    }
  }
  if (at >= s.size() || s[at] != 'Z') {
    return std::nullopt;
  }
  return ms;
}

/// Starts `perf record` (DWARF call graphs) on a process for the measured window (stopped by the
/// destructor).
std::optional<test::ChildProcess> start_perf(const std::string& output, pid_t pid,
                                             const fs::path& log) {
  if (output.empty()) {
    return std::nullopt;
  }
  std::optional<test::ChildProcess> perf;
  // DWARF call graphs: the programs are built without frame pointers.
  perf.emplace(std::vector<std::string>{"perf", "record", "-F", "499", "--call-graph", "dwarf,8192",
                                        "-o", output, "-p", std::to_string(pid)},
               log);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  return perf;
}

struct CpuWatch {
  explicit CpuWatch(std::vector<pid_t> pids) : m_pids(std::move(pids)) {
    for (const pid_t pid : m_pids) {
      m_start.push_back(cpu_seconds(pid));
    }
  }
  /// CPU seconds of all the processes since construction.
  double used() const {
    double sum = 0;
    for (std::size_t i = 0; i < m_pids.size(); ++i) {
      sum += cpu_seconds(m_pids[i]) - m_start[i];
    }
    return sum;
  }
  std::vector<pid_t> m_pids;
  std::vector<double> m_start;
};

std::vector<pid_t> agent_pids(const Fleet& fleet) {
  std::vector<pid_t> pids;
  for (std::size_t i = 0; i < fleet.tills(); ++i) {
    pids.push_back(fleet.agent_pid(i));
  }
  return pids;
}

struct PulledEvent {
  std::string event_id;
  double publish_ms = 0;    ///< the emulator's publishTime
  double collected_ms = 0;  ///< the event's `collected_at` (collector, before it submits); 0: none
};

/// The `collected_at` value of an event's data, as Unix ms; 0 when missing.
double collected_at_ms(std::string_view data) {
  constexpr std::string_view key = R"("collected_at":")";
  const auto at = data.find(key);
  const auto end = at == std::string_view::npos ? at : data.find('"', at + key.size());
  if (end == std::string_view::npos) {
    return 0;
  }
  return rfc3339_utc_ms(data.substr(at + key.size(), end - at - key.size())).value_or(0);
}

/// Pulls (and acknowledges) the events subscription until `expected` messages arrived or the
/// timeout; keeps each message's event_id attribute and publishTime.
std::vector<PulledEvent> pull_events(test::PubSubEmulator& emulator, std::size_t expected,
                                     std::chrono::seconds timeout) {
  const std::string target = std::string("/v1/projects/") + test::test_project + "/subscriptions/" +
                             test::events_sub + ":pull";
  const auto deadline = Clock::now() + timeout;
  std::vector<PulledEvent> out;
  while (out.size() < expected && Clock::now() < deadline) {
    const auto reply =
        emulator.request("POST", target, R"({"maxMessages":1000,"returnImmediately":true})");
    if (reply.status != 200) {
      throw std::runtime_error("pull answered " + std::to_string(reply.status) + ": " + reply.body);
    }
    const json::value parsed = json::parse(reply.body);
    const auto* received = parsed.as_object().if_contains("receivedMessages");
    if (received == nullptr || received->as_array().empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    std::vector<std::string> ack_ids;
    for (const auto& item : received->as_array()) {
      const auto& message = item.at("message").as_object();
      ack_ids.emplace_back(item.at("ackId").as_string());
      PulledEvent event;
      if (const auto* attrs = message.if_contains("attributes")) {
        if (const auto* id = attrs->as_object().if_contains("event_id")) {
          event.event_id = std::string(id->as_string());
        }
      }
      const auto time = rfc3339_utc_ms(message.at("publishTime").as_string());
      if (!time) {
        throw std::runtime_error("unreadable publishTime " +
                                 json::serialize(message.at("publishTime")));
      }
      event.publish_ms = *time;
      if (const auto* data = message.if_contains("data"); data != nullptr && data->is_string()) {
        event.collected_ms = collected_at_ms(test::base64_decode(data->get_string()));
      }
      out.push_back(std::move(event));
    }
    emulator.acknowledge(test::test_project, test::events_sub, ack_ids);
  }
  return out;
}

/// Waits until the collector's events_published_total reaches `target`; false after the timeout.
bool wait_published(const Fleet& fleet, double target, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (metric(fleet.collector_metrics(), "poscollector_events_published_total") < target) {
    if (Clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

void print_collector_counters(const Metrics& m) {
  for (const char* name :
       {"poscollector_batches_received_total", "poscollector_batches_acked_total",
        "poscollector_batches_duplicate_total", "poscollector_batches_gap_total",
        "poscollector_batches_dropped_busy_total", "poscollector_events_published_total",
        "poscollector_events_dead_lettered_total", "poscollector_events_duplicate_total",
        "poscollector_acks_sent_total", "poscollector_ack_failures_total"}) {
    std::cout << "  " << name << " " << metric(m, name) << "\n";
  }
}

/// The first `count` tills of `possim layout` (possim posts only to tills of its layout).
std::vector<std::pair<std::string, std::string>> possim_tills(const std::string& possim,
                                                              int count) {
  test::TempDir dir("possim-layout");
  test::ChildProcess layout({possim, "layout"}, dir.path() / "layout.txt");
  if (layout.wait() != 0) {
    throw std::runtime_error("possim layout failed: " +
                             test::read_text_file(dir.path() / "layout.txt"));
  }
  std::istringstream in(test::read_text_file(dir.path() / "layout.txt"));
  std::vector<std::pair<std::string, std::string>> tills;
  std::string store;
  std::string till;
  while (static_cast<int>(tills.size()) < count && in >> store >> till) {
    tills.emplace_back(store, till);
  }
  if (static_cast<int>(tills.size()) < count) {
    throw std::runtime_error("possim layout has only " + std::to_string(tills.size()) + " tills");
  }
  return tills;
}

/// The live load from the real `possim run`; accepted events from its --accepted-log.
LoadResult run_possim(const Fleet& fleet, const LiveOptions& o) {
  const fs::path log = fleet.dir() / "possim-accepted.ndjson";
  std::vector<std::string> argv{o.possim, "run"};
  for (const auto& till : fleet.targets()) {
    argv.push_back("--agent");
    argv.push_back(till.store + "/" + till.till + "=http://127.0.0.1:" + std::to_string(till.port));
  }
  for (const std::string& arg :
       {std::string("--rate"), std::to_string(o.rate * o.tills), std::string("--duration"),
        std::to_string(o.duration_s), std::string("--batch"), std::to_string(o.events_per_request),
        std::string("--accepted-log"), log.string()}) {
    argv.push_back(arg);
  }
  const auto start = Clock::now();
  test::ChildProcess possim(argv, fleet.dir() / "possim.log");
  const int status = possim.wait();
  LoadResult result;
  result.wall_s = seconds_since(start);
  if (status != 0) {
    throw std::runtime_error("possim exited with " + std::to_string(status) + "; log:\n" +
                             test::read_text_file(fleet.dir() / "possim.log"));
  }
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);) {
    const json::value v = json::parse(line);
    const auto& obj = v.as_object();
    if (obj.at("status").as_string() != "accepted") {
      ++result.events_duplicate;
      continue;
    }
    ++result.events_accepted;
    result.accepted.push_back({std::string(obj.at("event_id").as_string()),
                               obj.at("answered_at_ms").to_number<std::int64_t>()});
  }
  return result;
}

}  // namespace

int run_live(const LiveOptions& o) {
  std::cout << "live: " << o.tills << " tills x " << o.rate << " events/s, " << o.events_per_request
            << " event(s) per request, " << o.duration_s << " s, dictionary "
            << (o.dictionary ? "on" : "off") << ", load from "
            << (o.possim.empty() ? "system_bench's client" : o.possim) << "\n";
  FleetOptions fleet_options{o.tills, "pubsub", o.dictionary, true, 10000, {}};
  if (!o.possim.empty()) {
    fleet_options.till_ids = possim_tills(o.possim, o.tills);
  }
  Fleet fleet(fleet_options);
  fleet.start_collector();
  fleet.start_agents();
  if (!fleet.wait_agents_connected(std::chrono::seconds(60))) {
    throw std::runtime_error("not every agent connected to the broker within 60 s");
  }
  const Metrics agents_before = fleet.agent_metrics_sum();
  const Metrics collector_before = fleet.collector_metrics();
  const std::string load_before = load_averages();
  CpuWatch collector_cpu({fleet.collector_pid()});
  CpuWatch broker_cpu({fleet.broker().pid()});
  CpuWatch emulator_cpu({fleet.emulator()->pid()});
  CpuWatch agents_cpu(agent_pids(fleet));
  auto perf = start_perf(o.perf_output, fleet.collector_pid(), fleet.dir() / "perf.log");

  LoadOptions load;
  load.events_per_request = o.events_per_request;
  load.events_per_second_per_till = o.rate;
  load.duration = std::chrono::seconds(o.duration_s);
  const LoadResult result =
      o.possim.empty() ? run_ingest_load(fleet.targets(), load) : run_possim(fleet, o);
  const double published_before = metric(collector_before, "poscollector_events_published_total");
  const bool all_published =
      wait_published(fleet, published_before + static_cast<double>(result.events_accepted),
                     std::chrono::seconds(60));
  const double wall_s = result.wall_s;
  const std::string load_after = load_averages();
  const double cpu_collector = collector_cpu.used();
  const double cpu_broker = broker_cpu.used();
  const double cpu_emulator = emulator_cpu.used();
  const double cpu_agents = agents_cpu.used();
  if (perf) {
    perf->terminate(std::chrono::seconds(60));
  }
  const Metrics agents_after = fleet.agent_metrics_sum();
  const Metrics collector_after = fleet.collector_metrics();
  const std::string stats = fleet.collector_stats();

  const auto pull_start = Clock::now();
  const auto pulled =
      pull_events(*fleet.emulator(), result.accepted.size(), std::chrono::seconds(120));
  const double pull_s = seconds_since(pull_start);
  std::unordered_map<std::string, const PulledEvent*> published;
  for (const auto& event : pulled) {
    published.emplace(event.event_id, &event);
  }
  std::vector<double> latency_ms;
  std::vector<double> to_collector_ms;  // POS 200 -> collected_at
  std::vector<double> in_sink_ms;       // collected_at -> publishTime
  std::size_t missing = 0;
  for (const auto& event : result.accepted) {
    const auto it = published.find(event.event_id);
    if (it == published.end()) {
      ++missing;
      continue;
    }
    const auto answered = static_cast<double>(event.answered_at_ms);
    latency_ms.push_back(it->second->publish_ms - answered);
    if (it->second->collected_ms > 0) {
      to_collector_ms.push_back(it->second->collected_ms - answered);
      in_sink_ms.push_back(it->second->publish_ms - it->second->collected_ms);
    }
  }
  for (auto* values : {&latency_ms, &to_collector_ms, &in_sink_ms}) {
    std::sort(values->begin(), values->end());
  }
  std::vector<double> request_ms = result.request_latency_ms;
  std::sort(request_ms.begin(), request_ms.end());

  const auto delta = [&](const std::string& name) {
    return metric(agents_after, name) - metric(agents_before, name);
  };
  const double raw = delta("posagent_raw_bytes_sent_total");
  const double sent = delta("posagent_bytes_sent_total");
  const double batches = delta("posagent_batches_sent_total");
  const double events_sent = delta("posagent_events_sent_total");
  const double latency_sum = metric(collector_after, "poscollector_publish_latency_seconds_sum") -
                             metric(collector_before, "poscollector_publish_latency_seconds_sum");
  const double latency_count =
      metric(collector_after, "poscollector_publish_latency_seconds_count") -
      metric(collector_before, "poscollector_publish_latency_seconds_count");

  std::cout << "  accepted " << result.events_accepted << " events in " << result.requests
            << " requests (" << result.retried_requests << " retried, " << result.events_rejected
            << " rejected) in " << wall_s
            << " s = " << static_cast<double>(result.events_accepted) / wall_s << " events/s\n"
            << "  ingest answer ms p50 " << percentile(request_ms, 0.5) << " p99 "
            << percentile(request_ms, 0.99) << "\n"
            << "  pulled " << pulled.size() << " messages in " << pull_s << " s; matched "
            << latency_ms.size() << ", missing " << missing << "\n"
            << "  POS 200 -> Pub/Sub publishTime ms: p50 " << percentile(latency_ms, 0.5) << " p90 "
            << percentile(latency_ms, 0.9) << " p99 " << percentile(latency_ms, 0.99) << " max "
            << (latency_ms.empty() ? 0 : latency_ms.back()) << " min "
            << (latency_ms.empty() ? 0 : latency_ms.front()) << "\n"
            << "  of which POS 200 -> collected_at (agent, broker, collector intake) ms: p50 "
            << percentile(to_collector_ms, 0.5) << " p99 " << percentile(to_collector_ms, 0.99)
            << "; collected_at -> publishTime (sink, emulator) ms: p50 "
            << percentile(in_sink_ms, 0.5) << " p99 " << percentile(in_sink_ms, 0.99) << "\n"
            << "  collector sink submit -> completion mean ms "
            << (latency_count > 0 ? 1000 * latency_sum / latency_count : 0) << "\n"
            << "  agents: " << batches << " batches, " << events_sent << " events sent ("
            << (batches > 0 ? events_sent / batches : 0) << " per batch), raw " << raw
            << " B, on the wire " << sent << " B, ratio " << (sent > 0 ? raw / sent : 0)
            << ", resends " << delta("posagent_resends_total") << "\n"
            << "  CPU s: collector " << cpu_collector << ", broker " << cpu_broker << ", emulator "
            << cpu_emulator << ", agents " << cpu_agents << "\n"
            << "  load average before " << load_before << ", after " << load_after << "\n";
  if (!stats.empty()) {
    std::cout << "  collector /v1/stats " << stats << "\n";
  }
  print_collector_counters(collector_after);
  std::printf(
      "RESULT scenario=live tills=%d rate=%g events_per_request=%zu dictionary=%d "
      "accepted=%llu matched=%zu missing=%zu p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f "
      "to_collector_p50_ms=%.1f to_collector_p99_ms=%.1f events_per_batch=%.2f ratio=%.2f "
      "collector_cpu_pct=%.0f load=\"%s\"\n",
      o.tills, o.rate, o.events_per_request, o.dictionary ? 1 : 0,
      static_cast<unsigned long long>(result.events_accepted), latency_ms.size(), missing,
      percentile(latency_ms, 0.5), percentile(latency_ms, 0.9), percentile(latency_ms, 0.99),
      latency_ms.empty() ? 0.0 : latency_ms.back(), percentile(to_collector_ms, 0.5),
      percentile(to_collector_ms, 0.99), batches > 0 ? events_sent / batches : 0.0,
      sent > 0 ? raw / sent : 0.0, 100 * cpu_collector / wall_s, load_after.c_str());
  std::fflush(stdout);
  const bool ok =
      all_published && missing == 0 && result.events_accepted > 0 && result.events_rejected == 0;
  if (!ok) {
    std::cout << "FAILED: " << (all_published ? "" : "collector did not publish every event; ")
              << missing << " accepted events not found in Pub/Sub\n";
  }
  return ok ? 0 : 1;
}

namespace {

struct SinkCheck {
  std::uint64_t lines = 0;
  std::uint64_t dead_letters = 0;
  std::uint64_t unique_ids = 0;
};

/// Reads every file of the file sink; counts event lines, dead letters and distinct event_ids.
SinkCheck check_file_sink(const fs::path& dir) {
  SinkCheck check;
  std::unordered_set<std::string> ids;
  constexpr std::string_view key = R"("event_id":")";
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) {
      if (line.find(R"("destination":"pos-events-dlq")") != std::string::npos) {
        ++check.dead_letters;
        continue;
      }
      ++check.lines;
      const auto at = line.find(key);
      const auto end = at == std::string::npos ? at : line.find('"', at + key.size());
      if (end != std::string::npos) {
        ids.insert(line.substr(at + key.size(), end - at - key.size()));
      }
    }
  }
  check.unique_ids = ids.size();
  return check;
}

}  // namespace

int run_drain(const DrainOptions& o) {
  const std::uint64_t total = o.events_per_till * static_cast<std::uint64_t>(o.tills);
  std::cout << "drain: " << o.tills << " tills x " << o.events_per_till << " events = " << total
            << ", sink " << o.sink << "\n";
  Fleet fleet({o.tills, o.sink, false, false, 10000, {}});
  // The collector's persistent session (its shared subscription) exists before the backlog is
  // built, so the broker queues the first batches for it even if a till reconnects first.
  fleet.start_collector();
  fleet.stop_collector();
  fleet.broker().stop();
  fleet.start_agents();

  const auto fill_start = Clock::now();
  LoadOptions fill;
  fill.events_per_request = o.fill_events_per_request;
  fill.events_per_till = o.events_per_till;
  fill.record_events = false;
  const LoadResult filled = run_ingest_load(fleet.targets(), fill);
  const Metrics backlog = fleet.agent_metrics_sum();
  std::cout << "  backlog built while the broker was down: " << filled.events_accepted
            << " events accepted in " << seconds_since(fill_start) << " s; agents report "
            << metric(backlog, "posagent_backlog_events") << " unacked events, "
            << metric(backlog, "posagent_backlog_bytes") / 1048576.0 << " MiB, broker connected "
            << metric(backlog, "posagent_broker_connected") << "/" << o.tills << "\n";
  std::cout << "  fill requests " << filled.requests << ", retried " << filled.retried_requests
            << ", events duplicate " << filled.events_duplicate << ", rejected "
            << filled.events_rejected << "\n";
  if (filled.events_accepted + filled.events_duplicate != total ||
      metric(backlog, "posagent_backlog_events") != static_cast<double>(total)) {
    for (std::size_t i = 0; i < fleet.tills(); ++i) {
      const Metrics m = fleet.agent_metrics(i);
      std::cout << "  " << fleet.targets()[i].store << "/" << fleet.targets()[i].till
                << " last_seq " << metric(m, "posagent_last_seq") << " backlog "
                << metric(m, "posagent_backlog_events") << " accepted "
                << metric(m, "posagent_events_accepted_total") << " duplicate "
                << metric(m, "posagent_events_duplicate_total") << " 503s "
                << metric(m, "posagent_ingest_unavailable_total") << "\n";
    }
    throw std::runtime_error("backlog not as expected (agent dirs: " + fleet.dir().string() + ")");
  }

  const std::string load_before = load_averages();
  fleet.start_collector(false);
  const auto up = Clock::now();
  fleet.broker().start();
  CpuWatch collector_cpu({fleet.collector_pid()});
  CpuWatch broker_cpu({fleet.broker().pid()});
  CpuWatch agents_cpu(agent_pids(fleet));
  auto perf = start_perf(o.perf_output, fleet.collector_pid(), fleet.dir() / "perf.log");

  std::optional<Clock::time_point> first_batch;
  std::optional<Clock::time_point> all_published;
  std::optional<Clock::time_point> all_acked;
  const auto give_up = up + std::chrono::seconds(o.max_run_s);
  while (!all_acked && Clock::now() < give_up) {
    const Metrics m = fleet.collector_metrics();
    const auto now = Clock::now();
    // The first batch an agent sent (the collector may see it later: broker queueing).
    if (!first_batch && (metric(m, "poscollector_batches_received_total") > 0 ||
                         metric(fleet.agent_metrics_sum(), "posagent_batches_sent_total") > 0)) {
      first_batch = now;
    }
    if (!all_published &&
        metric(m, "poscollector_events_published_total") >= static_cast<double>(total)) {
      all_published = now;
    }
    if (all_published) {
      const Metrics agents = fleet.agent_metrics_sum();
      if (metric(agents, "posagent_backlog_events") == 0) {
        all_acked = Clock::now();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(all_published ? 100 : 50));
  }
  const double cpu_collector = collector_cpu.used();
  const double cpu_broker = broker_cpu.used();
  const double cpu_agents = agents_cpu.used();
  const std::string load_after = load_averages();
  if (perf) {
    perf->terminate(std::chrono::seconds(60));
  }
  const Metrics collector = fleet.collector_metrics();
  const Metrics agents = fleet.agent_metrics_sum();
  const auto secs = [](Clock::time_point from, const std::optional<Clock::time_point>& to) {
    return to ? std::chrono::duration<double>(*to - from).count() : -1.0;
  };
  const double first_s = secs(up, first_batch);
  const double to_published_s = first_batch ? secs(*first_batch, all_published) : -1;
  const double to_acked_s = first_batch ? secs(*first_batch, all_acked) : -1;
  const auto n = static_cast<double>(total);
  std::cout << "  broker up -> first batch sent " << first_s << " s\n"
            << "  first batch -> all published " << to_published_s
            << " s = " << (to_published_s > 0 ? n / to_published_s : 0) << " events/s\n"
            << "  first batch -> every agent's backlog 0 (last ack) " << to_acked_s
            << " s = " << (to_acked_s > 0 ? n / to_acked_s : 0) << " events/s\n"
            << "  CPU s: collector " << cpu_collector << " ("
            << (to_acked_s > 0 ? 100 * cpu_collector / (to_acked_s + first_s) : 0)
            << "% of one core), broker " << cpu_broker << ", agents " << cpu_agents << "\n"
            << "  agents: resends " << metric(agents, "posagent_resends_total") << ", batches "
            << metric(agents, "posagent_batches_sent_total") << ", backlog left "
            << metric(agents, "posagent_backlog_events") << "\n"
            << "  load average before " << load_before << ", after " << load_after << "\n";
  print_collector_counters(collector);

  bool ok = all_acked.has_value() &&
            metric(collector, "poscollector_events_published_total") == n &&
            metric(collector, "poscollector_events_dead_lettered_total") == 0;
  std::string verified = "collector counters";
  if (o.sink == "file") {
    const SinkCheck check = check_file_sink(fleet.sink_dir());
    verified = std::to_string(check.lines) + " lines, " + std::to_string(check.unique_ids) +
               " distinct event_ids, " + std::to_string(check.dead_letters) + " dead letters";
    ok = ok && check.lines == total && check.unique_ids == total && check.dead_letters == 0;
  }
  std::cout << "  verified: " << verified << "\n";
  std::printf(
      "RESULT scenario=drain sink=%s tills=%d events=%llu first_batch_after_s=%.2f "
      "published_s=%.2f published_events_per_s=%.0f acked_s=%.2f acked_events_per_s=%.0f "
      "collector_cpu_s=%.2f agent_resends=%.0f ok=%d load=\"%s\"\n",
      o.sink.c_str(), o.tills, static_cast<unsigned long long>(total), first_s, to_published_s,
      to_published_s > 0 ? n / to_published_s : 0.0, to_acked_s,
      to_acked_s > 0 ? n / to_acked_s : 0.0, cpu_collector,
      metric(agents, "posagent_resends_total"), ok ? 1 : 0, load_after.c_str());
  std::fflush(stdout);
  if (!ok) {
    const std::string log = fleet.collector_log();
    std::cout << "FAILED: not every event arrived exactly once (see above); collector log tail:\n"
              << log.substr(log.size() > 4000 ? log.size() - 4000 : 0) << "\n";
  }
  return ok ? 0 : 1;
}

int run_smoke() {
  DrainOptions drain;
  drain.tills = 2;
  drain.events_per_till = 1000;
  drain.fill_events_per_request = 100;
  drain.max_run_s = 60;
  LiveOptions live;
  live.tills = 2;
  live.rate = 20;
  live.duration_s = 3;
  live.dictionary = true;
  const int drain_rc = run_drain(drain);
  const int live_rc = run_live(live);
  return drain_rc == 0 && live_rc == 0 ? 0 : 1;
}

}  // namespace pos::bench
