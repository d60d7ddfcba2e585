#include "weft/persistence/rocksdb_journal.hpp"
#include "temp_dir.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/sst_file_writer.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>

#include "persistence/journal_keys.hpp"
#include "persistence/journal_record.hpp"
#include "persistence/journal_segment.hpp"
#include "weft/core/metrics.hpp"
#include "weft/persistence/memory_journal.hpp"

namespace weft::persistence {
namespace {

namespace fs = std::filesystem;

using weft::test::TempDir;

EventRecord event(const std::string& pid, std::uint64_t seq, std::vector<std::string> tags = {},
                  std::uint64_t epoch = 0) {
  EventRecord e;
  e.persistence_id = pid;
  e.sequence_nr = seq;
  e.manifest = "test.Event";
  e.version = 2;
  e.timestamp_ms = 1'700'000'000'000 + static_cast<std::int64_t>(seq);
  e.writer_epoch = epoch;
  for (std::uint64_t i = 0; i < 1 + seq % 7; ++i) {
    e.payload.push_back(std::byte{static_cast<unsigned char>(seq + i)});
  }
  e.tags = std::move(tags);
  return e;
}

AppendBatch batch(const std::string& pid, std::uint64_t first, std::uint64_t n,
                  std::vector<std::string> tags = {}, std::uint64_t epoch = 0) {
  AppendBatch b{pid, first, epoch, {}};
  for (std::uint64_t i = 0; i < n; ++i) b.events.push_back(event(pid, first + i, tags, epoch));
  return b;
}

std::unique_ptr<RocksDbJournal> open_at(const std::string& dir,
                                        Durability durability = Durability::fsync,
                                        MetricsRegistry* metrics = nullptr) {
  JournalOptions o;
  o.directory = dir;
  o.durability = durability;
  o.metrics = metrics;
  o.write_buffer_bytes = 4u << 20;
  auto j = RocksDbJournal::open(o);
  EXPECT_TRUE(j.has_value()) << j.error().describe();
  return j ? std::move(*j) : nullptr;
}

// ---- the Journal contract, over both implementations -----------------------------------

struct MemoryFactory {
  std::unique_ptr<Journal> make() { return std::make_unique<MemoryJournal>(); }
};
struct RocksDbFactory {
  TempDir dir;
  std::unique_ptr<Journal> make() { return open_at(dir.db()); }
};

template <class Factory>
class JournalContract : public ::testing::Test {
 protected:
  Factory factory;
  std::unique_ptr<Journal> journal = factory.make();
};

using Journals = ::testing::Types<MemoryFactory, RocksDbFactory>;
class JournalNames {
 public:
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, MemoryFactory> ? "Memory" : "RocksDb";
  }
};
TYPED_TEST_SUITE(JournalContract, Journals, JournalNames);

TYPED_TEST(JournalContract, AppendsAndReadsInPages) {
  auto& j = *this->journal;
  ASSERT_EQ(j.append(batch("a", 1, 10)).get().value(), 10u);
  ASSERT_EQ(j.append(batch("a", 11, 5)).get().value(), 15u);
  std::vector<EventRecord> all;
  std::uint64_t from = 1;
  for (;;) {
    auto page = j.read("a", from, 15, 4).get().value();
    if (page.empty()) break;
    EXPECT_LE(page.size(), 4u);
    from = page.back().sequence_nr + 1;
    for (auto& e : page) all.push_back(std::move(e));
  }
  ASSERT_EQ(all.size(), 15u);
  for (std::uint64_t i = 0; i < 15; ++i) EXPECT_EQ(all[i], event("a", i + 1));
  EXPECT_EQ(j.read("a", 3, 5, 100).get().value().size(), 3u);
  EXPECT_TRUE(j.read("a", 5, 3, 100).get().value().empty());
  EXPECT_TRUE(j.read("a", 1, 15, 0).get().value().empty());
  EXPECT_TRUE(j.read("nobody", 1, 100, 100).get().value().empty());
  EXPECT_EQ(j.highest_sequence_nr("a").get().value(), 15u);
  EXPECT_EQ(j.highest_sequence_nr("nobody").get().value(), 0u);
}

TYPED_TEST(JournalContract, PidsThatArePrefixesOfEachOtherStaySeparate) {
  auto& j = *this->journal;
  ASSERT_TRUE(j.append(batch("a", 1, 2)).get());
  ASSERT_TRUE(j.append(batch("ab", 1, 3)).get());
  ASSERT_TRUE(j.append(batch(std::string("a\0b", 3), 1, 1)).get());
  EXPECT_EQ(j.read("a", 1, UINT64_MAX, 100).get().value().size(), 2u);
  EXPECT_EQ(j.read("ab", 1, UINT64_MAX, 100).get().value().size(), 3u);
  EXPECT_EQ(j.highest_sequence_nr("a").get().value(), 2u);
}

TYPED_TEST(JournalContract, ConflictsAreRefusedWithoutPoisoningOthers) {
  auto& j = *this->journal;
  // Issued without waiting, so the RocksDB journal validates them in one group, in order.
  auto f1 = j.append(batch("a", 1, 3));
  auto f2 = j.append(batch("a", 3, 1));  // stale sequence
  auto f3 = j.append(batch("b", 1, 1));
  auto f4 = j.append(batch("a", 4, 2));  // valid after f1
  auto f5 = j.append(batch("c", 2, 1));  // gap
  EXPECT_EQ(f1.get().value(), 3u);
  ASSERT_FALSE(f2.get().has_value());
  EXPECT_EQ(f2.get().error().code(), Errc::conflict);
  EXPECT_EQ(f3.get().value(), 1u);
  EXPECT_EQ(f4.get().value(), 5u);
  ASSERT_FALSE(f5.get().has_value());
  EXPECT_EQ(f5.get().error().code(), Errc::conflict);
  EXPECT_EQ(j.read("a", 1, 100, 100).get().value().size(), 5u);
  EXPECT_EQ(j.highest_sequence_nr("c").get().value(), 0u);
}

TYPED_TEST(JournalContract, MalformedBatchIsInvalidArgument) {
  auto b = batch("a", 1, 3);
  b.events[1].sequence_nr = 7;
  auto r = this->journal->append(b).get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
}

TYPED_TEST(JournalContract, StaleWriterEpochIsFenced) {
  auto& j = *this->journal;
  ASSERT_TRUE(j.append(batch("a", 1, 1, {}, 5)).get());
  auto stale = j.append(batch("a", 2, 1, {}, 4)).get();
  ASSERT_FALSE(stale.has_value());
  EXPECT_EQ(stale.error().code(), Errc::conflict);
  EXPECT_EQ(j.append(batch("a", 2, 1, {}, 5)).get().value(), 2u);
  EXPECT_EQ(j.append(batch("a", 3, 1, {}, 6)).get().value(), 3u);
  EXPECT_FALSE(j.append(batch("a", 4, 1, {}, 5)).get().has_value());
}

TYPED_TEST(JournalContract, TagOffsetsAreGapFreeInCommitOrder) {
  auto& j = *this->journal;
  ASSERT_TRUE(j.append(batch("a", 1, 2, {"t"})).get());
  EXPECT_FALSE(j.append(batch("a", 1, 2, {"t"})).get().has_value());  // refused: no offsets
  ASSERT_TRUE(j.append(batch("b", 1, 1, {"t", "u"})).get());
  ASSERT_TRUE(j.append(batch("c", 1, 1)).get());  // untagged: no offsets
  ASSERT_TRUE(j.append(batch("c", 2, 1, {"t"})).get());
  auto all = j.events_by_tag("t", 0, 10).get().value();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].offset, 1u);
  EXPECT_EQ(all[1].offset, 2u);
  EXPECT_EQ(all[2].offset, 3u);  // b's "t"; its "u" is offset 4
  EXPECT_EQ(all[3].offset, 5u);
  EXPECT_EQ(all[2].event, event("b", 1, {"t", "u"}));
  auto u = j.events_by_tag("u", 0, 10).get().value();
  ASSERT_EQ(u.size(), 1u);
  EXPECT_EQ(u[0].offset, 4u);
  auto rest = j.events_by_tag("t", 2, 1).get().value();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].offset, 3u);
  EXPECT_TRUE(j.events_by_tag("t", 5, 10).get().value().empty());
  EXPECT_TRUE(j.events_by_tag("none", 0, 10).get().value().empty());
}

