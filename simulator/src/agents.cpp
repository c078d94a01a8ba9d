#include "pos/simulator/agents.hpp"

#include <charconv>
#include <set>

namespace pos::simulator {

namespace {

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

std::vector<std::string_view> split_fields(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    const auto start = s.find_first_not_of(" \t", pos);
    if (start == std::string_view::npos) {
      break;
    }
    auto end = s.find_first_of(" \t", start);
    if (end == std::string_view::npos) {
      end = s.size();
    }
    out.push_back(s.substr(start, end - start));
    pos = end;
  }
  return out;
}

}  // namespace

Result<AgentTarget> parse_agent_url(std::string_view url, std::string_view what) {
  const std::string prefix = std::string(what) + ": ";
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) {
    return fail(prefix + "must be http://HOST:PORT, got '" + std::string(url) + "'");
  }
  std::string_view rest = url.substr(scheme.size());
  if (rest.ends_with('/')) {
    rest.remove_suffix(1);
  }
  if (rest.find('/') != std::string_view::npos) {
    return fail(prefix + "must not have a path (possim posts to /v1/events), got '" +
                std::string(url) + "'");
  }
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return fail(prefix + "needs a host and a port, got '" + std::string(url) + "'");
  }
  const std::string_view port = rest.substr(colon + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
    return fail(prefix + "port must be 1-65535, got '" + std::string(port) + "'");
  }
  AgentTarget target;
  target.host = std::string(rest.substr(0, colon));
  target.port = std::string(port);
  target.url = std::string(url);
  return target;
}

Result<AgentTarget> parse_agent_option(std::string_view text) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos) {
    return fail("--agent: must be STORE/TILL=http://HOST:PORT, got '" + std::string(text) + "'");
  }
  auto till = parse_till_ref(text.substr(0, eq), "--agent");
  if (!till) {
    return fail(till.error());
  }
  auto target = parse_agent_url(text.substr(eq + 1), "--agent " + std::string(text.substr(0, eq)));
  if (!target) {
    return fail(target.error());
  }
  target->till = std::move(*till);
  return target;
}

Result<std::vector<AgentTarget>> parse_agents_file(std::string_view content,
                                                   std::string_view file_name,
                                                   std::size_t max_entries) {
  std::vector<AgentTarget> out;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos <= content.size()) {
    auto end = content.find('\n', pos);
    if (end == std::string_view::npos) {
      end = content.size();
    }
    std::string_view line = content.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = trim(line);
    if (line.empty()) {
      continue;
    }
    const std::string where = std::string(file_name) + ":" + std::to_string(line_no);
    const auto fields = split_fields(line);
    if (fields.size() != 3) {
      return fail(where + ": expected STORE TILL URL, got '" + std::string(line) + "'");
    }
    auto till = parse_till_ref(std::string(fields[0]) + "/" + std::string(fields[1]), where);
    if (!till) {
      return fail(where + ": bad store or till id in '" + std::string(line) + "'");
    }
    auto target = parse_agent_url(fields[2], where);
    if (!target) {
      return fail(target.error());
    }
    if (out.size() >= max_entries) {
      return fail(where + ": more than " + std::to_string(max_entries) + " agents");
    }
    target->till = std::move(*till);
    out.push_back(std::move(*target));
  }
  return out;
}

Status check_agents(const Layout& layout, const std::vector<AgentTarget>& targets) {
  if (targets.empty()) {
    return fail("no agents: give --agent STORE/TILL=URL or --agents-file FILE");
  }
  std::set<TillRef> seen;
  for (const auto& target : targets) {
    const std::string name = target.till.store_id + "/" + target.till.till_id;
    if (!layout.till_index(target.till)) {
      return fail(name + ": not a till of the layout (see possim layout)");
    }
    if (!seen.insert(target.till).second) {
      return fail(name + ": listed twice");
    }
  }
  return {};
}

}  // namespace pos::simulator
