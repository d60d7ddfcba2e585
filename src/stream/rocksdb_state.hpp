// The RocksDB StateStore; private so RocksDB headers stay out of the public API.
#pragma once

#include <filesystem>
#include <memory>

#include "weft/core/result.hpp"
#include "weft/stream/state.hpp"

namespace weft::stream::detail {

/// Opens a fresh RocksDB instance in `dir` (whatever was there is destroyed: the local
/// instance is a working copy, checkpoints hold the state). The directory is removed on close.
[[nodiscard]] Result<std::unique_ptr<StateStore>> open_rocksdb_state(
    const std::filesystem::path& dir);

}  // namespace weft::stream::detail
