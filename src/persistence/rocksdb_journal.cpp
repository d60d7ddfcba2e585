#include "weft/persistence/rocksdb_journal.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/rate_limiter.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <thread>
#include <unordered_map>

#include "persistence/journal_keys.hpp"
#include "persistence/journal_record.hpp"
#include "persistence/journal_segment.hpp"
#include "persistence/manifest_registry.hpp"
#include "persistence/segment_log.hpp"
#include "persistence/snapshot_format.hpp"
#include "weft/core/metrics.hpp"

namespace weft::persistence {

namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr std::uint64_t kMaxSeq = std::numeric_limits<std::uint64_t>::max();

// Column families in the order they are opened; handles follows it.
constexpr const char* kColumnFamilies[] = {"default",   "journal",      "tags",    "meta",
                                           "snapshots", "stream_state", "offsets", "log"};
enum Cf : std::size_t { kDefault, kJournalCf, kTagsCf, kMetaCf, kSnapshotsCf, kLogCf = 7 };

// A chunk stops growing at this size: a read seeks to the chunk that holds its first event and
// decodes from there, so chunks bound the work wasted before it.
constexpr std::size_t kChunkBytes = 32u << 10;
constexpr std::size_t kTagChunkEntries = 1024;
// A writer idle this long gives back the record buffers kept for reuse.
constexpr auto kIdleRelease = std::chrono::seconds(1);

// A generation's copy of its appends' segment entries, which its tails point into: blocks of
// kBytes, taken from and given back to a pool of spare blocks. Appends used to leave their own
// buffers in the generation; freeing a generation's million small buffers after its fold took
// the folder 40-100 ms, contending for the appending threads' malloc arenas, and appends then
// waited 20-40 ms. Whole blocks move instead, and the next generation writes into memory
// already faulted in.
class EntryArena {
 public:
  static constexpr std::size_t kBytes = 1u << 20;
  using Block = std::unique_ptr<char[]>;

  /// Copies `data` in, a new block taken from `spare` (or allocated) when the last is full.
  std::string_view copy(std::string_view data, std::vector<Block>& spare) {
    if (data.size() > kBytes / 4) {  // large: a block of its own, not reused
      large_.push_back(std::make_unique_for_overwrite<char[]>(data.size()));
      std::memcpy(large_.back().get(), data.data(), data.size());
      return {large_.back().get(), data.size()};
    }
    if (blocks_.empty() || kBytes - used_ < data.size()) {
      if (spare.empty()) {
        blocks_.push_back(std::make_unique_for_overwrite<char[]>(kBytes));
      } else {
        blocks_.push_back(std::move(spare.back()));
        spare.pop_back();
      }
      used_ = 0;
    }
    char* at = blocks_.back().get() + used_;
    std::memcpy(at, data.data(), data.size());
    used_ += data.size();
    return {at, data.size()};
  }

  /// Moves the blocks out (for reuse); the large ones are freed with the arena.
  void give_blocks(std::vector<Block>& to) {
    for (auto& b : blocks_) to.push_back(std::move(b));
    blocks_.clear();
  }

 private:
  std::vector<Block> blocks_;
  std::size_t used_ = 0;
  std::vector<Block> large_;
};

std::uint64_t nanos_between(SteadyClock::time_point from, SteadyClock::time_point to) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count());
}
std::uint64_t nanos_since(SteadyClock::time_point t) {
  return nanos_between(t, SteadyClock::now());
}

rocksdb::ColumnFamilyOptions big_cf_options(std::size_t write_buffer_bytes,
                                            const std::shared_ptr<rocksdb::Cache>& cache,
                                            bool compressed) {
  rocksdb::ColumnFamilyOptions o;
  o.write_buffer_size = write_buffer_bytes;
  o.max_write_buffer_number = 4;
  o.min_write_buffer_number_to_merge = 1;
  // Payloads are mostly already compact codec bytes, and encrypted ones (crypto-shredding) do
  // not compress at all: compressing every level costs CPU on the write path for little; the
  // bottommost level, written once by compaction, gets LZ4, which decompresses several times
  // faster than zstd on every replay and recovery (weft-bench journal: replay 2.96M -> 4.37M
  // events/s, recover 1.62-1.73 s -> 1.37-1.54 s). JournalOptions::compress_folds: every level
  // (the fold writes level-0 files).
  o.compression = compressed ? rocksdb::kLZ4Compression : rocksdb::kNoCompression;
  o.bottommost_compression = rocksdb::kLZ4Compression;
  o.target_file_size_base = 64u << 20;
  o.max_bytes_for_level_base = 512u << 20;
  o.level0_slowdown_writes_trigger = 40;
  o.level0_stop_writes_trigger = 64;
  rocksdb::BlockBasedTableOptions t;
  // Large blocks: recovering many actors reads their chunks in key order, and each seek into a
  // block costs an index lookup, a cache lookup and (on a miss) decompressing the whole block,
  // most of which the next actors then read from the cache. weft-bench journal recover
  // (100,000 actors), five alternating rounds: 32 KiB median 1.238 s, 128 KiB 1.057 s, 256 KiB
  // 1.044 s; 8 KiB was slower than 32 (1.36-1.40 s). Replay of one id is unchanged (5.2-5.9M
  // events/s either way). The price: a cold read of one id decompresses up to 128 KiB (~30 µs
  // more than 32 KiB). Files written before keep their block size.
  t.block_size = 128u << 10;
  t.block_cache = cache;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

// RocksDB's own messages go to spdlog (warnings and worse), not to a LOG file in the data
// directory: that file would fill a full disk further, and RocksDB's logger asserts when it
// writes after a failed write.
/// Turns off RocksDB's own background recovery from errors such as a full disk: the writer
/// resumes the database itself (DB::Resume) before its next write. Both at once race, and in
/// RocksDB 7.8 with atomic_flush the background recovery could leave a flush waiting forever
/// and DB::Close with it (facebook/rocksdb#11867, fixed in 8.7); seen once in the disk-full test.
class ResumeOnNextWrite final : public rocksdb::EventListener {
 public:
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason /*reason*/, rocksdb::Status /*error*/,
                            bool* auto_recovery) override {
    *auto_recovery = false;
  }
};

class SpdlogLogger final : public rocksdb::Logger {
 public:
  explicit SpdlogLogger(std::string directory)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), directory_(std::move(directory)) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char buf[1024];
    std::vsnprintf(buf, sizeof buf, format, ap);
    // Table files written by SstFileWriter (every fold) carry no unique id for RocksDB to check
    // against the MANIFEST; their blocks are checksummed as any other's. Not worth a warning.
    if (std::strstr(buf, "without unique ID to verify") != nullptr) {
      spdlog::debug("journal '{}': rocksdb: {}", directory_, buf);
      return;
    }
    if (level >= rocksdb::InfoLogLevel::ERROR_LEVEL) {
      spdlog::error("journal '{}': rocksdb: {}", directory_, buf);
    } else {
      spdlog::warn("journal '{}': rocksdb: {}", directory_, buf);
    }
  }

 private:
  std::string directory_;
};

Error io_error(std::string_view what, const std::string& dir, const rocksdb::Status& s) {
  return Error(Errc::io, std::string(what) + " '" + dir + "': " + s.ToString());
}

Error open_error(const std::string& dir, const rocksdb::Status& s) {
  const std::string why = s.ToString();
  if (why.find("lock") != std::string::npos || why.find("LOCK") != std::string::npos) {
    return Error(Errc::io, "the journal in '" + dir +
                               "' is in use by another process (its LOCK file is held): " + why);
  }
  if (s.IsInvalidArgument() && why.find("does not exist") != std::string::npos) {
    return Error(Errc::not_found, "there is no journal in '" + dir + "'");
  }
  return io_error("cannot open the journal in", dir, s);
}

std::string log_key(std::uint64_t segment_no) {
  return encode_u64_be(segment_no);
}

std::string_view view(const rocksdb::Slice& s) {
  return {s.data(), s.size()};
}

// An iterator over the keys of one name (a persistence id or a tag) in a column family: every
// key `varint(len) ‖ name ‖ 0x00 ‖ u64be` of it and no other. Holds the bounds it points to.
struct RangeRead {
  const rocksdb::Snapshot* snapshot = nullptr;
  std::size_t readahead = 0;  // > 0: a long sequential read, kept out of the block cache
};

// The readahead of long reads (pages of 1,024 events or more, `weft journal verify`). Each page
// makes its own iterator, and each iterator's first read fetched the whole readahead into a
// fresh buffer: with 2 MiB, a replay page of 10,000 100-byte events (~1.3 MB of chunks) read
// ~0.7 MB past its end and copied it, every time. weft-bench journal --scenario replay, five
// alternating pairs: 2 MiB 2.7-4.4M events/s (median 4.28M), 256 KiB 4.4-7.5M (median 6.82M).
constexpr std::size_t kLongReadAhead = 256u << 10;

class NameRange {
 public:
  using Read = RangeRead;
  NameRange(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string lower, std::string upper,
            Read read = {})
      : lower_(std::move(lower)), upper_(std::move(upper)), lo_(lower_), up_(upper_) {
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &lo_;
    ro.iterate_upper_bound = &up_;
    ro.snapshot = read.snapshot;
    ro.readahead_size = read.readahead;
    ro.fill_cache = read.readahead == 0;
    owned_.reset(db->NewIterator(ro, cf));
    it_ = owned_.get();
  }
  /// The range of one persistence id (journal chunks, snapshots).
  NameRange(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string_view pid, Read read = {})
      : NameRange(db, cf, journal_key(pid, 0), journal_key_end(pid), read) {}
  /// The range of one persistence id over a kept iterator without bounds (a ReaderIterators
  /// one): the moves stay inside the range themselves and valid() checks the name.
  NameRange(rocksdb::Iterator* unbounded, std::string_view pid)
      : lower_(journal_key(pid, 0)), upper_(journal_key_end(pid)), it_(unbounded) {
    name_ = std::string_view(lower_).substr(0, lower_.size() - 8);  // varint len ‖ pid ‖ 0x00
  }
  NameRange(const NameRange&) = delete;
  NameRange& operator=(const NameRange&) = delete;

  void seek_to_first() { owned_ ? it_->SeekToFirst() : it_->Seek(lower_); }
  // No key equals `upper_` (a name's keys have 0x00 after it): the last key before it.
  void seek_to_last() { owned_ ? it_->SeekToLast() : it_->SeekForPrev(upper_); }
  void seek_for_prev(std::string_view key) {
    it_->SeekForPrev(rocksdb::Slice(key.data(), key.size()));
  }
  void next() { it_->Next(); }
  [[nodiscard]] bool valid() const {
    return it_->Valid() && (owned_ || view(it_->key()).starts_with(name_));
  }
  [[nodiscard]] rocksdb::Slice key() const { return it_->key(); }
  [[nodiscard]] rocksdb::Slice value() const { return it_->value(); }
  [[nodiscard]] rocksdb::Status status() const { return it_->status(); }
  [[nodiscard]] const std::string& lower() const { return lower_; }

 private:
  std::string lower_;
  std::string upper_;
  rocksdb::Slice lo_;
  rocksdb::Slice up_;
  std::string_view name_;  // unbounded: what every key of the range starts with
  std::unique_ptr<rocksdb::Iterator> owned_;
  rocksdb::Iterator* it_ = nullptr;
};

/// A reading thread's iterators of the journal and snapshot families, kept between its reads:
/// creating and destroying a RocksDB iterator per read was ~10% of a recovery's samples, and a
/// kept one often finds the next actor's chunk in the block it already holds. Refreshed before
/// each use (it then sees everything written since; RocksDB rebuilds it only when the set of
/// table files changed). Without bounds, as the bounds change per read (NameRange checks them).
/// Dropped after every flush and compaction (Impl::drop_reader_iterators), so that a thread
/// that stops reading does not keep table files RocksDB would delete.
struct ReaderIterators {
  std::mutex mutex;  // the reading thread while it reads; drop_reader_iterators
  std::unique_ptr<rocksdb::Iterator> journal;
  std::unique_ptr<rocksdb::Iterator> snapshots;
};