TYPED_TEST(JournalContract, DeleteToKeepsTheHighestSequence) {
  auto& j = *this->journal;
  ASSERT_TRUE(j.append(batch("a", 1, 5, {"t"})).get());
  EXPECT_EQ(j.delete_to("a", 2).get().value(), 2u);
  EXPECT_EQ(j.delete_to("a", 2).get().value(), 0u);
  auto left = j.read("a", 1, 100, 100).get().value();
  ASSERT_EQ(left.size(), 3u);
  EXPECT_EQ(left[0].sequence_nr, 3u);
  EXPECT_EQ(j.events_by_tag("t", 0, 10).get().value().front().offset, 3u);
  EXPECT_EQ(j.delete_to("a", 100).get().value(), 3u);
  EXPECT_EQ(j.highest_sequence_nr("a").get().value(), 5u);
  EXPECT_TRUE(j.read("a", 1, 100, 100).get().value().empty());
  EXPECT_EQ(j.append(batch("a", 6, 1)).get().value(), 6u);
  EXPECT_FALSE(j.append(batch("a", 1, 1)).get().has_value());
  EXPECT_EQ(j.delete_to("nobody", 10).get().value(), 0u);
}

TYPED_TEST(JournalContract, ListsPersistenceIds) {
  auto& j = *this->journal;
  ASSERT_TRUE(j.append(batch("x", 1, 1)).get());
  ASSERT_TRUE(j.append(batch("y", 1, 2)).get());
  EXPECT_FALSE(j.append(batch("z", 2, 1)).get().has_value());
  auto ids = j.persistence_ids().get().value();
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"x", "y"}));
}

TYPED_TEST(JournalContract, ListenersHearTheHighestOffsetAfterCommits) {
  auto& j = *this->journal;
  std::atomic<std::uint64_t> heard{0};
  std::atomic<int> calls{0};
  const auto id = j.subscribe([&](std::uint64_t o) {
    heard = o;
    ++calls;
  });
  ASSERT_TRUE(j.append(batch("a", 1, 2, {"t"})).get());
  // The future may complete just before the listener runs (same writer thread, right after).
  while (calls.load() == 0) std::this_thread::yield();
  EXPECT_EQ(heard.load(), 2u);
  j.unsubscribe(id);
  const int before = calls.load();
  ASSERT_TRUE(j.append(batch("a", 3, 1, {"t"})).get());
  ASSERT_TRUE(j.append(batch("a", 4, 1, {"t"})).get());
  EXPECT_LE(calls.load(), before + 1);
}

// ---- RocksDB specifics -------------------------------------------------------------------

