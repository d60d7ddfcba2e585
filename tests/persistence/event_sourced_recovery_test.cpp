// Recovery of event-sourced actors: what a failed read does (corrupted data stops the actor,
// anything else goes to supervision) and bounded recovery (at most K at once).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include "persistence/event_sourced_fixture.hpp"
#include "weft/persistence/recovery_permits.hpp"

namespace weft::persistence::es_test {
namespace {

using testkit::TestKit;

TEST(EventSourcedRecovery, CorruptedReadStopsTheActorInsteadOfRestartingIt) {
  TestKit kit;
  auto journal = std::make_shared<RecordingJournal>();
  auto probe = kit.probe<Total>();
  {
    auto a = kit.system().spawn(event_sourced(counter_spec("c", journal)));
    a.tell(Add{{1, 2, 3}, probe.ref()});
    probe.expect_msg();
    probe.watch(a);
    kit.system().stop(a);
    probe.expect_terminated(a);
  }
  journal->take_reads();
  journal->fail_reads(Error(Errc::corrupted, "hash chain broken at sequence 2"), 1000);
  auto b = kit.system().spawn(behaviors::supervise(
      event_sourced(counter_spec("c", journal)),
      SupervisorStrategy::restart_with_backoff(std::chrono::milliseconds(10),
                                               std::chrono::milliseconds(100), 0.0)));
  b.tell(Get{probe.ref()});
  probe.watch(b);
  probe.expect_terminated(b);
  probe.expect_no_msg();
  EXPECT_EQ(kit.system().stats().restarts, 0u);
  EXPECT_EQ(journal->take_reads().size(), 1u);  // tried once, not in a loop
}

TEST(EventSourcedRecovery, OtherReadErrorsAreLeftToSupervision) {
  TestKit kit;
  auto journal = std::make_shared<RecordingJournal>();
  auto probe = kit.probe<Total>();
  auto a = kit.system().spawn(event_sourced(counter_spec("io", journal)));
  a.tell(Add{{5}, probe.ref()});
  probe.expect_msg();
  kit.system().stop(a);
  kit.run();

  journal->fail_reads(Error(Errc::io, "device busy"), 1);
  auto b = kit.system().spawn(behaviors::supervise(event_sourced(counter_spec("io", journal)),
                                                   SupervisorStrategy::restart()));
  b.tell(Get{probe.ref()});
  EXPECT_EQ(probe.expect_msg(), fold({5}));
  EXPECT_EQ(kit.system().stats().restarts, 1u);
}

TEST(RecoveryPermits, GrantsAtMostCapacityAndServesWaitersInOrder) {
  auto permits = std::make_shared<RecoveryPermits>(2);
  std::vector<RecoveryPermits::Permit> held;
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) {
    permits->acquire([&, i](RecoveryPermits::Permit p) {
      order.push_back(i);
      held.push_back(std::move(p));
    });
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1}));
  EXPECT_EQ(permits->in_use(), 2u);
  EXPECT_EQ(permits->waiting(), 3u);
  // Released outside `held`: the next waiter is granted (and appends to `held`) at once.
  auto take = [&] {
    auto p = std::move(held.front());
    held.erase(held.begin());
    return p;
  };
  take().reset();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  take().reset();
  take().reset();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  while (!held.empty()) take().reset();
  EXPECT_EQ(permits->in_use(), 0u);
  EXPECT_EQ(permits->waiting(), 0u);
}