/// Calls `drop` after each flush and compaction (on RocksDB's thread, without its mutex held).
class AfterTableChanges final : public rocksdb::EventListener {
 public:
  explicit AfterTableChanges(std::function<void()> drop) : drop_(std::move(drop)) {}
  void OnFlushCompleted(rocksdb::DB* /*db*/, const rocksdb::FlushJobInfo& /*info*/) override {
    drop_();
  }
  void OnCompactionCompleted(rocksdb::DB* /*db*/,
                             const rocksdb::CompactionJobInfo& /*info*/) override {
    drop_();
  }

 private:
  std::function<void()> drop_;
};

std::atomic<std::uint64_t> next_journal_serial{1};

}  // namespace

struct RocksDbJournal::Impl {
  class SnapshotStoreImpl;
  struct PidState;
  struct Tail;
  enum class Kind : std::uint8_t { append, remove, snapshot_save, snapshot_delete };

  // One operation waiting for the writer thread. Appends arrive encoded: the caller's thread
  // builds the segment entries and checksums so the writer only validates and copies.
  struct Op {
    Kind kind = Kind::append;
    std::string persistence_id;
    std::uint64_t expected_next = 0;
    std::uint64_t epoch = 0;
    std::uint64_t to = 0;       // remove, snapshot_delete: up to this sequence
    std::size_t keep_last = 0;  // snapshot_delete: keep this many newest (0: by `to` only)
    std::size_t events = 0;
    // An append's segment entries: in `small` when they fit (most single events), else in
    // `data`. The writer copies them into the generation's arena (EntryArena); a heap buffer
    // per append would be freed on the writer's thread into the appending thread's malloc
    // arena, contending with that thread's next allocation.
    static constexpr std::size_t kSmallBytes = 240;
    std::uint32_t small_size = 0;
    std::array<char, kSmallBytes> small;  // NOLINT: only the first small_size bytes are read
    std::string data;  // append: segment entries when large; snapshot_save: the value
    std::vector<std::pair<std::uint64_t, std::string>> tags;  // (sequence nr, tag)
    Promise<std::uint64_t> promise;
    SteadyClock::time_point enqueued;
    std::uint64_t pid_hash = 0;  // PidTable::hash of persistence_id, by the enqueuing thread
    PidState* state = nullptr;   // set by the writer when it accepts an append

    [[nodiscard]] std::string_view entries() const {
      return small_size > 0 ? std::string_view(small.data(), small_size) : std::string_view(data);
    }
  };

  // What the writer knows of a persistence id: loaded from meta on first use, then kept.
  struct PidState {
    std::uint64_t highest = 0;
    std::uint64_t epoch = 0;
    std::uint64_t deleted_to = 0;
    // What the pid's meta entry says (or will, once the fold in flight writes it): the fold
    // rewrites meta only for new pids and epoch changes, not for every pid it touches.
    bool in_meta = false;
    std::uint64_t meta_epoch = 0;
    // The pid's tail in the current generation, valid while tail_generation matches.
    Tail* tail = nullptr;
    std::uint64_t tail_generation = 0;
  };

  // The writer's index of pids: open addressing over (hash, entry) slots, the hash computed by
  // the thread that enqueued the op. The writer looks up every append's pid; with a node-based
  // map that was a bucket and a node fetched from memory one after the other (~19% of the
  // writer's samples at full rate), while here it can prefetch the slots and entries of the
  // ops a few places ahead of the one it stages.
  class PidTable {
   public:
    static std::uint64_t hash(std::string_view pid) { return std::hash<std::string_view>{}(pid); }

    void prefetch_slot(std::uint64_t h) const { __builtin_prefetch(&slots_[h & mask()]); }
    // Once its slot is cached: the entry of the first slot with that hash.
    void prefetch_entry(std::uint64_t h) const {
      for (std::size_t i = h & mask();; i = (i + 1) & mask()) {
        const Slot& slot = slots_[i];
        if (slot.entry == nullptr) return;
        if (slot.hash == h) {
          __builtin_prefetch(slot.entry);
          __builtin_prefetch(reinterpret_cast<const char*>(slot.entry) + 64);
          return;
        }
      }
    }
    [[nodiscard]] PidState* find(std::string_view pid, std::uint64_t h) {
      for (std::size_t i = h & mask();; i = (i + 1) & mask()) {
        const Slot& slot = slots_[i];
        if (slot.entry == nullptr) return nullptr;
        if (slot.hash == h && slot.entry->pid == pid) return &slot.entry->state;
      }
    }
    PidState* insert(std::string pid, std::uint64_t h, PidState state) {
      if (2 * (entries_.size() + 1) > slots_.size()) grow();
      entries_.push_back(Entry{std::move(pid), state});
      place(h, &entries_.back());
      return &entries_.back().state;
    }

   private:
    struct Entry {
      std::string pid;
      PidState state;
    };
    struct Slot {
      std::uint64_t hash = 0;
      Entry* entry = nullptr;
    };
    [[nodiscard]] std::size_t mask() const { return slots_.size() - 1; }
    void place(std::uint64_t h, Entry* e) {
      std::size_t i = h & mask();
      while (slots_[i].entry != nullptr) i = (i + 1) & mask();
      slots_[i] = Slot{h, e};
    }
    void grow() {
      std::vector<Slot> old(slots_.size() * 2);
      old.swap(slots_);
      for (const Slot& slot : old) {
        if (slot.entry != nullptr) place(slot.hash, slot.entry);
      }
    }
    std::vector<Slot> slots_ = std::vector<Slot>(1024);  // a power of two, at most half full
    std::deque<Entry> entries_;                          // never moved
  };

  // Events of one persistence id committed since the last seal, for readers until folded. The
  // records stay where the generation's arena holds them: the writer only notes where each is.
  struct Tail {
    std::uint64_t first_seq = 0;
    std::uint64_t epoch = 0;
    const PidState* state = nullptr;        // deleted_to is read by the fold
    const std::string* key = nullptr;       // the pid, as the generation's map holds it
    bool write_meta = false;                // new pid or new epoch: the fold writes its meta
    std::vector<std::string_view> records;  // each varint len ‖ record, as a chunk frames it
    [[nodiscard]] std::uint64_t last_seq() const { return first_seq + records.size() - 1; }
    [[nodiscard]] std::string_view record(std::uint64_t seq) const {
      const std::string_view framed = records[static_cast<std::size_t>(seq - first_seq)];
      std::size_t pos = 0;
      (void)get_varint(framed, pos);
      return framed.substr(pos);
    }
  };
  struct TagRef {
    std::uint64_t offset;
    const std::string* persistence_id;  // the key of the Tail in the same generation
    std::uint64_t sequence_nr;
  };
  // Everything committed between two seals. The writer fills `current`; the folder writes
  // `sealed` into chunks; readers look at both under tail_mutex.
  struct Generation {
    std::unordered_map<std::string, Tail> pids;
    std::unordered_map<std::string, std::vector<TagRef>> tags;
    // The appends' encoded entries, which the tails point into.
    EntryArena entries;
    std::uint64_t first_group = 0;
    std::uint64_t last_group = 0;
    std::uint64_t last_offset = 0;
    std::size_t bytes = 0;
    // Manifest ids defined in the log up to this generation's last segment: the fold stores
    // them in meta before the log that defines them goes.
    std::uint32_t manifests = 0;
  };

  struct Metrics {
    Counter* appends = nullptr;
    Counter* conflicts = nullptr;
    Counter* failures = nullptr;
    Counter* events = nullptr;
    Counter* bytes = nullptr;
    Counter* folds = nullptr;
    Histogram* group_events = nullptr;
    Histogram* group_bytes = nullptr;
    Histogram* fsync_ns = nullptr;
    Histogram* append_ns = nullptr;
    Histogram* fold_ns = nullptr;
  };

  JournalOptions options;
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::WriteOptions write_options;
  Metrics metrics;

  // Iterators kept by reading threads (ReaderIterators); `serial` tells this journal from one
  // opened later at the same address.
  const std::uint64_t serial = next_journal_serial.fetch_add(1, std::memory_order_relaxed);
  mutable std::mutex readers_mutex;
  mutable std::unordered_map<std::thread::id, std::unique_ptr<ReaderIterators>> readers;

  // Manifest names by id (format 3 records): appenders register, everyone reads.
  ManifestRegistry manifests;
  std::uint32_t manifests_in_meta = 0;  // ids stored in meta (the folder; set at open)

  std::mutex mutex;
  std::condition_variable wake;
  std::vector<Op> queue;
  bool stopping = false;
  std::thread writer;

  // Writer thread only (the folder releases log files).
  std::vector<std::pair<PidState*, PidState>> commit_undo;
  std::vector<std::pair<Op*, std::uint64_t>> commit_accepted;
  std::unique_ptr<SegmentLog> log;
  std::vector<std::string_view> parts;  // of the segment being written
  std::uint64_t legacy_log_last = 0;    // the last segment found in the `log` family
  std::uint32_t manifests_logged = 0;   // manifest ids defined in the log (or in meta)
  PidTable pids;
  std::uint64_t offset = 0;
  std::uint64_t next_group = 1;
  bool needs_resume = false;
  std::atomic<std::uint64_t> committed_offset{0};

  // Tails: written by the writer and the folder, read by readers.
  std::mutex tail_mutex;
  std::condition_variable fold_cv;  // the folder waits for a seal; the writer for a fold
  Generation current;
  std::uint64_t generation = 1;  // of `current`; a seal starts the next
  std::unique_ptr<Generation> sealed;
  // The record indexes of the last folded generation, for the next tails to reuse: sized for
  // each pid already, so the writer does not regrow them from nothing for every pid of every
  // generation. Given back when the writer idles.
  std::vector<std::vector<std::string_view>> spare_tails;
  // The entry blocks of the last folded generation, for the next ones (EntryArena).
  std::vector<EntryArena::Block> spare_blocks;
  std::uint64_t folded_group = 0;
  bool fold_stop = false;
  std::thread folder;
  // For the folder's pacing (Impl::pace_fold), read without the lock: how full `current` is,
  // and how many threads wait for the fold in flight (then it stops pacing).
  std::atomic<std::size_t> filling_bytes{0};
  std::atomic<int> fold_waiters{0};

  std::mutex listeners_mutex;
  std::map<std::uint64_t, std::function<void(std::uint64_t)>> listeners;
  std::uint64_t next_listener = 1;

  ~Impl() { close(); }