TEST(RocksDbJournal, ReopeningKeepsEventsSequencesEpochsAndOffsets) {
  TempDir dir;
  {
    auto j = open_at(dir.db());
    ASSERT_TRUE(j->append(batch("a", 1, 3, {"t"}, 7)).get());
    ASSERT_TRUE(j->append(batch("b", 1, 2, {"t"})).get());
    ASSERT_EQ(j->delete_to("b", 2).get().value(), 2u);
    EXPECT_EQ(j->last_offset(), 5u);
  }
  auto j = open_at(dir.db());
  EXPECT_EQ(j->last_offset(), 5u);
  auto a = j->read("a", 1, 100, 100).get().value();
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[2], event("a", 3, {"t"}, 7));
  EXPECT_EQ(j->highest_sequence_nr("b").get().value(), 2u);
  EXPECT_FALSE(j->append(batch("a", 4, 1, {}, 6)).get().has_value());  // epoch survived
  EXPECT_FALSE(j->append(batch("b", 1, 1)).get().has_value());         // highest survived
  ASSERT_EQ(j->append(batch("b", 3, 1, {"t"})).get().value(), 3u);
  auto tagged = j->events_by_tag("t", 0, 100).get().value();
  ASSERT_EQ(tagged.size(), 4u);         // b 1..2 were deleted
  EXPECT_EQ(tagged.back().offset, 6u);  // numbering continues after the restart
  auto ids = j->persistence_ids().get().value();
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b"}));
}

TEST(RocksDbJournal, ConcurrentAppendersToManyPidsLoseAndDuplicateNothing) {
  TempDir dir;
  auto j = open_at(dir.db());
  constexpr int kThreads = 4;
  constexpr int kPidsPerThread = 300;  // 1,200 pids: the writer's pid index grows twice
  constexpr std::uint64_t kBatches = 12;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Future<std::uint64_t>> pending;
      for (std::uint64_t b = 0; b < kBatches; ++b) {
        for (int p = 0; p < kPidsPerThread; ++p) {
          const auto pid = "t" + std::to_string(t) + "-p" + std::to_string(p);
          // Batches of 1 or 2 events; each thread pipelines its own pids' appends.
          pending.push_back(j->append(batch(pid, 2 * b + 1, 2, {"all"})));
        }
        if (pending.size() > 400) {
          for (auto& f : pending) failures += f.get().has_value() ? 0 : 1;
          pending.clear();
        }
      }
      for (auto& f : pending) failures += f.get().has_value() ? 0 : 1;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    for (int p = 0; p < kPidsPerThread; ++p) {
      const auto pid = "t" + std::to_string(t) + "-p" + std::to_string(p);
      auto events = j->read(pid, 1, UINT64_MAX, 1000).get().value();
      ASSERT_EQ(events.size(), 2 * kBatches) << pid;
      for (std::uint64_t i = 0; i < events.size(); ++i) {
        ASSERT_EQ(events[i], event(pid, i + 1, {"all"})) << pid;
      }
    }
  }
  auto tagged = j->events_by_tag("all", 0, 100000).get().value();
  ASSERT_EQ(tagged.size(), kThreads * kPidsPerThread * 2 * kBatches);
  for (std::size_t i = 0; i < tagged.size(); ++i) ASSERT_EQ(tagged[i].offset, i + 1);
}

// Appends made while the journal closes -- here from completion callbacks, which run on the
// writer thread as it finishes what was queued -- each complete: stored, or refused as the
// journal shuts down (and the ones after a refusal as conflicts). None is left pending.
TEST(RocksDbJournal, AppendsMadeWhileClosingCompleteAndTheStoredOnesStay) {
  TempDir dir;
  constexpr std::uint64_t kAppends = 2000;
  std::vector<Future<std::uint64_t>> chained(kAppends);
  {
    auto j = open_at(dir.db());
    RocksDbJournal* journal = j.get();  // as a wrapper holds it (IntegrityJournal)
    for (std::uint64_t i = 0; i < kAppends; ++i) {
      j->append(batch("first", i + 1, 1)).on_complete([&chained, journal, i](const auto&) {
        chained[i] = journal->append(batch("second", i + 1, 1));
      });
    }
    j.reset();  // closes while the writer still completes "first" and takes "second"
  }
  std::uint64_t stored = 0;
  bool refused = false;
  for (std::uint64_t i = 0; i < kAppends; ++i) {
    ASSERT_TRUE(chained[i].valid()) << i;
    auto r = chained[i].wait_for(std::chrono::seconds(30));
    ASSERT_TRUE(r.has_value()) << "append " << i << " still pending after close";
    if (r->has_value()) {
      EXPECT_FALSE(refused) << "append " << i << " stored after an earlier one was refused";
      ++stored;
    } else {
      const auto code = r->error().code();
      EXPECT_TRUE(code == Errc::shutting_down || (refused && code == Errc::conflict))
          << i << ": " << r->error().describe();
      refused = true;
    }
  }
  auto j = open_at(dir.db());
  EXPECT_EQ(j->read("first", 1, UINT64_MAX, kAppends + 1).get().value().size(), kAppends);
  auto second = j->read("second", 1, UINT64_MAX, kAppends + 1).get().value();
  ASSERT_EQ(second.size(), stored);
  for (std::uint64_t i = 0; i < stored; ++i) EXPECT_EQ(second[i], event("second", i + 1));
}

