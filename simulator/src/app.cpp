#include "pos/simulator/app.hpp"

#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include "pos/simulator/agents.hpp"
#include "pos/simulator/catalogue.hpp"
#include "pos/simulator/generator.hpp"
#include "pos/simulator/layout.hpp"
#include "pos/simulator/runner.hpp"
#include "pos/simulator/traffic_model.hpp"

namespace pos::simulator {

namespace {

int usage_error(const std::string& message) {
  std::cerr << "possim: " << message << '\n';
  return 2;
}

// Reads a whole (small) text file; fails naming the option.
Result<std::string> read_agents_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail("--agents-file: cannot read " + path);
  }
  std::string content;
  constexpr std::size_t k_max = std::size_t{4} * 1024 * 1024;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    content.append(buf, static_cast<std::size_t>(in.gcount()));
    if (content.size() > k_max) {
      return fail("--agents-file: " + path + " is larger than 4 MiB");
    }
  }
  return content;
}

}  // namespace

int layout_command(std::uint64_t layout_seed, std::FILE* out) {
  const Layout layout(layout_seed);
  for (const auto& till : layout.tills()) {
    std::fprintf(out, "%s %s\n", till.store_id.c_str(), till.till_id.c_str());
  }
  return std::fflush(out) == 0 ? 0 : 1;
}

int generate_command(const GenerateOptions& options, std::FILE* out) {
  const Layout layout(options.layout_seed);
  std::vector<TillRef> tills;
  for (const auto& text : options.tills) {
    auto till = parse_till_ref(text, "--till");
    if (!till) {
      return usage_error(till.error().message);
    }
    if (!layout.till_index(*till)) {
      return usage_error("--till: " + text + " is not a till of the layout (see possim layout)");
    }
    tills.push_back(std::move(*till));
  }
  auto start = parse_rfc3339(options.start, "--start");
  if (!start) {
    return usage_error(start.error().message);
  }
  const Catalogue catalogue(options.layout_seed);
  const TrafficModel model = TrafficModel::natural(layout);
  FleetGenerator generator(layout, catalogue, model, options.seed, *start, tills);
  std::string buffer;
  buffer.reserve(1 << 20);
  for (std::uint64_t i = 0; i < options.count; ++i) {
    buffer.append(generator.next().json);
    buffer.push_back('\n');
    if (buffer.size() >= (1 << 20) - 4096) {
      if (std::fwrite(buffer.data(), 1, buffer.size(), out) != buffer.size()) {
        return 1;
      }
      buffer.clear();
    }
  }
  if (std::fwrite(buffer.data(), 1, buffer.size(), out) != buffer.size()) {
    return 1;
  }
  return std::fflush(out) == 0 ? 0 : 1;
}

int run_command(const RunOptions& options) {
  const Layout layout(options.layout_seed);
  std::vector<AgentTarget> targets;
  if (!options.agents_file.empty()) {
    auto content = read_agents_file(options.agents_file);
    if (!content) {
      return usage_error(content.error().message);
    }
    auto parsed = parse_agents_file(*content, options.agents_file);
    if (!parsed) {
      return usage_error("--agents-file: " + parsed.error().message);
    }
    targets = std::move(*parsed);
  }
  for (const auto& text : options.agents) {
    auto target = parse_agent_option(text);
    if (!target) {
      return usage_error(target.error().message);
    }
    targets.push_back(std::move(*target));
  }
  if (auto ok = check_agents(layout, targets); !ok) {
    return usage_error(ok.error().message);
  }
  if (!(options.rate > 0) || !std::isfinite(options.rate)) {
    return usage_error("--rate: must be > 0");
  }
  if (options.duration_s < 0 || !std::isfinite(options.duration_s)) {
    return usage_error("--duration: must be >= 0");
  }
  if (options.batch < 1 || options.batch > 1000) {
    return usage_error("--batch: must be 1-1000 (the agent takes at most 1000 per request)");
  }
  if (options.max_in_flight_per_till != 1) {
    return usage_error(
        "--max-in-flight-per-till: only 1 is supported (a POS waits for each answer, which keeps "
        "per-till order)");
  }
  if (options.max_queue_per_till < 1 || options.max_queue_per_till > 1'000'000) {
    return usage_error("--max-queue-per-till: must be 1-1000000");
  }
  if (options.stats_interval_s < 0) {
    return usage_error("--stats-interval: must be >= 0 (0: no stats lines)");
  }
  if (!(options.request_timeout_s > 0)) {
    return usage_error("--request-timeout: must be > 0");
  }
  if (options.speed && options.replay_day.empty()) {
    return usage_error("--speed: only with --replay-day");
  }
  const double speed = options.speed.value_or(1.0);
  if (!(speed > 0) || !std::isfinite(speed)) {
    return usage_error("--speed: must be > 0");
  }

  RunnerSettings settings;
  std::vector<TillRef> tills;
  tills.reserve(targets.size());
  for (const auto& target : targets) {
    tills.push_back(target.till);
  }
  settings.targets = std::move(targets);
  settings.seed = options.seed;
  settings.duration_s = options.duration_s;
  settings.batch = options.batch;
  settings.max_queue_per_till = options.max_queue_per_till;
  settings.accepted_log = options.accepted_log;
  settings.stats_interval_s = options.stats_interval_s;
  settings.request_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(options.request_timeout_s * 1000));
  std::optional<TrafficModel> model;
  if (!options.replay_day.empty()) {
    auto day = parse_local_day(options.replay_day, "--replay-day");
    if (!day) {
      return usage_error(day.error().message);
    }
    settings.clock.live = false;
    settings.clock.start = *day + MixConstants::opening_ms;
    settings.clock.end = *day + MixConstants::closing_ms;
    settings.clock.speed = speed;
    // --rate is real events per second: the simulated clock runs `speed` times faster.
    model.emplace(TrafficModel::scaled(layout, tills, options.rate / speed));
  } else {
    model.emplace(TrafficModel::live(layout, tills, options.rate));
  }
  const Catalogue catalogue(options.layout_seed);
  auto summary = run_traffic(layout, catalogue, *model, settings);
  if (!summary) {
    return usage_error(summary.error().message);
  }
  std::cout << to_json(*summary) << std::endl;
  if (!summary->any_answer) {
    std::cerr << "possim: no agent ever answered\n";
    return 1;
  }
  return 0;
}

}  // namespace pos::simulator
