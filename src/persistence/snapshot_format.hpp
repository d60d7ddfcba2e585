// The stored bytes of one snapshot: a framed header, the (compressed, encrypted) payload and
// a CRC32C. Layout in docs/snapshot-format.md. Shared by every snapshot store and compiled
// directly into the fuzz target.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "weft/core/result.hpp"
#include "weft/persistence/crypto.hpp"
#include "weft/persistence/snapshot_store.hpp"

namespace weft::persistence {

inline constexpr std::string_view kSnapshotMagic = "WSNP";
inline constexpr std::uint8_t kSnapshotFormat = 1;
inline constexpr std::uint8_t kSnapshotCompressed = 0x01;  // zstd
inline constexpr std::uint8_t kSnapshotEncrypted = 0x02;   // AES-256-GCM

/// Encodes and decodes snapshots under one set of options. Holds the derived snapshot key,
/// never the master key. Immutable after construction, so safe to share between threads.
class SnapshotCodec {
 public:
  explicit SnapshotCodec(const SnapshotOptions& options);

  /// Errc::invalid_argument if the payload exceeds max_snapshot_bytes or an id or manifest
  /// exceeds 65535 bytes.
  [[nodiscard]] Result<std::string> encode(const SnapshotRecord& record) const;

  /// Decodes bytes stored for (`persistence_id`, `sequence_nr`). Anything wrong (checksum,
  /// truncation, unknown format or flags, another id inside, wrong or missing key, failed
  /// authentication, bad or oversized zstd) is Errc::corrupted naming both. Never aborts.
  [[nodiscard]] Result<SnapshotRecord> decode(std::string_view bytes,
                                              std::string_view persistence_id,
                                              std::uint64_t sequence_nr) const;

  [[nodiscard]] std::size_t max_snapshot_bytes() const noexcept { return max_bytes_; }

 private:
  bool compress_;
  int level_;
  std::optional<Key> key_;    // derived for purpose "snapshots"
  std::uint32_t key_id_ = 0;  // of the master key: what operators see in key rings
  std::size_t max_bytes_;
};

}  // namespace weft::persistence
