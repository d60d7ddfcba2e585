#include "weft/persistence/persistence_query.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "weft/persistence/integrity_journal.hpp"
#include "weft/persistence/memory_journal.hpp"
#include "weft/persistence/rocksdb_journal.hpp"

namespace weft::persistence {
namespace {

using namespace std::chrono_literals;

constexpr auto kDeadline = 10s;

EventRecord event(const std::string& pid, std::uint64_t seq, std::vector<std::string> tags = {}) {
  EventRecord e;
  e.persistence_id = pid;
  e.sequence_nr = seq;
  e.manifest = "test.Event";
  e.payload = {std::byte{static_cast<unsigned char>(seq)}};
  e.tags = std::move(tags);
  return e;
}

AppendBatch batch(const std::string& pid, std::uint64_t first, std::uint64_t n,
                  std::vector<std::string> tags = {}) {
  AppendBatch b{pid, first, 0, {}};
  for (std::uint64_t i = 0; i < n; ++i) b.events.push_back(event(pid, first + i, tags));
  return b;
}

/// next(), waiting at most kDeadline: a hang fails the test instead of blocking it.
template <class T>
std::vector<T> next_or_fail(QueryCursor<T>& c, std::size_t max) {
  auto r = c.next(max).wait_for(kDeadline);
  EXPECT_TRUE(r.has_value()) << "next() did not complete";
  if (!r) return {};
  EXPECT_TRUE(r->has_value()) << r->error().describe();
  return r->has_value() ? **r : std::vector<T>{};
}

TEST(PersistenceQuery, CurrentEventsByIdEndOnceCaughtUp) {
  auto j = std::make_shared<MemoryJournal>();
  ASSERT_TRUE(j->append(batch("p", 1, 7)).get().has_value());
  PersistenceQuery q(j);
  auto c = q.current_events_by_persistence_id("p", 2);
  auto first = next_or_fail(c, 4);
  ASSERT_EQ(first.size(), 4u);
  EXPECT_EQ(first.front().sequence_nr, 2u);
  auto second = next_or_fail(c, 4);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second.back().sequence_nr, 7u);
  ASSERT_TRUE(j->append(batch("p", 8, 1)).get().has_value());
  EXPECT_TRUE(next_or_fail(c, 4).empty()) << "a short page was the end";
}

TEST(PersistenceQuery, EventsByIdStopAtTheUpperBound) {
  auto j = std::make_shared<MemoryJournal>();
  ASSERT_TRUE(j->append(batch("p", 1, 10)).get().has_value());
  PersistenceQuery q(j);
  auto c = q.events_by_persistence_id("p", 3, 5);
  auto page = next_or_fail(c, 100);
  ASSERT_EQ(page.size(), 3u);
  EXPECT_EQ(page.back().sequence_nr, 5u);
  EXPECT_TRUE(next_or_fail(c, 100).empty()) << "a live cursor past its bound ends";
}

TEST(PersistenceQuery, CurrentEventsByTagPageInOffsetOrder) {
  auto j = std::make_shared<MemoryJournal>();
  ASSERT_TRUE(j->append(batch("a", 1, 3, {"t"})).get().has_value());
  ASSERT_TRUE(j->append(batch("b", 1, 2, {"u"})).get().has_value());
  ASSERT_TRUE(j->append(batch("c", 1, 3, {"t"})).get().has_value());
  PersistenceQuery q(j);
  auto c = q.current_events_by_tag("t", 1);
  std::vector<TaggedEvent> all;
  for (;;) {
    auto page = next_or_fail(c, 2);
    if (page.empty()) break;
    all.insert(all.end(), page.begin(), page.end());
  }
  ASSERT_EQ(all.size(), 5u) << "offset 1 was already seen";
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].offset, all[i].offset);
  EXPECT_EQ(all.back().event.persistence_id, "c");
}

TEST(PersistenceQuery, LiveEventsByIdWaitForACommit) {
  auto j = std::make_shared<MemoryJournal>();
  PersistenceQuery q(j);
  auto c = q.events_by_persistence_id("p");
  auto pending = c.next(10);
  EXPECT_FALSE(pending.is_ready());
  ASSERT_TRUE(j->append(batch("other", 1, 1)).get().has_value());
  ASSERT_TRUE(j->append(batch("p", 1, 2)).get().has_value());
  auto r = pending.wait_for(kDeadline);
  ASSERT_TRUE(r.has_value()) << "the commit did not wake the cursor";
  ASSERT_TRUE(r->has_value());
  ASSERT_EQ((*r)->size(), 2u);
  EXPECT_EQ((*r)->back().sequence_nr, 2u);
}

TEST(PersistenceQuery, LiveEventsByTagWaitForACommit) {
  auto j = std::make_shared<MemoryJournal>();
  PersistenceQuery q(j);
  auto c = q.events_by_tag("t");
  auto pending = c.next(10);
  ASSERT_TRUE(j->append(batch("p", 1, 1, {"u"})).get().has_value());
  ASSERT_TRUE(j->append(batch("p", 2, 1, {"t"})).get().has_value());
  auto r = pending.wait_for(kDeadline);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->value().size(), 1u);
  EXPECT_EQ(r->value()[0].offset, 2u);
}

