#include "weft/node/assets.hpp"

#include <cstddef>

namespace weft::node {

namespace detail {
// Defined by the translation unit that web/cmake/embed_assets.cmake generates.
extern const Asset kAssets[];
extern const std::size_t kAssetCount;
}  // namespace detail

const Asset* find_asset(std::string_view path) noexcept {
  if (auto query = path.find('?'); query != std::string_view::npos) path = path.substr(0, query);
  if (path == "/") path = "/index.html";
  for (const Asset& asset : all_assets()) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

std::span<const Asset> all_assets() noexcept {
  return {detail::kAssets, detail::kAssetCount};
}

}  // namespace weft::node