// JournalOptions::compress_folds: the fold's table files (and so the store) hold compressible
// events in fewer bytes than the events themselves, and they read back the same; without it,
// in more.
TEST(RocksDbJournal, CompressedFoldsStoreCompressibleEventsInFewerBytes) {
  constexpr std::uint64_t kEvents = 2000;
  constexpr std::size_t kPayload = 1000;
  auto json_like = [](std::uint64_t seq) {
    EventRecord e = event("sensor", seq);
    const std::string text = fmt::format(R"({{"seq":{},"reading":"{}"}})", seq,
                                         std::string(kPayload - 40, "abcdefgh"[seq % 8]));
    e.payload.resize(text.size());
    std::memcpy(e.payload.data(), text.data(), text.size());
    return e;
  };
  auto stored_bytes = [&](bool compress) {
    TempDir dir;
    JournalOptions o;
    o.directory = dir.db();
    o.compress_folds = compress;
    {
      auto j = RocksDbJournal::open(o).value();
      for (std::uint64_t seq = 1; seq <= kEvents; seq += 100) {
        AppendBatch b{"sensor", seq, 0, {}};
        for (std::uint64_t s = seq; s < seq + 100; ++s) b.events.push_back(json_like(s));
        EXPECT_TRUE(j->append(std::move(b)).get().has_value());
      }
    }  // closing folds everything
    std::uintmax_t bytes = 0;
    for (const auto& f : fs::directory_iterator(dir.db())) {
      if (f.path().extension() == ".sst") bytes += f.file_size();
    }
    auto j = RocksDbJournal::open(o).value();
    auto events = j->read("sensor", 1, UINT64_MAX, kEvents + 1).get().value();
    EXPECT_EQ(events.size(), kEvents);
    for (std::uint64_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i], json_like(i + 1));
    return bytes;
  };
  const std::uintmax_t raw = kEvents * kPayload;
  EXPECT_LT(stored_bytes(true), raw / 4);
  EXPECT_GT(stored_bytes(false), raw);
}

TEST(RocksDbJournal, DurabilityNoneStoresToo) {
  TempDir dir;
  {
    auto j = open_at(dir.db(), Durability::none);
    ASSERT_TRUE(j->append(batch("a", 1, 3)).get());
  }
  EXPECT_EQ(open_at(dir.db())->read("a", 1, 10, 10).get().value().size(), 3u);
}

TEST(RocksDbJournal, BadDirectoriesAreClearIoErrors) {
  TempDir dir;
  JournalOptions o;
  o.directory = dir.path() + "/missing/parent/db";
  auto missing = RocksDbJournal::open(o);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Errc::io);
  EXPECT_NE(missing.error().message().find(o.directory), std::string::npos)
      << missing.error().message();

  o.directory = dir.path() + "/a-file";
  std::ofstream(o.directory) << "not a directory";
  auto file = RocksDbJournal::open(o);
  ASSERT_FALSE(file.has_value());
  EXPECT_EQ(file.error().code(), Errc::io);

  o.directory = dir.db();
  auto first = RocksDbJournal::open(o);
  ASSERT_TRUE(first.has_value());
  auto locked = RocksDbJournal::open(o);
  ASSERT_FALSE(locked.has_value());
  EXPECT_EQ(locked.error().code(), Errc::io);
  EXPECT_NE(locked.error().message().find("lock"), std::string::npos) << locked.error().message();

  o.directory = dir.path() + "/never-made";
  o.create_if_missing = false;  // as the `weft journal` tools open it
  auto absent = RocksDbJournal::open(o);
  ASSERT_FALSE(absent.has_value());
  EXPECT_EQ(absent.error().code(), Errc::not_found);
  EXPECT_NE(absent.error().message().find("no journal in"), std::string::npos);

  o.directory.clear();
  EXPECT_EQ(RocksDbJournal::open(o).error().code(), Errc::invalid_argument);
}

// Opens the journal's database behind its back (it must be closed) to read or damage values.
class RawDb {
 public:
  explicit RawDb(const std::string& dir) {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* n :
         {"default", "journal", "tags", "meta", "snapshots", "stream_state", "offsets", "log"}) {
      cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    }
    auto s = rocksdb::DB::Open(rocksdb::DBOptions(), dir, cfs, &handles_, &db_);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  ~RawDb() {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    delete db_;
  }
  std::string get(std::size_t cf, const std::string& key) {
    std::string v;
    EXPECT_TRUE(db_->Get(rocksdb::ReadOptions(), handles_[cf], key, &v).ok()) << key;
    return v;
  }
  void put(std::size_t cf, const std::string& key, const std::string& value) {
    EXPECT_TRUE(db_->Put(rocksdb::WriteOptions(), handles_[cf], key, value).ok());
  }

 private:
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};
constexpr std::size_t kJournalCf = 1;
constexpr std::size_t kMetaCf = 3;
constexpr std::size_t kLogCf = 7;

// A read sizes its result from the pid's stored highest sequence number: a damaged one must
// not become a huge allocation (an uncaught length_error before the cap).
TEST(RocksDbJournal, DamagedHighestSequenceInMetaIsNoHugeAllocation) {
  TempDir dir;
  {
    auto j = open_at(dir.db());
    ASSERT_TRUE(j->append(batch("a", 1, 3)).get());
  }
  RawDb(dir.db()).put(kMetaCf, meta_pid_key("a"), encode_pid_meta({std::uint64_t{1} << 62, 0, 0}));
  auto j = open_at(dir.db());
  auto r = j->read("a", 1, UINT64_MAX, std::numeric_limits<std::size_t>::max()).get();
  ASSERT_TRUE(r.has_value()) << r.error().describe();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ(r->back().sequence_nr, 3u);
}

