// The default journal: embedded RocksDB with group commit. One writer thread owns every
// write; appends that arrive while an fsync is in flight go into the next write batch and
// are made durable by one synced write. The on-disk format is in docs/journal-format.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "weft/persistence/journal.hpp"

namespace weft {
class MetricsRegistry;
}

namespace weft::persistence {

struct JournalOptions {
  /// The RocksDB directory. Created if missing (its parent must exist).
  std::string directory;
  Durability durability = Durability::fsync;
  /// A group commit stops taking appends once it holds this many encoded bytes; the rest go
  /// into the next one. One append larger than this is still written, alone.
  std::size_t max_batch_bytes = 8u << 20;
  /// Memtable size of the journal column family: larger means fewer, bigger flushes.
  std::size_t write_buffer_bytes = 128u << 20;
  /// Optional: appends, events, bytes, group sizes and fsync latency are recorded here.
  MetricsRegistry* metrics = nullptr;
};

class RocksDbJournal final : public Journal {
 public:
  /// Opens (or creates) the journal in `options.directory`. Fails with Errc::io naming the
  /// directory and RocksDB's reason when it is missing, unwritable or locked by another
  /// process, and with Errc::corrupted when its stored metadata does not decode.
  [[nodiscard]] static Result<std::unique_ptr<RocksDbJournal>> open(const JournalOptions& options);

  /// Completes every pending append, then closes the database.
  ~RocksDbJournal() override;
  RocksDbJournal(const RocksDbJournal&) = delete;
  RocksDbJournal& operator=(const RocksDbJournal&) = delete;

  /// Validated (sequence, epoch) and made durable on the writer thread; the future completes
  /// there. Fails with Errc::conflict on a mismatch, Errc::io when the write fails (disk
  /// full: nothing of the group is stored, and later appends succeed once space returns).
  Future<std::uint64_t> append(AppendBatch batch) override;
  /// Reads run on the calling thread (RocksDB reads are thread-safe) and return completed
  /// futures. A record that fails its checksum or does not decode gives Errc::corrupted.
  Future<std::vector<EventRecord>> read(std::string persistence_id, std::uint64_t from,
                                        std::uint64_t to, std::size_t max_events) override;
  Future<std::uint64_t> highest_sequence_nr(std::string persistence_id) override;
  /// Runs on the writer thread, ordered with appends; a range delete.
  Future<std::uint64_t> delete_to(std::string persistence_id, std::uint64_t to) override;
  Future<std::vector<TaggedEvent>> events_by_tag(std::string tag, std::uint64_t after_offset,
                                                 std::size_t max_events) override;
  Future<std::vector<std::string>> persistence_ids() override;
  std::uint64_t subscribe(std::function<void(std::uint64_t)> listener) override;
  void unsubscribe(std::uint64_t id) override;

  /// The highest global tag offset committed so far.
  [[nodiscard]] std::uint64_t last_offset() const;

 private:
  struct Impl;
  explicit RocksDbJournal(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace weft::persistence