  void close() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    wake.notify_one();
    if (writer.joinable()) writer.join();
    if (folder.joinable()) {
      {
        std::lock_guard lock(tail_mutex);
        fold_stop = true;
      }
      fold_waiters.fetch_add(1);  // fold what is left at full speed
      fold_cv.notify_all();
      folder.join();
    }
    log.reset();
    if (db != nullptr) {
      drop_reader_iterators();
      for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
      db->Close().PermitUncheckedError();
      delete db;
      db = nullptr;
    }
  }

  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return handles[c]; }

  /// This thread's kept iterators (created on its first read).
  ReaderIterators& reader_iterators() const {
    thread_local std::uint64_t cached_serial = 0;
    thread_local ReaderIterators* cached = nullptr;
    if (cached_serial != serial) {
      std::lock_guard lock(readers_mutex);
      auto& r = readers[std::this_thread::get_id()];
      if (!r) r = std::make_unique<ReaderIterators>();
      cached = r.get();
      cached_serial = serial;
    }
    return *cached;
  }

  /// `kept` refreshed to the latest state (or made, or made again should the refresh fail).
  rocksdb::Iterator* fresh(std::unique_ptr<rocksdb::Iterator>& kept, Cf family) const {
    if (kept && kept->Refresh().ok()) return kept.get();
    rocksdb::ReadOptions ro;
    // Deleted chunks (delete_to) are skipped by every read that uses these (they start after
    // the pid's deleted_to), and snapshots are only ever deleted one key at a time: without
    // range tombstones a refresh has none to gather again.
    ro.ignore_range_deletions = true;
    kept.reset(db->NewIterator(ro, cf(family)));
    return kept.get();
  }

  void drop_reader_iterators() noexcept {
    std::lock_guard lock(readers_mutex);
    for (auto& [thread, r] : readers) {
      std::lock_guard hold(r->mutex);
      r->journal.reset();
      r->snapshots.reset();
    }
  }

  void register_metrics(MetricsRegistry& r) {
    metrics.appends = &r.counter("weft_journal_appends_total", "Append batches made durable");
    metrics.conflicts =
        &r.counter("weft_journal_append_conflicts_total",
                   "Append batches refused for a sequence or writer-epoch mismatch");
    metrics.failures = &r.counter("weft_journal_append_failures_total",
                                  "Append batches that failed with an I/O error");
    metrics.events = &r.counter("weft_journal_events_total", "Events made durable");
    metrics.bytes =
        &r.counter("weft_journal_written_bytes_total", "Log segment bytes made durable");
    metrics.folds = &r.counter("weft_journal_folds_total", "Log folds into chunks completed");
    metrics.group_events = &r.histogram("weft_journal_group_commit_events",
                                        "Events per group commit (one synced write)");
    metrics.group_bytes =
        &r.histogram("weft_journal_group_commit_bytes", "Log segment bytes per group commit");
    metrics.fsync_ns = &r.histogram("weft_journal_fsync_seconds",
                                    "Duration of one synced write of a group commit", {}, 1e-9);
    metrics.append_ns =
        &r.histogram("weft_journal_append_seconds", "From append() to acknowledgement", {}, 1e-9);
    metrics.fold_ns =
        &r.histogram("weft_journal_fold_seconds", "Duration of one fold of the log", {}, 1e-9);
  }

  // ---- metadata ---------------------------------------------------------------------------

  Result<std::optional<PidMeta>> read_meta(std::string_view pid) const {
    std::string value;
    auto s = db->Get(rocksdb::ReadOptions(), cf(kMetaCf), meta_pid_key(pid), &value);
    if (s.IsNotFound()) return std::optional<PidMeta>();
    if (!s.ok()) {
      return std::unexpected(io_error("reading journal metadata of '" + std::string(pid) + "' in",
                                      options.directory, s));
    }
    auto m = decode_pid_meta(value);
    if (!m) {
      return fail(Errc::corrupted,
                  "journal metadata of '" + std::string(pid) + "' does not decode");
    }
    return std::optional<PidMeta>(*m);
  }

  // What the store says of a pid: meta is a lower bound for highest and epoch (the fold skips
  // rewriting it for pids it already lists), so the newest chunk is read too.
  Result<std::pair<PidMeta, bool>> stored_state(const std::string& pid) const {
    auto meta = read_meta(pid);
    if (!meta) return std::unexpected(meta.error());
    PidMeta m = meta->value_or(PidMeta{});
    NameRange it(db, cf(kJournalCf), pid);
    it.seek_to_last();
    if (it.valid()) {
      auto key = decode_journal_key(view(it.key()));
      if (!key) return fail(Errc::corrupted, "a journal key of '" + pid + "' does not decode");
      std::uint64_t last_seq = 0;
      std::string last;
      auto walked = walk_chunk(view(it.value()), pid, key->sequence_nr,
                               [&](std::uint64_t seq, std::string_view rec) {
                                 last_seq = seq;
                                 last.assign(rec);
                                 return true;
                               });
      if (!walked) return std::unexpected(walked.error());
      if (last_seq > 0) {
        std::string k;
        put_journal_key(k, pid, last_seq);
        auto rec = decode_record(k, last, pid, last_seq, &manifests);
        if (!rec) return std::unexpected(rec.error());
        m.highest = std::max(m.highest, last_seq);
        m.epoch = std::max(m.epoch, rec->writer_epoch);
      }
    } else if (!it.status().ok()) {
      return std::unexpected(
          io_error("reading the journal of '" + pid + "' in", options.directory, it.status()));
    }
    return std::make_pair(m, meta->has_value());
  }

  Result<PidState*> state_for(const std::string& pid, std::uint64_t hash) {
    if (PidState* st = pids.find(pid, hash)) return st;
    auto stored = stored_state(pid);
    if (!stored) return std::unexpected(stored.error());
    const auto& [m, in_meta] = *stored;
    return pids.insert(pid, hash, PidState{m.highest, m.epoch, m.deleted_to, in_meta, m.epoch});
  }

  // ---- writer thread -------------------------------------------------------------------

  void run() {
    std::vector<Op> backlog;
    std::size_t next = 0;
    rocksdb::WriteBatch batch;
    std::string header;
    std::string trailer;
    for (;;) {
      if (next == backlog.size()) {
        backlog.clear();
        next = 0;
        std::unique_lock lock(mutex);
        const auto ready = [&] { return !queue.empty() || stopping; };
        // Idle: give the spare tail buffers back after a while, and again once a fold still in
        // flight has handed its own over; then sleep until work comes.
        bool fold_in_flight = true;
        while (fold_in_flight && !wake.wait_for(lock, kIdleRelease, ready)) {
          lock.unlock();
          fold_in_flight = drop_spare_tails();
          lock.lock();
        }
        wake.wait(lock, ready);
        if (queue.empty()) return;  // stopping, and everything is done
        backlog.swap(queue);
      }
      // The group is a run of the backlog, committed in place (not moved out op by op).
      const std::size_t first = next;
      if (backlog[next].kind == Kind::remove) {
        // A delete commits alone, after any fold in flight, so it sees every earlier append
        // and no fold writes chunks of the range it removes behind it.
        wait_for_fold();
        ++next;
      } else {
        std::size_t bytes = 0;
        while (
            next < backlog.size() && backlog[next].kind != Kind::remove &&
            (next == first || bytes + backlog[next].entries().size() <= options.max_batch_bytes)) {
          bytes += backlog[next++].entries().size();
        }
      }
      commit(std::span<Op>(backlog).subspan(first, next - first), batch, header, trailer);
      maybe_seal();
    }
  }

  void refuse(Op& op, Error error) {
    if (metrics.conflicts != nullptr && error.code() == Errc::conflict) metrics.conflicts->inc();
    op.promise.complete(std::unexpected(std::move(error)));
  }

  // Validates `op` against the writer's state; false if refused.
  bool stage_append(Op& op, std::vector<std::pair<PidState*, PidState>>& undo) {
    auto st = state_for(op.persistence_id, op.pid_hash);
    if (!st) {
      refuse(op, st.error());
      return false;
    }
    PidState& s = **st;
    if (op.epoch < s.epoch) {
      refuse(op, Error(Errc::conflict, "append to '" + op.persistence_id + "' with writer epoch " +
                                           std::to_string(op.epoch) + " below the stored epoch " +
                                           std::to_string(s.epoch)));
      return false;
    }
    if (op.expected_next != s.highest + 1) {
      refuse(op,
             Error(Errc::conflict, "append to '" + op.persistence_id + "' expected next sequence " +
                                       std::to_string(op.expected_next) +
                                       " but the journal is at " + std::to_string(s.highest)));
      return false;
    }
    undo.emplace_back(&s, s);
    op.state = &s;
    s.highest += op.events;
    s.epoch = op.epoch;
    offset += op.tags.size();
    return true;
  }

  // Stages removing the chunks whole below `to` and records deleted_to; reads skip the rest.
  Result<std::uint64_t> stage_delete(Op& op, rocksdb::WriteBatch& batch,
                                     std::vector<std::pair<PidState*, PidState>>& undo) {
    auto st = state_for(op.persistence_id, op.pid_hash);
    if (!st) return std::unexpected(st.error());
    PidState& s = **st;
    const std::uint64_t to = std::min(op.to, s.highest);
    if (to <= s.deleted_to) return 0;
    const std::uint64_t removed = to - s.deleted_to;  // sequence numbers are gap-free
    // The chunk that holds `to + 1` (if any) stays; every chunk before it goes.
    NameRange it(db, cf(kJournalCf), op.persistence_id);
    it.seek_for_prev(journal_key(op.persistence_id, to + 1));
    std::string end;
    if (it.valid()) {
      auto key = decode_journal_key(view(it.key()));
      auto count = chunk_count(view(it.value()));
      if (!key || !count) {
        return fail(Errc::corrupted,
                    "a journal chunk of '" + op.persistence_id + "' does not decode");
      }
      end = key->sequence_nr + *count - 1 <= to ? journal_key(op.persistence_id, to + 1)
                                                : journal_key(op.persistence_id, key->sequence_nr);
    } else if (!it.status().ok()) {
      return std::unexpected(io_error("reading the journal of '" + op.persistence_id + "' in",
                                      options.directory, it.status()));
    }
    if (!end.empty()) batch.DeleteRange(cf(kJournalCf), it.lower(), end);
    undo.emplace_back(&s, s);
    s.deleted_to = to;
    s.in_meta = true;
    s.meta_epoch = s.epoch;
    batch.Put(cf(kMetaCf), meta_pid_key(op.persistence_id),
              encode_pid_meta({s.highest, s.epoch, s.deleted_to}));
    return removed;
  }

  Result<std::uint64_t> stage_snapshot_delete(Op& op, rocksdb::WriteBatch& batch) {
    NameRange it(db, cf(kSnapshotsCf), op.persistence_id);
    std::vector<std::string> keys;
    for (it.seek_to_first(); it.valid(); it.next()) keys.emplace_back(view(it.key()));
    if (!it.status().ok()) {
      return std::unexpected(io_error("listing snapshots of '" + op.persistence_id + "' in",
                                      options.directory, it.status()));
    }
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      auto k = decode_journal_key(keys[i]);
      const bool by_count = op.keep_last > 0 && i + op.keep_last < keys.size();
      const bool by_seq = op.keep_last == 0 && k && k->sequence_nr <= op.to;
      if (by_count || by_seq) {
        batch.Delete(cf(kSnapshotsCf), keys[i]);
        ++n;
      }
    }
    return n;
  }

  void commit(std::span<Op> group, rocksdb::WriteBatch& batch, std::string& header,
              std::string& trailer) {
    batch.Clear();
    // Members, not locals: a group of thousands of appends would allocate them afresh (and
    // fault in their pages) for every commit.
    auto& undo = commit_undo;
    auto& accepted = commit_accepted;  // op, its result
    undo.clear();
    accepted.clear();
    const std::uint64_t offset_before = offset;
    std::uint64_t events = 0;
    // The pids' slots are fetched kAhead ops ahead and their entries half as far.
    constexpr std::size_t kAhead = 16;
    for (std::size_t i = 0; i < std::min(kAhead, group.size()); ++i) {
      pids.prefetch_slot(group[i].pid_hash);
    }
    for (std::size_t i = 0; i < group.size(); ++i) {
      if (i + kAhead < group.size()) pids.prefetch_slot(group[i + kAhead].pid_hash);
      if (i + kAhead / 2 < group.size()) pids.prefetch_entry(group[i + kAhead / 2].pid_hash);
      Op& op = group[i];
      Result<std::uint64_t> r = 0;
      switch (op.kind) {
        case Kind::append:
          if (!stage_append(op, undo)) continue;
          events += op.events;
          r = op.expected_next + op.events - 1;
          break;
        case Kind::remove:
          r = stage_delete(op, batch, undo);
          break;
        case Kind::snapshot_save:
          batch.Put(cf(kSnapshotsCf), journal_key(op.persistence_id, op.to), op.data);
          break;
        case Kind::snapshot_delete:
          r = stage_snapshot_delete(op, batch);
          break;
      }
      if (!r) {
        refuse(op, r.error());
        continue;
      }
      accepted.emplace_back(&op, *r);
    }
    std::size_t segment_bytes = 0;
    Result<void> logged;
    if (events > 0) {
      // The segment goes to the log in pieces: header, each append's entries, trailer.
      // Manifests registered since the last segment are defined in this one, before (and with)
      // the first records that use them: an append registers its manifests before it is queued.
      const std::uint32_t registered = manifests.size();
      ManifestDefinitions defs{manifests_logged, {}};
      for (std::uint32_t id = manifests_logged; id < registered; ++id) {
        defs.names.push_back(*manifests.name(id));
      }
      header.clear();
      encode_segment_header(header, offset_before + 1, events, defs);
      parts.clear();
      parts.emplace_back(header);
      std::uint32_t crc = crc32c(0, header);
      for (auto& [op, result] : accepted) {
        if (op->kind != Kind::append) continue;
        parts.emplace_back(op->entries());
        crc = crc32c(crc, op->entries());
      }
      trailer.clear();
      encode_segment_trailer(trailer, crc);
      parts.emplace_back(trailer);
      for (const auto& p : parts) segment_bytes += p.size();
      const auto start = SteadyClock::now();
      logged = log->append(next_group, parts);
      if (metrics.fsync_ns != nullptr) metrics.fsync_ns->record(nanos_since(start));
      if (logged) manifests_logged = registered;
    }
    // Snapshot saves and deletes, and a delete (which commits alone), go to the database.
    rocksdb::Status s;
    if (batch.Count() > 0) {
      if (needs_resume) {
        // A failed write (disk full) stops RocksDB's writes until resumed.
        s = db->Resume();
        if (s.ok()) needs_resume = false;
      }
      if (s.ok()) s = db->Write(write_options, &batch);
      if (!s.ok()) needs_resume = true;
    }
    const bool delete_failed = !s.ok() && events == 0;  // undo holds only a delete's state then
    if (!logged || delete_failed) {
      for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
        it->first->highest = it->second.highest;
        it->first->epoch = it->second.epoch;
        // Only a delete changes deleted_to, and none runs beside a fold, which reads it.
        if (it->first->deleted_to != it->second.deleted_to) {
          it->first->deleted_to = it->second.deleted_to;
        }
      }
      offset = offset_before;
    }
    if (events > 0 && logged) {
      apply_to_tail(accepted, offset_before, segment_bytes);
      ++next_group;
      committed_offset.store(offset, std::memory_order_release);
      if (metrics.appends != nullptr) {
        metrics.events->inc(events);
        metrics.bytes->inc(segment_bytes);
        metrics.group_events->record(events);
        metrics.group_bytes->record(segment_bytes);
      }
    }
    const std::optional<Error> db_error =
        s.ok() ? std::nullopt
               : std::optional<Error>(io_error("journal write failed in", options.directory, s));
    const auto committed = SteadyClock::now();  // one clock read per group, not per append
    bool any = false;
    for (auto& [op, result] : accepted) {
      const bool append = op->kind == Kind::append;
      if (append ? !logged : db_error.has_value()) {
        if (metrics.failures != nullptr) metrics.failures->inc();
        op->promise.complete(std::unexpected(append ? logged.error() : *db_error));
        continue;
      }
      if (metrics.appends != nullptr && append) {
        metrics.appends->inc();
        metrics.append_ns->record(nanos_between(op->enqueued, committed));
      }
      op->promise.complete(result);
      any = true;
    }
    if (any) notify(offset);
  }

  // Makes a committed group visible to readers.
  void apply_to_tail(const std::vector<std::pair<Op*, std::uint64_t>>& accepted,
                     std::uint64_t offset_before, std::size_t segment_bytes) {
    std::uint64_t o = offset_before;
    std::lock_guard lock(tail_mutex);
    if (current.pids.empty()) current.first_group = next_group;
    for (auto& [op, result] : accepted) {
      if (op->kind != Kind::append) continue;
      PidState& st = *op->state;
      if (st.tail_generation != generation) {
        auto [it, fresh] = current.pids.try_emplace(op->persistence_id);
        Tail& t = it->second;
        t.first_seq = op->expected_next;
        t.state = &st;
        t.key = &it->first;
        if (!spare_tails.empty()) {
          t.records = std::move(spare_tails.back());
          spare_tails.pop_back();
          t.records.clear();
        }
        st.tail = &t;
        st.tail_generation = generation;
      }
      Tail& t = *st.tail;
      t.epoch = op->epoch;
      if (!st.in_meta || st.meta_epoch != op->epoch) {
        t.write_meta = true;
        st.in_meta = true;
        st.meta_epoch = op->epoch;
      }
      // The append's segment entries, as the caller's thread encoded them.
      const std::string_view entries = current.entries.copy(op->entries(), spare_blocks);
      std::size_t pos = 0;
      for (std::size_t i = 0; i < op->events; ++i) {
        (void)get_bytes(entries, pos);   // pid
        (void)get_varint(entries, pos);  // sequence number
        const std::size_t framed = pos;
        (void)get_bytes(entries, pos);  // varint len ‖ record
        t.records.push_back(entries.substr(framed, pos - framed));
      }
      for (const auto& [seq, tag] : op->tags) {
        current.tags[tag].push_back(TagRef{++o, t.key, seq});
      }
    }
    current.last_group = next_group;
    current.last_offset = o;
    current.bytes += segment_bytes;
    filling_bytes.store(current.bytes, std::memory_order_relaxed);
    current.manifests = manifests_logged;
  }

  void seal_locked() {
    sealed = std::make_unique<Generation>(std::move(current));
    current = Generation{};
    filling_bytes.store(0, std::memory_order_relaxed);
    ++generation;
    fold_cv.notify_all();
  }

  void maybe_seal() {
    std::unique_lock lock(tail_mutex);
    if (current.bytes < options.fold_bytes) return;
    if (!sealed) {
      seal_locked();
      return;
    }
    // The folder is behind: hold appends until it catches up, so memory stays bounded.
    if (current.bytes >= 4 * options.fold_bytes) {
      wait_for_fold(lock);
      seal_locked();
    }
  }

  void wait_for_fold() {
    std::unique_lock lock(tail_mutex);
    wait_for_fold(lock);
  }

  // Waits until no fold is in flight; the folder stops pacing meanwhile.
  void wait_for_fold(std::unique_lock<std::mutex>& lock) {
    if (!sealed) return;
    fold_waiters.fetch_add(1, std::memory_order_relaxed);
    fold_cv.wait(lock, [&] { return !sealed; });
    fold_waiters.fetch_sub(1, std::memory_order_relaxed);
  }

  // A fold is a burst of CPU and disk writes (~0.2 s of a core and ~100 MB for 128 MB of log).
  // At full speed beside a steady load it took the second core, and this VM's host then stopped
  // both vCPUs for ~10 ms in every 100 ms: appends waited 20-80 ms for a few hundred ms after
  // every seal. So the folder paces itself: it keeps its share done (`done` of `total`) at no
  // more than the share of the next generation filled since it began, counted to half full, or
  // of JournalOptions::fold_pace_seconds elapsed, whichever is more -- it finishes by the time
  // the next generation is half full, in the background at a steady fraction of a core, and
  // within fold_pace_seconds when appends are few. Anyone waiting for the fold makes it hurry.
  void pace_fold(std::size_t done, std::size_t total, SteadyClock::time_point started) const {
    constexpr auto kFoldPaceStep = std::chrono::milliseconds(1);
    if (!(options.fold_pace_seconds > 0)) return;
    const double share =
        static_cast<double>(done) / static_cast<double>(std::max<std::size_t>(total, 1));
    for (;;) {
      if (fold_waiters.load(std::memory_order_relaxed) > 0) return;
      const std::size_t filled = filling_bytes.load(std::memory_order_relaxed);
      const double by_fill =
          2.0 * static_cast<double>(filled) / static_cast<double>(options.fold_bytes);
      const double by_time = std::chrono::duration<double>(SteadyClock::now() - started).count() /
                             options.fold_pace_seconds;
      if (share <= std::max(by_fill, by_time)) return;
      std::this_thread::sleep_for(kFoldPaceStep);
    }
  }

  // ---- folder thread -------------------------------------------------------------------

  void run_folder() {
    // Folding is background work: on a small machine the writer (and the actors) should win
    // the CPU when both want it, or acknowledgements wait behind the fold.
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
    for (;;) {
      Generation* g = nullptr;
      {
        std::unique_lock lock(tail_mutex);
        fold_cv.wait(lock, [&] { return sealed != nullptr || fold_stop; });
        if (!sealed) {
          // Closing: fold what is left, so the next open need not re-read the log.
          if (current.pids.empty()) return;
          seal_locked();
        }
        g = sealed.get();
      }
      const auto start = SteadyClock::now();
      auto r = fold(*g);
      if (!r) {
        // The log still holds everything; the next open folds it again.
        spdlog::error("journal '{}': folding the log failed: {}", options.directory,
                      r.error().describe());
        std::unique_lock lock(tail_mutex);
        if (fold_stop) return;
        fold_cv.wait_for(lock, std::chrono::seconds(1));
        continue;
      }
      if (metrics.fold_ns != nullptr) {
        metrics.fold_ns->record(nanos_since(start));
        metrics.folds->inc();
      }
      std::unique_ptr<Generation> done;  // freed outside the lock: appends wait for it
      {
        std::lock_guard lock(tail_mutex);
        folded_group = g->last_group;
        done = std::move(sealed);
      }
      fold_cv.notify_all();
      std::vector<std::vector<std::string_view>> spare;
      spare.reserve(done->pids.size());
      for (auto& [pid, t] : done->pids) {
        spare.push_back(std::move(t.records));
      }
      std::vector<EntryArena::Block> blocks;
      done->entries.give_blocks(blocks);
      done.reset();
      {
        std::lock_guard lock(tail_mutex);
        spare_tails.swap(spare);
        // A generation's worth is kept (its last block partly used, one more for the overshoot
        // past the threshold): what the current one did not use, then these.
        const std::size_t keep = options.fold_bytes / EntryArena::kBytes + 2;
        while (!blocks.empty() && spare_blocks.size() < keep) {
          spare_blocks.push_back(std::move(blocks.back()));
          blocks.pop_back();
        }
      }
      // `spare` now holds what the current generation did not reuse of the previous harvest,
      // and `blocks` any beyond a generation's worth: both are freed here, outside the lock.
    }
  }

  // Frees the spare tail buffers; true if a fold is in flight (it hands over more when done).
  bool drop_spare_tails() {
    std::vector<std::vector<std::string_view>> spare;
    std::vector<EntryArena::Block> blocks;
    std::lock_guard lock(tail_mutex);
    spare.swap(spare_tails);
    blocks.swap(spare_blocks);
    return sealed != nullptr;
  }

  // Writes a sealed generation as table files -- its chunks, tag chunks and metadata, the end
  // marker among them -- and ingests them into RocksDB in one step, then releases its log files.
  // IngestExternalFiles records every family's file in the MANIFEST at once: after a crash
  // either the whole fold is there or none of it, and then the log still is. Writing the table
  // files directly skips what a memtable costs: a copy into a write batch, another into the
  // memtable's arena (fresh pages to fault in for every 128 MB), a skiplist insert per chunk,
  // and a flush that reads it all back to write the same table.
  Result<void> fold(const Generation& g) {
    const std::string dir = fold_directory();
    clear_fold_directory();  // what a fold that failed or a crash interrupted left
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return fail(Errc::io, "cannot create the fold directory '" + dir + "': " + ec.message());
    }
    rocksdb::EnvOptions env(db->GetDBOptions());
    env.rate_limiter = nullptr;  // compaction_bytes_per_second limits compactions, not folds
    std::vector<rocksdb::IngestExternalFileArg> args;
    // Pacing (pace_fold) by the bytes of chunks written, checked every 256 KiB of them.
    const auto started = SteadyClock::now();
    std::size_t folded_bytes = 0;
    std::size_t paced_at = 0;
    auto folded = [&](std::size_t bytes) {
      folded_bytes += bytes;
      if (folded_bytes - paced_at < (256u << 10)) return;
      paced_at = folded_bytes;
      pace_fold(folded_bytes, g.bytes, started);
    };
    using Put = std::function<rocksdb::Status(std::string_view, std::string_view)>;
    // One family's entries (`each` calls put in key order) as a table file to ingest.
    auto table = [&](Cf family, std::string_view name,
                     const std::function<rocksdb::Status(const Put&)>& each) -> Result<void> {
      rocksdb::Options o = db->GetOptions(cf(family));
      // Compressed as the family compresses above the bottommost level (big_cf_options: not
      // at all, or LZ4 with compress_folds); compaction compresses the bottommost level, as it
      // did after a flush. Meta files are tiny: uncompressed. (SstFileWriter would take the
      // bottommost setting.)
      if (family == kMetaCf) o.compression = rocksdb::kNoCompression;
      o.bottommost_compression = rocksdb::kDisableCompressionOption;
      // The pages stay cached: recent events are the ones recoveries and queries read next.
      rocksdb::SstFileWriter writer(env, o, cf(family), /*invalidate_page_cache=*/false);
      std::string path = dir + "/" + std::string(name) + ".sst";
      std::size_t entries = 0;
      auto s = writer.Open(path);
      if (s.ok()) {
        s = each([&](std::string_view key, std::string_view value) {
          ++entries;
          return writer.Put(rocksdb::Slice(key.data(), key.size()),
                            rocksdb::Slice(value.data(), value.size()));
        });
      }
      if (s.ok() && entries == 0) return {};  // nothing for this family; no file
      if (s.ok()) s = writer.Finish();
      if (!s.ok()) return std::unexpected(io_error("folding the log in", options.directory, s));
      rocksdb::IngestExternalFileArg arg;
      arg.column_family = cf(family);
      arg.external_files.push_back(std::move(path));
      arg.options.move_files = true;  // a hard link into the database, not a copy
      arg.options.write_global_seqno = false;
      args.push_back(std::move(arg));
      return {};
    };

    // Chunks, pid by pid in key order (a pid's name is encoded prefix-free).
    using PidTail = std::pair<const std::string, Tail>;
    std::vector<std::pair<std::string, const PidTail*>> by_key;
    by_key.reserve(g.pids.size());
    for (const auto& entry : g.pids) by_key.emplace_back(journal_key(entry.first, 0), &entry);
    std::sort(by_key.begin(), by_key.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    auto r = table(kJournalCf, "journal", [&](const Put& put) {
      std::string value;
      for (const auto& [first_key, entry] : by_key) {
        const auto& [pid, t] = *entry;
        const std::uint64_t deleted_to = t.state->deleted_to;
        std::size_t i =
            deleted_to >= t.first_seq ? static_cast<std::size_t>(deleted_to - t.first_seq + 1) : 0;
        while (i < t.records.size()) {
          std::size_t j = i;
          std::size_t bytes = 0;
          for (; j < t.records.size() && (j == i || bytes < kChunkBytes); ++j) {
            bytes += t.records[j].size();
          }
          value.clear();
          encode_chunk(value, std::span<const std::string_view>(t.records).subspan(i, j - i));
          auto s = put(journal_key(pid, t.first_seq + i), value);
          if (!s.ok()) return s;
          folded(value.size());
          i = j;
        }
      }
      return rocksdb::Status::OK();
    });
    if (!r) return r;

    using TagRefs = std::pair<const std::string, std::vector<TagRef>>;
    std::vector<std::pair<std::string, const TagRefs*>> tags_by_key;
    tags_by_key.reserve(g.tags.size());
    for (const auto& entry : g.tags) tags_by_key.emplace_back(tag_key(entry.first, 0), &entry);
    std::sort(tags_by_key.begin(), tags_by_key.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    r = table(kTagsCf, "tags", [&](const Put& put) {
      std::vector<TagEntry> entries;
      std::string value;
      for (const auto& [first_key, entry] : tags_by_key) {
        const auto& [tag, refs] = *entry;
        for (std::size_t i = 0; i < refs.size(); i += kTagChunkEntries) {
          entries.clear();
          for (std::size_t k = i; k < std::min(refs.size(), i + kTagChunkEntries); ++k) {
            const TagRef& ref = refs[k];
            entries.push_back(TagEntry{ref.offset, *ref.persistence_id, ref.sequence_nr});
          }
          value.clear();
          encode_tag_chunk(value, entries.front().offset, entries);
          auto s = put(tag_key(tag, entries.front().offset), value);
          if (!s.ok()) return s;
          folded(value.size());
        }
      }
      return rocksdb::Status::OK();
    });
    if (!r) return r;

    // Metadata: the pids new to it or with a new epoch, and the end marker.
    std::vector<std::pair<std::string, std::string>> meta;
    for (const auto& [pid, t] : g.pids) {
      if (t.write_meta) {
        meta.emplace_back(meta_pid_key(pid),
                          encode_pid_meta({t.last_seq(), t.epoch, t.state->deleted_to}));
      }
    }
    for (std::uint32_t id = manifests_in_meta; id < g.manifests; ++id) {
      meta.emplace_back(std::string(1, kMetaManifestPrefix) + encode_u64_be(id),
                        std::string(*manifests.name(id)));
    }
    meta.emplace_back(kMetaFoldedKey, encode_u64_be(g.last_group));
    meta.emplace_back(kMetaOffsetKey, encode_u64_be(g.last_offset));
    std::sort(meta.begin(), meta.end());
    r = table(kMetaCf, "meta", [&](const Put& put) {
      for (const auto& [key, value] : meta) {
        auto s = put(key, value);
        if (!s.ok()) return s;
      }
      return rocksdb::Status::OK();
    });
    if (!r) return r;

    auto s = db->IngestExternalFiles(args);
    clear_fold_directory();
    if (!s.ok())
      return std::unexpected(io_error("ingesting the folded log in", options.directory, s));
    manifests_in_meta = std::max(manifests_in_meta, g.manifests);
    if (g.first_group > 0 && g.first_group <= legacy_log_last) {
      // After the fold: should this be lost, the end marker already skips these segments.
      rocksdb::WriteBatch batch;
      batch.DeleteRange(cf(kLogCf), log_key(g.first_group), log_key(g.last_group + 1));
      s = db->Write(write_options, &batch);
      if (!s.ok()) {
        return std::unexpected(io_error("removing the folded log in", options.directory, s));
      }
    }
    log->release_through(g.last_group);
    return {};
  }

  std::string fold_directory() const { return options.directory + "/fold"; }

  // Removes the table files of a fold that did not finish.
  void clear_fold_directory() const {
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(fold_directory(), ec)) {
      std::filesystem::remove(f.path(), ec);
    }
  }

  // ---- open: the log after the last fold becomes the current generation again -------------

  std::string log_directory() const { return options.directory + "/wlog"; }

  // Re-reads one unfolded log segment into the current generation.
  Result<void> replay_segment(std::uint64_t no, std::string_view bytes,
                              std::unordered_map<std::string, std::uint64_t>& replayed) {
    std::vector<std::pair<Op*, std::uint64_t>> accepted;
    std::vector<Op> ops;
    std::uint64_t first_offset = offset + 1;
    std::string key;
    const std::string where = "journal log segment " + std::to_string(no);
    auto define = [&](const ManifestDefinitions& defs) -> Result<void> {
      for (std::size_t i = 0; i < defs.names.size(); ++i) {
        if (auto r = manifests.define(defs.first_id + i, defs.names[i], where); !r) return r;
      }
      manifests_logged = manifests.size();
      return {};
    };
    auto header = decode_segment(
        bytes, no,
        [&](const SegmentEntry& e) -> Result<void> {
          const std::string pid(e.persistence_id);
          key.clear();
          put_journal_key(key, pid, e.sequence_nr);
          auto rec = decode_record(key, e.record, pid, e.sequence_nr, &manifests);
          if (!rec) return std::unexpected(rec.error());
          auto st = state_for(pid, PidTable::hash(pid));
          if (!st) return std::unexpected(st.error());
          // Meta may be ahead of the log: a fold interrupted by a crash can have stored a
          // pid's meta (and chunks) without its end marker, so the segments it covered are
          // read again. Within the log each pid's events must follow on without a gap.
          auto [last, first] = replayed.try_emplace(pid, e.sequence_nr - 1);
          const std::uint64_t follows =
              first ? std::min(e.sequence_nr - 1, (*st)->highest) : last->second;
          if (e.sequence_nr != follows + 1) {
            return fail(Errc::corrupted, where + ": '" + pid + "' at sequence " +
                                             std::to_string(e.sequence_nr) + " does not follow " +
                                             std::to_string(follows));
          }
          last->second = e.sequence_nr;
          (*st)->highest = std::max((*st)->highest, e.sequence_nr);
          (*st)->epoch = std::max((*st)->epoch, rec->writer_epoch);
          Op op;
          op.state = *st;
          op.persistence_id = pid;
          op.expected_next = e.sequence_nr;
          op.epoch = rec->writer_epoch;
          op.events = 1;
          put_segment_entry(op.data, pid, e.sequence_nr, e.record);
          for (auto& t : rec->tags) op.tags.emplace_back(e.sequence_nr, std::move(t));
          offset += op.tags.size();
          ops.push_back(std::move(op));
          return {};
        },
        define);
    if (!header) {
      return std::unexpected(
          header.error().with_context("opening the journal in '" + options.directory + "'"));
    }
    if (header->first_offset != first_offset) {
      return fail(Errc::corrupted, "journal log segment " + std::to_string(no) +
                                       " starts at tag offset " +
                                       std::to_string(header->first_offset) + ", expected " +
                                       std::to_string(first_offset));
    }
    for (auto& op : ops) accepted.emplace_back(&op, 0);
    next_group = no;
    apply_to_tail(accepted, first_offset - 1, bytes.size());
    next_group = no + 1;
    return {};
  }

  // The manifest ids the folds stored in meta; the log's segments define the ones after them.
  Result<void> load_manifests() {
    const std::string lower(1, kMetaManifestPrefix);
    const std::string upper(1, static_cast<char>(kMetaManifestPrefix + 1));
    NameRange it(db, cf(kMetaCf), lower, upper);
    const std::string where = "the journal metadata in '" + options.directory + "'";
    for (it.seek_to_first(); it.valid(); it.next()) {
      auto id = decode_u64_be(view(it.key()).substr(1));
      if (!id) return fail(Errc::corrupted, where + ": a manifest key does not decode");
      if (auto r = manifests.define(*id, view(it.value()), where); !r) return r;
    }
    if (!it.status().ok()) {
      return std::unexpected(
          io_error("cannot read the journal metadata in", options.directory, it.status()));
    }
    manifests_in_meta = manifests.size();
    manifests_logged = manifests.size();
    return {};
  }

  Result<void> replay_log() {
    if (auto r = load_manifests(); !r) return r;
    std::string value;
    auto s = db->Get(rocksdb::ReadOptions(), cf(kMetaCf), kMetaFoldedKey, &value);
    if (s.ok()) {
      auto f = decode_u64_be(value);
      if (!f)
        return fail(Errc::corrupted,
                    "the journal in '" + options.directory + "' has an undecodable fold marker");
      folded_group = *f;
    } else if (!s.IsNotFound()) {
      return std::unexpected(io_error("cannot read the journal metadata in", options.directory, s));
    }
    s = db->Get(rocksdb::ReadOptions(), cf(kMetaCf), kMetaOffsetKey, &value);
    if (s.ok()) {
      auto o = decode_u64_be(value);
      if (!o) {
        return fail(Errc::corrupted,
                    "the journal in '" + options.directory + "' has an undecodable global offset");
      }
      offset = *o;
    } else if (!s.IsNotFound()) {
      return std::unexpected(io_error("cannot read the journal metadata in", options.directory, s));
    }
    next_group = folded_group + 1;
    std::unordered_map<std::string, std::uint64_t> replayed;  // pid -> last sequence re-read
    std::uint64_t segments = 0;
    // Journals written before the log had files of its own kept it in the `log` family.
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf(kLogCf)));
    for (it->Seek(log_key(folded_group + 1)); it->Valid(); it->Next()) {
      auto no = decode_u64_be(view(it->key()));
      if (!no)
        return fail(Errc::corrupted,
                    "a journal log key in '" + options.directory + "' does not decode");
      if (auto r = replay_segment(*no, view(it->value()), replayed); !r) return r;
      legacy_log_last = *no;
      ++segments;
    }
    if (!it->status().ok()) {
      return std::unexpected(
          io_error("reading the journal log in", options.directory, it->status()));
    }
    SegmentLogOptions lo;
    lo.directory = log_directory();
    lo.file_bytes = options.log_file_bytes;
    lo.sync = options.durability == Durability::fsync;
    lo.spare_at_open = options.preallocate_log;
    // A fold releases about fold_bytes of files at once (one file more when its generation
    // began and ended mid-file): room for them all, so that none is deleted only for the next
    // generation to write a new one full of zeros.
    lo.max_spares = options.fold_bytes / std::max<std::size_t>(options.log_file_bytes, 1) + 2;
    auto opened = SegmentLog::open(lo, std::max(folded_group, legacy_log_last),
                                   [&](std::uint64_t no, std::string_view segment) {
                                     ++segments;
                                     return replay_segment(no, segment, replayed);
                                   });
    if (!opened) {
      return std::unexpected(
          opened.error().with_context("opening the journal in '" + options.directory + "'"));
    }
    log = std::move(*opened);
    if (segments > 0) {
      spdlog::info("journal '{}': re-read {} log segments ({} bytes) not yet folded",
                   options.directory, segments, current.bytes);
    }
    committed_offset = offset;
    return {};
  }

  // ---- readers ---------------------------------------------------------------------------

  // Events of a pid still in memory, oldest generation first.
  std::vector<std::pair<std::uint64_t, std::string>> tail_events(const std::string& pid,
                                                                 std::uint64_t from,
                                                                 std::uint64_t to,
                                                                 std::size_t max_events) {
    std::vector<std::pair<std::uint64_t, std::string>> out;
    std::lock_guard lock(tail_mutex);
    for (const Generation* g : {sealed.get(), &current}) {
      if (g == nullptr) continue;
      auto it = g->pids.find(pid);
      if (it == g->pids.end()) continue;
      const Tail& t = it->second;
      for (std::uint64_t seq = std::max(from, t.first_seq);
           seq <= std::min(to, t.last_seq()) && out.size() < max_events; ++seq) {
        out.emplace_back(seq, std::string(t.record(seq)));
      }
    }
    return out;
  }

  std::optional<std::uint64_t> tail_highest(const std::string& pid) {
    std::lock_guard lock(tail_mutex);
    for (const Generation* g : {&current, sealed.get()}) {
      if (g == nullptr) continue;
      auto it = g->pids.find(pid);
      if (it != g->pids.end()) return it->second.last_seq();
    }
    return std::nullopt;
  }

  // Positions `it` at the chunk of `pid` that holds `from` (or the first after it). A recovery
  // after a snapshot mostly reads a short history, whose first chunk holds `from`: a forward
  // seek to it costs much less than SeekForPrev (a backward step through the merged table
  // iterators). Only tried where the first chunk can hold `from` (a chunk holds at most a few
  // thousand events); else, and when the first chunk ends before `from`, SeekForPrev.
  static void seek_chunk(NameRange& it, const std::string& pid, std::uint64_t from) {
    constexpr std::uint64_t kFirstChunkReach = 4096;
    if (from <= kFirstChunkReach) {
      it.seek_to_first();
      if (!it.valid()) return;
      auto key = decode_journal_key(view(it.key()));
      auto count = chunk_count(view(it.value()));
      // Undecodable: read_chunks reports it.
      if (!key || !count || key->sequence_nr >= from || from - key->sequence_nr < *count) return;
    }
    it.seek_for_prev(journal_key(pid, from));
    if (!it.valid()) it.seek_to_first();
  }

  // Reads chunks of `pid` from `from`, calling `take(seq, record)` for each event in order
  // (no sequence twice, even where a fold after a crash left overlapping chunks) until it
  // returns false.
  template <class Take>
  Result<void> read_chunks(const std::string& pid, std::uint64_t from,
                           const rocksdb::Snapshot* snap, std::size_t readahead,
                           Take&& take) const {
    if (snap == nullptr && readahead == 0) {  // a short read of the latest state
      ReaderIterators& kept = reader_iterators();
      std::lock_guard lock(kept.mutex);
      NameRange it(fresh(kept.journal, kJournalCf), pid);
      return walk_chunks(it, pid, from, take);
    }
    NameRange it(db, cf(kJournalCf), pid, {snap, readahead});
    return walk_chunks(it, pid, from, take);
  }

  template <class Take>
  Result<void> walk_chunks(NameRange& it, const std::string& pid, std::uint64_t from,
                           Take& take) const {
    seek_chunk(it, pid, from);
    std::uint64_t last = from - 1;
    bool more = true;
    for (; it.valid() && more; it.next()) {
      auto key = decode_journal_key(view(it.key()));
      if (!key) return fail(Errc::corrupted, "a journal key of '" + pid + "' does not decode");
      auto walked = walk_chunk(view(it.value()), pid, key->sequence_nr,
                               [&](std::uint64_t seq, std::string_view rec) {
                                 if (seq <= last) return true;
                                 last = seq;
                                 more = take(seq, rec);
                                 return more;
                               });
      if (!walked) return walked;
    }
    if (!it.status().ok()) {
      return std::unexpected(
          io_error("reading the journal of '" + pid + "' in", options.directory, it.status()));
    }
    return {};
  }

  Result<std::vector<EventRecord>> read(const std::string& pid, std::uint64_t from,
                                        std::uint64_t to, std::size_t max_events) {
    std::vector<EventRecord> out;
    if (max_events == 0 || from > to) return out;
    auto meta = read_meta(pid);
    if (!meta) return std::unexpected(meta.error());
    const std::uint64_t deleted_to = *meta ? (*meta)->deleted_to : 0;
    from = std::max(from, deleted_to + 1);
    if (from > to) return out;
    // Memory first, then the store: a fold moves events from the one to the other only after
    // writing them, so between the two every event is in at least one.
    auto memory = tail_events(pid, from, to, max_events);
    // Sized for what is there (pages of a replay are thousands of events: growing by doubling
    // moved every record several times), but never trusting a stored count beyond a page's
    // worth: damaged metadata must not turn into a huge allocation.
    constexpr std::uint64_t kMaxReserve = 1u << 16;
    std::uint64_t highest = *meta ? (*meta)->highest : 0;
    if (!memory.empty()) highest = std::max(highest, memory.back().first);
    if (highest >= from) {
      out.reserve(static_cast<std::size_t>(
          std::min<std::uint64_t>({max_events, to - from + 1, highest - from + 1, kMaxReserve})));
    }
    std::string prefix;
    put_journal_key(prefix, pid, 0);
    const std::uint32_t prefix_crc =
        crc32c(0, std::string_view(prefix).substr(0, prefix.size() - 8));
    Error damage(Errc::internal, "");
    bool damaged = false;
    auto take = [&](std::uint64_t seq, std::string_view rec) {
      if (seq < from) return true;
      if (seq > to || out.size() >= max_events) return false;
      auto r = decode_record_into(out.emplace_back(), journal_key_crc(prefix_crc, seq), rec, pid,
                                  seq, &manifests);
      if (!r) {
        out.pop_back();
        damage = r.error();
        damaged = true;
        return false;
      }
      return out.size() < max_events;
    };
    auto chunks = read_chunks(pid, from, nullptr, max_events >= 1024 ? kLongReadAhead : 0, take);
    if (!chunks) return std::unexpected(chunks.error());
    if (damaged) return std::unexpected(damage);
    const std::uint64_t last = out.empty() ? from - 1 : out.back().sequence_nr;
    for (auto& [seq, rec] : memory) {
      if (seq <= last || seq < from) continue;
      if (!take(seq, rec)) break;
    }
    if (damaged) return std::unexpected(damage);
    return out;
  }

  // Whether any persistence id may have deleted events. While none has, a replay need not look
  // up the pid's deleted_to in meta (that Get was 9% of weft-bench journal --scenario recover).
  // Learned on the first replay by one scan of meta that stops at the first deletion it finds
  // (so it is long only when there is none, and then cheaper than the Gets it saves), and set by
  // every delete_to before its op is queued.
  enum class Deletions : std::uint8_t { unknown, none, some };
  std::atomic<Deletions> deletions{Deletions::unknown};

  bool may_have_deletions() {
    Deletions known = deletions.load(std::memory_order_acquire);
    if (known != Deletions::unknown) return known == Deletions::some;
    const Deletions found = scan_for_deletions();
    // A delete_to during the scan has set `some`, which stays.
    if (!deletions.compare_exchange_strong(known, found, std::memory_order_acq_rel)) {
      return known == Deletions::some;
    }
    return found == Deletions::some;
  }

  Deletions scan_for_deletions() const {
    const std::string lower(1, kMetaPidPrefix);
    const std::string upper(1, static_cast<char>(kMetaPidPrefix + 1));
    rocksdb::Slice lo(lower);
    rocksdb::Slice up(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &lo;
    ro.iterate_upper_bound = &up;
    ro.fill_cache = false;  // read once
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf(kMetaCf)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto m = decode_pid_meta(view(it->value()));
      // Damaged meta: the Get of each read reports it.
      if (!m || m->deleted_to > 0) return Deletions::some;
    }
    return it->status().ok() ? Deletions::none : Deletions::some;
  }

  // The replay path (weft-bench journal --scenario recover): what read() returns, but each
  // record's bytes are copied once into the page and its fields are views into them.
  Result<EventPage> read_page(const std::string& pid, std::uint64_t from, std::uint64_t to,
                              std::size_t max_events) {
    if (max_events == 0 || from > to) return EventPage();
    if (may_have_deletions()) {
      auto meta = read_meta(pid);
      if (!meta) return std::unexpected(meta.error());
      if (*meta) from = std::max(from, (*meta)->deleted_to + 1);
      if (from > to) return EventPage();
    }
    // Memory first, then the store (see read()).
    auto memory = tail_events(pid, from, to, max_events);
    struct At {
      std::uint64_t seq;
      std::size_t start;
      std::size_t size;
    };
    std::vector<At> at;
    std::vector<char> bytes;
    auto take = [&](std::uint64_t seq, std::string_view rec) {
      if (seq < from) return true;
      if (seq > to || at.size() >= max_events) return false;
      if (at.empty()) {
        at.reserve(std::min<std::size_t>(max_events, 256));
        bytes.reserve(std::min<std::size_t>(rec.size() * at.capacity(), 64u << 10));
      }
      at.push_back(At{seq, bytes.size(), rec.size()});
      bytes.insert(bytes.end(), rec.begin(), rec.end());
      return at.size() < max_events;
    };
    auto chunks = read_chunks(pid, from, nullptr, max_events >= 1024 ? kLongReadAhead : 0, take);
    if (!chunks) return std::unexpected(chunks.error());
    const std::uint64_t last = at.empty() ? from - 1 : at.back().seq;
    for (auto& [seq, rec] : memory) {
      if (seq <= last) continue;
      if (!take(seq, rec)) break;
    }
    std::string prefix;
    put_journal_key(prefix, pid, 0);
    const std::uint32_t prefix_crc =
        crc32c(0, std::string_view(prefix).substr(0, prefix.size() - 8));
    std::vector<EventView> views;
    views.reserve(at.size());
    RecordView v;
    for (const At& a : at) {
      auto r = decode_record_view(v, journal_key_crc(prefix_crc, a.seq),
                                  std::string_view(bytes.data() + a.start, a.size), pid, a.seq,
                                  &manifests);
      if (!r) return std::unexpected(r.error());
      views.push_back(EventView{a.seq, v.manifest, v.version, std::as_bytes(std::span(v.payload)),
                                v.timestamp_ms, v.writer_epoch});
    }
    return EventPage(std::move(bytes), std::move(views));
  }

  Result<std::vector<TaggedEvent>> events_by_tag(const std::string& tag, std::uint64_t after_offset,
                                                 std::size_t max_events) {
    std::vector<TaggedEvent> out;
    if (max_events == 0 || after_offset == kMaxSeq) return out;
    struct Found {
      std::uint64_t offset;
      std::string pid;
      std::uint64_t seq;
      std::string record;  // empty: still to read from a chunk
    };
    // Memory first (see read()).
    std::vector<Found> memory;
    {
      std::lock_guard lock(tail_mutex);
      for (const Generation* g : {sealed.get(), &current}) {
        if (g == nullptr) continue;
        auto it = g->tags.find(tag);
        if (it == g->tags.end()) continue;
        const auto& refs = it->second;
        auto r = std::upper_bound(refs.begin(), refs.end(), after_offset,
                                  [](std::uint64_t o, const TagRef& t) { return o < t.offset; });
        for (; r != refs.end() && memory.size() < max_events; ++r) {
          const Tail& t = g->pids.at(*r->persistence_id);
          memory.push_back(Found{r->offset, *r->persistence_id, r->sequence_nr,
                                 std::string(t.record(r->sequence_nr))});
        }
      }
    }
    const std::uint64_t memory_from = memory.empty() ? kMaxSeq : memory.front().offset;
    std::vector<Found> stored;
    // One snapshot for the index and the events, so a page is one consistent view.
    const rocksdb::Snapshot* snapshot = db->GetSnapshot();
    struct Release {
      rocksdb::DB* db;
      const rocksdb::Snapshot* s;
      ~Release() { db->ReleaseSnapshot(s); }
    } release{db, snapshot};
    {
      NameRange it(db, cf(kTagsCf), tag_key(tag, 0), tag_key_end(tag), {snapshot});
      it.seek_for_prev(tag_key(tag, after_offset + 1));
      if (!it.valid()) it.seek_to_first();
      for (; it.valid() && stored.size() < max_events; it.next()) {
        auto first = tag_key_offset(view(it.key()));
        if (!first) {
          return fail(Errc::corrupted, "a tag index key of '" + tag + "' in '" + options.directory +
                                           "' does not decode");
        }
        auto entries = decode_tag_chunk(view(it.value()), tag, *first);
        if (!entries) return std::unexpected(entries.error());
        bool done = false;
        for (auto& e : *entries) {
          if (e.offset <= after_offset) continue;
          if (e.offset >= memory_from || stored.size() >= max_events) {
            done = true;
            break;
          }
          stored.push_back(Found{e.offset, std::move(e.persistence_id), e.sequence_nr, {}});
        }
        if (done) break;
      }
      if (!it.status().ok()) {
        return std::unexpected(
            io_error("reading events by tag in", options.directory, it.status()));
      }
    }
    std::unordered_map<std::string, std::uint64_t> deleted;  // pid -> deleted_to
    auto deleted_to = [&](const std::string& pid) -> Result<std::uint64_t> {
      auto it = deleted.find(pid);
      if (it != deleted.end()) return it->second;
      auto meta = read_meta(pid);
      if (!meta) return std::unexpected(meta.error());
      const std::uint64_t d = *meta ? (*meta)->deleted_to : 0;
      deleted.emplace(pid, d);
      return d;
    };
    std::string key;
    auto emit = [&](Found& f) -> Result<bool> {
      auto d = deleted_to(f.pid);
      if (!d) return std::unexpected(d.error());
      if (f.seq <= *d) return true;  // deleted by delete_to; its index entry stays
      if (f.record.empty()) {
        bool found = false;
        auto r =
            read_chunks(f.pid, f.seq, snapshot, 0, [&](std::uint64_t seq, std::string_view rec) {
              if (seq == f.seq) {
                f.record.assign(rec);
                found = true;
              }
              return seq < f.seq;
            });
        if (!r) return std::unexpected(r.error());
        if (!found) return true;
      }
      key.clear();
      put_journal_key(key, f.pid, f.seq);
      auto rec = decode_record(key, f.record, f.pid, f.seq, &manifests);
      if (!rec) return std::unexpected(rec.error());
      out.push_back(TaggedEvent{f.offset, std::move(*rec)});
      return out.size() < max_events;
    };
    for (auto* list : {&stored, &memory}) {
      for (auto& f : *list) {
        auto more = emit(f);
        if (!more) return std::unexpected(more.error());
        if (!*more) return out;
      }
    }
    return out;
  }

  void notify(std::uint64_t highest_offset) {
    std::vector<std::function<void(std::uint64_t)>> copy;
    {
      std::lock_guard lock(listeners_mutex);
      if (listeners.empty()) return;
      copy.reserve(listeners.size());
      for (auto& [id, l] : listeners) copy.push_back(l);
    }
    for (auto& l : copy) l(highest_offset);
  }

  Future<std::uint64_t> enqueue(Op op) {
    auto future = op.promise.future();
    op.pid_hash = PidTable::hash(op.persistence_id);
    bool was_empty = false;
    {
      std::lock_guard lock(mutex);
      if (stopping) {
        op.promise.complete(
            fail(Errc::shutting_down, "the journal in '" + options.directory + "' is closing"));
        return future;
      }
      was_empty = queue.empty();
      queue.push_back(std::move(op));
    }
    // The writer only sleeps on an empty queue: later pushes find it awake or about to look.
    if (was_empty) wake.notify_one();
    return future;
  }
};

