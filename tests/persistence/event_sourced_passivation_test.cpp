// Passivation: an idle event-sourced actor stops; PersistentEntities recreates it on the next
// message, with its state, and loses no message that arrives while it stops.
#include <gtest/gtest.h>

#include <random>

#include "persistence/event_sourced_fixture.hpp"
#include "weft/persistence/persistent_entities.hpp"

namespace weft::persistence::es_test {
namespace {

using std::chrono::milliseconds;
using testkit::TestKit;

TEST(EventSourcedPassivation, AnIdleActorStopsAfterTheConfiguredTime) {
  TestKit kit;
  auto journal = std::make_shared<RecordingJournal>();
  auto probe = kit.probe<Total>();
  auto s = counter_spec("idle", journal);
  s.passivate_after = milliseconds(1000);
  auto a = kit.system().spawn(event_sourced(s));
  a.tell(Add{{4}, probe.ref()});
  probe.expect_msg();
  kit.advance(milliseconds(600));
  a.tell(Get{probe.ref()});  // activity: the idle period starts again
  probe.expect_msg();
  kit.advance(milliseconds(999));
  EXPECT_FALSE(a.any().is_terminated());
  kit.advance(milliseconds(2));
  EXPECT_TRUE(a.any().is_terminated());
}

TEST(EventSourcedPassivation, ZeroNeverPassivates) {
  TestKit kit;
  auto a = kit.system().spawn(
      event_sourced(counter_spec("never", std::make_shared<RecordingJournal>())));
  kit.advance(std::chrono::hours(24));
  EXPECT_FALSE(a.any().is_terminated());
}

struct Entities {
  TestKit kit;
  std::shared_ptr<RecordingJournal> journal = std::make_shared<RecordingJournal>();
  std::shared_ptr<int> recoveries = std::make_shared<int>(0);
  ActorRef<EntitiesMsg<Cmd>> manager;

  explicit Entities(std::uint64_t seed = 42) : kit(seed) {
    manager = kit.system().spawn(
        event_sourced_entities([journal = journal, recoveries = recoveries](const std::string& id) {
          auto s = counter_spec("entity-" + id, journal);
          s.passivate_after = milliseconds(1000);
          s.on_recovery_completed = [recoveries](const Total&) { ++*recoveries; };
          return s;
        }));
  }
  void tell(const std::string& id, Cmd cmd) {
    manager.tell(EntityEnvelope<Cmd>{id, std::move(cmd)});
  }
};

TEST(PersistentEntities, SpawnsOnFirstMessageAndRespawnsAfterPassivationWithItsState) {
  Entities e;
  auto probe = e.kit.probe<Total>();
  e.tell("a", Add{{5}, probe.ref()});
  e.tell("b", Add{{7}, probe.ref()});
  EXPECT_EQ(probe.expect_msg().sum + probe.expect_msg().sum, 12);
  EXPECT_EQ(*e.recoveries, 2);

  e.kit.advance(milliseconds(500));
  e.tell("a", Get{probe.ref()});  // still running: no new recovery
  EXPECT_EQ(probe.expect_msg(), fold({5}));
  EXPECT_EQ(*e.recoveries, 2);

  e.kit.advance(milliseconds(1500));  // both idle long enough: both passivate
  e.tell("a", Add{{1}, probe.ref()});
  EXPECT_EQ(probe.expect_msg(), fold({5, 1}));
  EXPECT_EQ(*e.recoveries, 3);  // "a" came back, recovered from the journal
  e.tell("b", Get{probe.ref()});
  EXPECT_EQ(probe.expect_msg(), fold({7}));
  EXPECT_EQ(*e.recoveries, 4);
}

// Passivation races with commands at every step: whatever the interleaving, every command is
// answered exactly once, in order, and the final state holds every event.
TEST(PersistentEntities, NoCommandIsLostWhileAnEntityPassivates) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    Entities e(seed);
    auto probe = e.kit.probe<Total>();
    std::mt19937_64 rng(seed);
    std::vector<std::int64_t> sent;
    // Time passing, a few actor turns, and commands, in random order: a passivation is
    // requested, declined, granted and completed at every possible point between commands.
    while (sent.size() < 60) {
      switch (rng() % 3) {
        case 0:
          e.kit.clock().advance(milliseconds(rng() % 2500));
          break;
        case 1:
          e.kit.system().run_until_quiescent(1 + rng() % 6);
          break;
        default: {
          const auto x = static_cast<std::int64_t>(rng() % 100);
          sent.push_back(x);
          e.tell("x", Add{{x}, probe.ref()});
        }
      }
    }
    for (std::size_t i = 0; i < sent.size(); ++i) {
      auto t = probe.expect_msg();
      ASSERT_EQ(t, fold(std::vector<std::int64_t>(sent.begin(), sent.begin() + i + 1)))
          << "seed " << seed << " reply " << i;
    }
    e.tell("x", Get{probe.ref()});
    ASSERT_EQ(probe.expect_msg(), fold(sent)) << "seed " << seed;
    EXPECT_GT(*e.recoveries, 1) << "seed " << seed << ": never passivated, nothing was tested";
  }
}

TEST(PersistentEntities, AnEntityThatStopsOnItsOwnIsSpawnedAgainOnTheNextMessage) {
  Entities e;
  auto probe = e.kit.probe<Total>();
  e.tell("s", Add{{2}, probe.ref()});
  probe.expect_msg();
  e.journal->fail_reads(Error(Errc::corrupted, "bad chain"), 1);
  e.kit.advance(milliseconds(2000));  // passivated
  e.tell("s", Get{probe.ref()});      // its recovery meets corrupted data: it stops
  probe.expect_no_msg();
  e.tell("s", Get{probe.ref()});  // the data reads again: a new incarnation answers
  EXPECT_EQ(probe.expect_msg(), fold({2}));
}

}  // namespace
}  // namespace weft::persistence::es_test
