// Collector throughput: a private mosquitto (TLS, client certificates, ACL), optionally a Pub/Sub
// emulator, and a real poscollector with a file or pubsub sink. N fake tills publish pre-encoded
// batches (zstd, no dictionary) with a window of unacked batches like the agent (go-back-N after
// an ack timeout) and wait for the acks. Measures wall time from the first publish to the last
// ack, the collector's CPU time (/proc/PID/stat) and peak RSS (VmHWM). Not a ctest test; see
// docs/benchmarks.md ("Collector").
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "event_mix.hpp"
#include "integration/collector_harness.hpp"
#include "pos/protocol/batch.hpp"
#include "pos/protocol/event.hpp"
#include "pos/protocol/messages.hpp"
#include "support/mosquitto.hpp"
#include "support/mqtt_client.hpp"
#include "support/pki.hpp"
#include "support/process.hpp"
#include "support/pubsub_emulator.hpp"

namespace {

using namespace pos::test;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string sink = "file";
  int tills = 40;
  std::uint32_t batch_events = 100;
  std::uint64_t events_per_till = 5000;
  int window = 8;
  int ack_timeout_ms = 10000;
  int max_run_s = 300;
  bool verify = false;
  std::string perf_output;  // non-empty: perf record -g -p COLLECTOR into this file
  // Non-empty: the collector runs under valgrind --tool=callgrind; the counters are zeroed at the
  // start of the measured window and dumped at its end into this file with the suffix ".1".
  std::string callgrind_output;
  std::string collector_bin = POSCOLLECTOR_BIN;  // --collector-bin: e.g. a baseline build
};

[[noreturn]] void usage(const std::string& error) {
  std::cerr << "collector_load: " << error
            << "\nusage: collector_load [--sink file|pubsub] [--tills N] [--batch-events N]\n"
               "         [--events-per-till N] [--window N] [--ack-timeout-ms N] [--max-run-s N]\n"
               "         [--verify] [--perf FILE] [--callgrind FILE] [--collector-bin PATH]\n";
  std::exit(2);
}

std::uint64_t parse_number(std::string_view flag, std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value == 0) {
    usage(std::string(flag) + ": expected a positive integer");
  }
  return value;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) {
        usage(std::string(flag) + ": missing value");
      }
      return argv[++i];
    };
    if (flag == "--sink") {
      o.sink = value();
      if (o.sink != "file" && o.sink != "pubsub") {
        usage("--sink: file or pubsub");
      }
    } else if (flag == "--tills") {
      o.tills = static_cast<int>(parse_number(flag, value()));
    } else if (flag == "--batch-events") {
      o.batch_events = static_cast<std::uint32_t>(parse_number(flag, value()));
    } else if (flag == "--events-per-till") {
      o.events_per_till = parse_number(flag, value());
    } else if (flag == "--window") {
      o.window = static_cast<int>(parse_number(flag, value()));
    } else if (flag == "--ack-timeout-ms") {
      o.ack_timeout_ms = static_cast<int>(parse_number(flag, value()));
    } else if (flag == "--max-run-s") {
      o.max_run_s = static_cast<int>(parse_number(flag, value()));
    } else if (flag == "--verify") {
      o.verify = true;
    } else if (flag == "--perf") {
      o.perf_output = value();
    } else if (flag == "--callgrind") {
      o.callgrind_output = value();
    } else if (flag == "--collector-bin") {
      o.collector_bin = value();
    } else {
      usage("unknown argument " + std::string(flag));
    }
  }
  return o;
}

// utime + stime of a process in seconds (0 when it cannot be read).
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  if (paren == std::string::npos) {
    return 0;
  }
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  // After "comm)": state(3) ... utime is field 14, stime 15 (1-based over the whole line).
  for (int index = 3; index <= 15 && fields >> field; ++index) {
    if (index == 14) {
      utime = std::stoull(field);
    } else if (index == 15) {
      stime = std::stoull(field);
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A "Vm..." value of /proc/PID/status in MiB (0 when missing).
double status_mib(pid_t pid, std::string_view key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(key) && line.size() > key.size() && line[key.size()] == ':') {
      return static_cast<double>(std::stoull(line.substr(key.size() + 1))) / 1024.0;
    }
  }
  return 0;
}

