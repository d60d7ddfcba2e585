// The dashboard: the embedded assets, and the page in headless Chromium against a running node
// (docs/dashboard.md). Chromium is driven over --remote-debugging-pipe (the DevTools protocol on
// fds 3 and 4): a page holding an EventSource open never lets --virtual-time-budget finish, and
// the pipe lets the test wait inside the page for what it expects, with a deadline.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "temp_dir.hpp"
#include "weft/core/result.hpp"
#include "weft/node/assets.hpp"

extern char** environ;

namespace weft::node {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// --- The embedded assets ---------------------------------------------------------------------

TEST(DashboardAssets, ServesThePageItsScriptsAndUplot) {
  for (std::string_view path : {"/index.html", "/assets/app.js", "/assets/style.css",
                                "/assets/uPlot.min.js", "/assets/uPlot.min.css"}) {
    const Asset* asset = find_asset(path);
    ASSERT_NE(asset, nullptr) << path;
    EXPECT_EQ(asset->path, path);
    EXPECT_FALSE(asset->body.empty()) << path;
  }
  EXPECT_EQ(find_asset("/"), find_asset("/index.html"));
  EXPECT_EQ(find_asset("/?device=m-001"), find_asset("/index.html"));
  EXPECT_EQ(find_asset("/assets/app.js?v=2"), find_asset("/assets/app.js"));
  EXPECT_EQ(find_asset("/assets/"), nullptr);
  EXPECT_EQ(find_asset("/assets/missing.js"), nullptr);
  EXPECT_EQ(find_asset(""), nullptr);
  EXPECT_EQ(find_asset("index.html"), nullptr);
  EXPECT_EQ(all_assets().front().path, "/index.html");
}

TEST(DashboardAssets, ContentTypesFollowTheFileKind) {
  for (const Asset& asset : all_assets()) {
    const std::string_view p = asset.path;
    std::string_view expected = "?";
    if (p.ends_with(".html")) expected = "text/html; charset=utf-8";
    if (p.ends_with(".js")) expected = "text/javascript; charset=utf-8";
    if (p.ends_with(".css")) expected = "text/css; charset=utf-8";
    EXPECT_EQ(asset.content_type, expected) << p;
  }
}

TEST(DashboardAssets, ThePageLoadsNothingFromOutside) {
  // Everything the page references is served by the node itself: no CDN, no web fonts.
  for (const Asset& asset : all_assets()) {
    for (std::string_view outside : {"http://", "https://", "//fonts.", "@import"}) {
      if (asset.path == "/assets/uPlot.min.js" || asset.path == "/assets/uPlot.min.css") break;
      EXPECT_EQ(asset.body.find(outside), std::string_view::npos)
          << asset.path << " references " << outside;
    }
  }
  const std::string_view index = find_asset("/")->body;
  for (std::string_view ref :
       {"/assets/uPlot.min.js", "/assets/uPlot.min.css", "/assets/app.js", "/assets/style.css"}) {
    EXPECT_NE(index.find(std::string("\"") + std::string(ref) + "\""), std::string_view::npos)
        << "index.html does not load " << ref;
  }
}

// The repository's web/ folder: ctest sets WEFT_TEST_DATA_DIR to tests/data; run by hand, this
// file's own path leads there.
std::optional<std::filesystem::path> web_source_dir() {
  std::vector<std::filesystem::path> candidates;
  if (const char* data = std::getenv("WEFT_TEST_DATA_DIR")) {
    candidates.push_back(std::filesystem::path(data) / "../../web");
  }
  candidates.push_back(std::filesystem::path(__FILE__).parent_path() / "../../web");
  for (const auto& dir : candidates) {
    std::error_code ec;
    if (std::filesystem::exists(dir / "src/app.js", ec)) return dir;
  }
  return std::nullopt;
}

TEST(DashboardAssets, EmbedsTheSourceFilesByteForByte) {
  const auto dir = web_source_dir();
  ASSERT_TRUE(dir) << "web/ not found: run through ctest (WEFT_TEST_DATA_DIR) or from the build "
                      "directory";
  const std::filesystem::path web = *dir;
  const std::vector<std::pair<std::string_view, std::filesystem::path>> sources = {
      {"/index.html", web / "src/index.html"},
      {"/assets/app.js", web / "src/app.js"},
      {"/assets/style.css", web / "src/style.css"},
      {"/assets/uPlot.min.js", web / "node_modules/uplot/dist/uPlot.iife.min.js"},
      {"/assets/uPlot.min.css", web / "node_modules/uplot/dist/uPlot.min.css"},
  };
  for (const auto& [path, file] : sources) {
    std::ifstream in(file, std::ios::binary);
    ASSERT_TRUE(in) << file;
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_NE(find_asset(path), nullptr) << path;
    EXPECT_TRUE(find_asset(path)->body == bytes) << path << " differs from " << file;
  }
}

}  // namespace
}  // namespace weft::node
