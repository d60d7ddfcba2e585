// Journal::read_page, the replay path of event-sourced recovery: the same events as read(), as
// views into a page. RocksDbJournal has its own (records copied once, deleted_to looked up
// only once anything was deleted, a forward seek into the first chunk); the default wraps read().
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <string>
#include <vector>

#include "persistence/journal_keys.hpp"
#include "temp_dir.hpp"
#include "weft/persistence/memory_journal.hpp"
#include "weft/persistence/rocksdb_journal.hpp"

namespace weft::persistence {
namespace {

using weft::test::TempDir;

EventRecord event(const std::string& pid, std::uint64_t seq, std::size_t payload_bytes = 0) {
  EventRecord e;
  e.persistence_id = pid;
  e.sequence_nr = seq;
  e.manifest = "test.PageEvent";  // longer than a short string: stored on the heap
  e.version = 3;
  e.timestamp_ms = 1'700'000'000'000 + static_cast<std::int64_t>(seq);
  e.writer_epoch = 0;
  const std::size_t n = payload_bytes > 0 ? payload_bytes : 1 + seq % 5;
  for (std::size_t i = 0; i < n; ++i) {
    e.payload.push_back(std::byte{static_cast<unsigned char>(seq * 7 + i)});
  }
  if (seq % 3 == 0) e.tags = {"page"};
  return e;
}

AppendBatch batch(const std::string& pid, std::uint64_t first, std::uint64_t n,
                  std::size_t payload_bytes = 0) {
  AppendBatch b{pid, first, 0, {}};
  for (std::uint64_t i = 0; i < n; ++i) b.events.push_back(event(pid, first + i, payload_bytes));
  return b;
}

std::unique_ptr<RocksDbJournal> open_at(const std::string& dir) {
  JournalOptions o;
  o.directory = dir;
  o.durability = Durability::none;
  o.write_buffer_bytes = 4u << 20;
  auto j = RocksDbJournal::open(o);
  EXPECT_TRUE(j.has_value()) << j.error().describe();
  return j ? std::move(*j) : nullptr;
}

std::vector<std::uint64_t> seqs(const EventPage& page) {
  std::vector<std::uint64_t> out;
  for (const auto& v : page.events()) out.push_back(v.sequence_nr);
  return out;
}

// Every field read_page gives equals read()'s, for the same arguments.
void expect_page_matches_read(Journal& j, const std::string& pid, std::uint64_t from,
                              std::uint64_t to, std::size_t max) {
  SCOPED_TRACE("read_page('" + pid + "', " + std::to_string(from) + ", " + std::to_string(to) +
               ", " + std::to_string(max) + ")");
  auto records = j.read(pid, from, to, max).get();
  auto page = j.read_page(pid, from, to, max).take();
  ASSERT_TRUE(records.has_value()) << records.error().describe();
  ASSERT_TRUE(page.has_value()) << page.error().describe();
  ASSERT_EQ(page->size(), records->size());
  for (std::size_t i = 0; i < records->size(); ++i) {
    const EventRecord& r = (*records)[i];
    const EventView& v = page->events()[i];
    EXPECT_EQ(v.sequence_nr, r.sequence_nr);
    EXPECT_EQ(v.manifest, r.manifest);
    EXPECT_EQ(v.version, r.version);
    EXPECT_EQ(v.timestamp_ms, r.timestamp_ms);
    EXPECT_EQ(v.writer_epoch, r.writer_epoch);
    EXPECT_EQ(std::vector<std::byte>(v.payload.begin(), v.payload.end()), r.payload);
  }
}

void expect_pages_match_reads(Journal& j, const std::string& pid, std::uint64_t highest) {
  for (std::uint64_t from :
       {std::uint64_t{1}, std::uint64_t{2}, highest / 2, highest, highest + 1}) {
    for (std::size_t max : {std::size_t{1}, std::size_t{7}, std::size_t{4096}}) {
      expect_page_matches_read(j, pid, from, UINT64_MAX, max);
      expect_page_matches_read(j, pid, from, from + 3, max);
    }
  }
}

TEST(JournalReadPage, TheDefaultWrapsRead) {
  MemoryJournal j;
  ASSERT_TRUE(j.append(batch("a", 1, 40)).get());
  expect_pages_match_reads(j, "a", 40);
  EXPECT_TRUE(j.read_page("nobody", 1, UINT64_MAX, 10).take().value().empty());
}

TEST(JournalReadPage, ViewsStayValidWhenThePageMoves) {
  TempDir dir;
  auto j = open_at(dir.db());
  ASSERT_TRUE(j->append(batch("a", 1, 20)).get());
  std::vector<EventPage> pages;
  for (int i = 0; i < 8; ++i) pages.push_back(j->read_page("a", 1, 20, 20).take().value());
  for (const auto& p : pages) {
    ASSERT_EQ(p.size(), 20u);
    EXPECT_EQ(p.events()[19].manifest, "test.PageEvent");
    EXPECT_EQ(p.events()[19].payload.size(), event("a", 20).payload.size());
  }
}

// From memory (before a fold), from chunks (after), and from both at once.
TEST(JournalReadPage, RocksDbPagesEqualReadsFromMemoryAndChunks) {
  TempDir dir;
  auto j = open_at(dir.db());
  ASSERT_TRUE(j->append(batch("a", 1, 30)).get());
  expect_pages_match_reads(*j, "a", 30);  // in memory
  ASSERT_TRUE(j->compact());
  expect_pages_match_reads(*j, "a", 30);  // in a chunk
  ASSERT_TRUE(j->append(batch("a", 31, 10)).get());
  expect_pages_match_reads(*j, "a", 40);  // both
  expect_page_matches_read(*j, "nobody", 1, UINT64_MAX, 10);
}

// Large events make many chunks (a chunk stops at 32 KiB): reads start in the first chunk,
// at chunk boundaries, inside later chunks and past the reach of the first-chunk guess (4096).
TEST(JournalReadPage, RocksDbPagesFindTheChunkHoldingFromInLongHistories) {
  TempDir dir;
  auto j = open_at(dir.db());
  ASSERT_TRUE(j->append(batch("big", 1, 60, 3000)).get());  // ~10 events per chunk
  ASSERT_TRUE(j->append(batch("small", 1, 6000)).get());    // a few thousand per chunk
  ASSERT_TRUE(j->append(batch("big-neighbour", 1, 5, 3000)).get());
  ASSERT_TRUE(j->compact());
  for (std::uint64_t from = 1; from <= 61; ++from) {
    expect_page_matches_read(*j, "big", from, UINT64_MAX, 3);
  }
  for (std::uint64_t from : {1, 2, 2000, 4095, 4096, 4097, 5000, 5999, 6000, 6001}) {
    expect_page_matches_read(*j, "small", from, UINT64_MAX, 5);
  }
  auto last = j->read_page("small", 5998, UINT64_MAX, 100).take().value();
  EXPECT_EQ(seqs(last), (std::vector<std::uint64_t>{5998, 5999, 6000}));
}

// A replay skips deleted events whether the deletion is older than this open (found by the
// scan of meta), or made after a replay that found none.
TEST(JournalReadPage, RocksDbPagesSkipEventsDeletedBeforeAndAfterTheOpen) {
  TempDir dir;
  {
    auto j = open_at(dir.db());
    ASSERT_TRUE(j->append(batch("a", 1, 10)).get());
    ASSERT_TRUE(j->append(batch("b", 1, 10)).get());
    ASSERT_EQ(j->delete_to("a", 4).get().value(), 4u);
  }
  {
    auto j = open_at(dir.db());  // a.5..10 share a chunk with the deleted a.1..4
    EXPECT_EQ(seqs(j->read_page("a", 1, UINT64_MAX, 3).take().value()),
              (std::vector<std::uint64_t>{5, 6, 7}));
    EXPECT_EQ(j->read_page("b", 1, UINT64_MAX, 100).take().value().size(), 10u);
  }
  TempDir fresh;
  auto j = open_at(fresh.db());
  ASSERT_TRUE(j->append(batch("c", 1, 10)).get());
  ASSERT_TRUE(j->compact());                                                    // one chunk c.1..10
  EXPECT_EQ(j->read_page("c", 1, UINT64_MAX, 100).take().value().size(), 10u);  // none deleted
  ASSERT_EQ(j->delete_to("c", 6).get().value(), 6u);
  EXPECT_EQ(seqs(j->read_page("c", 1, UINT64_MAX, 100).take().value()),
            (std::vector<std::uint64_t>{7, 8, 9, 10}));
  ASSERT_EQ(j->delete_to("c", 10).get().value(), 4u);
  EXPECT_TRUE(j->read_page("c", 1, UINT64_MAX, 100).take().value().empty());
}

TEST(JournalReadPage, RocksDbDamagedRecordIsCorruptedNamingPidAndSequence) {
  TempDir dir;
  {
    auto j = open_at(dir.db());
    ASSERT_TRUE(j->append(batch("a", 1, 3)).get());
  }  // closing folds: one chunk keyed a.1
  std::string chunk;
  {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* n :
         {"default", "journal", "tags", "meta", "snapshots", "stream_state", "offsets", "log"}) {
      cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir.db(), cfs, &handles, &db).ok());
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), handles[1], journal_key("a", 1), &chunk).ok());
    chunk[chunk.size() - 3] ^= 0x10;  // in the last record (a.3)
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[1], journal_key("a", 1), chunk).ok());
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  auto j = open_at(dir.db());
  auto r = j->read_page("a", 1, UINT64_MAX, 10).take();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::corrupted);
  EXPECT_NE(r.error().message().find("'a' at sequence 3"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(j->read_page("a", 1, 2, 10).take().value().size(), 2u);
}

// load_latest steps forward over a pid's few snapshots; many, or a large one, take SeekToLast.
TEST(JournalReadPage, SnapshotLoadFindsTheNewestAmongFewManyAndLargeOnes) {
  TempDir dir;
  auto j = open_at(dir.db());
  SnapshotOptions so;
  so.compress = false;
  auto store = j->snapshot_store(so);
  auto save = [&](const std::string& pid, std::uint64_t seq, std::size_t bytes) {
    SnapshotRecord r;
    r.meta = {pid, seq, 1};
    r.manifest = "test.State";
    r.payload.assign(bytes, std::byte{static_cast<unsigned char>(seq)});
    ASSERT_TRUE(store->save(r).get());
  };
  for (std::uint64_t n : {1, 2, 8, 9, 30}) {
    const std::string pid = "few-" + std::to_string(n);
    for (std::uint64_t s = 1; s <= n; ++s) save(pid, s * 10, 4);
    save(pid + "x", 5, 4);  // a neighbour after it
  }
  save("large", 10, 4);
  save("large", 20, 100'000);
  save("large", 30, 4);
  save("large-last", 10, 4);
  save("large-last", 20, 100'000);
  for (bool compacted : {false, true}) {
    SCOPED_TRACE(compacted ? "compacted" : "in memtables");
    for (std::uint64_t n : {1, 2, 8, 9, 30}) {
      auto latest = store->load_latest("few-" + std::to_string(n)).get().value();
      ASSERT_TRUE(latest.has_value()) << n;
      EXPECT_EQ(latest->meta.sequence_nr, n * 10);
      EXPECT_EQ(latest->payload.front(), std::byte{static_cast<unsigned char>(n * 10)});
    }
    EXPECT_EQ(store->load_latest("large").get().value()->meta.sequence_nr, 30u);
    auto large = store->load_latest("large-last").get().value();
    ASSERT_TRUE(large.has_value());
    EXPECT_EQ(large->payload.size(), 100'000u);
    EXPECT_FALSE(store->load_latest("few").get().value().has_value());
    EXPECT_FALSE(store->load_latest("zzz").get().value().has_value());
    ASSERT_TRUE(j->compact());
  }
}

}  // namespace
}  // namespace weft::persistence
