#include "weft/persistence/rocksdb_journal.hpp"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "persistence/journal_keys.hpp"
#include "persistence/journal_record.hpp"
#include "weft/core/metrics.hpp"

namespace weft::persistence {

namespace {

using SteadyClock = std::chrono::steady_clock;

// Column families in the order they are opened; handles_ follows it.
constexpr const char* kColumnFamilies[] = {"default",   "journal",      "tags",   "meta",
                                           "snapshots", "stream_state", "offsets"};
enum Cf : std::size_t { kDefault, kJournalCf, kTagsCf, kMetaCf };

std::uint64_t nanos_since(SteadyClock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - t).count());
}

rocksdb::ColumnFamilyOptions journal_cf_options(std::size_t write_buffer_bytes) {
  rocksdb::ColumnFamilyOptions o;
  o.write_buffer_size = write_buffer_bytes;
  o.max_write_buffer_number = 4;
  o.min_write_buffer_number_to_merge = 1;
  // Payloads are mostly already compact codec bytes: compressing every level costs CPU on the
  // write path for little; the bottommost level, written once by compaction, gets zstd.
  o.compression = rocksdb::kNoCompression;
  o.bottommost_compression = rocksdb::kZSTD;
  o.target_file_size_base = 64u << 20;
  o.max_bytes_for_level_base = 512u << 20;
  o.level0_slowdown_writes_trigger = 40;
  o.level0_stop_writes_trigger = 64;
  rocksdb::BlockBasedTableOptions t;
  t.block_size = 32u << 10;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

// RocksDB's own messages go to spdlog (warnings and worse), not to a LOG file in the data
// directory: that file would fill a full disk further, and RocksDB's logger asserts when it
// writes after a failed write.
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

}  // namespace

struct RocksDbJournal::Impl {
  // One append or delete waiting for the writer thread. Appends arrive encoded: the caller's
  // thread builds keys, values and checksums so the writer only validates and copies.
  struct Op {
    bool is_delete = false;
    std::string persistence_id;
    std::uint64_t expected_next = 0;
    std::uint64_t epoch = 0;
    std::uint64_t delete_to = 0;
    std::size_t events = 0;
    std::string data;                    // key ‖ value of each event, back to back
    std::vector<std::uint32_t> lengths;  // key length, value length, per event
    std::vector<std::pair<std::uint64_t, std::string>> tags;  // (sequence nr, tag)
    Promise<std::uint64_t> promise;
    SteadyClock::time_point enqueued;
  };

  // What the writer knows of a persistence id: loaded from the store on first use, then kept.
  struct PidState {
    std::uint64_t highest = 0;
    std::uint64_t epoch = 0;
    std::uint64_t deleted_to = 0;
    bool in_meta = false;  // a meta entry exists (persistence_ids lists it)
  };

  struct Metrics {
    Counter* appends = nullptr;
    Counter* conflicts = nullptr;
    Counter* failures = nullptr;
    Counter* events = nullptr;
    Counter* bytes = nullptr;
    Histogram* group_events = nullptr;
    Histogram* group_bytes = nullptr;
    Histogram* fsync_ns = nullptr;
    Histogram* append_ns = nullptr;
  };

  JournalOptions options;
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::WriteOptions write_options;
  Metrics metrics;

  std::mutex mutex;
  std::condition_variable wake;
  std::vector<Op> queue;
  bool stopping = false;
  std::thread writer;

  // Writer thread only.
  std::unordered_map<std::string, PidState> pids;
  std::uint64_t offset = 0;
  bool needs_resume = false;
  std::atomic<std::uint64_t> committed_offset{0};

  std::mutex listeners_mutex;
  std::map<std::uint64_t, std::function<void(std::uint64_t)>> listeners;
  std::uint64_t next_listener = 1;

