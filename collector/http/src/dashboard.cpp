#include "pos/collector/dashboard.hpp"

#include <string>

namespace pos::collector {
namespace {

/// Same-origin only: no inline script or style, no other hosts, not framed.
constexpr std::string_view content_security_policy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace

const DashboardAsset* find_dashboard_asset(std::string_view path) noexcept {
  if (path == "/index.html") {
    path = "/";
  }
  for (const auto& asset : dashboard_assets()) {
    if (asset.path == path) {
      return &asset;
    }
  }
  return nullptr;
}

std::optional<common::HttpResponse> dashboard_response(std::string_view path) {
  const DashboardAsset* asset = find_dashboard_asset(path);
  if (asset == nullptr) {
    return std::nullopt;
  }
  return common::HttpResponse{200,
                              std::string(asset->content_type),
                              std::string(asset->body),
                              {{"Cache-Control", "no-cache"},
                               {"X-Content-Type-Options", "nosniff"},
                               {"Content-Security-Policy", std::string(content_security_policy)}}};
}

common::HttpResponse json_response(std::string body) {
  return common::HttpResponse{
      200,
      "application/json",
      std::move(body),
      {{"Cache-Control", "no-store"}, {"X-Content-Type-Options", "nosniff"}}};
}

}  // namespace pos::collector
