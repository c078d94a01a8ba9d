#pragma once
// `posctl replay`: asks a till, through the collector, to re-send a range it still holds
// (docs/replay.md).

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

namespace pos::ctl {

struct ReplayArgs {
  std::string url = "http://127.0.0.1:8412";  ///< the collector's HTTP base URL
  std::string till;                           ///< STORE/TILL
  std::optional<std::string> from;            ///< RFC 3339, with `to`
  std::optional<std::string> to;
  std::optional<std::uint64_t> from_seq;  ///< with `to_seq`
  std::optional<std::uint64_t> to_seq;
  std::optional<std::string> id;  ///< default: derived by the collector from till and range
  bool wait = false;              ///< follow the progress until done or refused
  std::chrono::seconds wait_timeout{3600};
  std::chrono::milliseconds poll_interval{1000};
};

/// Sends the request and prints the replay's id and state; with `wait`, prints progress until
/// the till reports done (exit 0) or refused (exit 1, its reason on `err`). Usage errors (both
/// or neither range form, a bound missing) exit 2; the collector's 400 (a bad timestamp, a range
/// the wrong way round) exits 2 with its message; other failures exit 1.
int replay(const ReplayArgs& args, std::ostream& out, std::ostream& err);

}  // namespace pos::ctl
