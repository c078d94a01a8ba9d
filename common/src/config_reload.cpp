#include "pos/common/config_reload.hpp"

#include <spdlog/spdlog.h>

#include "pos/common/prometheus_text.hpp"
#include "pos/protocol/event.hpp"

namespace pos::common {
namespace {

constexpr std::array<ReloadResult, 3> all_results{ReloadResult::applied, ReloadResult::refused,
                                                  ReloadResult::invalid};

std::string joined(const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& key : keys) {
    out += (out.empty() ? "" : ", ") + key;
  }
  return out;
}

}  // namespace

std::string_view to_string(ReloadResult result) noexcept {
  switch (result) {
    case ReloadResult::applied:
      return "applied";
    case ReloadResult::refused:
      return "refused";
    case ReloadResult::invalid:
      return "invalid";
  }
  return "invalid";
}

void ReloadStats::record(ReloadResult result, std::int64_t now_unix_ms, std::string message) {
  ++total.at(static_cast<std::size_t>(result));
  last = result;
  last_unix_ms = now_unix_ms;
  last_message = std::move(message);
}

void append_reload_metrics(PrometheusWriter& metrics, const ReloadStats& stats) {
  metrics.family("config_reloads_total",
                 "Configuration reloads (SIGHUP) by result: applied, refused (a key that needs a "
                 "restart changed; nothing applied) or invalid (the file did not load).",
                 "counter");
  for (const auto result : all_results) {
    metrics.sample("config_reloads_total", {{"result", to_string(result)}},
                   stats.total.at(static_cast<std::size_t>(result)));
  }
  if (stats.last) {
    metrics.gauge(
        "config_last_reload_timestamp_seconds",
        "UNIX time (whole seconds) of the last configuration reload, whatever its result.",
        stats.last_unix_ms / 1000);
  }
}

namespace reload_detail {

std::string invalid(std::string_view error) {
  spdlog::error("config reload: {}; keeping the running configuration", error);
  return std::string(error);
}

std::string refused(const ReloadDiff& diff) {
  for (const auto& key : diff.restart) {
    spdlog::error("config reload: {}: cannot change without a restart", key);
  }
  if (diff.unlisted) {
    spdlog::error(
        "config reload: a setting that the reload does not know changed; it cannot change "
        "without a restart");
  }
  std::string message =
      "cannot change without a restart: " +
      (diff.restart.empty() ? std::string("an unlisted setting") : joined(diff.restart));
  spdlog::error("config reload refused, nothing applied ({}); keeping the running configuration",
                message);
  return message;
}

std::string applied(const ReloadDiff& diff) {
  if (diff.live.empty()) {
    spdlog::info("config reload: nothing changed");
    return "nothing changed";
  }
  std::string message = "changed: " + joined(diff.live);
  spdlog::info("config reload applied: {}", message);
  return message;
}

void apply_failed(std::string_view error) {
  spdlog::error("config reload: applying a change failed: {}", error);
}

}  // namespace reload_detail
void append_reload_json(boost::json::object& doc, const ReloadStats& stats) {
  boost::json::object reloads;
  for (const auto result : {ReloadResult::applied, ReloadResult::refused, ReloadResult::invalid}) {
    reloads[to_string(result)] = stats.total.at(static_cast<std::size_t>(result));
  }
  doc["reloads"] = std::move(reloads);
  if (stats.last) {
    doc["last_reload"] = {{"result", to_string(*stats.last)},
                          {"at", protocol::format_rfc3339_utc_ms(stats.last_unix_ms)},
                          {"message", stats.last_message}};
  } else {
    doc["last_reload"] = nullptr;
  }
}

}  // namespace pos::common
