// Which collector keys a configuration reload applies live and which need a restart: each row
// changes one key of a real configuration text and checks how the diff classifies it.

#include "pos/collector/config_reload.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace pos::collector {
namespace {

/// Every key of a packaged TOML file ("section.key"), commented-out keys ("# key = ...") included.
std::vector<std::string> packaged_keys(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> keys;
  std::string section;
  std::string line;
  const std::regex table(R"(^\[([a-z_.]+)\])");
  const std::regex key(R"(^(?:# )?([a-z_]+) *= )");
  std::smatch match;
  while (std::getline(in, line)) {
    if (std::regex_search(line, match, table)) {
      section = match[1];
    } else if (std::regex_search(line, match, key)) {
      keys.push_back(section.empty() ? std::string(match[1])
                                     : section + "." + std::string(match[1]));
    }
  }
  return keys;
}

struct CollectorKeyCase {
  std::string section;  ///< "" for top-level keys
  std::string key;      ///< key within the section
  std::string value;    ///< TOML value
  bool live;
  /// A key whose default follows this one (mqtt.client_id defaults to collector_id).
  std::string derived = "";
};

/// A valid configuration with `key = value` set in `section` (replacing the base's).
CollectorConfig collector_config_with(const std::string& section = "", const std::string& key = "",
                                      const std::string& value = "") {
  std::map<std::string, std::map<std::string, std::string>> sections{
      {"", {{"collector_id", "\"collector-1\""}, {"data_dir", "\"/var/lib/poscollector\""}}},
      {"mqtt", {{"uri", "\"mqtt://127.0.0.1:1883\""}}},
      {"sink", {{"project", "\"fastyle-prod\""}}}};
  if (!key.empty()) {
    sections[section][key] = value;
  }
  std::string text;
  for (const auto& [name, keys] : sections) {
    text += name.empty() ? "" : "[" + name + "]\n";
    for (const auto& [k, v] : keys) {
      text += k + " = " + v + "\n";
    }
  }
  return parse_collector_config(text);
}

TEST(CollectorConfigReloadTest, KeysAreClassifiedUnderTheirTomlNames) {
  const std::vector<CollectorKeyCase> cases{
      {"", "log_level", "\"debug\"", true},
      {"alerts", "offline_minutes", "1", true},
      {"alerts", "backlog_age_minutes", "1", true},
      {"alerts", "clock_skew_seconds", "1", true},
      {"alerts", "rejected_rising_window_minutes", "1", true},
      {"alerts", "database_rolled_back_hours", "1", true},
      {"alerts", "cert_expiry_days", "7", true},
      {"shutdown", "drain_timeout_ms", "100", true},
      {"stock", "low_threshold", "2", true},
      {"stock", "max_items", "1000", false},
      {"stock", "snapshot_interval_s", "9", false},
      {"health", "topic", "\"pos-health\"", false},
      {"", "collector_id", "\"collector-2\"", false, "mqtt.client_id"},
      {"", "data_dir", "\"/tmp/x\"", false},
      {"mqtt", "uri", "\"mqtt://127.0.0.1:1884\"", false},
      {"mqtt", "topic_prefix", "\"pos/v2\"", false},
      {"mqtt", "share_group", "\"other\"", false},
      {"mqtt", "reconnect_max_ms", "20000", false},
      {"sink", "topic", "\"other\"", false},
      {"sink", "max_pending_bytes", "1048576", false},
      {"limits", "max_batch_bytes", "1048576", false},
      {"marks", "max_epochs_per_till", "4", false},
      {"fleet", "stale_after_s", "30", false},
      {"fleet", "max_tills", "10", false},
      {"http", "listen", "\"127.0.0.1:9000\"", false},
      {"kpis", "timezone", "\"+08:00\"", false},
      {"kpis", "currency", "\"IDR\"", false},
  };
  const auto running = collector_config_with();
  for (const auto& c : cases) {
    const auto name = c.section.empty() ? c.key : c.section + "." + c.key;
    SCOPED_TRACE(name);
    const auto next = collector_config_with(c.section, c.key, c.value);
    const auto diff = common::diff_config(collector_reload_keys(), running, next);
    EXPECT_FALSE(diff.unlisted);
    EXPECT_EQ(diff.live, c.live ? std::vector<std::string>{name} : std::vector<std::string>{});
    std::vector<std::string> restart;
    if (!c.live) {
      restart.push_back(name);
    }
    if (!c.derived.empty()) {
      restart.push_back(c.derived);
    }
    EXPECT_EQ(diff.restart, restart);
  }
}

TEST(CollectorConfigReloadTest, AlertThresholdsAreAppliedTogetherOnce) {
  auto running = collector_config_with();
  auto next = collector_config_with("alerts", "offline_minutes", "2");
  next.alerts.cert_expiry = std::chrono::days(5);
  std::vector<std::string> calls;
  CollectorReloadTarget target{
      .log_level = [&](const CollectorConfig&) { calls.emplace_back("log"); },
      .alerts =
          [&](const CollectorConfig& c) {
            calls.push_back("alerts " + std::to_string(c.alerts.offline.count()) + " " +
                            std::to_string(c.alerts.cert_expiry.count()));
          },
      .stock = [&](const CollectorConfig&) { calls.emplace_back("stock"); },
  };
  common::apply_config(collector_reload_keys(), running, next, target);
  EXPECT_EQ(calls, std::vector<std::string>{"alerts 2 5"});
  EXPECT_EQ(running, next);
}

TEST(CollectorConfigReloadTest, StockThresholdsAreLive) {
  auto running = collector_config_with();
  auto next = collector_config_with("stock", "low_threshold", "9");
  next.stock.thresholds.categories["dresses"] = 2;
  const auto diff = common::diff_config(collector_reload_keys(), running, next);
  EXPECT_TRUE(diff.restart.empty());
  EXPECT_EQ(diff.live, (std::vector<std::string>{"stock.low_threshold", "stock.categories"}));
  std::vector<std::int64_t> applied;
  CollectorReloadTarget target{
      .log_level = [](const CollectorConfig&) {},
      .alerts = [](const CollectorConfig&) {},
      .stock =
          [&](const CollectorConfig& c) { applied.push_back(c.stock.thresholds.of("dresses")); },
  };
  common::apply_config(collector_reload_keys(), running, next, target);
  EXPECT_EQ(applied, std::vector<std::int64_t>{2});
  EXPECT_EQ(running, next);
}

// A key added to the packaged configuration needs a row in the reload table (restart-only unless
// it has an apply function); a missing row would refuse every reload that changes the key without
// naming it.
TEST(CollectorConfigReloadTest, EveryPackagedKeyHasARow) {
  const auto keys = packaged_keys(std::string(POS_SOURCE_DIR) + "/packaging/poscollector.toml");
  ASSERT_GT(keys.size(), 20U);
  std::vector<std::string> rows;
  for (const auto& row : collector_reload_keys()) {
    rows.emplace_back(row.name);
  }
  for (const auto& key : keys) {
    // A table of free names ([stock.categories]) is one row: the table's name.
    const std::string table = key.substr(0, key.rfind('.'));
    const bool has_row = std::find(rows.begin(), rows.end(), key) != rows.end() ||
                         std::find(rows.begin(), rows.end(), table) != rows.end();
    EXPECT_TRUE(has_row) << key << " has no row";
  }
}

}  // namespace
}  // namespace pos::collector
