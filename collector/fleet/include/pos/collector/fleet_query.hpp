#pragma once
// Filtering, ordering and pagination of the fleet view for GET /v1/fleet?... and the per-store
// summary of GET /v1/fleet/summary (docs/collector.md, "Collector HTTP API"): what a page needs to
// draw a fleet of thousands of tills without downloading every row.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pos/collector/alerts.hpp"
#include "pos/collector/fleet.hpp"
#include "pos/protocol/result.hpp"

namespace pos::collector {

/// Rows per page when `limit` is not given, and the most a request may ask for.
inline constexpr std::size_t default_fleet_page_size = 100;
inline constexpr std::size_t max_fleet_page_size = 1000;
/// Longest `q` accepted (characters).
inline constexpr std::size_t max_fleet_search_length = 64;
/// Alerts listed by the summary at most (critical first); `alerts_total` counts them all.
inline constexpr std::size_t max_summary_alerts = 200;

/// How urgent a till is, lower first: the order of a page (then store, till).
enum class TillRank : std::uint8_t {
  offline = 0,  ///< the till said it went offline
  urgent = 1,   ///< stale (not heard from), or a critical alert
  warning = 2,  ///< a warning alert
  healthy = 3,  ///< online, no alert
};

/// Where a page ended: the next page starts after this row (in page order).
struct FleetCursor {
  TillRank rank = TillRank::offline;
  std::string store_id;
  std::string till_id;
  bool operator==(const FleetCursor&) const = default;
};

/// `{rank}.{store}.{till}`: ids never contain '.', so the text is URL-safe and unambiguous.
std::string format_cursor(const FleetCursor& cursor);

/// The filters and page of a request; every filter given must match (AND).
struct FleetQuery {
  std::optional<std::string> store_id;  ///< `store`: exact store id
  std::optional<std::string> till_id;   ///< `till`: exact till id
  std::vector<TillState> states;        ///< `state=online,stale`: any of them; empty: any state
  std::vector<AlertRule> alert_rules;   ///< `alert=till_offline,...`: has any of them
  bool any_alert = false;               ///< `alert=any`: has at least one alert
  bool no_alert = false;                ///< `alert=none`: has no alert
  bool problems_only = false;           ///< `problem=true`: rank below healthy
  std::string search;  ///< `q`: case-insensitive substring of "store/till" (lower-cased here)
  std::size_t limit = default_fleet_page_size;  ///< `limit`: 1..max_fleet_page_size
  std::optional<FleetCursor> after;             ///< `cursor`: the `next` of the previous page
};

/// Parses the query string of GET /v1/fleet (the part after '?', percent-encoded, '+' a space).
/// Fails with 400-worthy text naming the parameter ("limit: must be an integer in 1..1000 (got
/// \"0\")"), for an unknown or repeated parameter, or for a bad value.
Result<FleetQuery> parse_fleet_query(std::string_view query_string);

/// One page of tills in page order.
struct FleetPage {
  std::vector<const TillView*> rows;
  std::size_t matched = 0;                        ///< rows matching the filters over every page
  std::array<std::size_t, 3> matched_by_state{};  ///< online, offline, stale among those
  std::size_t matched_problems = 0;               ///< matching rows ranked below healthy
  std::optional<FleetCursor> next;                ///< set when rows after this page match
};

/// The rank of `till` in state `state` with the alerts `rules` (names of its active alerts).
TillRank rank_of(TillState state, const std::vector<const FleetAlert*>& alerts);

/// Selects the page of `query` from `fleet` at `now_ms`; `alerts` are the active alerts. Order:
/// rank, then store, then till. A till whose rank changed between two requests may be skipped or
/// repeated by the next page (the cursor is a position, not a snapshot). Never fails.
FleetPage select_fleet_page(const FleetState& fleet, const std::vector<FleetAlert>& alerts,
                            const FleetQuery& query, std::int64_t now_ms);

/// The JSON of a page: the /v1/fleet document (`generated_at`, `tills` with the rows of the page,
/// `alerts` of those rows only) plus `matched`, `counts`, `total_tills`, `limit` and `next`
/// (a cursor, or null on the last page).
std::string fleet_page_json(const FleetState& fleet, const std::vector<FleetAlert>& alerts,
                            const FleetQuery& query, std::int64_t now_ms);

/// GET /v1/fleet/summary: fleet totals, one line per store (tills, by state, alerting, problems),
/// and the active alerts (critical first, at most max_summary_alerts; `alerts_total` all).
std::string fleet_summary_json(const FleetState& fleet, const std::vector<FleetAlert>& alerts,
                               std::int64_t now_ms);

}  // namespace pos::collector
