// fleet_bench: scale figures with posfleet (docs/benchmarks.md, "Fleet emulator and scale").
// Starts its own mosquitto (TLS, client certificates, the production config), 1..3 poscollector
// processes with the file sink or the pubsub sink into Google's Pub/Sub emulator (SQLite or
// PostgreSQL marks) and posfleet, then prints posfleet's summary, the CPU and memory of every
// process over posfleet's run, and checks the sink (the files, or a pull of the subscription).
//
//   fleet_bench tills N [options]          N tills against one collector (SQLite marks)
//   fleet_bench collectors K [options]     K collectors (PostgreSQL marks, shared), saturating load
//   fleet_bench marks sqlite|postgres [options]   one collector, saturating load
// options: --tills N --rate R --total-rate R --duration S --batch-events N --connect-rate R
//          --perf collector|mosquitto|posfleet (perf record -g 10 s, 5 s into the offering)
//          --processes P (posfleet processes, each with its own --first-till range)
//          --sink file|emulator (default file) --pull-timeout S (emulator: bound of the check)
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "fleet_harness.hpp"
#include "support/postgres.hpp"

namespace pos::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// The bench's own subscription of the events topic: unordered, so that a pull of hundreds of
/// thousands of messages is not held back per ordering key (order is not what is checked here).
constexpr const char* bench_events_sub = "pos-events-bench";

struct Options {
  std::string mode;
  std::string value;
  std::uint32_t tills = 0;
  std::string rate;
  std::string total_rate;
  int duration = 30;
  std::string batch_events = "100";
  std::string connect_rate = "250";
  std::string perf;
  std::uint32_t processes = 1;
  std::string sink = "file";
  int pull_timeout = 600;
};

[[noreturn]] void usage(const std::string& message) {
  std::cerr << "fleet_bench: " << message
            << "\nusage: fleet_bench tills N | collectors 1..3 | marks sqlite|postgres\n"
               "       [--tills N] [--rate R | --total-rate R] [--duration S] [--batch-events N]\n"
               "       [--connect-rate R] [--perf collector|mosquitto|posfleet] [--processes P]\n"
               "       [--sink file|emulator] [--pull-timeout S]\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  if (argc < 3) {
    usage("missing mode");
  }
  Options o;
  o.mode = argv[1];
  o.value = argv[2];
  for (int i = 3; i < argc; i += 2) {
    const std::string name = argv[i];
    if (i + 1 >= argc) {
      usage(name + ": needs a value");
    }
    const std::string v = argv[i + 1];
    if (name == "--tills") {
      o.tills = static_cast<std::uint32_t>(std::stoul(v));
    } else if (name == "--rate") {
      o.rate = v;
    } else if (name == "--total-rate") {
      o.total_rate = v;
    } else if (name == "--duration") {
      o.duration = std::stoi(v);
    } else if (name == "--batch-events") {
      o.batch_events = v;
    } else if (name == "--connect-rate") {
      o.connect_rate = v;
    } else if (name == "--perf") {
      o.perf = v;
    } else if (name == "--processes") {
      o.processes = static_cast<std::uint32_t>(std::stoul(v));
    } else if (name == "--sink") {
      if (v != "file" && v != "emulator") {
        usage("--sink: file or emulator (got \"" + v + "\")");
      }
      o.sink = v;
    } else if (name == "--pull-timeout") {
      o.pull_timeout = std::stoi(v);
      if (o.pull_timeout < 1) {
        usage("--pull-timeout: at least 1 s");
      }
    } else {
      usage(name + ": unknown option");
    }
  }
  if (o.mode == "tills") {
    o.tills = static_cast<std::uint32_t>(std::stoul(o.value));
    if (o.rate.empty() && o.total_rate.empty()) {
      o.rate = "1";
    }
  } else if (o.mode == "collectors" || o.mode == "marks") {
    if (o.tills == 0) {
      o.tills = 200;
    }
    if (o.rate.empty() && o.total_rate.empty()) {
      o.total_rate = "60000";  // more than one machine's collectors take: a saturating load
    }
  } else {
    usage(o.mode + ": unknown mode");
  }
  return o;
}

