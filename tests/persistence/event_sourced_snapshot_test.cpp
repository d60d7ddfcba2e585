// Snapshots of event-sourced actors: when they are taken, how many are kept, which events they
// let go, and recovery from a snapshot plus the events after it (also when one is corrupted).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "persistence/event_sourced_fixture.hpp"

namespace weft::persistence::es_test {
namespace {

using testkit::TestKit;

struct Env {
  TestKit kit;
  std::shared_ptr<RecordingJournal> journal = std::make_shared<RecordingJournal>();
  std::shared_ptr<MemorySnapshotStore> store = std::make_shared<MemorySnapshotStore>();
  testkit::TestProbe<Total> probe = kit.probe<Total>();

  EventSourcedSpec<Cmd, Added, Total> spec(const std::string& pid) {
    auto s = counter_spec(pid, journal);
    s.snapshot_store = store;
    return s;
  }
  /// Sends each amount as its own command, waits for the last reply.
  Total add_each(const ActorRef<Cmd>& a, const std::vector<std::int64_t>& amounts) {
    for (auto x : amounts) a.tell(Add{{x}, {}});
    a.tell(Get{probe.ref()});
    return probe.expect_msg();
  }
  Total get(const ActorRef<Cmd>& a) {
    a.tell(Get{probe.ref()});
    return probe.expect_msg();
  }
  void stop(const ActorRef<Cmd>& a) {
    probe.watch(a);
    kit.system().stop(a);
    probe.expect_terminated(a);
  }
  bool has_snapshot(const std::string& pid, std::uint64_t seq) {
    return store->stored_bytes(pid, seq) != nullptr;
  }
};

std::vector<std::int64_t> amounts(int n) {
  std::vector<std::int64_t> v;
  for (int i = 1; i <= n; ++i) v.push_back(i * 7 - 20);
  return v;
}

TEST(EventSourcedSnapshots, EveryNEventsThenRecoveryReadsOnlyTheTail) {
  Env env;
  auto s = env.spec("n");
  s.snapshot_every = 5;
  s.keep_snapshots = 0;
  auto a = env.kit.system().spawn(event_sourced(s));
  const auto xs = amounts(12);
  EXPECT_EQ(env.add_each(a, xs), fold(xs));
  for (std::uint64_t seq = 1; seq <= 12; ++seq) {
    EXPECT_EQ(env.has_snapshot("n", seq), seq == 5 || seq == 10) << seq;
  }
  env.stop(a);
  env.journal->take_reads();

  auto b = env.kit.system().spawn(event_sourced(s));
  EXPECT_EQ(env.get(b), fold(xs));
  EXPECT_EQ(env.journal->take_reads(), std::vector<std::uint64_t>{11});
  // The recovered actor continues the sequence (the journal would refuse a wrong one).
  EXPECT_EQ(env.add_each(b, {100}), fold([&] {
              auto v = xs;
              v.push_back(100);
              return v;
            }()));
}

TEST(EventSourcedSnapshots, ABatchThatCrossesAMultipleSnapshotsAfterTheBatch) {
  Env env;
  auto s = env.spec("batch");
  s.snapshot_every = 4;
  s.keep_snapshots = 0;
  auto a = env.kit.system().spawn(event_sourced(s));
  a.tell(Add{{1, 2, 3}, {}});      // 1..3
  a.tell(Add{{4, 5, 6}, {}});      // 4..6 crosses 4: snapshot at 6
  a.tell(Add{{7, 8, 9, 10}, {}});  // 7..10 crosses 8: snapshot at 10
  EXPECT_EQ(env.get(a), fold({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_TRUE(env.has_snapshot("batch", 6));
  EXPECT_TRUE(env.has_snapshot("batch", 10));
  EXPECT_FALSE(env.has_snapshot("batch", 4));
  EXPECT_FALSE(env.has_snapshot("batch", 8));
}

TEST(EventSourcedSnapshots, WhenThePredicateSaysSo) {
  Env env;
  auto s = env.spec("when");
  s.keep_snapshots = 0;
  std::vector<std::uint64_t> asked;
  s.snapshot_when = [&](const Total& t, const Added& e, std::uint64_t seq) {
    asked.push_back(seq);
    EXPECT_EQ(t.events, seq);  // asked with the state after the event
    return e.amount == 0;
  };
  auto a = env.kit.system().spawn(event_sourced(s));
  env.add_each(a, {3, 0, 4, 5, 0, 1});
  EXPECT_EQ(asked, (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6}));
  for (std::uint64_t seq = 1; seq <= 6; ++seq) {
    EXPECT_EQ(env.has_snapshot("when", seq), seq == 2 || seq == 5) << seq;
  }
}

TEST(EventSourcedSnapshots, KeepsTheLastK) {
  Env env;
  auto s = env.spec("keep");
  s.snapshot_every = 2;
  s.keep_snapshots = 2;
  auto a = env.kit.system().spawn(event_sourced(s));
  env.add_each(a, amounts(11));
  for (std::uint64_t seq = 1; seq <= 11; ++seq) {
    EXPECT_EQ(env.has_snapshot("keep", seq), seq == 8 || seq == 10) << seq;
  }
  // Snapshots stored by an earlier incarnation count too.
  env.stop(a);
  auto b = env.kit.system().spawn(event_sourced(s));
  env.add_each(b, {1});  // 12: a third snapshot, the oldest (8) goes
  EXPECT_FALSE(env.has_snapshot("keep", 8));
  EXPECT_TRUE(env.has_snapshot("keep", 10));
  EXPECT_TRUE(env.has_snapshot("keep", 12));
}

TEST(EventSourcedSnapshots, DeletesTheEventsTheOldestKeptSnapshotCovers) {
  Env env;
  auto s = env.spec("del");
  s.snapshot_every = 5;
  s.keep_snapshots = 2;
  s.delete_events_on_snapshot = true;
  auto a = env.kit.system().spawn(event_sourced(s));
  const auto xs = amounts(12);
  env.add_each(a, xs);
  // Snapshots 5 and 10 are kept; events after 5 stay so that 5 is a usable fallback.
  auto left = env.journal->read("del", 1, UINT64_MAX, 100).get().value();
  ASSERT_FALSE(left.empty());
  EXPECT_EQ(left.front().sequence_nr, 6u);
  EXPECT_EQ(left.back().sequence_nr, 12u);
  EXPECT_EQ(env.journal->highest_sequence_nr("del").get().value(), 12u);
  env.stop(a);

  auto b = env.kit.system().spawn(event_sourced(s));
  EXPECT_EQ(env.get(b), fold(xs));
}

TEST(EventSourcedSnapshots, KeepingOneDeletesEverythingItCovers) {
  Env env;
  auto s = env.spec("del1");
  s.snapshot_every = 5;
  s.keep_snapshots = 1;
  s.delete_events_on_snapshot = true;
  auto a = env.kit.system().spawn(event_sourced(s));
  const auto xs = amounts(12);
  env.add_each(a, xs);
  auto left = env.journal->read("del1", 1, UINT64_MAX, 100).get().value();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left.front().sequence_nr, 11u);
  env.stop(a);
  auto b = env.kit.system().spawn(event_sourced(s));
  EXPECT_EQ(env.get(b), fold(xs));
}

void damage(std::string* bytes) {
  ASSERT_NE(bytes, nullptr);
  (*bytes)[bytes->size() / 2] ^= 0x20;
}

TEST(EventSourcedSnapshots, CorruptedSnapshotFallsBackToAnOlderOne) {
  Env env;
  auto s = env.spec("bad");
  s.snapshot_every = 5;
  s.keep_snapshots = 0;
  auto a = env.kit.system().spawn(event_sourced(s));
  const auto xs = amounts(17);
  env.add_each(a, xs);
  env.stop(a);
  damage(env.store->stored_bytes("bad", 15));
  env.journal->take_reads();

  auto b = env.kit.system().spawn(event_sourced(s));
  EXPECT_EQ(env.get(b), fold(xs));
  EXPECT_EQ(env.journal->take_reads(), std::vector<std::uint64_t>{11});  // from snapshot 10
  env.stop(b);

  damage(env.store->stored_bytes("bad", 10));
  damage(env.store->stored_bytes("bad", 5));
  auto c = env.kit.system().spawn(event_sourced(s));
  EXPECT_EQ(env.get(c), fold(xs));
  EXPECT_EQ(env.journal->take_reads(), std::vector<std::uint64_t>{1});  // events alone
}

TEST(EventSourcedSnapshots, SnapshotOfAnUnknownStateVersionIsSkippedLikeACorruptedOne) {
  Env env;
  SnapshotRecord rec;
  rec.meta = {"future", 3, 0};
  rec.manifest = "test.es.Total";
  rec.version = 99;  // written by a newer build
  ASSERT_TRUE(env.store->save(rec).get());
  auto a = env.kit.system().spawn(event_sourced(env.spec("future")));
  a.tell(Add{{1, 2}, {}});
  EXPECT_EQ(env.get(a), fold({1, 2}));
}

TEST(EventSourcedSnapshots, CorruptedSnapshotWhoseEventsAreGoneStopsTheActorWithoutRestarts) {
  Env env;
  auto s = env.spec("gone");
  s.snapshot_every = 5;
  s.keep_snapshots = 1;
  s.delete_events_on_snapshot = true;
  auto a = env.kit.system().spawn(event_sourced(s));
  env.add_each(a, amounts(7));
  env.stop(a);
  damage(env.store->stored_bytes("gone", 5));

  // Events 1..5 are deleted and nothing covers them: that is corrupted data, which a restart
  // cannot fix, so the actor stops even though its strategy says restart.
  auto b =
      env.kit.system().spawn(behaviors::supervise(event_sourced(s), SupervisorStrategy::restart()));
  b.tell(Get{env.probe.ref()});
  env.probe.watch(b);
  env.probe.expect_terminated(b);
  env.probe.expect_no_msg();
  EXPECT_EQ(env.kit.system().stats().restarts, 0u);
}

TEST(EventSourcedSnapshots, AFailedSaveDoesNotFailTheActor) {
  Env env;
  auto store = std::make_shared<ControlledSnapshotStore>();
  store->mode = ControlledSnapshotStore::Mode::fail;
  auto s = env.spec("savefail");
  s.snapshot_store = store;
  s.snapshot_every = 2;
  auto a = env.kit.system().spawn(event_sourced(s));
  const auto xs = amounts(6);
  EXPECT_EQ(env.add_each(a, xs), fold(xs));
  EXPECT_EQ(env.kit.system().stats().restarts, 0u);
  EXPECT_FALSE(a.any().is_terminated());
  env.stop(a);
  auto b = env.kit.system().spawn(event_sourced(s));
  EXPECT_EQ(env.get(b), fold(xs));
}

TEST(EventSourcedSnapshots, SavingDoesNotHoldUpCommands) {
  Env env;
  auto store = std::make_shared<ControlledSnapshotStore>();
  store->mode = ControlledSnapshotStore::Mode::hold;
  auto s = env.spec("slow");
  s.snapshot_store = store;
  s.snapshot_every = 1;
  auto a = env.kit.system().spawn(event_sourced(s));
  const auto xs = amounts(5);
  EXPECT_EQ(env.add_each(a, xs), fold(xs));  // answered while every save is still pending
  EXPECT_EQ(store->held(), 5u);
  store->release_held();
  env.kit.run();
  EXPECT_NE(store->inner().stored_bytes("slow", 5), nullptr);
  EXPECT_EQ(store->inner().stored_bytes("slow", 3), nullptr);  // keep_snapshots = 2
}

// Whatever commands arrive and however snapshots are configured, the state recovered from the
// journal (and snapshots) equals the live state and the fold of every event; recovering again
// from the journal alone gives the same.
RC_GTEST_PROP(EventSourcedSnapshots, RecoveredStateEqualsLiveState,
              (const std::vector<std::vector<std::int8_t>>& batches)) {
  const auto every = *rc::gen::inRange<std::uint64_t>(0, 6);
  const auto keep = *rc::gen::inRange<std::size_t>(0, 4);
  const bool delete_events = keep > 0 && *rc::gen::arbitrary<bool>();
  const bool by_predicate = *rc::gen::arbitrary<bool>();
  const auto page = *rc::gen::inRange<std::size_t>(1, 8);
  Env env;
  auto s = env.spec("prop");
  s.snapshot_every = every;
  s.keep_snapshots = keep;
  s.delete_events_on_snapshot = delete_events;
  s.recovery_page = page;
  if (by_predicate) {
    s.snapshot_when = [](const Total&, const Added& e, std::uint64_t) { return e.amount % 5 == 0; };
  }
  auto a = env.kit.system().spawn(event_sourced(s));
  std::vector<std::int64_t> all;
  for (auto& b : batches) {
    std::vector<std::int64_t> xs(b.begin(), b.end());
    all.insert(all.end(), xs.begin(), xs.end());
    a.tell(Add{xs, {}});
  }
  const Total live = env.get(a);
  RC_ASSERT(live == fold(all));
  env.stop(a);

  auto b = env.kit.system().spawn(event_sourced(s));
  RC_ASSERT(env.get(b) == live);
  env.stop(b);

  if (!delete_events) {
    auto plain = counter_spec("prop", env.journal);
    plain.recovery_page = page;
    auto c = env.kit.system().spawn(event_sourced(plain));
    RC_ASSERT(env.get(c) == live);
  }
}

}  // namespace
}  // namespace weft::persistence::es_test