TEST(PersistenceQuery, CancelEndsAPendingNext) {
  auto j = std::make_shared<MemoryJournal>();
  PersistenceQuery q(j);
  auto c = q.events_by_tag("t");
  auto pending = c.next(10);
  auto second = c.next(10).get();
  ASSERT_FALSE(second.has_value()) << "one next() at a time";
  EXPECT_EQ(second.error().code(), Errc::invalid_argument);
  c.cancel();
  auto r = pending.wait_for(kDeadline);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->value().empty());
  ASSERT_TRUE(j->append(batch("p", 1, 1, {"t"})).get().has_value());
  EXPECT_TRUE(next_or_fail(c, 10).empty()) << "cancelled for good";
}

TEST(PersistenceQuery, DestroyingTheQueryEndsLiveCursors) {
  auto j = std::make_shared<MemoryJournal>();
  auto q = std::make_unique<PersistenceQuery>(j);
  auto c = q->events_by_persistence_id("p");
  auto pending = c.next(10);
  q.reset();
  auto r = pending.wait_for(kDeadline);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->value().empty());
}

TEST(PersistenceQuery, CurrentPersistenceIds) {
  auto j = std::make_shared<MemoryJournal>();
  ASSERT_TRUE(j->append(batch("a", 1, 1)).get().has_value());
  ASSERT_TRUE(j->append(batch("b", 1, 1)).get().has_value());
  PersistenceQuery q(j);
  EXPECT_EQ(q.current_persistence_ids().get().value(), (std::vector<std::string>{"a", "b"}));
}

/// Writers append tagged events to their own ids while a reader follows the tag live; the
/// reader must see every event exactly once, in offset order and in sequence order per id.
void race_writers_against_a_live_tag_reader(std::shared_ptr<Journal> j) {
  constexpr int kWriters = 3;
  constexpr std::uint64_t kEach = 300;
  PersistenceQuery q(j);
  auto by_tag = q.events_by_tag("t");
  auto by_id = q.events_by_persistence_id("w1");
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&j, w] {
      const std::string pid = "w" + std::to_string(w);
      for (std::uint64_t seq = 1; seq <= kEach;) {
        const std::uint64_t n = std::min<std::uint64_t>(1 + seq % 3, kEach - seq + 1);
        auto r = j->append(batch(pid, seq, n, {"t"})).get();
        ASSERT_TRUE(r.has_value()) << r.error().describe();
        seq += n;
      }
    });
  }
  std::thread id_reader([&] {
    std::uint64_t expected = 1;
    while (expected <= kEach) {
      auto page = next_or_fail(by_id, 5);
      ASSERT_FALSE(page.empty()) << "stalled at sequence " << expected;
      for (auto& e : page) ASSERT_EQ(e.sequence_nr, expected++);
    }
  });
  std::map<std::string, std::uint64_t> last_seq;
  std::set<std::pair<std::string, std::uint64_t>> seen;
  std::uint64_t last_offset = 0;
  while (seen.size() < kWriters * kEach) {
    auto page = next_or_fail(by_tag, 7);
    if (page.empty()) {
      ADD_FAILURE() << "stalled after " << seen.size() << " events";
      break;  // and still join the threads
    }
    for (auto& te : page) {
      EXPECT_GT(te.offset, last_offset);
      last_offset = te.offset;
      auto& last = last_seq[te.event.persistence_id];
      EXPECT_EQ(te.event.sequence_nr, last + 1) << te.event.persistence_id;
      last = te.event.sequence_nr;
      EXPECT_TRUE(seen.emplace(te.event.persistence_id, te.event.sequence_nr).second);
    }
  }
  for (auto& t : writers) t.join();
  id_reader.join();
  // Nothing more arrives: the next page waits rather than repeating an event.
  EXPECT_FALSE(by_tag.next(10).wait_for(50ms).has_value());
}

TEST(PersistenceQuery, LiveQueriesDeliverEveryEventOnceWhileAppendsRace) {
  race_writers_against_a_live_tag_reader(std::make_shared<MemoryJournal>());
}

TEST(PersistenceQuery, LiveQueriesOverAnIntegrityJournalDecryptAndFollow) {
  auto store = std::make_shared<MemoryJournal>();
  IntegrityOptions o;
  auto master = Key::from_hex(std::string(64, 'c')).value();
  o.key_store = std::make_unique<MemoryKeyStore>(master);
  std::shared_ptr<Journal> j = IntegrityJournal::open(store, master, std::move(o)).value();
  race_writers_against_a_live_tag_reader(j);
  PersistenceQuery q(j);
  auto c = q.current_events_by_persistence_id("w0", 5, 5);
  auto page = next_or_fail(c, 1);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].payload, event("w0", 5).payload) << "decrypted";
}

TEST(PersistenceQuery, RocksDbEndToEndLiveQueriesFollowGroupCommits) {
  char tmpl[] = "/tmp/weft-query-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  {
    JournalOptions o;
    o.directory = dir + "/journal";
    o.durability = Durability::none;
    std::shared_ptr<Journal> j = RocksDbJournal::open(o).value();
    race_writers_against_a_live_tag_reader(j);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace weft::persistence