/// Process group and utime + stime (all threads, seconds) of a process; cpu 0 when it is gone.
struct ProcStat {
  pid_t ppid = -1;
  pid_t pgrp = -1;
  double cpu = 0;
};
ProcStat proc_stat_text(const std::string& text) {
  const auto close = text.rfind(')');
  if (close == std::string::npos) {
    return {};
  }
  std::istringstream fields(text.substr(close + 2));
  std::string state;
  ProcStat out;
  fields >> state >> out.ppid >> out.pgrp;
  std::string skip;
  for (int i = 6; i < 14; ++i) {
    fields >> skip;
  }
  double utime = 0;
  double stime = 0;
  fields >> utime >> stime;
  out.cpu = (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return out;
}
ProcStat proc_stat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  return proc_stat_text(std::string((std::istreambuf_iterator<char>(in)), {}));
}

double cpu_seconds(pid_t pid) {
  return proc_stat(pid).cpu;
}

/// The CPU of a process and its live children (PostgreSQL: the postmaster and its backends).
double group_cpu_seconds(pid_t parent) {
  double total = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    const auto pid = static_cast<pid_t>(std::stol(name));
    const auto stat = proc_stat(pid);
    if (pid == parent || stat.ppid == parent) {
      total += stat.cpu;
    }
  }
  return total;
}

/// The postmaster listening on `port` (found by its command line), -1 when none.
pid_t postgres_group(std::uint16_t port) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), {});
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.starts_with("/") && cmdline.find("bin/postgres ") != std::string::npos &&
        cmdline.find("bin/postgres ") < cmdline.find(' ') + 1 &&
        cmdline.find("-p " + std::to_string(port) + " ") != std::string::npos) {
      return static_cast<pid_t>(std::stol(name));
    }
  }
  return -1;
}

/// A /proc/PID/status field in MiB (VmHWM, VmRSS).
double status_mib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(field + ":")) {
      return std::stod(line.substr(field.size() + 1)) / 1024.0;
    }
  }
  return 0;
}

/// CPU seconds of a process's threads by name, trailing digits, '#' and '-' dropped ("GC
/// Thread#1" and "GC Thread#0" are "GC Thread"): where a JVM's CPU goes (GC, JIT, requests).
std::map<std::string, double> thread_cpu_by_name(pid_t pid) {
  std::map<std::string, double> out;
  std::error_code ec;
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& entry : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream in(entry.path() / "stat");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    const auto open = text.find('(');
    const auto close = text.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) {
      continue;
    }
    std::string name = text.substr(open + 1, close - open - 1);
    while (!name.empty() &&
           std::string_view("0123456789#- ").find(name.back()) != std::string_view::npos) {
      name.pop_back();
    }
    const auto stat = proc_stat_text(text);
    out[name] += stat.cpu;
  }
  return out;
}

/// What a pull of the events subscription (and the dead-letter one) found.
struct Delivery {
  std::uint64_t messages = 0;
  std::unordered_map<std::string, std::uint32_t> events;  ///< event_id attribute -> publishes
  std::uint64_t redeliveries = 0;  ///< a message id seen again (the subscriber side)
  std::uint64_t no_event_id = 0;
  std::uint64_t dead_letters = 0;
  bool complete = false;  ///< every acknowledged event arrived before the bound
  double seconds = 0;
};

