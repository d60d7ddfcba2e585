// zstd compression for persisted blobs (snapshots). Decompression is bounded: a frame that
// claims or produces more than the caller's limit is refused before that memory is taken.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "weft/core/result.hpp"

namespace weft::persistence {

inline constexpr std::size_t kDefaultMaxDecompressedBytes = std::size_t{256} << 20;

/// One zstd frame with its content size and an XXH64 content checksum. `level` is clamped to
/// zstd's range.
[[nodiscard]] Result<std::vector<std::byte>> zstd_compress(std::span<const std::byte> input,
                                                           int level = 3);

/// Decompresses one or more concatenated zstd frames. More than `max_bytes` of output (or a
/// frame header claiming so) is refused with Errc::corrupted before it is allocated, as is
/// anything that is not complete, valid zstd. Memory stays below about
/// max_bytes + min(max_bytes, 128 MiB) whatever the input.
[[nodiscard]] Result<std::vector<std::byte>> zstd_decompress(
    std::span<const std::byte> input, std::size_t max_bytes = kDefaultMaxDecompressedBytes);

}  // namespace weft::persistence
