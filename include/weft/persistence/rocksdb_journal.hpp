// The default journal: embedded RocksDB with group commit. One writer thread owns every
// write; appends that arrive while an fsync is in flight go into the next group, which is
// stored as one log segment by one synced write. A background thread later folds the log into
// per-persistence-id chunks and a tag index. The on-disk format is in docs/journal-format.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "weft/persistence/journal.hpp"
#include "weft/persistence/snapshot_store.hpp"

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
  /// The log of group commits is kept in files of this size in `<directory>/wlog`, reused
  /// once folded; up to fold_bytes / log_file_bytes + 2 spare files stay there ready (see
  /// docs/journal-format.md).
  std::size_t log_file_bytes = 64u << 20;
  /// Prepare a full-sized log file as soon as the journal opens and move to it once ready, so
  /// that acknowledgements do not wait for a growing file's metadata from the start (a service
  /// such as the node). Off (for tools and tests), the first one is prepared once the first file
  /// is half full; this costs one file's worth of background writes per open.
  bool preallocate_log = false;
  /// Memtable size of the journal column family: larger means fewer, bigger flushes.
  std::size_t write_buffer_bytes = 128u << 20;
  /// The log is folded into chunks once this many bytes wait in it. Memory holds up to about
  /// twice this (the events since the last fold, for reads), and a restart after a crash
  /// re-reads up to this much of the log. Smaller suits a small gateway; larger folds make
  /// fewer, bigger chunks (faster: see docs/journal-format.md).
  std::size_t fold_bytes = 128u << 20;
  /// A fold runs in the background, spread over the time the next generation takes to fill
  /// half-way, and over at most this many seconds when few appends follow it, so it never takes
  /// a core in one burst (docs/journal-format.md, "The fold is paced"). A fold that someone
  /// waits for (a delete, `compact`, closing) runs at full speed. 0: never paced.
  double fold_pace_seconds = 4.0;
  /// Events and tag indexes are stored compressed with LZ4 from the fold on (every level of
  /// their families; otherwise only the bottommost, which compaction writes). For payloads that
  /// compress -- JSON telemetry made a fold's table file 3.9 times smaller -- the fold writes
  /// that much less (on flash storage, that much less wear), for 0.1-0.3 of a core at ~600k
  /// events/s; the maximum of `weft-bench journal --scenario persist` rose 1-13% (10 of 10
  /// alternating pairs), p99 at half load did not improve. Off by default: compact codec
  /// bytes and encrypted payloads (crypto-shredding) compress little or not at all.
  bool compress_folds = false;
  /// The most compactions may write per second (bytes; 0: no limit). RocksDB's auto-tuned rate
  /// limiter starts lower and raises it while compactions fall behind. Every fold ingests a
  /// table file that spans every persistence id, so compaction merges it with all of level 1:
  /// unlimited, those merges took the disk's bandwidth in bursts of a gigabyte, and appends
  /// waited behind them. `weft-bench journal --scenario persist --scale 4` (20M events before
  /// the latency phase), two alternating pairs: maximum 0.91-0.93M -> 1.13-1.17M events/s, p99
  /// at half load 255-381 ms -> 7-32 ms; at --scale 8, 711k -> 1.08M and 116 -> 10 ms. The
  /// fold's own table files are not limited.
  std::size_t compaction_bytes_per_second = 200u << 20;
  /// One cache of table blocks shared by every column family (events, tags, snapshots,
  /// metadata). Recovery reads each actor's snapshot and events once; with RocksDB's default of
  /// 8 MiB per family, blocks holding neighbouring actors were read and decompressed again.
  std::size_t block_cache_bytes = 32u << 20;
  /// False for tools (`weft journal`): a missing directory is an error, not a new journal.
  bool create_if_missing = true;
  /// Optional: appends, events, bytes, group sizes and fsync latency are recorded here.
  MetricsRegistry* metrics = nullptr;
};

class RocksDbJournal final : public Journal {
 public:
  /// Opens (or creates) the journal in `options.directory`. Fails with Errc::io naming the
  /// directory and RocksDB's reason when it is missing, unwritable or locked by another
  /// process, and with Errc::corrupted when its stored metadata does not decode.
  [[nodiscard]] static Result<std::unique_ptr<RocksDbJournal>> open(const JournalOptions& options);

  /// Completes every pending append, folds the log, then closes the database. Must not run on
  /// one of the journal's own threads (from inside a callback of one of its futures).
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
  /// As read(), with each record's bytes copied once into the page (no allocation per event).
  Future<EventPage> read_page(std::string persistence_id, std::uint64_t from, std::uint64_t to,
                              std::size_t max_events) override;
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

  /// A snapshot store in the same database (column family `snapshots`); saves are group
  /// committed with the appends. The journal must outlive it.
  [[nodiscard]] std::shared_ptr<SnapshotStore> snapshot_store(SnapshotOptions options = {});

  struct Stats {
    std::uint64_t persistence_ids = 0;
    std::uint64_t events = 0;          // stored, not deleted
    std::uint64_t highest_offset = 0;  // of the tag index
    std::uint64_t log_bytes = 0;       // in segments not yet folded
    std::uint64_t sst_bytes = 0;       // table files on disk
    std::uint64_t snapshots = 0;
  };
  [[nodiscard]] Result<Stats> stats();

  /// Progress of a long operation: units done of total (total 0 when unknown).
  using Progress = std::function<void(std::uint64_t done, std::uint64_t total)>;

  struct VerifyReport {
    std::uint64_t persistence_ids = 0;
    std::uint64_t events = 0;
    std::uint64_t tag_entries = 0;
    std::uint64_t log_segments = 0;
    std::vector<Error> problems;  // each names what is damaged and where
  };
  /// Checks every record's checksum and every persistence id's sequence continuity (one id, or
  /// all), the tag index and the unfolded log. Damage is reported, not returned as an error.
  [[nodiscard]] Result<VerifyReport> verify(const std::string& persistence_id = {},
                                            const Progress& progress = {});

  /// Folds the log and compacts every column family (reclaims space after deletes).
  [[nodiscard]] Result<void> compact(const Progress& progress = {});

 private:
  struct Impl;
  explicit RocksDbJournal(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace weft::persistence