  ~Impl() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    wake.notify_one();
    if (writer.joinable()) writer.join();
    if (db != nullptr) {
      for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
      db->Close().PermitUncheckedError();
      delete db;
    }
  }

  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return handles[c]; }

  void register_metrics(MetricsRegistry& r) {
    metrics.appends = &r.counter("weft_journal_appends_total", "Append batches made durable");
    metrics.conflicts =
        &r.counter("weft_journal_append_conflicts_total",
                   "Append batches refused for a sequence or writer-epoch mismatch");
    metrics.failures = &r.counter("weft_journal_append_failures_total",
                                  "Append batches that failed with an I/O error");
    metrics.events = &r.counter("weft_journal_events_total", "Events made durable");
    metrics.bytes = &r.counter("weft_journal_written_bytes_total",
                               "Encoded event bytes (keys and values) made durable");
    metrics.group_events = &r.histogram("weft_journal_group_commit_events",
                                        "Events per group commit (one synced write)");
    metrics.group_bytes =
        &r.histogram("weft_journal_group_commit_bytes", "Encoded bytes per group commit");
    metrics.fsync_ns = &r.histogram("weft_journal_fsync_seconds",
                                    "Duration of one synced write of a group commit", {}, 1e-9);
    metrics.append_ns =
        &r.histogram("weft_journal_append_seconds", "From append() to acknowledgement", {}, 1e-9);
  }

  // ---- writer thread -------------------------------------------------------------------

  void run() {
    std::vector<Op> backlog;
    std::size_t next = 0;
    std::vector<Op> group;
    rocksdb::WriteBatch batch;
    for (;;) {
      if (next == backlog.size()) {
        backlog.clear();
        next = 0;
        std::unique_lock lock(mutex);
        wake.wait(lock, [&] { return !queue.empty() || stopping; });
        if (queue.empty()) return;  // stopping, and everything is done
        backlog.swap(queue);
      }
      // A delete commits alone, so it sees every earlier append in the store; appends are
      // taken up to max_batch_bytes.
      group.clear();
      if (backlog[next].is_delete) {
        group.push_back(std::move(backlog[next++]));
      } else {
        std::size_t bytes = 0;
        while (next < backlog.size() && !backlog[next].is_delete &&
               (group.empty() || bytes + backlog[next].data.size() <= options.max_batch_bytes)) {
          bytes += backlog[next].data.size();
          group.push_back(std::move(backlog[next++]));
        }
      }
      commit(group, batch);
    }
  }

  Result<PidState*> state_for(const std::string& pid) {
    auto it = pids.find(pid);
    if (it != pids.end()) return &it->second;
    auto loaded = load_state(pid);
    if (!loaded) return std::unexpected(loaded.error());
    return &pids.emplace(pid, *loaded).first->second;
  }

  // Highest sequence and epoch: the larger of the meta entry and the newest stored event.
  Result<PidState> load_state(const std::string& pid) const {
    PidState st;
    std::string value;
    auto s = db->Get(rocksdb::ReadOptions(), cf(kMetaCf), meta_pid_key(pid), &value);
    if (s.ok()) {
      auto m = decode_pid_meta(value);
      if (!m) return fail(Errc::corrupted, "journal metadata of '" + pid + "' does not decode");
      st.highest = m->highest;
      st.epoch = m->epoch;
      st.deleted_to = m->deleted_to;
      st.in_meta = true;
    } else if (!s.IsNotFound()) {
      return std::unexpected(
          io_error("reading journal metadata of '" + pid + "' in", options.directory, s));
    }
    auto last = last_event(pid);
    if (!last) return std::unexpected(last.error());
    if (*last) {
      st.highest = std::max(st.highest, (*last)->sequence_nr);
      st.epoch = std::max(st.epoch, (*last)->writer_epoch);
    }
    return st;
  }

  Result<std::optional<EventRecord>> last_event(const std::string& pid) const {
    const std::string lower = journal_key(pid, 0);
    const std::string upper = journal_key_end(pid);
    rocksdb::Slice lo(lower), up(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &lo;
    ro.iterate_upper_bound = &up;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf(kJournalCf)));
    it->SeekToLast();
    if (!it->Valid()) {
      if (!it->status().ok()) {
        return std::unexpected(
            io_error("reading the journal of '" + pid + "' in", options.directory, it->status()));
      }
      return std::optional<EventRecord>();
    }
    auto key = decode_journal_key(it->key().ToStringView());
    if (!key) return fail(Errc::corrupted, "a journal key of '" + pid + "' does not decode");
    auto rec =
        decode_record(it->key().ToStringView(), it->value().ToStringView(), pid, key->sequence_nr);
    if (!rec) return std::unexpected(rec.error());
    return std::optional<EventRecord>(std::move(*rec));
  }

  void refuse(Op& op, Error error) {
    if (metrics.conflicts != nullptr && error.code() == Errc::conflict) metrics.conflicts->inc();
    op.promise.complete(std::unexpected(std::move(error)));
  }

  // Validates `op` against the cached state and adds its writes; false if refused.
  bool stage_append(Op& op, rocksdb::WriteBatch& batch,
                    std::vector<std::pair<PidState*, PidState>>& undo) {
    auto st = state_for(op.persistence_id);
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
    std::string_view data(op.data);
    for (std::size_t i = 0; i < op.events; ++i) {
      const auto key = data.substr(0, op.lengths[2 * i]);
      const auto value = data.substr(key.size(), op.lengths[2 * i + 1]);
      batch.Put(cf(kJournalCf), rocksdb::Slice(key.data(), key.size()),
                rocksdb::Slice(value.data(), value.size()));
      data.remove_prefix(key.size() + value.size());
    }
    for (const auto& [seq, tag] : op.tags) {
      batch.Put(cf(kTagsCf), tag_key(tag, ++offset), tag_value(op.persistence_id, seq));
    }
    const bool epoch_changed = op.epoch != s.epoch;
    s.highest += op.events;
    s.epoch = op.epoch;
    // The newest event already carries the highest sequence and epoch; meta is written when a
    // pid first appears (for persistence_ids) or its epoch moves.
    if (!s.in_meta || epoch_changed) {
      s.in_meta = true;
      batch.Put(cf(kMetaCf), meta_pid_key(op.persistence_id),
                encode_pid_meta({s.highest, s.epoch, s.deleted_to}));
    }
    return true;
  }

  // Stages a range delete; returns how many events it removes, or an error.
  Result<std::uint64_t> stage_delete(Op& op, rocksdb::WriteBatch& batch,
                                     std::vector<std::pair<PidState*, PidState>>& undo) {
    auto st = state_for(op.persistence_id);
    if (!st) return std::unexpected(st.error());
    PidState& s = **st;
    const std::uint64_t to = std::min(op.delete_to, s.highest);
    if (to == 0) return 0;
    const std::string lower = journal_key(op.persistence_id, 0);
    const std::string upper = journal_key(op.persistence_id, to + 1);
    rocksdb::Slice up(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &up;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf(kJournalCf)));
    std::uint64_t n = 0;
    for (it->Seek(lower); it->Valid(); it->Next()) ++n;
    if (!it->status().ok()) {
      return std::unexpected(io_error("counting events of '" + op.persistence_id + "' in",
                                      options.directory, it->status()));
    }
    undo.emplace_back(&s, s);
    batch.DeleteRange(cf(kJournalCf), lower, upper);
    s.deleted_to = std::max(s.deleted_to, to);
    s.in_meta = true;
    batch.Put(cf(kMetaCf), meta_pid_key(op.persistence_id),
              encode_pid_meta({s.highest, s.epoch, s.deleted_to}));
    return n;
  }

  void commit(std::vector<Op>& group, rocksdb::WriteBatch& batch) {
    batch.Clear();
    std::vector<std::pair<PidState*, PidState>> undo;
    std::vector<std::pair<Op*, std::uint64_t>> accepted;  // op, its result
    const std::uint64_t offset_before = offset;
    std::uint64_t events = 0;
    for (auto& op : group) {
      if (op.is_delete) {
        auto n = stage_delete(op, batch, undo);
        if (n) {
          accepted.emplace_back(&op, *n);
        } else {
          refuse(op, n.error());
        }
      } else if (stage_append(op, batch, undo)) {
        accepted.emplace_back(&op, op.expected_next + op.events - 1);
        events += op.events;
      }
    }
    if (offset != offset_before) batch.Put(cf(kMetaCf), kMetaOffsetKey, encode_u64_be(offset));

    rocksdb::Status s;
    if (batch.Count() > 0) {
      if (needs_resume) {
        // A failed write (disk full) stops RocksDB's writes until resumed.
        s = db->Resume();
        if (s.ok()) needs_resume = false;
      }
      if (s.ok()) {
        const auto start = SteadyClock::now();
        s = db->Write(write_options, &batch);
        if (metrics.fsync_ns != nullptr) metrics.fsync_ns->record(nanos_since(start));
      }
    }
    if (!s.ok()) {
      needs_resume = true;
      for (auto it = undo.rbegin(); it != undo.rend(); ++it) *it->first = it->second;
      offset = offset_before;
      const Error error = io_error("journal write failed in", options.directory, s);
      for (auto& [op, result] : accepted) {
        if (metrics.failures != nullptr) metrics.failures->inc();
        op->promise.complete(std::unexpected(error));
      }
      return;
    }
    committed_offset.store(offset, std::memory_order_release);
    if (metrics.appends != nullptr) {
      const auto bytes = batch.GetDataSize();
      metrics.events->inc(events);
      metrics.bytes->inc(bytes);
      metrics.group_events->record(events);
      metrics.group_bytes->record(bytes);
    }
    for (auto& [op, result] : accepted) {
      if (metrics.appends != nullptr && !op->is_delete) {
        metrics.appends->inc();
        metrics.append_ns->record(nanos_since(op->enqueued));
      }
      op->promise.complete(result);
    }
    if (!accepted.empty()) notify(offset);
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

RocksDbJournal::RocksDbJournal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RocksDbJournal::~RocksDbJournal() = default;

Result<std::unique_ptr<RocksDbJournal>> RocksDbJournal::open(const JournalOptions& options) {
  if (options.directory.empty()) return fail(Errc::invalid_argument, "journal directory is empty");
  auto impl = std::make_unique<Impl>();
  impl->options = options;

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  // An incomplete last WAL record (a crash mid-write: never acknowledged) is dropped; damage
  // anywhere else stops the open with an error instead of silently losing later records.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  db_options.max_total_wal_size = 1u << 30;
  db_options.info_log = std::make_shared<SpdlogLogger>(options.directory);
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const char* name : kColumnFamilies) {
    rocksdb::ColumnFamilyOptions o;
    // The other families hold little: small memtables, which also keep the space RocksDB
    // reserves before it recovers from a full disk small.
    o.write_buffer_size = 4u << 20;
    if (std::string_view(name) == "journal") o = journal_cf_options(options.write_buffer_bytes);
    if (std::string_view(name) == "tags") o = journal_cf_options(options.write_buffer_bytes / 4);
    cfs.emplace_back(name, o);
  }
  // Made here (when its parent exists) so that RocksDB does not log a missing directory as an
  // error on first use; RocksDB reports any real problem with it below.
  std::error_code ignored;
  std::filesystem::create_directory(options.directory, ignored);
  auto s = rocksdb::DB::Open(db_options, options.directory, cfs, &impl->handles, &impl->db);
  if (!s.ok()) return std::unexpected(io_error("cannot open the journal in", options.directory, s));

  std::string value;
  s = impl->db->Get(rocksdb::ReadOptions(), impl->cf(kMetaCf), kMetaOffsetKey, &value);
  if (s.ok()) {
    auto o = decode_u64_be(value);
    if (!o) {
      return fail(Errc::corrupted,
                  "the journal in '" + options.directory + "' has an undecodable global offset");
    }
    impl->offset = *o;
  } else if (!s.IsNotFound()) {
    return std::unexpected(io_error("cannot read the journal metadata in", options.directory, s));
  }
  impl->committed_offset = impl->offset;
  impl->write_options.sync = options.durability == Durability::fsync;
  if (options.metrics != nullptr) impl->register_metrics(*options.metrics);
  impl->writer = std::thread([p = impl.get()] { p->run(); });
  return std::unique_ptr<RocksDbJournal>(new RocksDbJournal(std::move(impl)));
}

