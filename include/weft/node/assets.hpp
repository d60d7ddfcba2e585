// The dashboard's static files (docs/dashboard.md), compiled into the binary at build time from
// web/src and the uPlot package that npm installs into web/node_modules: the node serves them
// with no file system and no outside network.
#pragma once

#include <span>
#include <string_view>

namespace weft::node {

struct Asset {
  std::string_view path;          // "/index.html", "/assets/app.js", "/assets/uPlot.min.js"
  std::string_view content_type;  // with charset for text, ready for a Content-Type header
  std::string_view body;
};

/// The asset served at `path` ("/" is "/index.html"; a query string is ignored), or null.
[[nodiscard]] const Asset* find_asset(std::string_view path) noexcept;

/// Every embedded asset, index.html first.
[[nodiscard]] std::span<const Asset> all_assets() noexcept;

}  // namespace weft::node
