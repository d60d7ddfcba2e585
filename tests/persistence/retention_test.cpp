#include "weft/persistence/retention.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <future>

#include "weft/persistence/memory_journal.hpp"
#include "weft/persistence/rocksdb_journal.hpp"

namespace weft::persistence {
namespace {

using namespace std::chrono_literals;

class RetentionTest : public ::testing::Test {
 protected:
  // `n` events of `pid`, each stamped one minute after the one before, starting now.
  void append(const std::string& pid, std::uint64_t n) {
    auto highest = journal->highest_sequence_nr(pid).get().value();
    for (std::uint64_t i = 1; i <= n; ++i) {
      EventRecord e;
      e.persistence_id = pid;
      e.sequence_nr = highest + i;
      e.manifest = "test.Event";
      e.timestamp_ms = clock.wall_ms();
      ASSERT_TRUE(journal->append(AppendBatch{pid, highest + i, 0, {e}}).get());
      clock.advance(1min);
    }
  }
  void snapshot(const std::string& pid, std::uint64_t seq) {
    SnapshotRecord r;
    r.meta = {pid, seq, clock.wall_ms()};
    r.manifest = "test.State";
    r.payload = {std::byte{static_cast<unsigned char>(seq)}};
    ASSERT_TRUE(snapshots->save(r).get());
  }
  std::uint64_t first_stored(const std::string& pid) {
    auto events = journal->read(pid, 1, UINT64_MAX, 1).get().value();
    return events.empty() ? 0 : events.front().sequence_nr;
  }

  ManualClock clock;
  std::shared_ptr<Journal> journal = std::make_shared<MemoryJournal>();
  std::shared_ptr<SnapshotStore> snapshots = std::make_shared<MemorySnapshotStore>();
};

TEST_F(RetentionTest, ByCountNeverPastTheNewestSnapshot) {
  append("a", 100);
  snapshot("a", 60);
  append("b", 100);  // no snapshot: nothing of b may go
  RetentionOptions o;
  o.keep_events = 10;
  Retention r(journal, snapshots, o, clock);
  auto report = r.run_once().value();
  EXPECT_EQ(report.persistence_ids, 2u);
  EXPECT_EQ(report.events_deleted, 60u);  // 90 are beyond the newest 10, but only 60 covered
  EXPECT_EQ(first_stored("a"), 61u);
  EXPECT_EQ(first_stored("b"), 1u);
  EXPECT_TRUE(report.errors.empty());
  snapshot("a", 100);
  EXPECT_EQ(r.run_once().value().events_deleted, 30u);
  EXPECT_EQ(first_stored("a"), 91u);
}

TEST_F(RetentionTest, ByAgeDeletesOnlyOldCoveredEvents) {
  append("a", 50);  // stamped t0 .. t0+49 min
  snapshot("a", 50);
  RetentionOptions o;
  o.max_event_age = 30min;  // now is t0+50 min: events before t0+20 min are old
  o.page = 7;               // the boundary falls inside a page
  Retention r(journal, snapshots, o, clock);
  EXPECT_EQ(r.run_once().value().events_deleted, 20u);
  EXPECT_EQ(first_stored("a"), 21u);
  EXPECT_EQ(r.run_once().value().events_deleted, 0u);  // idempotent
}

TEST_F(RetentionTest, SnapshotsByCountAndAgeKeepTheNewest) {
  append("a", 10);
  for (std::uint64_t seq : {2, 4, 6, 8, 10}) {
    snapshot("a", seq);
    clock.advance(1h);
  }
  RetentionOptions o;
  o.keep_snapshots = 4;
  o.max_snapshot_age = 150min;  // of those kept (4..10, saved 1..4 h ago), 4 and 6 are too old
  Retention r(journal, snapshots, o, clock);
  EXPECT_EQ(r.run_once().value().snapshots_deleted, 3u);
  EXPECT_FALSE(snapshots->load_latest("a", {7}).get().value().has_value());  // 2, 4, 6 gone
  EXPECT_EQ(snapshots->load_latest("a", {9}).get().value()->meta.sequence_nr, 8u);
  clock.advance(24h);  // all old now: the newest stays anyway
  EXPECT_EQ(r.run_once().value().snapshots_deleted, 1u);
  EXPECT_EQ(snapshots->load_latest("a").get().value()->meta.sequence_nr, 10u);
}

TEST_F(RetentionTest, RunsInTheBackgroundOnRocksDb) {
  char tmpl[] = "/tmp/weft-retention-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  {
    JournalOptions jo;
    jo.directory = dir + "/db";
    auto rocks = std::shared_ptr<RocksDbJournal>(std::move(*RocksDbJournal::open(jo)));
    journal = rocks;
    snapshots = rocks->snapshot_store();
    append("a", 20);
    snapshot("a", 15);
    RetentionOptions o;
    o.keep_events = 0;
    o.interval = 1h;  // the first pass runs at once
    Retention r(journal, snapshots, o, clock);
    std::promise<RetentionReport> first;
    std::atomic<bool> once{false};
    r.start([&](const Result<RetentionReport>& rep) {
      if (!once.exchange(true)) first.set_value(rep.value());
    });
    auto fut = first.get_future();
    ASSERT_EQ(fut.wait_for(60s), std::future_status::ready);
    EXPECT_EQ(fut.get().events_deleted, 15u);
    r.stop();
    EXPECT_EQ(first_stored("a"), 16u);
    snapshots.reset();
    journal.reset();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace weft::persistence