// Snapshots in the journal's own database: saves and deletes go through the writer thread, so
// they share its group commits; loads read directly.
class RocksDbJournal::Impl::SnapshotStoreImpl final : public SnapshotStore {
 public:
  SnapshotStoreImpl(RocksDbJournal::Impl* impl, const SnapshotOptions& options)
      : impl_(impl), codec_(options) {}

  Future<std::monostate> save(SnapshotRecord record) override {
    auto bytes = codec_.encode(record);
    if (!bytes) return make_ready_future<std::monostate>(std::unexpected(bytes.error()));
    RocksDbJournal::Impl::Op op;
    op.kind = RocksDbJournal::Impl::Kind::snapshot_save;
    op.persistence_id = std::move(record.meta.persistence_id);
    op.to = record.meta.sequence_nr;
    op.data = std::move(*bytes);
    return done_as<std::monostate>(impl_->enqueue(std::move(op)),
                                   [](std::uint64_t) { return std::monostate{}; });
  }

  Future<std::optional<SnapshotRecord>> load_latest(std::string persistence_id,
                                                    SnapshotSelection selection) override {
    using R = std::optional<SnapshotRecord>;
    ReaderIterators& kept = impl_->reader_iterators();
    std::lock_guard lock(kept.mutex);
    NameRange it(impl_->fresh(kept.snapshots, kSnapshotsCf), persistence_id);
    std::string walked_key;
    std::string walked_value;
    Walk walk = Walk::fallback;
    if (selection.max_sequence_nr == kMaxSeq) {
      walk = walk_to_newest(it, walked_key, walked_value);
      if (walk == Walk::fallback) it.seek_to_last();
    } else {
      it.seek_for_prev(journal_key(persistence_id, selection.max_sequence_nr));
    }
    if (walk == Walk::empty || (walk == Walk::fallback && !it.valid())) {
      if (!it.status().ok()) {
        return make_ready_future<R>(
            std::unexpected(io_error("reading snapshots of '" + persistence_id + "' in",
                                     impl_->options.directory, it.status())));
      }
      return make_ready_future<R>(R{});
    }
    const bool found = walk == Walk::found;
    auto key = decode_journal_key(found ? std::string_view(walked_key) : view(it.key()));
    if (!key) {
      return make_ready_future<R>(
          fail(Errc::corrupted, "a snapshot key of '" + persistence_id + "' does not decode"));
    }
    auto rec = codec_.decode(found ? std::string_view(walked_value) : view(it.value()),
                             persistence_id, key->sequence_nr);
    if (!rec) return make_ready_future<R>(std::unexpected(rec.error()));
    return make_ready_future<R>(R{std::move(*rec)});
  }

