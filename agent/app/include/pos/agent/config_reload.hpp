#pragma once
// Which of posagent's configuration keys a reload (SIGHUP, `systemctl reload posagent`) may change
// in a running agent, and how each is applied (docs/agent.md, "Changing settings without a
// restart"). The rules of a reload itself are in common/config_reload.hpp.

#include <functional>
#include <span>

#include "pos/agent/config.hpp"
#include "pos/common/config_reload.hpp"

namespace pos::agent {

/// What the live keys act on in a running agent; each function gets the running configuration
/// with the new values already in it. Called on the agent's io thread.
struct AgentReloadTarget {
  std::function<void(const AgentConfig&)> log_level;     ///< log_level
  std::function<void(const AgentConfig&)> upload_limit;  ///< forward.rate_limit_*
};

using AgentReloadKey = common::ReloadKey<AgentConfig, AgentReloadTarget>;

/// Every key of AgentConfig under its TOML name, the live ones with their apply function:
/// log_level, forward.rate_limit_kbps, forward.rate_limit_schedule, shutdown.drain_timeout_ms
/// (read when the agent stops). Every other key needs a restart. Thread-safe.
std::span<const AgentReloadKey> agent_reload_keys();

}  // namespace pos::agent
