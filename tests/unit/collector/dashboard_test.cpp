#include "pos/collector/dashboard.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace pos::collector {
namespace {

std::string source_asset(const std::string& name) {
  std::ifstream in(std::filesystem::path(POS_SOURCE_DIR) / "collector" / "http" / "assets" / name,
                   std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string header(const common::HttpResponse& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) {
      return value;
    }
  }
  return "";
}

TEST(DashboardTest, EveryAssetIsEmbeddedByteForByte) {
  const std::set<std::string> expected{"/", "/dashboard.css", "/dashboard.js", "/favicon.svg"};
  std::set<std::string> paths;
  for (const auto& asset : dashboard_assets()) {
    paths.emplace(asset.path);
    const std::string file = asset.path == "/" ? "index.html" : std::string(asset.path.substr(1));
    const std::string on_disk = source_asset(file);
    ASSERT_FALSE(on_disk.empty()) << file;
    EXPECT_EQ(asset.body, on_disk) << file;
  }
  EXPECT_EQ(paths, expected);
}

TEST(DashboardTest, ServesThePageAndItsFilesWithTheirTypes) {
  const auto page = dashboard_response("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->content_type, "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("<title>Fastyle POS fleet</title>"), std::string::npos);
  EXPECT_EQ(dashboard_response("/index.html")->body, page->body);
  EXPECT_EQ(dashboard_response("/dashboard.js")->content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(dashboard_response("/dashboard.css")->content_type, "text/css; charset=utf-8");
  EXPECT_EQ(dashboard_response("/favicon.svg")->content_type, "image/svg+xml");
  EXPECT_FALSE(dashboard_response("/v1/fleet"));
  EXPECT_FALSE(dashboard_response("/dashboard.js.map"));
  EXPECT_FALSE(dashboard_response("/../collector.db"));

  const std::string csp = header(*page, "Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos);
  EXPECT_EQ(header(*page, "X-Content-Type-Options"), "nosniff");
}

TEST(DashboardTest, JsonIsNeverCached) {
  const auto response = json_response("{}");
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(header(response, "Cache-Control"), "no-store");
}

// The page must work with the network closed: only same-origin URLs (no CDN, no fonts).
TEST(DashboardTest, AssetsReferenceOnlySameOriginUrls) {
  const std::regex attribute(R"re((?:src|href)\s*=\s*"([^"]*)")re");
  const std::regex fetch_call(R"re(getJson\('([^']*)'\)|'(/v1/[a-z]+)')re");
  const std::regex absolute(R"re((?:https?:)?//[A-Za-z0-9-]+\.[A-Za-z])re");
  int references = 0;
  for (const auto& asset : dashboard_assets()) {
    const std::string body(asset.body);
    for (auto it = std::sregex_iterator(body.begin(), body.end(), attribute);
         it != std::sregex_iterator(); ++it) {
      const std::string url = (*it)[1];
      ++references;
      EXPECT_TRUE(url.starts_with("/") && !url.starts_with("//")) << asset.path << ": " << url;
    }
    for (auto it = std::sregex_iterator(body.begin(), body.end(), fetch_call);
         it != std::sregex_iterator(); ++it) {
      const std::string url = (*it)[1].matched ? (*it)[1] : (*it)[2];
      ++references;
      EXPECT_TRUE(url.starts_with("/v1/")) << asset.path << ": " << url;
    }
    std::string without_namespaces =
        std::regex_replace(body, std::regex(R"re(xmlns="http://www\.w3\.org/2000/svg")re"), "");
    EXPECT_FALSE(std::regex_search(without_namespaces, absolute))
        << asset.path << " names another origin";
    EXPECT_EQ(body.find("@import"), std::string::npos) << asset.path;
    EXPECT_EQ(body.find("url("), std::string::npos) << asset.path;
  }
  EXPECT_GE(references, 10);  // the page's links, scripts and the JSON endpoints were all seen
}

// Data goes into the DOM as text: the script never assigns HTML.
TEST(DashboardTest, ScriptNeverInsertsHtml) {
  const auto* script = find_dashboard_asset("/dashboard.js");
  ASSERT_NE(script, nullptr);
  for (const char* sink :
       {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("}) {
    EXPECT_EQ(script->body.find(sink), std::string::npos) << sink;
  }
  EXPECT_NE(script->body.find("textContent"), std::string::npos);
  EXPECT_NE(script->body.find("'/v1/fleet'"), std::string::npos);
  EXPECT_NE(script->body.find("'/v1/kpis'"), std::string::npos);
  EXPECT_NE(script->body.find("'/v1/stats'"), std::string::npos);
}

}  // namespace
}  // namespace pos::collector