  // An actor keeps a few snapshots (keep_snapshots, 2 by default): stepping forward over them,
  // keeping a copy of the newest, costs much less than SeekToLast, a backward seek through the
  // merged table iterators (12% of weft-bench journal --scenario recover). A long list, a large
  // snapshot or an error falls back to SeekToLast.
  enum class Walk : std::uint8_t { empty, found, fallback };
  static Walk walk_to_newest(NameRange& it, std::string& key, std::string& value) {
    constexpr int kMaxSteps = 8;
    constexpr std::size_t kMaxCopy = 64u << 10;
    it.seek_to_first();
    for (int i = 0; it.valid(); ++i, it.next()) {
      if (i == kMaxSteps || it.value().size() > kMaxCopy) return Walk::fallback;
      key.assign(view(it.key()));
      value.assign(view(it.value()));
    }
    if (!it.status().ok()) return Walk::fallback;
    return key.empty() ? Walk::empty : Walk::found;
  }

  Future<std::size_t> delete_older(std::string persistence_id, std::size_t keep_last) override {
    if (keep_last == 0) return delete_to(std::move(persistence_id), kMaxSeq);
    RocksDbJournal::Impl::Op op;
    op.kind = RocksDbJournal::Impl::Kind::snapshot_delete;
    op.persistence_id = std::move(persistence_id);
    op.keep_last = keep_last;
    return done_as<std::size_t>(impl_->enqueue(std::move(op)),
                                [](std::uint64_t n) { return static_cast<std::size_t>(n); });
  }