Future<std::uint64_t> RocksDbJournal::append(AppendBatch batch) {
  Impl::Op op;
  op.enqueued = SteadyClock::now();
  op.expected_next = batch.expected_next_sequence_nr;
  op.epoch = batch.writer_epoch;
  op.events = batch.events.size();
  op.lengths.reserve(2 * op.events);
  std::uint64_t seq = batch.expected_next_sequence_nr;
  for (const auto& e : batch.events) {
    if (e.sequence_nr != seq || e.persistence_id != batch.persistence_id) {
      return make_ready_future<std::uint64_t>(
          fail(Errc::invalid_argument, "append batch for '" + batch.persistence_id +
                                           "' has a gap or a foreign event at sequence " +
                                           std::to_string(seq)));
    }
    const std::size_t key_start = op.data.size();
    put_journal_key(op.data, batch.persistence_id, seq);
    const std::size_t value_start = op.data.size();
    encode_record(op.data, std::string_view(op.data).substr(key_start, value_start - key_start), e,
                  batch.writer_epoch);
    op.lengths.push_back(static_cast<std::uint32_t>(value_start - key_start));
    op.lengths.push_back(static_cast<std::uint32_t>(op.data.size() - value_start));
    for (const auto& t : e.tags) op.tags.emplace_back(seq, t);
    ++seq;
  }
  op.persistence_id = std::move(batch.persistence_id);
  return impl_->enqueue(std::move(op));
}

