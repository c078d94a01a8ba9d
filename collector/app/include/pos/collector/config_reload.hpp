#pragma once
// Which of poscollector's configuration keys a reload (SIGHUP, `systemctl reload poscollector`)
// may change in a running collector, and how each is applied (docs/collector.md, "Changing
// settings without a restart"). The rules of a reload itself are in common/config_reload.hpp.

#include <functional>
#include <span>

#include "pos/collector/config.hpp"
#include "pos/common/config_reload.hpp"

namespace pos::collector {

/// What the live keys act on in a running collector; each function gets the running
/// configuration with the new values already in it. Called on the collector's io thread.
struct CollectorReloadTarget {
  std::function<void(const CollectorConfig&)> log_level;  ///< log_level
  std::function<void(const CollectorConfig&)> alerts;     ///< [alerts] thresholds
  std::function<void(const CollectorConfig&)> stock;      ///< [stock] thresholds
};

using CollectorReloadKey = common::ReloadKey<CollectorConfig, CollectorReloadTarget>;

/// Every key of CollectorConfig under its TOML name, the live ones with their apply function:
/// log_level, every `[alerts]` threshold, the `[stock]` thresholds (low_threshold and
/// categories), shutdown.drain_timeout_ms (read when the collector
/// stops). Every other key needs a restart. Thread-safe.
std::span<const CollectorReloadKey> collector_reload_keys();

}  // namespace pos::collector
