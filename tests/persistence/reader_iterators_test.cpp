// A reading thread keeps its RocksDB iterators between reads (RocksDbJournal's ReaderIterators):
// each read still sees everything written before it, and a thread that stops reading holds no
// table file that a compaction replaced.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.hpp"
#include "weft/persistence/rocksdb_journal.hpp"
#include "weft/persistence/snapshot_store.hpp"

namespace weft::persistence {
namespace {

namespace fs = std::filesystem;
using weft::test::TempDir;

EventRecord event(const std::string& pid, std::uint64_t seq) {
  EventRecord e;
  e.persistence_id = pid;
  e.sequence_nr = seq;
  e.manifest = "kept.Event";
  e.timestamp_ms = static_cast<std::int64_t>(seq);
  e.payload.assign(200, std::byte{static_cast<unsigned char>(seq)});
  return e;
}

Result<std::uint64_t> append(RocksDbJournal& j, const std::string& pid, std::uint64_t first,
                             std::uint64_t n) {
  AppendBatch b{pid, first, 0, {}};
  for (std::uint64_t i = 0; i < n; ++i) b.events.push_back(event(pid, first + i));
  return j.append(std::move(b)).get();
}

std::unique_ptr<RocksDbJournal> open_small_folds(const std::string& dir) {
  JournalOptions o;
  o.directory = dir;
  o.fold_bytes = 8u << 10;  // folds (table files ingested) every few appends
  auto j = RocksDbJournal::open(o);
  EXPECT_TRUE(j.has_value()) << j.error().describe();
  return j ? std::move(*j) : nullptr;
}

/// Reads all of `pid` in pages of 256, as recoveries do (longer reads take another path).
std::uint64_t count_events(RocksDbJournal& j, const std::string& pid) {
  std::uint64_t next = 1;
  for (;;) {
    auto page = j.read_page(pid, next, UINT64_MAX, 256).take();
    EXPECT_TRUE(page) << page.error().describe();
    if (!page || page->empty()) return next - 1;
    for (const auto& e : page->events()) EXPECT_EQ(e.sequence_nr, next++) << pid;
  }
}

TEST(ReaderIterators, EachReadSeesWhatWasWrittenBeforeIt) {
  TempDir dir;
  auto j = open_small_folds(dir.db());
  auto store = j->snapshot_store(SnapshotOptions{});
  // One thread reads throughout (so it keeps its iterators), while folds ingest new table
  // files and snapshots go to the memtable between its reads.
  std::uint64_t written = 0;
  for (int round = 1; round <= 40; ++round) {
    ASSERT_TRUE(append(*j, "p", written + 1, 10));
    written += 10;
    ASSERT_EQ(count_events(*j, "p"), written) << "round " << round;
    SnapshotRecord snap;
    snap.meta = {"p", written, 0};
    snap.manifest = "kept.State";
    snap.payload = {std::byte{static_cast<unsigned char>(round)}};
    ASSERT_TRUE(store->save(std::move(snap)).get());
    auto latest = store->load_latest("p", {}).get();
    ASSERT_TRUE(latest) << latest.error().describe();
    ASSERT_TRUE(latest->has_value());
    EXPECT_EQ((*latest)->meta.sequence_nr, written) << "round " << round;
  }
  // A pid next to another one in key order: the kept iterator has no bounds of its own.
  ASSERT_TRUE(append(*j, "pa", 1, 3));
  ASSERT_TRUE(append(*j, "o", 1, 2));
  EXPECT_EQ(count_events(*j, "pa"), 3u);
  EXPECT_EQ(count_events(*j, "o"), 2u);
  EXPECT_EQ(count_events(*j, "pb"), 0u);
  EXPECT_EQ(count_events(*j, "p"), written);
  auto none = store->load_latest("pa", {}).get();
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
}

std::vector<std::string> table_files(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() == ".sst") names.push_back(f.path().filename().string());
  }
  return names;
}

TEST(ReaderIterators, AnIdleReaderHoldsNoTableFileACompactionReplaced) {
  TempDir dir;
  auto j = open_small_folds(dir.db());
  for (std::uint64_t first = 1; first <= 400; first += 20) ASSERT_TRUE(append(*j, "p", first, 20));
  ASSERT_TRUE(j->compact());  // everything folded: table files only
  const auto before = table_files(dir.db());
  ASSERT_FALSE(before.empty());
  std::mutex m;
  std::condition_variable cv;
  bool read = false;
  bool done = false;
  std::thread reader([&] {
    EXPECT_EQ(count_events(*j, "p"), 400u);  // keeps iterators over those table files
    std::unique_lock lock(m);
    read = true;
    cv.notify_all();
    cv.wait(lock, [&] { return done; });  // idle, and alive
  });
  {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return read; });
  }
  ASSERT_TRUE(append(*j, "p", 401, 20));
  ASSERT_TRUE(j->compact());  // rewrites every table file
  // RocksDB deletes a replaced file once nothing holds it; the reader must not.
  std::vector<std::string> kept;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    kept.clear();
    const auto now = table_files(dir.db());
    for (const auto& f : before) {
      if (std::find(now.begin(), now.end(), f) != now.end()) kept.push_back(f);
    }
    std::this_thread::yield();
  } while (!kept.empty() && std::chrono::steady_clock::now() < deadline);
  {
    std::lock_guard lock(m);
    done = true;
  }
  cv.notify_all();
  reader.join();
  EXPECT_TRUE(kept.empty()) << kept.size() << " replaced table files are still on disk, e.g. "
                            << kept.front();
  EXPECT_EQ(count_events(*j, "p"), 420u);
}

}  // namespace
}  // namespace weft::persistence