TEST(RocksDbJournal, DamagedRecordsAreCorruptedErrorsNamingPidAndSequence) {
  TempDir dir;
  {
    auto j = open_at(dir.db());
    ASSERT_TRUE(j->append(batch("a", 1, 3, {"t"})).get());
  }  // closing folds the log: a's three events are one chunk, keyed by its first sequence
  const std::string good = RawDb(dir.db()).get(kJournalCf, journal_key("a", 1));
  // A bit flip in the payload of a.2 (the middle record of the chunk).
  std::string flipped = good;
  flipped[good.size() / 2 + 4] ^= 0x10;
  RawDb(dir.db()).put(kJournalCf, journal_key("a", 1), flipped);
  {
    auto j = open_at(dir.db());
    auto r = j->read("a", 1, 10, 10).get();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), Errc::corrupted);
    EXPECT_NE(r.error().message().find("'a' at sequence 2"), std::string::npos)
        << r.error().message();
    EXPECT_EQ(j->read("a", 3, 10, 10).get().value().size(), 1u);
    auto t = j->events_by_tag("t", 0, 10).get();
    ASSERT_FALSE(t.has_value());
    EXPECT_EQ(t.error().code(), Errc::corrupted);
    auto report = j->verify().value();
    ASSERT_EQ(report.problems.size(), 1u);
    EXPECT_NE(report.problems[0].message().find("'a' at sequence 2"), std::string::npos)
        << report.problems[0].message();
    EXPECT_EQ(report.events, 3u);
  }
  // A chunk stored under another key fails its checksums too (they cover pid and sequence).
  RawDb(dir.db()).put(kJournalCf, journal_key("a", 1), good);
  RawDb(dir.db()).put(kJournalCf, journal_key("a", 2), good);
  auto j = open_at(dir.db());
  auto r = j->read("a", 1, 10, 10).get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  EXPECT_FALSE(j->verify("a").value().problems.empty());
}

TEST(RocksDbJournal, DamagedLogSegmentStopsTheOpenNamingIt) {
  TempDir dir;
  JournalOptions o;
  o.directory = dir.db();
  {
    auto j = open_at(dir.db());
    ASSERT_TRUE(j->append(batch("a", 1, 3)).get());
  }
  // A segment that was never folded (as after a crash), with one byte changed.
  std::string segment;
  {
    std::string entries;
    std::string key = journal_key("a", 4);
    std::string record;
    encode_record(record, key, event("a", 4), 0);
    put_segment_entry(entries, "a", 4, record);
    encode_segment(segment, 1, 1, entries);
  }
  RawDb(dir.db()).put(kLogCf, encode_u64_be(2), segment);
  {
    auto j = open_at(dir.db());  // the intact segment is re-read: a.4 is there
    ASSERT_EQ(j->read("a", 1, 10, 10).get().value().size(), 4u);
  }
  segment[segment.size() / 2] ^= 0x01;
  RawDb(dir.db()).put(kLogCf, encode_u64_be(3), segment);
  auto bad = RocksDbJournal::open(o);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), Errc::corrupted);
  EXPECT_NE(bad.error().message().find("log segment 3"), std::string::npos)
      << bad.error().message();
}

// The log lives in files of its own (`wlog/`): they roll over, are released once a fold that
// covers them is flushed, and come back as spares; a reopen reads exactly what is not folded.
TEST(RocksDbJournal, LogFilesRollOverAndAreReleasedOnceFolded) {
  TempDir dir;
  JournalOptions o;
  o.directory = dir.db();
  o.fold_bytes = 16u << 10;
  o.log_file_bytes = 64u << 10;  // ~16 group commits per file
  auto log_files = [&] {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir.db() + "/wlog")) {
      n += e.path().filename().string().starts_with("spare-") ? 0 : 1;
    }
    return n;
  };
  constexpr std::uint64_t kEvents = 400;
  {
    auto j = RocksDbJournal::open(o).value();
    for (std::uint64_t seq = 1; seq <= kEvents; ++seq) {
      auto b = batch(seq % 2 == 0 ? "even" : "odd", (seq + 1) / 2, 1, {"t"});
      b.events[0].payload.assign(1000, std::byte{static_cast<unsigned char>(seq)});
      ASSERT_TRUE(j->append(b).get().has_value());
    }
    // 400 frames of one page each would take 25 files or more; folded ones were let go as it
    // went. What may remain: the generation being folded and the one being filled, each up to
    // four thresholds when appends outrun the fold (a threshold is ~16 one-page frames here,
    // four of them about four files; each fold syncs its table files and RocksDB's MANIFEST,
    // slow under ASan), and the file in use. 10 were seen in a CI run.
    EXPECT_LE(log_files(), 12u);
  }
  EXPECT_EQ(log_files(), 1u);  // closing folds everything; the file in use stays
  auto j = open_at(dir.db());
  for (const char* pid : {"odd", "even"}) {
    auto all = j->read(pid, 1, UINT64_MAX, 1000).get().value();
    ASSERT_EQ(all.size(), kEvents / 2) << pid;
    for (std::uint64_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i].sequence_nr, i + 1);
  }
  EXPECT_EQ(j->events_by_tag("t", 0, 1000).get().value().size(), kEvents);
  EXPECT_EQ(j->last_offset(), kEvents);
  ASSERT_TRUE(j->append(batch("odd", kEvents / 2 + 1, 1)).get().has_value());
}