  Future<std::size_t> delete_to(std::string persistence_id,
                                std::uint64_t max_sequence_nr) override {
    RocksDbJournal::Impl::Op op;
    op.kind = RocksDbJournal::Impl::Kind::snapshot_delete;
    op.persistence_id = std::move(persistence_id);
    op.to = max_sequence_nr;
    return done_as<std::size_t>(impl_->enqueue(std::move(op)),
                                [](std::uint64_t n) { return static_cast<std::size_t>(n); });
  }

 private:
  template <class T, class F>
  static Future<T> done_as(Future<std::uint64_t> f, F convert) {
    Promise<T> p;
    auto out = p.future();
    f.on_complete([p, convert](const Result<std::uint64_t>& r) {
      if (r) {
        p.complete(convert(*r));
      } else {
        p.complete(std::unexpected(r.error()));
      }
    });
    return out;
  }

  RocksDbJournal::Impl* impl_;
  SnapshotCodec codec_;
};

RocksDbJournal::RocksDbJournal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RocksDbJournal::~RocksDbJournal() = default;

Result<std::unique_ptr<RocksDbJournal>> RocksDbJournal::open(const JournalOptions& options) {
  if (options.directory.empty()) return fail(Errc::invalid_argument, "journal directory is empty");
  if (!options.create_if_missing && !std::filesystem::exists(options.directory)) {
    return fail(Errc::not_found,
                "there is no journal in '" + options.directory + "': the directory does not exist");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->options.fold_bytes = std::max<std::size_t>(options.fold_bytes, 1);

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  // Every family flushes at the same point of the write sequence. Folds once wrote through the
  // memtables without the WAL and relied on it; they ingest table files now (Impl::fold), and
  // what still goes through memtables (deletes, snapshots) is in the WAL. Kept as the journal
  // has always run (the disk-full handling below was tested with it).
  db_options.atomic_flush = true;
  db_options.listeners.push_back(std::make_shared<ResumeOnNextWrite>());
  db_options.listeners.push_back(
      std::make_shared<AfterTableChanges>([i = impl.get()] { i->drop_reader_iterators(); }));
  // An incomplete last WAL record (a crash mid-write: never acknowledged) is dropped; damage
  // anywhere else stops the open with an error instead of silently losing later records.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  db_options.max_total_wal_size = 1u << 30;
  // Flushes and compactions write their files out a megabyte at a time as they go, instead of
  // leaving a memtable's worth (128 MB) of dirty pages to the kernel and one fsync at the end:
  // a WAL fdatasync (on the path of every acknowledgement) that lands on that writeback waited
  // up to ~0.8 s on this VM's disk; measured fsync p99.9 during weft-bench journal persist
  // 170 ms -> 83 ms.
  db_options.bytes_per_sync = 1u << 20;
  if (options.compaction_bytes_per_second > 0) {
    // Flushes and compactions (kWritesOnly: reads are not counted), not the fold's table files
    // (Impl::fold). 100 ms refills, RocksDB's default fairness.
    db_options.rate_limiter.reset(rocksdb::NewGenericRateLimiter(
        static_cast<std::int64_t>(options.compaction_bytes_per_second), 100 * 1000, 10,
        rocksdb::RateLimiter::Mode::kWritesOnly, /*auto_tuned=*/true));
  }
  db_options.info_log = std::make_shared<SpdlogLogger>(options.directory);
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  // Compactions likewise (flushes, in the high-priority pool, keep their priority).
  rocksdb::Env::Default()->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::LOW);

  const auto cache = rocksdb::NewLRUCache(std::max<std::size_t>(options.block_cache_bytes, 1));
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const char* name : kColumnFamilies) {
    rocksdb::ColumnFamilyOptions o;
    // The other families hold little: small memtables, which also keep the space RocksDB
    // reserves before it recovers from a full disk small.
    o.write_buffer_size = 4u << 20;
    // Flushes are atomic across families, so a small one switches memtables whenever a big
    // one flushes: room for four keeps its writes (snapshot saves) from stopping meanwhile,
    // as they did with RocksDB's default of two while 100,000 snapshots were saved.
    o.max_write_buffer_number = 4;
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = cache;
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    const std::string_view n(name);
    if (n == "journal")
      o = big_cf_options(options.write_buffer_bytes, cache, options.compress_folds);
    if (n == "tags")
      o = big_cf_options(options.write_buffer_bytes / 4, cache, options.compress_folds);
    cfs.emplace_back(name, o);
  }
  if (options.create_if_missing) {
    // Made here (when its parent exists) so that RocksDB does not log a missing directory as
    // an error on first use; RocksDB reports any real problem with it below.
    std::error_code ignored;
    std::filesystem::create_directory(options.directory, ignored);
  }
  auto s = rocksdb::DB::Open(db_options, options.directory, cfs, &impl->handles, &impl->db);
  if (!s.ok()) return std::unexpected(open_error(options.directory, s));

  if (auto r = impl->replay_log(); !r) return std::unexpected(r.error());
  impl->clear_fold_directory();  // table files of a fold a crash interrupted (never ingested)
  impl->write_options.sync = options.durability == Durability::fsync;
  if (options.metrics != nullptr) impl->register_metrics(*options.metrics);
  impl->folder = std::thread([p = impl.get()] { p->run_folder(); });
  impl->writer = std::thread([p = impl.get()] { p->run(); });
  impl->maybe_seal();
  return std::unique_ptr<RocksDbJournal>(new RocksDbJournal(std::move(impl)));
}