/// Pulls and acknowledges the events subscription until `expected` distinct events arrived and
/// nothing more came for 2 s, or nothing came for 10 s, or `timeout`; keeps only the event ids
/// (a run leaves hundreds of thousands of messages). Then drains the dead-letter subscription.
Delivery pull_delivery(PubSubEmulator& emulator, std::uint64_t expected,
                       std::chrono::seconds timeout) {
  Delivery out;
  std::unordered_set<std::string> message_ids;
  const auto started = Clock::now();
  const auto deadline = started + timeout;
  auto last_message = started;
  while (Clock::now() < deadline) {
    const auto batch = emulator.pull(test_project, bench_events_sub, 1000);
    std::vector<std::string> ack_ids;
    ack_ids.reserve(batch.size());
    for (const auto& m : batch) {
      ack_ids.push_back(m.ack_id);
      ++out.messages;
      if (!message_ids.insert(m.message_id).second) {
        ++out.redeliveries;
        continue;
      }
      const auto id = m.attributes.find("event_id");
      if (id == m.attributes.end()) {
        ++out.no_event_id;
        continue;
      }
      ++out.events[id->second];
    }
    emulator.acknowledge(test_project, bench_events_sub, ack_ids);
    const auto now = Clock::now();
    if (!batch.empty()) {
      last_message = now;
      continue;
    }
    const auto quiet = now - last_message;
    if ((out.events.size() >= expected && quiet >= 2s) || quiet >= 10s) {
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  out.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  out.complete = out.events.size() >= expected;
  for (;;) {
    const auto batch = emulator.pull(test_project, dlq_sub, 1000);
    if (batch.empty()) {
      break;
    }
    std::vector<std::string> ack_ids;
    ack_ids.reserve(batch.size());
    for (const auto& m : batch) {
      ack_ids.push_back(m.ack_id);
    }
    out.dead_letters += batch.size();
    emulator.acknowledge(test_project, dlq_sub, ack_ids);
  }
  return out;
}

/// One poscollector of the run: the file sink, or the pubsub sink into the emulator.
struct BenchCollector {
  std::unique_ptr<FileSinkCollector> file;
  std::unique_ptr<CollectorProcess> pubsub;
  void start() {
    if (file) {
      file->start(60s);
    } else {
      pubsub->start(60s);
    }
  }
  pid_t pid() const { return file ? file->pid() : pubsub->pid(); }
  void terminate() {
    if (file) {
      file->terminate();
    } else {
      pubsub->terminate(60s);  // the sink's drain: what was acknowledged is published already
    }
  }
};

struct Watched {
  std::string name;
  pid_t pid;
  bool group = false;  ///< add the CPU of pid's children
  double cpu_start = 0;
  double cpu_end = 0;
  double hwm_mib = 0;
};

int run(const Options& o) {
  TempDir dir("fleet-bench");
  TestPki pki(dir.path());
  const std::uint32_t collectors = o.mode == "collectors" ? std::stoul(o.value) : 1;
  if (collectors < 1 || collectors > 3) {
    usage("collectors: 1..3");
  }
  const bool postgres = o.mode == "collectors" || (o.mode == "marks" && o.value == "postgres");
  if (o.mode == "marks" && o.value != "sqlite" && o.value != "postgres") {
    usage("marks: sqlite or postgres");
  }
  MosquittoOptions broker_options;
  broker_options.collector_users = {"collector-1", "collector-2", "collector-3"};
  // The production config allows 5000 connections per broker (packaging/mosquitto): 5000 tills
  // and the collectors need more.
  broker_options.extra_config = "max_connections 12000\n";
  MosquittoBroker broker(pki, broker_options);
  std::unique_ptr<PostgresServer> pg;
  std::string marks;
  if (postgres) {
    pg = std::make_unique<PostgresServer>();
    marks = "[marks]\ntype = \"postgres\"\ndsn = \"" + pg->dsn() + "\"\n";
  }
  // The emulator keeps every message in memory until it is pulled: the events topic gets the
  // bench's unordered subscription, the dead-letter topic an ordinary one.
  std::unique_ptr<PubSubEmulator> emulator;
  if (o.sink == "emulator") {
    emulator = std::make_unique<PubSubEmulator>();
    emulator->create_topic(test_project, events_topic);
    emulator->create_topic(test_project, dlq_topic);
    emulator->create_subscription(test_project, bench_events_sub, events_topic, false);
    emulator->create_subscription(test_project, dlq_sub, dlq_topic, false);
  }
  const auto pki_start = Clock::now();
  issue_fleet_pki(pki, dir.path() / "fleet-pki", o.tills);
  std::cerr << "fleet_bench: " << o.tills << " till certificates in "
            << std::chrono::duration<double>(Clock::now() - pki_start).count() << " s\n";

  std::vector<BenchCollector> running;
  std::vector<std::filesystem::path> sinks;
  for (std::uint32_t i = 1; i <= collectors; ++i) {
    const auto id = "collector-" + std::to_string(i);
    BenchCollector collector;
    if (emulator) {
      collector.pubsub = std::make_unique<CollectorProcess>(dir.path() / id, pki, broker.uri(),
                                                            emulator->host_port(),
                                                            std::filesystem::path{}, id, marks);
    } else {
      sinks.push_back(dir.path() / ("sink-" + std::to_string(i)));
      collector.file = std::make_unique<FileSinkCollector>(dir.path() / id, pki, broker.uri(),
                                                           sinks.back(), id, marks);
    }
    collector.start();
    running.push_back(std::move(collector));
  }
  if (postgres && collectors > 1) {
    std::this_thread::sleep_for(8s);  // partitions spread over the live collectors
  }

  // Each posfleet process takes its own range of tills (--first-till).
  const std::uint32_t processes = std::max<std::uint32_t>(1, std::min(o.processes, o.tills));
  std::vector<std::vector<std::string>> process_args;
  for (std::uint32_t p = 0; p < processes; ++p) {
    const std::uint32_t first = o.tills / processes * p;
    const std::uint32_t count = p + 1 == processes ? o.tills - first : o.tills / processes;
    auto args = posfleet_run_args(broker.uri(), pki, dir.path() / "fleet-pki");
    args.insert(
        args.end(),
        {"--tills", std::to_string(count), "--first-till", std::to_string(first), "--duration",
         std::to_string(o.duration), "--batch-events", o.batch_events, "--connect-rate",
         std::to_string(std::stod(o.connect_rate) / static_cast<double>(processes)),
         "--drain-timeout", "60", "--seed", std::to_string(p + 1)});
    if (!o.rate.empty()) {
      args.insert(args.end(), {"--rate", o.rate});
    } else {
      args.insert(args.end(), {"--total-rate", std::to_string(std::stod(o.total_rate) * count /
                                                              static_cast<double>(o.tills))});
    }
    process_args.push_back(std::move(args));
  }
  std::vector<Watched> watched{{"mosquitto", broker.pid()}};
  for (std::uint32_t i = 0; i < collectors; ++i) {
    watched.push_back({"poscollector-" + std::to_string(i + 1), running[i].pid()});
  }
  if (pg) {
    watched.push_back({"postgres", postgres_group(pg->port()), true});
  }
  if (emulator) {
    watched.push_back({"pubsub-emulator", emulator->pid()});  // the launcher execs java
  }
  for (auto& w : watched) {
    w.cpu_start = w.group ? group_cpu_seconds(w.pid) : cpu_seconds(w.pid);
  }
  const auto emulator_threads_start =
      emulator ? thread_cpu_by_name(emulator->pid()) : std::map<std::string, double>{};
  const auto started = Clock::now();
  std::vector<ChildProcess> fleets;
  std::vector<std::filesystem::path> logs;
  for (std::uint32_t p = 0; p < processes; ++p) {
    logs.push_back(dir.path() / ("posfleet-" + std::to_string(p + 1) + ".log"));
    fleets.push_back(start_posfleet(process_args[p], logs.back()));
    watched.push_back(
        {processes == 1 ? std::string("posfleet") : "posfleet-" + std::to_string(p + 1),
         fleets.back().pid()});
  }
  std::optional<ChildProcess> perf;
  if (!o.perf.empty()) {
    pid_t target = fleets.front().pid();
    if (o.perf == "collector") {
      target = running[0].pid();
    } else if (o.perf == "mosquitto") {
      target = broker.pid();
    }
    // Connecting takes tills / connect-rate seconds; start 5 s into the offering.
    const auto delay = std::chrono::duration<double>(o.tills / std::stod(o.connect_rate) + 5.0);
    std::this_thread::sleep_for(delay);
    perf.emplace(
        std::vector<std::string>{"perf", "record", "-F", "499", "-g", "-p", std::to_string(target),
                                 "-o", "/tmp/fleet_bench.perf.data", "--", "sleep", "10"},
        dir.path() / "perf.log");
  }
  // Sample while posfleet runs: its peak RSS and the others' CPU just before it exits.
  const auto any_running = [&fleets] {
    bool any = false;
    for (auto& f : fleets) {
      any = f.running() || any;
    }
    return any;
  };
  while (any_running()) {
    for (auto& w : watched) {
      const double cpu = w.group ? group_cpu_seconds(w.pid) : cpu_seconds(w.pid);
      if (cpu > 0) {
        w.cpu_end = cpu;
        w.hwm_mib = std::max(w.hwm_mib, status_mib(w.pid, "VmHWM"));
      }
    }
    std::this_thread::sleep_for(200ms);
  }
  int code = 0;
  for (auto& f : fleets) {
    code = std::max(code, f.wait());
  }
  const double wall = std::chrono::duration<double>(Clock::now() - started).count();
  const auto emulator_threads_end =
      emulator ? thread_cpu_by_name(emulator->pid()) : std::map<std::string, double>{};
  if (perf) {
    perf->wait();
  }
  // Every process's summary, then the fleet's: sums, and the worst of the maxima and quantiles
  // (a process's p99 is not the fleet's p99; the largest is an upper bound of it).
  std::map<std::string, double> summary;
  std::vector<std::map<std::string, double>> summaries;
  for (std::uint32_t p = 0; p < processes; ++p) {
    if (processes > 1) {
      std::cout << "-- posfleet-" << p + 1 << "\n";
    }
    std::cout << read_text_file(logs[p]);
    summaries.push_back(read_fleet_summary(logs[p]));
    for (const auto& [name, value] : summaries.back()) {
      const bool worst =
          name.starts_with("ack_latency") || name == "connect_time_s" || name == "duration_s";
      summary[name] = worst ? std::max(summary[name], value) : summary[name] + value;
    }
  }
  if (processes > 1) {
    std::cout << "-- all " << processes << " posfleet processes (sums; latency and times: the "
              << "largest of the processes)\n";
    for (const auto& [name, value] : summary) {
      std::cout << name << " " << value << "\n";
    }
  }
  std::cout << "posfleet_exit " << code << "\nwall_s " << wall << "\n";
  for (std::size_t i = 0; i < watched.size(); ++i) {
    const auto& w = watched[i];
    const std::size_t fleet_index = i + processes - watched.size();
    const bool is_fleet = i + processes >= watched.size();
    const double cpu = is_fleet && summaries[fleet_index].contains("cpu_s")
                           ? summaries[fleet_index].at("cpu_s")
                           : w.cpu_end - w.cpu_start;
    std::printf("cpu_%s_s %.1f (%.0f%% of one core over %.0f s)  peak_rss_%s_mib %.1f\n",
                w.name.c_str(), cpu, 100.0 * cpu / wall, wall, w.name.c_str(), w.hwm_mib);
  }
  if (emulator) {
    // Where the JVM's CPU went over the run, by thread name, largest first.
    std::vector<std::pair<double, std::string>> threads;
    for (const auto& [name, cpu] : emulator_threads_end) {
      const auto before = emulator_threads_start.find(name);
      threads.emplace_back(cpu - (before == emulator_threads_start.end() ? 0.0 : before->second),
                           name);
    }
    std::sort(threads.rbegin(), threads.rend());
    for (std::size_t i = 0; i < threads.size() && i < 8; ++i) {
      std::printf("cpu_pubsub-emulator_thread_s %.1f %s\n", threads[i].first,
                  threads[i].second.c_str());
    }
  }
  for (auto& c : running) {
    c.terminate();
  }
  const double acked = summary.contains("events_acked") ? summary.at("events_acked") : -1;
  std::size_t distinct = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t dead_letters = 0;
  if (emulator) {
    const double cpu_before = cpu_seconds(emulator->pid());
    const auto delivery =
        pull_delivery(*emulator, acked < 0 ? 0 : static_cast<std::uint64_t>(acked),
                      std::chrono::seconds(o.pull_timeout));
    distinct = delivery.events.size();
    for (const auto& [id, copies] : delivery.events) {
      duplicates += copies - 1;
    }
    dead_letters = delivery.dead_letters;
    std::printf(
        "subscription_messages %llu\nsubscription_redeliveries %llu\nsubscription_no_event_id "
        "%llu\nsubscription_pull_s %.1f (%.0f messages/s; emulator %.1f CPU-s)\n"
        "subscription_pull_complete %s\n",
        static_cast<unsigned long long>(delivery.messages),
        static_cast<unsigned long long>(delivery.redeliveries),
        static_cast<unsigned long long>(delivery.no_event_id), delivery.seconds,
        static_cast<double>(delivery.messages) / std::max(delivery.seconds, 0.001),
        cpu_seconds(emulator->pid()) - cpu_before,
        delivery.complete ? "yes" : "NO (bounded by --pull-timeout)");
  } else {
    const auto sink = count_sink(sinks);
    distinct = sink.events.size();
    for (const auto& [id, copies] : sink.events) {
      duplicates += copies - 1;
    }
    dead_letters = sink.dead_letters;
  }
  std::cout << "sink_events_distinct " << distinct << "\nsink_duplicates " << duplicates
            << "\nsink_dead_letters " << dead_letters << "\n";
  const bool complete = static_cast<double>(distinct) == acked;
  std::cout << "sink_matches_acked " << (complete ? "yes" : "NO") << "\n";
  return code == 0 && complete ? 0 : 1;
}

}  // namespace
}  // namespace pos::test

int main(int argc, char** argv) {
  try {
    return pos::test::run(pos::test::parse(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "fleet_bench: " << e.what() << "\n";
    return 1;
  }
}