struct Till {
  std::string store;
  std::string till;
  std::uint64_t epoch = 0;
  std::vector<std::string> batches;  // encoded; batch i covers seqs [i*B+1, (i+1)*B]
  std::vector<std::uint64_t> last_seq;
  std::unique_ptr<TestMqttClient> client;
  // Results.
  Clock::time_point done_at{};
  std::uint64_t acked = 0;
  std::uint64_t published_batches = 0;
  std::uint64_t resends = 0;
  std::string error;
};

void run_till(Till& t, const Options& o, Clock::time_point give_up) {
  try {
    const std::string batch_topic = "pos/v1/" + t.store + "/" + t.till + "/batch";
    const std::string ack_filter = "pos/v1/" + t.store + "/" + t.till + "/ack";
    const std::uint64_t total = t.last_seq.back();
    std::size_t next = 0;   // next batch to publish
    std::size_t first = 0;  // first batch not fully acked
    auto progress_at = Clock::now();
    while (t.acked < total) {
      while (next < t.batches.size() && next - first < static_cast<std::size_t>(o.window)) {
        const int rc = t.client->publish(batch_topic, t.batches[next], 1);
        if (rc != 0) {
          throw std::runtime_error("publish refused, reason " + std::to_string(rc));
        }
        ++next;
        ++t.published_batches;
      }
      for (const auto& message :
           t.client->wait_for_messages(ack_filter, 1, std::chrono::milliseconds(50))) {
        const auto ack = pos::protocol::parse_ack(message.payload);
        if (ack && ack->epoch == t.epoch && ack->through_seq > t.acked) {
          t.acked = ack->through_seq;
          progress_at = Clock::now();
        }
      }
      while (first < t.batches.size() && t.last_seq[first] <= t.acked) {
        ++first;
      }
      const auto now = Clock::now();
      if (t.acked < total && now - progress_at > std::chrono::milliseconds(o.ack_timeout_ms)) {
        next = first;  // go-back-N, like the agent
        ++t.resends;
        progress_at = now;
      }
      if (now > give_up) {
        throw std::runtime_error("gave up at acked seq " + std::to_string(t.acked));
      }
    }
    t.done_at = Clock::now();
  } catch (const std::exception& e) {
    t.error = e.what();
  }
}

std::uint64_t count_file_sink_lines(const std::filesystem::path& dir, std::uint64_t& dead) {
  std::uint64_t events = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      if (line.find("\"destination\":\"pos-events-dlq\"") != std::string::npos) {
        ++dead;
      } else {
        ++events;
      }
    }
  }
  return events;
}

