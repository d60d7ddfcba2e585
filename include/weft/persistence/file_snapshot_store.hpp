// The durable snapshot store: one file per snapshot, `<directory>/<pid dir>/<seq>.snap`.
// Snapshots are few and large, so plain files (written atomically and fsynced) suit them
// better than the journal's LSM tree, which would rewrite them on every compaction.
// Layout and key rules in docs/snapshot-format.md.
#pragma once

#include <memory>
#include <string>

#include "weft/persistence/snapshot_store.hpp"

namespace weft::persistence {

class FileSnapshotStore final : public SnapshotStore {
 public:
  /// Opens (creating it if missing) the store in `directory`. Errc::io names the directory
  /// and the reason when it cannot be created or is not a directory.
  [[nodiscard]] static Result<std::unique_ptr<FileSnapshotStore>> open(
      std::string directory, SnapshotOptions options = {});

  /// Completes every queued operation, then stops its I/O thread.
  ~FileSnapshotStore() override;
  FileSnapshotStore(const FileSnapshotStore&) = delete;
  FileSnapshotStore& operator=(const FileSnapshotStore&) = delete;

  /// Every operation runs in order on the store's own I/O thread; futures complete there.
  /// save writes a temporary file, fsyncs it, renames it into place and fsyncs the directory:
  /// after a crash a snapshot is either whole or absent. Errc::io on a failed write (disk
  /// full included), naming the file.
  Future<std::monostate> save(SnapshotRecord record) override;
  Future<std::optional<SnapshotRecord>> load_latest(std::string persistence_id,
                                                    SnapshotSelection selection = {}) override;
  Future<std::size_t> delete_older(std::string persistence_id, std::size_t keep_last) override;
  Future<std::size_t> delete_to(std::string persistence_id, std::uint64_t max_sequence_nr) override;

  /// Where the snapshot (pid, seq) lives (whether or not it exists), for tools and tests.
  [[nodiscard]] std::string path_of(const std::string& persistence_id,
                                    std::uint64_t sequence_nr) const;

 private:
  struct Impl;
  explicit FileSnapshotStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace weft::persistence