Future<std::uint64_t> RocksDbJournal::delete_to(std::string persistence_id, std::uint64_t to) {
  Impl::Op op;
  op.is_delete = true;
  op.enqueued = SteadyClock::now();
  op.persistence_id = std::move(persistence_id);
  op.delete_to = to;
  return impl_->enqueue(std::move(op));
}

Future<std::vector<EventRecord>> RocksDbJournal::read(std::string persistence_id,
                                                      std::uint64_t from, std::uint64_t to,
                                                      std::size_t max_events) {
  using Out = std::vector<EventRecord>;
  Out out;
  if (max_events == 0 || from > to) return make_ready_future<Out>(std::move(out));
  const std::string lower = journal_key(persistence_id, from);
  const std::string upper = to == std::numeric_limits<std::uint64_t>::max()
                                ? journal_key_end(persistence_id)
                                : journal_key(persistence_id, to + 1);
  rocksdb::Slice up(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &up;
  if (max_events >= 1024) ro.readahead_size = 2u << 20;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->cf(kJournalCf)));
  out.reserve(std::min<std::size_t>(max_events, 4096));
  for (it->Seek(lower); it->Valid() && out.size() < max_events; it->Next()) {
    const auto key = it->key().ToStringView();
    auto k = decode_journal_key(key);
    if (!k) {
      return make_ready_future<Out>(
          fail(Errc::corrupted, "a journal key of '" + persistence_id + "' does not decode"));
    }
    auto rec = decode_record(key, it->value().ToStringView(), persistence_id, k->sequence_nr);
    if (!rec) return make_ready_future<Out>(std::unexpected(rec.error()));
    out.push_back(std::move(*rec));
  }
  if (!it->status().ok()) {
    return make_ready_future<Out>(
        std::unexpected(io_error("reading the journal of '" + persistence_id + "' in",
                                 impl_->options.directory, it->status())));
  }
  return make_ready_future<Out>(std::move(out));
}