int run(const Options& o) {
  TempDir dir("collector-load");
  TestPki pki(dir.path());
  MosquittoBroker broker(pki);
  std::unique_ptr<PubSubEmulator> emulator;
  if (o.sink == "pubsub") {
    emulator = std::make_unique<PubSubEmulator>();
    create_pubsub_resources(*emulator);
  }

  // Collector config (SPEC keys; the rest default).
  const auto collector_dir = dir.path() / "collector";
  const auto out_dir = dir.path() / "sink-out";
  std::filesystem::create_directories(collector_dir);
  std::filesystem::create_directories(out_dir);
  const auto cert = pki.issue_client(collector_common_name);
  const std::uint16_t http_port = free_tcp_port();
  const auto config = collector_dir / "poscollector.toml";
  {
    std::ofstream out(config);
    out << "collector_id = \"collector-1\"\ndata_dir = \"" << (collector_dir / "data").string()
        << "\"\n[mqtt]\nuri = \"" << broker.uri() << "\"\ntopic_prefix = \"pos/v1\"\n"
        << "share_group = \"pos-collectors\"\nca_file = \"" << pki.ca_cert().string()
        << "\"\ncert_file = \"" << cert.cert.string() << "\"\nkey_file = \"" << cert.key.string()
        << "\"\n[sink]\n";
    if (o.sink == "file") {
      out << "type = \"file\"\npath = \"" << out_dir.string() << "\"\n";
    } else {
      out << "type = \"pubsub\"\nproject = \"" << test_project << "\"\ntopic = \"" << events_topic
          << "\"\ndead_letter_topic = \"" << dlq_topic << "\"\nordering = true\n";
    }
    out << "[http]\nlisten = \"127.0.0.1:" << http_port << "\"\n";
  }
  std::map<std::string, std::string> env;
  if (emulator) {
    env["PUBSUB_EMULATOR_HOST"] = emulator->host_port();
  }
  std::vector<std::string> command{o.collector_bin, "run", "--config", config.string()};
  if (!o.callgrind_output.empty()) {
    command.insert(command.begin(),
                   {"valgrind", "--tool=callgrind", "--callgrind-out-file=" + o.callgrind_output});
  }
  ChildProcess collector(command, collector_dir / "poscollector.log", env);
  {
    const auto deadline =
        Clock::now() + std::chrono::seconds(o.callgrind_output.empty() ? 30 : 180);
    while (
        http_request(http_port, "GET", "/readyz", "", "", std::chrono::milliseconds(500)).status !=
        200) {
      if (!collector.running() || Clock::now() > deadline) {
        throw std::runtime_error("poscollector not ready; log:\n" +
                                 read_text_file(collector_dir / "poscollector.log"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  // Tills: certificates, connections and pre-encoded batches.
  const auto prep_start = Clock::now();
  std::mt19937_64 rng(std::random_device{}());
  std::vector<Till> tills(static_cast<std::size_t>(o.tills));
  std::uint64_t message_bytes = 0;
  double cert_s = 0;
  for (int i = 0; i < o.tills; ++i) {
    Till& t = tills[static_cast<std::size_t>(i)];
    t.store = "S" + std::to_string(i / 10 + 1);
    t.till = "T" + std::to_string(i % 10 + 1);
    t.epoch = rng() | 1;
    // Events of the realistic mix (tests/bench/event_mix.cpp), one seed per till, stamped as the
    // agent does (the collector re-validates them against the topic's store and till).
    pos::bench::EventMix mix(static_cast<std::uint64_t>(i) + 1);
    pos::protocol::BatchEncoder encoder;
    for (std::uint64_t first = 1; first <= o.events_per_till; first += o.batch_events) {
      const auto count = static_cast<std::uint32_t>(
          std::min<std::uint64_t>(o.batch_events, o.events_per_till - first + 1));
      std::vector<std::string> lines;
      for (std::uint32_t k = 0; k < count; ++k) {
        auto event = pos::protocol::parse_pos_event(mix.next_event());
        if (!event) {
          throw std::runtime_error("event mix: " + event.error().message);
        }
        lines.push_back(pos::protocol::make_payload_line(
            *event, {t.store, t.till, t.epoch, first + k, "2026-11-22T03:00:00.000Z"}));
      }
      auto batch = encoder.encode(t.epoch, first, lines);
      if (!batch) {
        throw std::runtime_error("encode: " + batch.error().message);
      }
      message_bytes += batch->size();
      t.batches.push_back(std::move(*batch));
      t.last_seq.push_back(first + count - 1);
    }
    const auto cert_start = Clock::now();
    auto till_cert = pki.issue_client(till_common_name(t.store, t.till));
    cert_s += std::chrono::duration<double>(Clock::now() - cert_start).count();
    t.client = std::make_unique<TestMqttClient>(TestMqttClientOptions{
        broker.uri(), "load-" + t.store + "-" + t.till, pki.ca_cert(), std::move(till_cert)});
  }
  {
    const auto connect_start = Clock::now();
    std::vector<std::jthread> connecting;
    for (auto& t : tills) {
      connecting.emplace_back([&t] {
        t.client->connect();
        t.client->subscribe("pos/v1/" + t.store + "/" + t.till + "/ack", 1);
      });
    }
    connecting.clear();
    std::cerr << "connected " << tills.size() << " tills in "
              << std::chrono::duration<double>(Clock::now() - connect_start).count() << " s\n";
  }
  const std::uint64_t total_events = o.events_per_till * static_cast<std::uint64_t>(o.tills);
  std::cerr << "prepared " << total_events << " events in "
            << tills[0].batches.size() * tills.size() << " batches (" << message_bytes / 1024
            << " KiB on the wire) in "
            << std::chrono::duration<double>(Clock::now() - prep_start).count()
            << " s (certificates " << cert_s << " s)\n";

  std::optional<ChildProcess> perf;
  if (!o.perf_output.empty()) {
    perf.emplace(std::vector<std::string>{"perf", "record", "-g", "-o", o.perf_output, "-p",
                                          std::to_string(collector.pid())},
                 dir.path() / "perf.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }

  auto callgrind_control = [&](const char* what) {
    ChildProcess control({"callgrind_control", what, std::to_string(collector.pid())},
                         dir.path() / "callgrind_control.log");
    if (control.wait() != 0) {
      throw std::runtime_error(std::string("callgrind_control ") + what + " failed");
    }
  };
  if (!o.callgrind_output.empty()) {
    callgrind_control("-z");
  }

  // Measured window.
  const double cpu_before = cpu_seconds(collector.pid());
  const double broker_cpu_before = cpu_seconds(broker.pid());
  const auto start = Clock::now();
  const auto give_up = start + std::chrono::seconds(o.max_run_s);
  {
    std::vector<std::jthread> threads;
    for (auto& t : tills) {
      threads.emplace_back([&t, &o, give_up] { run_till(t, o, give_up); });
    }
  }
  Clock::time_point end = start;
  std::uint64_t published = 0;
  std::uint64_t resends = 0;
  int failed = 0;
  for (const auto& t : tills) {
    if (!t.error.empty()) {
      std::cerr << "till " << t.store << "/" << t.till << ": " << t.error << "\n";
      ++failed;
      continue;
    }
    end = std::max(end, t.done_at);
    published += t.published_batches;
    resends += t.resends;
  }
  const double cpu = cpu_seconds(collector.pid()) - cpu_before;
  const double broker_cpu = cpu_seconds(broker.pid()) - broker_cpu_before;
  const double rss_mib = status_mib(collector.pid(), "VmHWM");
  if (!o.callgrind_output.empty()) {
    callgrind_control("-d");
  }
  if (perf) {
    perf->terminate(std::chrono::seconds(30));
  }
  const double wall = std::chrono::duration<double>(end - start).count();
  {
    // The collector's batch counters (drops, gaps and duplicates explain resends).
    std::istringstream metrics(http_request(http_port, "GET", "/metrics").body);
    std::string line;
    while (std::getline(metrics, line)) {
      if (line.starts_with("poscollector_batches_") || line.starts_with("poscollector_events_") ||
          line.starts_with("poscollector_ack")) {
        std::cerr << "  " << line << "\n";
      }
    }
  }

  std::string verified = "not checked";
  if (o.sink == "file") {
    std::uint64_t dead = 0;
    const auto lines = count_file_sink_lines(out_dir, dead);
    verified =
        std::to_string(lines) + " events, " + std::to_string(dead) + " dead letters in files";
  } else if (o.verify) {
    const auto pull_start = Clock::now();
    const auto messages =
        emulator->pull_all(test_project, events_sub, total_events, std::chrono::seconds(120));
    verified = std::to_string(messages.size()) + " events pulled in " +
               std::to_string(std::chrono::duration<double>(Clock::now() - pull_start).count()) +
               " s";
  }
  const int rc = collector.terminate(std::chrono::seconds(15));

  std::printf(
      "RESULT sink=%s tills=%d batch_events=%u events=%llu wall_s=%.2f events_per_s=%.0f "
      "collector_cpu_s=%.2f events_per_cpu_s=%.0f collector_cpu_pct=%.0f rss_max_mib=%.1f "
      "broker_cpu_s=%.2f batches_sent=%llu resends=%llu failed_tills=%d collector_exit=%d "
      "verify=\"%s\"\n",
      o.sink.c_str(), o.tills, o.batch_events, static_cast<unsigned long long>(total_events), wall,
      wall > 0 ? static_cast<double>(total_events) / wall : 0.0, cpu,
      cpu > 0 ? static_cast<double>(total_events) / cpu : 0.0, wall > 0 ? 100.0 * cpu / wall : 0.0,
      rss_mib, broker_cpu, static_cast<unsigned long long>(published),
      static_cast<unsigned long long>(resends), failed, rc, verified.c_str());
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::cerr << "collector_load: " << e.what() << "\n";
    return 1;
  }
}
