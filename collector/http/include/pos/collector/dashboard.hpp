#pragma once
// The fleet dashboard: static HTML, CSS and JavaScript (collector/assets/) embedded into the
// binary at build time and served same-origin. The page reads /v1/fleet, /v1/stats and /v1/kpis
// with fetch(); see docs/dashboard.md.

#include <optional>
#include <span>
#include <string_view>

#include "pos/common/http_server.hpp"

namespace pos::collector {

/// One embedded file, served at `path`.
struct DashboardAsset {
  std::string_view path;          ///< e.g. "/dashboard.js"
  std::string_view content_type;  ///< e.g. "text/javascript; charset=utf-8"
  std::string_view body;
};

/// Every embedded asset (generated from collector/assets/ at build time). Thread-safe.
std::span<const DashboardAsset> dashboard_assets() noexcept;

/// The asset served at `path` ("/" is the page itself); null when there is none. Thread-safe.
const DashboardAsset* find_dashboard_asset(std::string_view path) noexcept;

/// The response for a dashboard path (with a Content-Security-Policy that allows same-origin
/// resources only, and no-cache so an upgraded collector serves its new page), or nullopt when
/// `path` is not one of the dashboard's. Thread-safe.
std::optional<common::HttpResponse> dashboard_response(std::string_view path);

/// Response headers for JSON endpoints read by the page: never cached.
common::HttpResponse json_response(std::string body);

}  // namespace pos::collector