Future<std::uint64_t> RocksDbJournal::highest_sequence_nr(std::string persistence_id) {
  auto st = impl_->load_state(persistence_id);
  if (!st) return make_ready_future<std::uint64_t>(std::unexpected(st.error()));
  return make_ready_future<std::uint64_t>(st->highest);
}

Future<std::vector<TaggedEvent>> RocksDbJournal::events_by_tag(std::string tag,
                                                               std::uint64_t after_offset,
                                                               std::size_t max_events) {
  using Out = std::vector<TaggedEvent>;
  Out out;
  if (max_events == 0 || after_offset == std::numeric_limits<std::uint64_t>::max()) {
    return make_ready_future<Out>(std::move(out));
  }
  const std::string upper = tag_key_end(tag);
  rocksdb::Slice up(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &up;
  // One snapshot for the index and the events, so a page is one consistent view.
  const rocksdb::Snapshot* snapshot = impl_->db->GetSnapshot();
  ro.snapshot = snapshot;
  auto release = [&] { impl_->db->ReleaseSnapshot(snapshot); };
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->cf(kTagsCf)));
  std::string value;
  for (it->Seek(tag_key(tag, after_offset + 1)); it->Valid() && out.size() < max_events;
       it->Next()) {
    auto offset = tag_key_offset(it->key().ToStringView());
    auto where = decode_tag_value(it->value().ToStringView());
    if (!offset || !where) {
      it.reset();
      release();
      return make_ready_future<Out>(fail(Errc::corrupted, "a tag index entry of '" + tag +
                                                              "' in '" + impl_->options.directory +
                                                              "' does not decode"));
    }
    const std::string key = journal_key(where->persistence_id, where->sequence_nr);
    auto s = impl_->db->Get(ro, impl_->cf(kJournalCf), key, &value);
    if (s.IsNotFound()) continue;  // deleted by delete_to; its index entry stays
    Result<EventRecord> rec =
        s.ok() ? decode_record(key, value, where->persistence_id, where->sequence_nr)
               : std::unexpected(io_error("reading events by tag in", impl_->options.directory, s));
    if (!rec) {
      it.reset();
      release();
      return make_ready_future<Out>(std::unexpected(rec.error()));
    }
    out.push_back(TaggedEvent{*offset, std::move(*rec)});
  }
  auto status = it->status();
  it.reset();
  release();
  if (!status.ok()) {
    return make_ready_future<Out>(
        std::unexpected(io_error("reading events by tag in", impl_->options.directory, status)));
  }
  return make_ready_future<Out>(std::move(out));
}

Future<std::vector<std::string>> RocksDbJournal::persistence_ids() {
  using Out = std::vector<std::string>;
  Out out;
  const std::string lower(1, kMetaPidPrefix);
  const std::string upper(1, static_cast<char>(kMetaPidPrefix + 1));
  rocksdb::Slice up(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &up;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->cf(kMetaCf)));
  for (it->Seek(lower); it->Valid(); it->Next())
    out.emplace_back(it->key().ToStringView().substr(1));
  if (!it->status().ok()) {
    return make_ready_future<Out>(std::unexpected(
        io_error("listing persistence ids in", impl_->options.directory, it->status())));
  }
  return make_ready_future<Out>(std::move(out));
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

}  // namespace weft::persistence
