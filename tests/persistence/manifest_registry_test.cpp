// The manifest registry and what uses it: records of format 3 (a manifest id instead of the
// name), log segments that define new ids, and a journal that gets its ids back after a
// restart, from its metadata (folded) and from its log (not yet folded).
#include "persistence/manifest_registry.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "persistence/journal_keys.hpp"
#include "persistence/journal_record.hpp"
#include "persistence/journal_segment.hpp"
#include "temp_dir.hpp"
#include "weft/persistence/rocksdb_journal.hpp"

namespace weft::persistence {
namespace {

namespace fs = std::filesystem;
using weft::test::TempDir;

EventRecord event(const std::string& pid, std::uint64_t seq, std::string manifest) {
  EventRecord e;
  e.persistence_id = pid;
  e.sequence_nr = seq;
  e.manifest = std::move(manifest);
  e.version = 3;
  e.timestamp_ms = 1'700'000'000'000 + static_cast<std::int64_t>(seq);
  e.payload = {std::byte{1}, std::byte{static_cast<unsigned char>(seq)}};
  e.tags = {"t"};
  return e;
}

TEST(ManifestRegistry, IdsAreDenseStableAndNamedBack) {
  ManifestRegistry r;
  EXPECT_EQ(r.id_of("a.Created"), 0u);
  EXPECT_EQ(r.id_of("a.Updated"), 1u);
  EXPECT_EQ(r.id_of("a.Created"), 0u);
  EXPECT_EQ(r.id_of(""), 2u);  // an empty manifest is a manifest too
  EXPECT_EQ(r.size(), 3u);
  ASSERT_NE(r.name(1), nullptr);
  EXPECT_EQ(*r.name(1), "a.Updated");
  EXPECT_EQ(r.name(3), nullptr);
}

TEST(ManifestRegistry, AFullRegistrySaysNoAndKeepsWhatItHas) {
  ManifestRegistry r(2);
  EXPECT_EQ(r.id_of("x"), 0u);
  EXPECT_EQ(r.id_of("y"), 1u);
  EXPECT_EQ(r.id_of("z"), std::nullopt);
  EXPECT_EQ(r.id_of("y"), 1u);
  EXPECT_EQ(r.size(), 2u);
}

TEST(ManifestRegistry, ThreadsRegisteringTheSameNamesAgreeOnTheirIds) {
  ManifestRegistry r;
  constexpr int kThreads = 4;
  constexpr int kNames = 300;
  std::vector<std::map<std::string, std::uint32_t>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kNames; ++i) {
        // Each thread goes through all the names, from a different start.
        const std::string name = "m" + std::to_string((i + t * 37) % kNames);
        seen[t][name] = r.id_of(name).value();
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(r.size(), static_cast<std::uint32_t>(kNames));
  std::set<std::uint32_t> ids;
  for (const auto& [name, id] : seen[0]) {
    ids.insert(id);
    EXPECT_EQ(*r.name(id), name);
    for (int t = 1; t < kThreads; ++t) EXPECT_EQ(seen[t].at(name), id) << name;
  }
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kNames));
}

TEST(ManifestRegistry, DefinitionsReadBackMustAgreeAndComeInOrder) {
  ManifestRegistry r;
  ASSERT_TRUE(r.define(0, "a", "here"));
  ASSERT_TRUE(r.define(1, "b", "here"));
  EXPECT_TRUE(r.define(0, "a", "here"));  // the same again: read from meta and from the log
  auto conflict = r.define(1, "c", "segment 7");
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().code(), Errc::corrupted);
  EXPECT_NE(conflict.error().message().find("segment 7"), std::string::npos);
  auto gap = r.define(3, "d", "segment 8");
  ASSERT_FALSE(gap);
  EXPECT_EQ(gap.error().code(), Errc::corrupted);
  auto twice = r.define(2, "a", "segment 9");  // a name under a second id
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code(), Errc::corrupted);
  EXPECT_EQ(r.size(), 2u);
  EXPECT_EQ(r.id_of("b"), 1u);
}