Future<std::uint64_t> RocksDbJournal::append(AppendBatch batch) {
  Impl::Op op;
  op.enqueued = SteadyClock::now();
  op.expected_next = batch.expected_next_sequence_nr;
  op.epoch = batch.writer_epoch;
  op.events = batch.events.size();
  std::size_t estimate = 0;
  for (const auto& e : batch.events) {
    estimate +=
        2 * batch.persistence_id.size() + e.manifest.size() + e.payload.size() + e.mac.size() + 48;
    for (const auto& t : e.tags) estimate += t.size() + 2;
  }
  std::uint64_t seq = batch.expected_next_sequence_nr;
  // Scratch buffers reused by every append of this thread.
  thread_local std::string key;
  thread_local std::string record;
  thread_local std::string entries;
  entries.clear();
  entries.reserve(estimate);
  for (const auto& e : batch.events) {
    if (e.sequence_nr != seq || e.persistence_id != batch.persistence_id) {
      return make_ready_future<std::uint64_t>(
          fail(Errc::invalid_argument, "append batch for '" + batch.persistence_id +
                                           "' has a gap or a foreign event at sequence " +
                                           std::to_string(seq)));
    }
    key.clear();
    put_journal_key(key, batch.persistence_id, seq);
    record.clear();
    encode_record(record, key, e, batch.writer_epoch, impl_->manifests.id_of(e.manifest));
    put_segment_entry(entries, batch.persistence_id, seq, record);
    for (const auto& t : e.tags) op.tags.emplace_back(seq, t);
    ++seq;
  }
  if (entries.size() <= Impl::Op::kSmallBytes) {
    std::memcpy(op.small.data(), entries.data(), entries.size());
    op.small_size = static_cast<std::uint32_t>(entries.size());
  } else {
    op.data = std::move(entries);  // the next append of this thread allocates anew
  }
  op.persistence_id = std::move(batch.persistence_id);
  return impl_->enqueue(std::move(op));
}