TEST(RecoveryPermits, ManyWaitersThatDropTheirPermitDoNotRecurse) {
  auto permits = std::make_shared<RecoveryPermits>(1);
  RecoveryPermits::Permit first;
  permits->acquire([&](RecoveryPermits::Permit p) { first = std::move(p); });
  int granted = 0;
  for (int i = 0; i < 200'000; ++i) {
    permits->acquire([&](RecoveryPermits::Permit) { ++granted; });  // dropped at once
  }
  first.reset();
  EXPECT_EQ(granted, 200'000);
  EXPECT_EQ(permits->in_use(), 0u);
}

/// Counts actors between their first read and the end of their recovery.
struct Concurrency {
  std::atomic<int> now{0};
  std::atomic<int> peak{0};
  std::atomic<int> recovered{0};
  void enter() {
    const int n = now.fetch_add(1) + 1;
    int p = peak.load();
    while (n > p && !peak.compare_exchange_weak(p, n)) {
    }
  }
  void leave() {
    now.fetch_sub(1);
    recovered.fetch_add(1);
  }
};

/// `actors` counters with `events` events each, recovered with pages of 2 events from a
/// journal whose reads complete later, in random order (so recoveries overlap unless limited).
int peak_recovering(ActorSystem& system, int actors, int events,
                    std::shared_ptr<RecoveryPermits> permits) {
  auto journal = std::make_shared<RecordingJournal>();
  for (int i = 0; i < actors; ++i) {
    AppendBatch b;
    b.persistence_id = "p" + std::to_string(i);
    for (int e = 1; e <= events; ++e) {
      EventRecord r;
      r.persistence_id = b.persistence_id;
      r.sequence_nr = static_cast<std::uint64_t>(e);
      r.manifest = "test.es.Added";
      r.payload = encode(Added{e});
      b.events.push_back(std::move(r));
    }
    EXPECT_TRUE(journal->append(std::move(b)).get());
  }
  auto c = std::make_shared<Concurrency>();
  journal->on_read = [c](const std::string&, std::uint64_t from) {
    if (from == 1) c->enter();
  };
  journal->defer_reads(true);
  auto probe = testkit::TestProbe<Total>(system);
  for (int i = 0; i < actors; ++i) {
    auto s = counter_spec("p" + std::to_string(i), journal);
    s.recovery_page = 2;
    s.recovery_permits = permits;
    s.on_recovery_completed = [c](const Total&) { c->leave(); };
    auto a = system.spawn(event_sourced(s));
    a.tell(Get{probe.ref()});  // stashed while the actor waits for its permit
  }
  // The test's thread plays the journal's read threads until every actor has recovered.
  std::mt19937_64 rng(7);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (c->recovered.load() < actors && std::chrono::steady_clock::now() < deadline) {
    if (system.is_deterministic()) system.run_until_quiescent();
    if (!journal->complete_deferred(rng)) std::this_thread::yield();
  }
  std::vector<std::int64_t> xs;
  for (int e = 1; e <= events; ++e) xs.push_back(e);
  for (int i = 0; i < actors; ++i) EXPECT_EQ(probe.expect_msg(std::chrono::seconds(10)), fold(xs));
  EXPECT_EQ(c->recovered.load(), actors);
  EXPECT_EQ(c->now.load(), 0);
  if (permits) {
    EXPECT_EQ(permits->in_use(), 0u);
    EXPECT_EQ(permits->waiting(), 0u);
  }
  return c->peak.load();
}

TEST(EventSourcedRecovery, AtMostKActorsRecoverAtOnce) {
  {
    TestKit kit;  // the control: without permits, recoveries overlap far beyond K
    EXPECT_GT(peak_recovering(kit.system(), 40, 10, nullptr), 3);
  }
  TestKit kit;
  auto permits = std::make_shared<RecoveryPermits>(3);
  const int peak = peak_recovering(kit.system(), 40, 10, permits);
  EXPECT_LE(peak, 3);
  EXPECT_GE(peak, 1);
}

TEST(EventSourcedRecovery, AtMostKActorsRecoverAtOnceOnWorkerThreads) {
  ActorSystem system(ActorSystemConfig{.workers = 2});
  auto permits = std::make_shared<RecoveryPermits>(4);
  EXPECT_LE(peak_recovering(system, 300, 20, permits), 4);
  system.terminate();
}

TEST(EventSourcedRecovery, AnActorStoppedWhileWaitingGivesItsTurnBack) {
  TestKit kit;
  auto journal = std::make_shared<RecordingJournal>();
  auto permits = std::make_shared<RecoveryPermits>(1);
  RecoveryPermits::Permit blocker;
  permits->acquire([&](RecoveryPermits::Permit p) { blocker = std::move(p); });
  auto s = counter_spec("w", journal);
  s.recovery_permits = permits;
  auto a = kit.system().spawn(event_sourced(s));
  kit.run();
  EXPECT_EQ(permits->waiting(), 1u);
  kit.system().stop(a);
  kit.run();
  blocker.reset();  // granted to the stopped actor, which hands it back
  kit.run();
  EXPECT_EQ(permits->in_use(), 0u);

  auto probe = kit.probe<Total>();
  auto b = kit.system().spawn(event_sourced(s));
  b.tell(Get{probe.ref()});
  EXPECT_EQ(probe.expect_msg(), Total{});
}

}  // namespace
}  // namespace weft::persistence::es_test
