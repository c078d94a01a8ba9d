#pragma once
// `posctl fleet`: the collector's GET /v1/fleet document parsed, ordered problems first and
// rendered as a text table. Pure functions (no I/O) so that the rendering is unit-testable.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pos/protocol/result.hpp"

namespace pos::ctl {

/// One till row of /v1/fleet (SPEC "Collector HTTP"). Absent or null fields stay empty.
struct FleetTill {
  std::string store_id;
  std::string till_id;
  std::string state;  ///< "online" | "offline" | "stale" (anything else is shown as is)
  std::optional<std::int64_t> last_seen_ms;
  std::string agent_version;
  std::optional<std::uint64_t> backlog_events;
  std::optional<std::int64_t> oldest_unacked_age_s;
  std::optional<std::int64_t> last_ack_ms;
  std::optional<std::uint64_t> published_total;
  std::optional<std::uint64_t> duplicates_total;
  std::optional<std::uint64_t> rejected_total;
  std::vector<std::string> alerts;  ///< names of active alert rules, when the collector has them
};

/// One entry of the top-level "alerts" array, when the collector has it.
struct FleetAlert {
  std::string rule;
  std::string severity;  ///< "warning" | "critical"
  std::string store_id;
  std::string till_id;
  std::string message;
  std::optional<std::int64_t> since_ms;
};

struct FleetSnapshot {
  std::optional<std::int64_t> generated_at_ms;  ///< the collector's clock
  std::vector<FleetTill> tills;
  std::vector<FleetAlert> alerts;
};

/// Largest /v1/fleet document posctl accepts.
inline constexpr std::size_t max_fleet_document_bytes = std::size_t{16} * 1024 * 1024;

/// Parses a /v1/fleet document. Unknown fields are ignored, missing ones stay empty; a field of
/// the wrong type fails naming it ("tills[3].backlog_events: expected a number").
Result<FleetSnapshot> parse_fleet(std::string_view json);

/// How urgent a till looks: 0 critical alert, 1 offline, 2 stale, 3 other alerts, 4 healthy.
int problem_rank(const FleetTill& till, const std::vector<FleetAlert>& alerts);

/// The tills grouped by store: stores ordered by their most urgent till, then by id; inside a
/// store, tills by problem_rank(), then by id.
std::vector<FleetTill> order_for_display(const FleetSnapshot& snapshot);

/// The table `posctl fleet` prints: a summary line, one row per till in order_for_display()
/// order with a blank line between stores, then the active alerts (critical first). Ages are
/// relative to `now_ms` (use the snapshot's generated_at when present).
std::string render_fleet(const FleetSnapshot& snapshot, std::int64_t now_ms);

/// "-" for none, else "42s", "7m", "3h", "2d" (negative ages show as 0s).
std::string format_age(std::optional<std::int64_t> seconds);

}  // namespace pos::ctl