Future<std::uint64_t> RocksDbJournal::delete_to(std::string persistence_id, std::uint64_t to) {
  Impl::Op op;
  op.kind = Impl::Kind::remove;
  // Before it is queued: a replay from then on looks up what is deleted.
  impl_->deletions.store(Impl::Deletions::some, std::memory_order_release);
  op.enqueued = SteadyClock::now();
  op.persistence_id = std::move(persistence_id);
  op.to = to;
  return impl_->enqueue(std::move(op));
}

Future<std::vector<EventRecord>> RocksDbJournal::read(std::string persistence_id,
                                                      std::uint64_t from, std::uint64_t to,
                                                      std::size_t max_events) {
  return make_ready_future<std::vector<EventRecord>>(
      impl_->read(persistence_id, from, to, max_events));
}

Future<EventPage> RocksDbJournal::read_page(std::string persistence_id, std::uint64_t from,
                                            std::uint64_t to, std::size_t max_events) {
  return make_ready_future<EventPage>(impl_->read_page(persistence_id, from, to, max_events));
}

Future<std::uint64_t> RocksDbJournal::highest_sequence_nr(std::string persistence_id) {
  if (auto h = impl_->tail_highest(persistence_id)) return make_ready_future<std::uint64_t>(*h);
  auto stored = impl_->stored_state(persistence_id);
  if (!stored) return make_ready_future<std::uint64_t>(std::unexpected(stored.error()));
  return make_ready_future<std::uint64_t>(stored->first.highest);
}

Future<std::vector<TaggedEvent>> RocksDbJournal::events_by_tag(std::string tag,
                                                               std::uint64_t after_offset,
                                                               std::size_t max_events) {
  return make_ready_future<std::vector<TaggedEvent>>(
      impl_->events_by_tag(tag, after_offset, max_events));
}

Future<std::vector<std::string>> RocksDbJournal::persistence_ids() {
  using Out = std::vector<std::string>;
  std::set<std::string> ids;
  {
    std::lock_guard lock(impl_->tail_mutex);
    for (const Impl::Generation* g : {impl_->sealed.get(), &impl_->current}) {
      if (g == nullptr) continue;
      for (const auto& [pid, t] : g->pids) ids.insert(pid);
    }
  }
  const std::string lower(1, kMetaPidPrefix);
  const std::string upper(1, static_cast<char>(kMetaPidPrefix + 1));
  rocksdb::Slice up(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &up;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->cf(kMetaCf)));
  for (it->Seek(lower); it->Valid(); it->Next()) ids.emplace(view(it->key()).substr(1));
  if (!it->status().ok()) {
    return make_ready_future<Out>(std::unexpected(
        io_error("listing persistence ids in", impl_->options.directory, it->status())));
  }
  return make_ready_future<Out>(Out(ids.begin(), ids.end()));
}

std::uint64_t RocksDbJournal::subscribe(std::function<void(std::uint64_t)> listener) {
  std::lock_guard lock(impl_->listeners_mutex);
  const auto id = impl_->next_listener++;
  impl_->listeners.emplace(id, std::move(listener));
  return id;
}

void RocksDbJournal::unsubscribe(std::uint64_t id) {
  std::lock_guard lock(impl_->listeners_mutex);
  impl_->listeners.erase(id);
}

std::uint64_t RocksDbJournal::last_offset() const {
  return impl_->committed_offset.load(std::memory_order_acquire);
}

std::shared_ptr<SnapshotStore> RocksDbJournal::snapshot_store(SnapshotOptions options) {
  return std::make_shared<Impl::SnapshotStoreImpl>(impl_.get(), options);
}

Result<RocksDbJournal::Stats> RocksDbJournal::stats() {
  Stats st;
  auto ids = persistence_ids().get();
  if (!ids) return std::unexpected(ids.error());
  st.persistence_ids = ids->size();
  for (const auto& pid : *ids) {
    auto stored = impl_->stored_state(pid);
    if (!stored) return std::unexpected(stored.error());
    const std::uint64_t deleted = stored->first.deleted_to;
    std::uint64_t highest = stored->first.highest;
    if (auto h = impl_->tail_highest(pid)) highest = *h;
    st.events += highest > deleted ? highest - deleted : 0;
  }
  st.highest_offset = last_offset();
  {
    std::lock_guard lock(impl_->tail_mutex);
    st.log_bytes = impl_->current.bytes + (impl_->sealed ? impl_->sealed->bytes : 0);
  }
  for (auto* h : impl_->handles) {
    std::uint64_t v = 0;
    if (impl_->db->GetIntProperty(h, "rocksdb.total-sst-files-size", &v)) st.sst_bytes += v;
  }
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(kSnapshotsCf)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++st.snapshots;
  if (!it->status().ok()) {
    return std::unexpected(
        io_error("counting snapshots in", impl_->options.directory, it->status()));
  }
  return st;
}

Result<RocksDbJournal::VerifyReport> RocksDbJournal::verify(const std::string& persistence_id,
                                                            const Progress& progress) {
  VerifyReport report;
  std::vector<std::string> ids;
  if (persistence_id.empty()) {
    auto all = persistence_ids().get();
    if (!all) return std::unexpected(all.error());
    ids = std::move(*all);
  } else {
    ids.push_back(persistence_id);
  }
  std::string key;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::string& pid = ids[i];
    auto stored = impl_->stored_state(pid);
    if (!stored && stored.error().code() != Errc::corrupted) {
      return std::unexpected(stored.error());
    }
    PidMeta known;
    if (stored) {
      known = stored->first;
    } else {
      // The newest chunk is damaged: report it, and check what meta alone vouches for.
      report.problems.push_back(stored.error());
      auto meta = impl_->read_meta(pid);
      if (meta && *meta) known = **meta;
    }
    const std::uint64_t deleted = known.deleted_to;
    std::uint64_t highest = known.highest;
    if (auto h = impl_->tail_highest(pid)) highest = *h;
    if (highest == 0 && !persistence_id.empty()) {
      return fail(Errc::not_found, "no persistence id '" + pid + "' in the journal in '" +
                                       impl_->options.directory + "'");
    }
    ++report.persistence_ids;
    std::uint64_t expected = deleted + 1;
    auto check = [&](std::uint64_t seq, std::string_view rec) {
      if (seq < expected) return true;  // deleted, or a second copy left by a refold
      if (seq > expected) {
        report.problems.emplace_back(Errc::corrupted, "'" + pid + "': events " +
                                                          std::to_string(expected) + " to " +
                                                          std::to_string(seq - 1) + " are missing");
      }
      key.clear();
      put_journal_key(key, pid, seq);
      auto r = decode_record(key, rec, pid, seq, &impl_->manifests);
      if (!r) report.problems.push_back(r.error());
      ++report.events;
      expected = seq + 1;
      return true;
    };
    auto walked = impl_->read_chunks(pid, expected, nullptr, kLongReadAhead, check);
    if (!walked) report.problems.push_back(walked.error());
    for (auto& [seq, rec] : impl_->tail_events(pid, expected, kMaxSeq, kMaxSeq)) check(seq, rec);
    if (expected <= highest) {
      report.problems.emplace_back(Errc::corrupted, "'" + pid + "': events " +
                                                        std::to_string(expected) + " to " +
                                                        std::to_string(highest) + " are missing");
    }
    if (progress) progress(i + 1, ids.size());
  }
  if (persistence_id.empty()) {
    std::unique_ptr<rocksdb::Iterator> it(
        impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(kTagsCf)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto k = decode_journal_key(view(it->key()));
      auto entries =
          k ? decode_tag_chunk(view(it->value()), k->persistence_id, k->sequence_nr)
            : Result<std::vector<TagEntry>>(fail(Errc::corrupted, "a tag key does not decode"));
      if (entries) {
        report.tag_entries += entries->size();
      } else {
        report.problems.push_back(entries.error());
      }
    }
    std::unique_ptr<rocksdb::Iterator> log(
        impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->cf(kLogCf)));
    for (log->SeekToFirst(); log->Valid(); log->Next()) {
      auto no = decode_u64_be(view(log->key()));
      auto seg = decode_segment(view(log->value()), no.value_or(0),
                                [](const SegmentEntry&) -> Result<void> { return {}; });
      if (!seg) report.problems.push_back(seg.error());
      ++report.log_segments;
    }
    for (auto* i : {it.get(), log.get()}) {
      if (!i->status().ok()) {
        report.problems.push_back(io_error("reading", impl_->options.directory, i->status()));
      }
    }
    std::uint64_t folded = 0;
    {
      std::lock_guard lock(impl_->tail_mutex);
      folded = std::max(impl_->folded_group, impl_->legacy_log_last);
    }
    auto frames = SegmentLog::read(
        impl_->log_directory(), folded,
        [](std::uint64_t no, std::string_view segment) -> Result<void> {
          auto r = decode_segment(segment, no, [](const SegmentEntry&) { return Result<void>(); });
          if (!r) return std::unexpected(r.error());
          return {};
        });
    if (frames) {
      report.log_segments += *frames;
    } else {
      report.problems.push_back(frames.error());
    }
  }
  return report;
}

Result<void> RocksDbJournal::compact(const Progress& progress) {
  {
    std::unique_lock lock(impl_->tail_mutex);
    impl_->wait_for_fold(lock);
    if (!impl_->current.pids.empty()) impl_->seal_locked();
    impl_->wait_for_fold(lock);
  }
  const std::size_t n = impl_->handles.size();
  for (std::size_t i = 0; i < n; ++i) {
    rocksdb::CompactRangeOptions o;
    o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    auto s = impl_->db->CompactRange(o, impl_->handles[i], nullptr, nullptr);
    if (!s.ok())
      return std::unexpected(io_error("compacting the journal in", impl_->options.directory, s));
    if (progress) progress(i + 1, n);
  }
  return {};
}

}  // namespace weft::persistence