TEST(JournalRecordFormat3, StoresTheIdAndReadsTheNameBack) {
  ManifestRegistry r;
  const auto e = event("p", 5, "sensor.ReadingRecorded");
  const std::string key = journal_key("p", 5);
  std::string by_name;
  std::string by_id;
  encode_record(by_name, key, e, 0);
  encode_record(by_id, key, e, 0, r.id_of(e.manifest));
  EXPECT_EQ(static_cast<std::uint8_t>(by_name[0]), kRecordFormat);
  EXPECT_EQ(static_cast<std::uint8_t>(by_id[0]), kRecordFormatManifestId);
  EXPECT_EQ(by_name.size() - by_id.size(), e.manifest.size());  // 1 length byte for 1 id byte
  for (const std::string* stored : {&by_name, &by_id}) {
    auto back = decode_record(key, *stored, "p", 5, &r);
    ASSERT_TRUE(back) << back.error().describe();
    EXPECT_EQ(*back, e);
  }
  // Without the registry, or with one that lacks the id, a format 3 record is damage.
  const ManifestRegistry empty;
  for (const ManifestNames* names :
       {static_cast<const ManifestNames*>(nullptr), static_cast<const ManifestNames*>(&empty)}) {
    auto lost = decode_record(key, by_id, "p", 5, names);
    ASSERT_FALSE(lost);
    EXPECT_EQ(lost.error().code(), Errc::corrupted);
    EXPECT_NE(lost.error().message().find("unknown manifest id 0"), std::string::npos)
        << lost.error().message();
  }
}

TEST(JournalSegmentFormat2, DefinesManifestsBeforeItsEntriesAndFormat1StillReads) {
  ManifestDefinitions defs;
  defs.first_id = 4;
  defs.names = {"a.One", "a.Two"};
  std::string entries;
  put_segment_entry(entries, "p", 1, "r1");
  put_segment_entry(entries, "p", 2, "r2");
  std::string segment;
  encode_segment(segment, 10, 2, entries, defs);
  std::vector<std::string> order;
  auto h = decode_segment(
      segment, 3,
      [&](const SegmentEntry& e) -> Result<void> {
        order.emplace_back(e.record);
        return {};
      },
      [&](const ManifestDefinitions& d) -> Result<void> {
        order.push_back("defs from " + std::to_string(d.first_id));
        for (auto n : d.names) order.emplace_back(n);
        return {};
      });
  ASSERT_TRUE(h) << h.error().describe();
  EXPECT_EQ(h->first_offset, 10u);
  EXPECT_EQ(order, (std::vector<std::string>{"defs from 4", "a.One", "a.Two", "r1", "r2"}));

  // Format 1, as builds before the registry wrote it: no definitions.
  std::string old;
  old.push_back(1);
  put_varint(old, 10);
  put_varint(old, 2);
  old += entries;
  const std::uint32_t crc = crc32c(0, old);
  for (int i = 0; i < 4; ++i) old.push_back(static_cast<char>(crc >> (8 * i)));
  std::size_t walked = 0;
  auto h1 = decode_segment(old, 3, [&](const SegmentEntry&) -> Result<void> {
    ++walked;
    return {};
  });
  ASSERT_TRUE(h1) << h1.error().describe();
  EXPECT_EQ(walked, 2u);

  // A definitions callback's error stops the walk.
  auto refused = decode_segment(
      segment, 3, [](const SegmentEntry&) -> Result<void> { return {}; },
      [](const ManifestDefinitions&) -> Result<void> { return fail(Errc::corrupted, "no"); });
  EXPECT_FALSE(refused);
}

