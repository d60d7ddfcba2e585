#include "weft/persistence/memory_journal.hpp"

#include <gtest/gtest.h>

namespace weft::persistence {
namespace {

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

TEST(MemoryJournal, AppendsReadsAndRefusesConflicts) {
  MemoryJournal j;
  ASSERT_EQ(j.append(batch("a", 1, 3)).get().value(), 3u);
  auto conflict = j.append(batch("a", 3, 1)).get();
  ASSERT_FALSE(conflict.has_value());
  EXPECT_EQ(conflict.error().code(), Errc::conflict);
  auto page = j.read("a", 2, 100, 1).get().value();
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].sequence_nr, 2u);
  EXPECT_EQ(j.highest_sequence_nr("a").get().value(), 3u);
  EXPECT_EQ(j.delete_to("a", 2).get().value(), 2u);
  EXPECT_EQ(j.highest_sequence_nr("a").get().value(), 3u);
  EXPECT_EQ(j.read("a", 1, 100, 100).get().value().size(), 1u);
}

TEST(MemoryJournal, TagOffsetsAreGapFreeInCommitOrder) {
  MemoryJournal j;
  ASSERT_TRUE(j.append(batch("a", 1, 2, {"t"})).get());
  ASSERT_TRUE(j.append(batch("b", 1, 1, {"t"})).get());
  auto all = j.events_by_tag("t", 0, 10).get().value();
  ASSERT_EQ(all.size(), 3u);
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].offset, i + 1);
  EXPECT_EQ(all[2].event.persistence_id, "b");
  EXPECT_EQ(j.events_by_tag("t", 2, 10).get().value().size(), 1u);
}

TEST(MemoryJournal, StaleWriterEpochIsFenced) {
  MemoryJournal j;
  auto b = batch("a", 1, 1);
  b.writer_epoch = 5;
  ASSERT_TRUE(j.append(b).get());
  auto stale = batch("a", 2, 1);
  stale.writer_epoch = 4;
  auto r = j.append(stale).get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::conflict);
}

}  // namespace
}  // namespace weft::persistence
