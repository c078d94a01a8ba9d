#pragma once
// Which agent each simulated till posts to: `--agent STORE/TILL=URL` options and the agents file
// (`STORE TILL URL` lines, `#` comments).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "pos/protocol/result.hpp"
#include "pos/simulator/layout.hpp"

namespace pos::simulator {

/// One till and its agent's ingest API.
struct AgentTarget {
  TillRef till;
  std::string host;  ///< 127.0.0.1
  std::string port;  ///< 8411
  std::string url;   ///< as given
};

/// Parses `http://HOST:PORT` (a trailing `/` is allowed; no other path). Fails with
/// `<what>: ...` naming what is wrong (scheme, missing port, port out of range).
Result<AgentTarget> parse_agent_url(std::string_view url, std::string_view what);

/// Parses one `--agent` value, `STORE/TILL=http://HOST:PORT`. Errors start with `--agent`.
Result<AgentTarget> parse_agent_option(std::string_view text);

/// Parses an agents file's content: one `STORE TILL URL` per line, blank lines and `#` comments
/// (whole line or trailing) ignored. Errors name the file and line: `agents.txt:3: expected
/// STORE TILL URL, got 'S01 T1'`. At most `max_entries` entries.
Result<std::vector<AgentTarget>> parse_agents_file(std::string_view content,
                                                   std::string_view file_name,
                                                   std::size_t max_entries = 10'000);

/// Checks the targets against the fleet: at least one, every till in the layout, no till twice.
/// Errors name the till (`S01/T9: not a till of the layout (see possim layout)`).
Status check_agents(const Layout& layout, const std::vector<AgentTarget>& targets);

}  // namespace pos::simulator