// The events of a generation not yet folded live in its arena: 1 MiB blocks that small appends
// share (and cross between) and a block of its own for each large append. Both read back the
// same from memory, after the fold and after a reopen, and blocks reused by later generations
// do not change what earlier reads returned.
TEST(RocksDbJournal, SmallAndLargeAppendsReadBackFromMemoryAndChunks) {
  TempDir dir;
  JournalOptions o;
  o.directory = dir.db();
  o.durability = Durability::none;  // the same arena; no fsync per append
  o.fold_bytes = 3u << 20;          // ~5 generations below: later ones reuse earlier blocks
  auto expected = [](const std::string& pid, std::uint64_t seq) {
    auto e = event(pid, seq);
    // Every 100th event of "big" is larger than a quarter block (its own block).
    const std::size_t n = pid == "big" && seq % 100 == 0 ? (300u << 10) + seq : 700 + seq % 300;
    e.payload.resize(n);
    for (std::size_t i = 0; i < n; i += 97)
      e.payload[i] = std::byte{static_cast<unsigned char>(seq + i)};
    return e;
  };
  auto append = [&](RocksDbJournal& j, const std::string& pid, std::uint64_t seq) {
    AppendBatch b{pid, seq, 0, {expected(pid, seq)}};
    ASSERT_TRUE(j.append(std::move(b)).get().has_value()) << pid << " " << seq;
  };
  auto check = [&](RocksDbJournal& j, std::uint64_t n) {
    for (const char* pid : {"small", "big"}) {
      auto all = j.read(pid, 1, UINT64_MAX, 10'000).get().value();
      ASSERT_EQ(all.size(), n) << pid;
      for (std::uint64_t i = 0; i < n; ++i) ASSERT_EQ(all[i], expected(pid, i + 1)) << pid;
    }
  };
  auto j = RocksDbJournal::open(o).value();
  for (std::uint64_t seq = 1; seq <= 1000; ++seq) {
    append(*j, "small", seq);
    append(*j, "big", seq);
  }
  check(*j, 1000);  // some from chunks, the rest from memory
  const auto early = j->read("small", 1, 1000, 10'000).get().value();
  for (std::uint64_t seq = 1001; seq <= 3000; ++seq) {
    append(*j, "small", seq);
    append(*j, "big", seq);
  }
  check(*j, 3000);
  for (std::uint64_t i = 0; i < early.size(); ++i) ASSERT_EQ(early[i], expected("small", i + 1));
  j.reset();
  j = RocksDbJournal::open(o).value();
  check(*j, 3000);
}

// A journal whose folds of 2 MiB are paced over at most `pace_seconds`.
JournalOptions paced_options(const TempDir& dir, double pace_seconds) {
  JournalOptions o;
  o.directory = dir.db();
  o.durability = Durability::none;
  o.fold_bytes = 2u << 20;
  o.fold_pace_seconds = pace_seconds;
  return o;
}

// Appends past a seal (of `fold_bytes` of 1000-byte events); returns the last sequence number.
// Until the sealed generation is folded, the log holds more than the threshold.
std::uint64_t fill_and_seal(RocksDbJournal& j, std::size_t fold_bytes, std::uint64_t seq) {
  for (std::uint64_t bytes = 0; bytes < fold_bytes + (64u << 10); bytes += 1000) {
    auto b = batch("p", ++seq, 1);
    b.events[0].payload.assign(1000, std::byte{static_cast<unsigned char>(seq)});
    EXPECT_TRUE(j.append(std::move(b)).get().has_value());
  }
  return seq;
}

// The folder paces itself to the appends that follow a seal (docs/journal-format.md): with none,
// it still finishes on its own, within about fold_pace_seconds.
TEST(RocksDbJournal, APacedFoldFinishesWithoutFurtherAppends) {
  TempDir dir;
  const JournalOptions o = paced_options(dir, 1.0);
  auto j = RocksDbJournal::open(o).value();
  const std::uint64_t seq = fill_and_seal(*j, o.fold_bytes, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (j->stats().value().log_bytes >= o.fold_bytes &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_LT(j->stats().value().log_bytes, o.fold_bytes);
  EXPECT_EQ(j->read("p", 1, UINT64_MAX, 10'000).get().value().size(), seq);
}

// A thread that waits for the fold in flight makes it run at full speed: here the pace alone
// would spread it over an hour (and the test would run into ctest's timeout).
TEST(RocksDbJournal, APacedFoldHurriesWhenWaitedFor) {
  TempDir dir;
  const JournalOptions o = paced_options(dir, 3600);
  auto j = RocksDbJournal::open(o).value();
  const std::uint64_t seq = fill_and_seal(*j, o.fold_bytes, 0);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(j->compact().has_value());  // waits for the fold in flight, then folds the rest
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(120));
  EXPECT_EQ(j->stats().value().log_bytes, 0u);
  EXPECT_EQ(j->read("p", 1, UINT64_MAX, 10'000).get().value().size(), seq);
  j.reset();
  // Closing hurries it too: a fold in flight when the journal closes.
  j = RocksDbJournal::open(o).value();
  (void)fill_and_seal(*j, o.fold_bytes, seq);
  j.reset();
}

// A fold writes table files into fold/ and ingests them in one step; a crash before that leaves
// files that were never ingested. The next open removes them, and they change nothing.
TEST(RocksDbJournal, TableFilesOfAnInterruptedFoldAreRemovedAndNeverRead) {
  TempDir dir;
  JournalOptions o;
  o.directory = dir.db();
  o.fold_bytes = 4u << 10;
  {
    auto j = RocksDbJournal::open(o).value();
    ASSERT_TRUE(j->append(batch("p", 1, 20, {"t"})).get().has_value());
  }
  const std::string fold_dir = dir.db() + "/fold";
  ASSERT_TRUE(fs::is_directory(fold_dir));  // the folds above used it
  EXPECT_TRUE(fs::is_empty(fold_dir));      // and left nothing behind
  // What a fold interrupted after writing its journal file holds: a real table file, whose
  // event 1 of "p" says something else.
  {
    rocksdb::SstFileWriter w{rocksdb::EnvOptions{}, rocksdb::Options{}};
    ASSERT_TRUE(w.Open(fold_dir + "/journal.sst").ok());
    std::string chunk;
    std::string record;
    auto other = event("p", 1);
    other.manifest = "other.Event";
    encode_record(record, journal_key("p", 1), other, 0);
    put_varint(chunk, 1);
    put_varint(chunk, record.size());
    chunk += record;
    ASSERT_TRUE(w.Put(journal_key("p", 1), chunk).ok());
    ASSERT_TRUE(w.Finish().ok());
  }
  auto j = RocksDbJournal::open(o).value();
  EXPECT_TRUE(fs::is_empty(fold_dir));
  ASSERT_TRUE(j->append(batch("p", 21, 20, {"t"})).get().has_value());
  j.reset();  // folds what is left
  j = RocksDbJournal::open(o).value();
  auto all = j->read("p", 1, UINT64_MAX, 100).get().value();
  ASSERT_EQ(all.size(), 40u);
  for (std::uint64_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], event("p", i + 1, {"t"}));
  EXPECT_EQ(j->events_by_tag("t", 0, 100).get().value().size(), 40u);
}

// A tiny fold threshold folds the log many times while appenders and readers run: every read
// sees each event once, in order, wherever it is (log tail, sealed generation or chunks).
TEST(RocksDbJournal, FoldingWhileReadingLosesAndDuplicatesNothing) {
  TempDir dir;
  JournalOptions o;
  o.directory = dir.db();
  o.fold_bytes = 4u << 10;
  MetricsRegistry registry;
  o.metrics = &registry;
  auto j = std::move(*RocksDbJournal::open(o));
  std::atomic<bool> done{false};
  std::atomic<int> bad_reads{0};
  std::thread reader([&] {
    while (!done.load()) {
      auto events = j->read("p0", 1, UINT64_MAX, 100'000).get();
      if (!events) {
        ++bad_reads;
        continue;
      }
      for (std::size_t i = 0; i < events->size(); ++i) {
        if ((*events)[i].sequence_nr != i + 1) ++bad_reads;
      }
      auto tagged = j->events_by_tag("all", 0, 100'000).get();
      if (!tagged) {
        ++bad_reads;
        continue;
      }
      for (std::size_t i = 0; i < tagged->size(); ++i) {
        if ((*tagged)[i].offset != i + 1) ++bad_reads;
      }
    }
  });
  for (std::uint64_t seq = 1; seq <= 300; ++seq) {
    for (int p = 0; p < 5; ++p) {
      ASSERT_TRUE(j->append(batch("p" + std::to_string(p), seq, 1, {"all"})).get());
    }
  }
  done = true;
  reader.join();
  EXPECT_EQ(bad_reads.load(), 0);
  EXPECT_NE(registry.prometheus_text().find("weft_journal_folds_total"), std::string::npos);
  for (int p = 0; p < 5; ++p) {
    auto events = j->read("p" + std::to_string(p), 1, UINT64_MAX, 1000).get().value();
    ASSERT_EQ(events.size(), 300u);
    for (std::size_t i = 0; i < events.size(); ++i) {
      ASSERT_EQ(events[i], event("p" + std::to_string(p), i + 1, {"all"}));
    }
  }
  EXPECT_EQ(j->events_by_tag("all", 0, 100'000).get().value().size(), 1500u);
  // Pages that start in the middle of a chunk.
  auto page = j->read("p3", 137, 140, 10).get().value();
  ASSERT_EQ(page.size(), 4u);
  EXPECT_EQ(page.front().sequence_nr, 137u);
  auto tail = j->events_by_tag("all", 1234, 3).get().value();
  ASSERT_EQ(tail.size(), 3u);
  EXPECT_EQ(tail.front().offset, 1235u);
  auto report = j->verify().value();
  EXPECT_TRUE(report.problems.empty()) << report.problems.front().describe();
  EXPECT_EQ(report.events, 1500u);
  ASSERT_TRUE(j->compact().has_value());
  EXPECT_EQ(j->stats().value().events, 1500u);
}

TEST(RocksDbJournal, DeleteToInsideAChunkHidesTheDeletedEventsOnly) {
  TempDir dir;
  {
    auto j = open_at(dir.db());
    ASSERT_TRUE(j->append(batch("a", 1, 10, {"t"})).get());
  }
  auto j = open_at(dir.db());  // a.1..10 are one chunk now
  ASSERT_EQ(j->delete_to("a", 4).get().value(), 4u);
  ASSERT_TRUE(j->append(batch("a", 11, 2, {"t"})).get());
  auto events = j->read("a", 1, UINT64_MAX, 100).get().value();
  ASSERT_EQ(events.size(), 8u);
  EXPECT_EQ(events.front().sequence_nr, 5u);
  // A page of one from the start is the first event kept, from the chunk or from memory.
  EXPECT_EQ(j->read("a", 1, UINT64_MAX, 1).get().value().front().sequence_nr, 5u);
  EXPECT_EQ(j->events_by_tag("t", 0, 100).get().value().size(), 8u);
  ASSERT_EQ(j->delete_to("a", 10).get().value(), 6u);
  EXPECT_EQ(j->read("a", 1, UINT64_MAX, 1).get().value().front().sequence_nr, 11u);
  EXPECT_EQ(j->stats().value().events, 2u);
  ASSERT_EQ(j->delete_to("a", 100).get().value(), 2u);  // capped at the highest
  EXPECT_TRUE(j->read("a", 1, UINT64_MAX, 100).get().value().empty());
  EXPECT_EQ(j->highest_sequence_nr("a").get().value(), 12u);
  EXPECT_TRUE(j->verify().value().problems.empty());
}

TEST(RocksDbJournal, SnapshotsShareTheDatabase) {
  TempDir dir;
  SnapshotOptions so;
  {
    auto j = open_at(dir.db());
    auto store = j->snapshot_store(so);
    for (std::uint64_t seq : {10, 20, 30}) {
      SnapshotRecord r;
      r.meta = {"a", seq, 1};
      r.manifest = "test.State";
      r.payload = {std::byte{1}, std::byte{static_cast<unsigned char>(seq)}};
      ASSERT_TRUE(store->save(r).get());
    }
    EXPECT_EQ(store->load_latest("a").get().value()->meta.sequence_nr, 30u);
    EXPECT_EQ(store->load_latest("a", {25}).get().value()->meta.sequence_nr, 20u);
    EXPECT_FALSE(store->load_latest("a", {5}).get().value().has_value());
    EXPECT_FALSE(store->load_latest("b").get().value().has_value());
    EXPECT_EQ(store->delete_older("a", 2).get().value(), 1u);
  }
  auto j = open_at(dir.db());
  auto store = j->snapshot_store(so);
  EXPECT_FALSE(store->load_latest("a", {15}).get().value().has_value());  // 10 was deleted
  auto latest = store->load_latest("a").get().value();
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->payload[1], std::byte{30});
  EXPECT_EQ(j->stats().value().snapshots, 2u);
  EXPECT_EQ(store->delete_to("a", 20).get().value(), 1u);
  EXPECT_EQ(store->delete_older("a", 0).get().value(), 1u);
  EXPECT_FALSE(store->load_latest("a").get().value().has_value());
}

TEST(RocksDbJournal, RecordsMetrics) {
  TempDir dir;
  MetricsRegistry registry;
  auto j = open_at(dir.db(), Durability::fsync, &registry);
  ASSERT_TRUE(j->append(batch("a", 1, 3)).get());
  EXPECT_FALSE(j->append(batch("a", 1, 3)).get().has_value());
  const auto text = registry.prometheus_text();
  EXPECT_NE(text.find("weft_journal_appends_total 1"), std::string::npos) << text;
  EXPECT_NE(text.find("weft_journal_events_total 3"), std::string::npos) << text;
  EXPECT_NE(text.find("weft_journal_append_conflicts_total 1"), std::string::npos) << text;
  EXPECT_NE(text.find("weft_journal_fsync_seconds_count 1"), std::string::npos) << text;
}

// Disk full on a small tmpfs: appends fail with Errc::io and store nothing; once space
// returns they succeed again, and everything acknowledged survives a reopen.
TEST(RocksDbJournal, DiskFullFailsAppendsCleanlyAndRecovers) {
  TempDir dir;
  const std::string mnt = dir.path() + "/small";
  fs::create_directory(mnt);
  if (::geteuid() != 0 || ::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=32m") != 0) {
    GTEST_SKIP() << "needs root to mount a small tmpfs";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt};
  {
    std::ofstream filler(mnt + "/filler", std::ios::binary);
    std::string mb(1u << 20, 'x');
    for (int i = 0; i < 24; ++i) filler << mb;
  }
  JournalOptions o;
  o.directory = mnt + "/db";
  o.write_buffer_bytes = 1u << 20;
  auto opened = RocksDbJournal::open(o);
  ASSERT_TRUE(opened.has_value()) << opened.error().describe();
  auto& j = **opened;
  std::uint64_t acked = 0;
  Error failure(Errc::internal, "no failure");
  for (std::uint64_t seq = 1; seq < 10'000; ++seq) {
    auto b = batch("a", seq, 1);
    b.events[0].payload.assign(64u << 10, std::byte{0x5a});
    auto r = j.append(b).get();
    if (!r) {
      failure = r.error();
      break;
    }
    acked = *r;
  }
  ASSERT_EQ(failure.code(), Errc::io) << failure.describe();
  EXPECT_NE(failure.message().find(o.directory), std::string::npos) << failure.message();
  ASSERT_GT(acked, 0u);
  EXPECT_EQ(j.highest_sequence_nr("a").get().value(), acked);
  EXPECT_EQ(j.read("a", 1, UINT64_MAX, 100'000).get().value().size(), acked);

  fs::remove(mnt + "/filler");
  // RocksDB notices the freed space on its own recovery thread; until then appends keep
  // failing cleanly. Poll with a deadline: there is no event to wait for.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  Result<std::uint64_t> again = j.append(batch("a", acked + 1, 1)).get();
  while (!again && std::chrono::steady_clock::now() < deadline) {
    EXPECT_EQ(again.error().code(), Errc::io);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    again = j.append(batch("a", acked + 1, 1)).get();
  }
  ASSERT_TRUE(again.has_value()) << again.error().describe();
  opened->reset();
  auto reopened = open_at(o.directory);
  auto all = reopened->read("a", 1, UINT64_MAX, 100'000).get().value();
  ASSERT_EQ(all.size(), acked + 1);
  for (std::uint64_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i].sequence_nr, i + 1);
}

}  // namespace
}  // namespace weft::persistence