/// What a crash leaves: the directory as it is while the journal is open (every acknowledged
/// append is synced to the log; nothing is folded).
std::string crash_image(const std::string& from, const TempDir& dir, const std::string& name) {
  const std::string to = dir.sub(name);
  fs::copy(from, to, fs::copy_options::recursive);
  return to;
}

std::unique_ptr<RocksDbJournal> open_dir(const std::string& path) {
  JournalOptions o;
  o.directory = path;
  o.write_buffer_bytes = 4u << 20;
  auto j = RocksDbJournal::open(o);
  EXPECT_TRUE(j.has_value()) << j.error().describe();
  return j ? std::move(*j) : nullptr;
}

void expect_manifests(RocksDbJournal& j, const std::string& pid,
                      const std::vector<std::string>& want) {
  auto got = j.read(pid, 1, UINT64_MAX, 5000).get();
  ASSERT_TRUE(got) << got.error().describe();
  ASSERT_EQ(got->size(), want.size()) << pid;
  for (std::size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ((*got)[i].manifest, want[i]) << pid << " at sequence " << i + 1;
  }
  auto tagged = j.events_by_tag("t", 0, 1000).get();
  ASSERT_TRUE(tagged) << tagged.error().describe();
}

TEST(RocksDbJournalManifests, ComeBackFromTheLogAndFromTheMetadata) {
  TempDir dir;
  std::string unfolded;
  {
    auto j = open_dir(dir.db());
    ASSERT_TRUE(j->append({"a", 1, 0, {event("a", 1, "m.One"), event("a", 2, "m.Two")}}).get());
    unfolded = crash_image(dir.db(), dir, "crash1");  // ids 0 and 1, in the log only
  }
  {
    auto j = open_dir(unfolded);
    expect_manifests(*j, "a", {"m.One", "m.Two"});
    ASSERT_TRUE(j->append({"a", 3, 0, {event("a", 3, "m.Three"), event("a", 4, "m.One")}}).get());
  }  // closing folds: ids 0..2 go to the metadata
  {
    auto j = open_dir(unfolded);
    expect_manifests(*j, "a", {"m.One", "m.Two", "m.Three", "m.One"});
    ASSERT_TRUE(j->append({"b", 1, 0, {event("b", 1, "m.Four"), event("b", 2, "m.Two")}}).get());
    unfolded = crash_image(unfolded, dir, "crash2");  // 0..2 in the metadata, 3 in the log
  }
  auto j = open_dir(unfolded);
  expect_manifests(*j, "a", {"m.One", "m.Two", "m.Three", "m.One"});
  expect_manifests(*j, "b", {"m.Four", "m.Two"});
  EXPECT_TRUE(j->verify().value().problems.empty());
  // New manifests go on from there, with their own ids.
  ASSERT_TRUE(j->append({"b", 3, 0, {event("b", 3, "m.Five")}}).get());
  j.reset();
  j = open_dir(unfolded);
  expect_manifests(*j, "b", {"m.Four", "m.Two", "m.Five"});
}

TEST(RocksDbJournalManifests, MoreManifestsThanIdsAreStoredByName) {
  TempDir dir;
  constexpr std::uint64_t kEvents = 1100;  // the registry holds 1,024
  std::vector<std::string> want;
  {
    auto j = open_dir(dir.db());
    AppendBatch b{"many", 1, 0, {}};
    for (std::uint64_t seq = 1; seq <= kEvents; ++seq) {
      want.push_back("type." + std::to_string(seq));
      b.events.push_back(event("many", seq, want.back()));
    }
    ASSERT_TRUE(j->append(std::move(b)).get());
    expect_manifests(*j, "many", want);
  }
  auto j = open_dir(dir.db());
  expect_manifests(*j, "many", want);
  ASSERT_TRUE(j->append({"many", kEvents + 1, 0, {event("many", kEvents + 1, "type.1")}}).get());
  want.emplace_back("type.1");
  expect_manifests(*j, "many", want);
}

}  // namespace
}  // namespace weft::persistence
