#pragma once
// The JSON of one /v1/fleet till row and one alert, shared by FleetState::to_json and the
// filtered pages of fleet_query.cpp (private to pos::collector_fleet).

#include <boost/json.hpp>
#include <cstdint>

#include "pos/collector/fleet.hpp"

namespace pos::collector {

/// One entry of the `alerts` array of /v1/fleet.
boost::json::object fleet_alert_json(const FleetAlert& alert);

/// One row of the `tills` array of /v1/fleet (SPEC "Collector HTTP"); `rules`: the rule names of
/// the till's active alerts.
boost::json::object till_row_json(const TillView& till, TillState state, std::int64_t now_ms,
                                  boost::json::array rules);

}  // namespace pos::collector
