// The snapshot store: where an event-sourced actor keeps a copy of its state so recovery
// replays only the events after it. Stored records are framed, optionally zstd-compressed
// and AES-256-GCM-encrypted; the format is in docs/snapshot-format.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "weft/actor/future.hpp"
#include "weft/core/result.hpp"
#include "weft/persistence/crypto.hpp"

namespace weft::persistence {

struct SnapshotMetadata {
  std::string persistence_id;
  std::uint64_t sequence_nr = 0;  // the last event the snapshot covers
  std::int64_t timestamp_ms = 0;  // wall clock at save time

  friend bool operator==(const SnapshotMetadata&, const SnapshotMetadata&) = default;
};

/// A snapshot: the state's codec bytes with the codec's manifest and schema version.
struct SnapshotRecord {
  SnapshotMetadata meta;
  std::string manifest;
  std::uint32_t version = 1;
  std::vector<std::byte> payload;

  friend bool operator==(const SnapshotRecord&, const SnapshotRecord&) = default;
};

struct SnapshotSelection {
  /// The newest snapshot with sequence_nr <= this is chosen.
  std::uint64_t max_sequence_nr = std::numeric_limits<std::uint64_t>::max();
};

/// How snapshots are stored. Reading needs the same key; compression is recorded per
/// snapshot, so changing `compress` keeps old snapshots readable.
struct SnapshotOptions {
  bool compress = true;
  int zstd_level = 3;
  /// The master key: when set, snapshots are encrypted with AES-256-GCM under a key derived
  /// from it (HKDF, purpose "snapshots"), bound to their persistence id and sequence number.
  std::optional<Key> key;
  /// Larger payloads are refused on save; stored ones claiming more are refused on load.
  std::size_t max_snapshot_bytes = std::size_t{256} << 20;
};

/// Asynchronous and thread-safe. A load never returns a damaged state: a snapshot that does
/// not verify, decrypt or decompress fails with Errc::corrupted naming its persistence id and
/// sequence number (the caller may then recover from events alone).
class SnapshotStore {
 public:
  virtual ~SnapshotStore() = default;

  /// Stores the snapshot, replacing one with the same (pid, sequence_nr). Completes once it
  /// is durable.
  [[nodiscard]] virtual Future<std::monostate> save(SnapshotRecord record) = 0;

  /// The newest snapshot of `persistence_id` within `selection`; nullopt if none.
  [[nodiscard]] virtual Future<std::optional<SnapshotRecord>> load_latest(
      std::string persistence_id, SnapshotSelection selection = {}) = 0;

  /// Deletes all but the newest `keep_last` snapshots; completes with how many were deleted.
  [[nodiscard]] virtual Future<std::size_t> delete_older(std::string persistence_id,
                                                         std::size_t keep_last) = 0;

  /// Deletes the snapshots with sequence_nr <= max_sequence_nr; completes with how many.
  [[nodiscard]] virtual Future<std::size_t> delete_to(std::string persistence_id,
                                                      std::uint64_t max_sequence_nr) = 0;
};

/// Snapshots in memory, encoded exactly as on disk (so options, corruption and keys behave
/// as in a durable store): the reference behaviour, for tests and for data that may be lost.
/// Completes every future before returning.
class MemorySnapshotStore final : public SnapshotStore {
 public:
  explicit MemorySnapshotStore(SnapshotOptions options = {});
  ~MemorySnapshotStore() override;

  Future<std::monostate> save(SnapshotRecord record) override;
  Future<std::optional<SnapshotRecord>> load_latest(std::string persistence_id,
                                                    SnapshotSelection selection = {}) override;
  Future<std::size_t> delete_older(std::string persistence_id, std::size_t keep_last) override;
  Future<std::size_t> delete_to(std::string persistence_id, std::uint64_t max_sequence_nr) override;

  /// The stored bytes of one snapshot, to inspect or damage in tests; nullptr if absent.
  [[nodiscard]] std::string* stored_bytes(const std::string& persistence_id,
                                          std::uint64_t sequence_nr);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace weft::persistence
