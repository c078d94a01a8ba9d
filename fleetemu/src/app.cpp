#include <cstdio>
#include <fstream>
#include <sstream>
#include <variant>

#include "pos/fleetemu/fleet.hpp"
#include "pos/fleetemu/pki.hpp"

namespace pos::fleetemu {
namespace {

struct Field {
  const char* name;
  std::string value;
};

std::string number(double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.3f", v);
  return buffer;
}

std::vector<Field> fields(const Summary& s) {
  return {
      {"tills", std::to_string(s.tills)},
      {"tills_connected", std::to_string(s.tills_connected)},
      {"connect_time_s", number(s.connect_time_s)},
      {"duration_s", number(s.duration_s)},
      {"events_offered", std::to_string(s.events_offered)},
      {"events_offered_per_s", number(s.events_offered_per_s())},
      {"events_sent", std::to_string(s.events_sent)},
      {"events_acked", std::to_string(s.events_acked)},
      {"events_acked_in_run", std::to_string(s.events_acked_in_run)},
      {"events_acked_per_s", number(s.events_acked_per_s())},
      {"batches_sent", std::to_string(s.batches_sent)},
      {"batches_acked", std::to_string(s.batches_acked)},
      {"bytes_sent", std::to_string(s.bytes_sent)},
      {"ack_latency_p50_ms", number(s.ack_p50_ms)},
      {"ack_latency_p99_ms", number(s.ack_p99_ms)},
      {"ack_latency_max_ms", number(s.ack_max_ms)},
      {"ack_timeouts", std::to_string(s.ack_timeouts)},
      {"resend_requests", std::to_string(s.resend_requests)},
      {"resends", std::to_string(s.resends)},
      {"reconnects", std::to_string(s.reconnects)},
      {"connect_failures", std::to_string(s.connect_failures)},
      {"publish_failures", std::to_string(s.publish_failures)},
      {"acks_ignored", std::to_string(s.acks_ignored)},
      {"batches_unacked", std::to_string(s.batches_unacked)},
      {"events_unacked", std::to_string(s.events_unacked)},
      {"cpu_s", number(s.cpu_s)},
      {"peak_rss_mb", number(s.peak_rss_mb)},
  };
}

}  // namespace

std::string format_summary(const Summary& summary) {
  std::string out;
  for (const auto& f : fields(summary)) {
    out += std::string(f.name) + " " + f.value + "\n";
  }
  return out;
}

std::string summary_json(const Summary& summary) {
  std::string out = "{";
  bool first = true;
  for (const auto& f : fields(summary)) {
    out += (first ? "\"" : ",\"") + std::string(f.name) + "\":" + f.value;
    first = false;
  }
  return out + "}\n";
}

int run(const std::vector<std::string>& args) {
  auto command = parse_command_line(args);
  if (!command) {
    std::fprintf(stderr, "posfleet: %s\n\n%s", command.error().message.c_str(), usage().c_str());
    return 2;
  }
  if (const auto* help = std::get_if<HelpRequest>(&*command)) {
    std::fputs(help->text.c_str(), stdout);
    return 0;
  }
  if (const auto* pki = std::get_if<PkiOptions>(&*command)) {
    auto issued = issue_till_certificates(*pki);
    if (!issued) {
      std::fprintf(stderr, "posfleet pki: %s\n", issued.error().message.c_str());
      return 1;
    }
    std::printf("issued %u till certificates in %s\n", *issued, pki->out_dir.c_str());
    return 0;
  }
  const auto& options = std::get<RunOptions>(*command);
  auto summary = run_fleet(options);
  if (!summary) {
    std::fprintf(stderr, "posfleet: %s\n", summary.error().message.c_str());
    return 1;
  }
  std::fputs(format_summary(*summary).c_str(), stdout);
  std::fflush(stdout);
  if (!options.json_file.empty()) {
    std::ofstream out(options.json_file);
    out << summary_json(*summary);
    if (!out) {
      std::fprintf(stderr, "posfleet: --json: cannot write %s\n", options.json_file.c_str());
      return 1;
    }
  }
  const bool complete = summary->batches_unacked == 0 && summary->events_unacked == 0 &&
                        summary->tills_connected == summary->tills;
  return complete ? 0 : 1;
}

}  // namespace pos::fleetemu
