// Entities of one kind sharing one spec (event_sourced_entities(shared_ptr<const Spec>)): each
// persists under the spec's prefix and its own id, gets its own state back, and costs no copy
// of the spec; the hooks that tell entities apart (on_event_applied, signal_handler).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "persistence/event_sourced_fixture.hpp"
#include "weft/persistence/persistent_entities.hpp"

namespace weft::persistence::es_test {
namespace {

using std::chrono::milliseconds;
using testkit::TestKit;
using Spec = EventSourcedSpec<Cmd, Added, Total>;

struct SharedEntities {
  TestKit kit;
  std::shared_ptr<RecordingJournal> journal = std::make_shared<RecordingJournal>();
  std::shared_ptr<int> recoveries = std::make_shared<int>(0);
  ActorRef<EntitiesMsg<Cmd>> manager;

  /// `adjust` changes the spec before it is shared.
  template <class F>
  explicit SharedEntities(F adjust) {
    Spec s = counter_spec("counter-", journal);
    s.passivate_after = milliseconds(1000);
    s.on_recovery_completed = [recoveries = recoveries](const Total&) { ++*recoveries; };
    adjust(s);
    manager =
        kit.system().spawn(event_sourced_entities(std::make_shared<const Spec>(std::move(s))));
  }
  SharedEntities() : SharedEntities([](Spec&) {}) {}

  void tell(const std::string& id, Cmd cmd) {
    manager.tell(EntityEnvelope<Cmd>{id, std::move(cmd)});
  }
};

TEST(SharedSpecEntities, EachEntityPersistsUnderThePrefixAndGetsItsOwnStateBack) {
  SharedEntities e;
  auto probe = e.kit.probe<Total>();
  constexpr int kEntities = 200;
  for (int i = 0; i < kEntities; ++i) {
    e.tell("e" + std::to_string(i), Add{{i, 1}, probe.ref()});
    ASSERT_EQ(probe.expect_msg(), fold({i, 1})) << "entity " << i;
  }
  auto ids = e.journal->persistence_ids().get();
  ASSERT_TRUE(ids);
  std::vector<std::string> want;
  for (int i = 0; i < kEntities; ++i) want.push_back("counter-e" + std::to_string(i));
  std::ranges::sort(*ids);
  std::ranges::sort(want);
  EXPECT_EQ(*ids, want);

  e.kit.advance(milliseconds(2000));  // every entity passivates
  EXPECT_EQ(*e.recoveries, kEntities);
  for (int i = kEntities - 1; i >= 0; --i) {
    e.tell("e" + std::to_string(i), Get{probe.ref()});
    ASSERT_EQ(probe.expect_msg(), fold({i, 1})) << "entity " << i;
  }
  EXPECT_EQ(*e.recoveries, 2 * kEntities);  // each came back from the journal
}

/// Counts its copies: a closure holding one is copied whenever its std::function is.
struct CopyCounted {
  explicit CopyCounted(std::shared_ptr<std::atomic<int>> c) : copies(std::move(c)) {}
  CopyCounted(const CopyCounted& other) : copies(other.copies) { ++*copies; }
  CopyCounted(CopyCounted&&) noexcept = default;
  CopyCounted& operator=(const CopyCounted&) = delete;
  CopyCounted& operator=(CopyCounted&&) = delete;
  ~CopyCounted() = default;
  std::shared_ptr<std::atomic<int>> copies;
};

TEST(SharedSpecEntities, TheSpecIsNotCopiedPerEntity) {
  auto copies = std::make_shared<std::atomic<int>>(0);
  SharedEntities e([&](Spec& s) {
    s.tagger = [counted = CopyCounted(copies)](const Added&) {
      return std::vector<std::string>{"counted"};
    };
  });
  const int before = copies->load();
  auto probe = e.kit.probe<Total>();
  for (int i = 0; i < 100; ++i) {
    e.tell(std::to_string(i), Add{{1}, probe.ref()});
    probe.expect_msg();
  }
  e.kit.advance(milliseconds(2000));  // passivated, and back
  e.tell("7", Get{probe.ref()});
  EXPECT_EQ(probe.expect_msg(), fold({1}));
  EXPECT_EQ(copies->load(), before);
  auto tagged = e.journal->events_by_tag("counted", 0, 1000).get();
  ASSERT_TRUE(tagged);
  EXPECT_EQ(tagged->size(), 100u);  // the shared tagger did run for every entity
}

TEST(SharedSpecActors, EachSpawnedActorPersistsUnderThePrefixWithoutCopyingTheSpec) {
  TestKit kit;
  auto journal = std::make_shared<RecordingJournal>();
  auto copies = std::make_shared<std::atomic<int>>(0);
  Spec s = counter_spec("meter-", journal);
  s.tagger = [counted = CopyCounted(copies)](const Added&) {
    return std::vector<std::string>{"counted"};
  };
  const auto spec = std::make_shared<const Spec>(std::move(s));
  const int before = copies->load();
  auto probe = kit.probe<Total>();
  std::vector<ActorRef<Cmd>> actors;
  for (int i = 0; i < 3; ++i) {
    actors.push_back(kit.system().spawn(event_sourced(spec, std::to_string(i))));
    actors.back().tell(Add{{i + 1, 10}, probe.ref()});
    ASSERT_EQ(probe.expect_msg(), fold({i + 1, 10})) << "actor " << i;
  }
  EXPECT_EQ(copies->load(), before);
  auto ids = journal->persistence_ids().get();
  ASSERT_TRUE(ids);
  std::ranges::sort(*ids);
  EXPECT_EQ(*ids, (std::vector<std::string>{"meter-0", "meter-1", "meter-2"}));
  // A second actor on one of those ids recovers that actor's events, and only those.
  auto again = kit.system().spawn(event_sourced(spec, "1"));
  again.tell(Get{probe.ref()});
  EXPECT_EQ(probe.expect_msg(), fold({2, 10}));
}

TEST(SharedSpecEntities, OnEventAppliedSeesEachPersistedEventWithItsEntityNotRecovery) {
  using Seen = std::tuple<std::string, std::uint64_t, std::int64_t, std::int64_t>;
  auto seen = std::make_shared<std::vector<Seen>>();
  SharedEntities e([&](Spec& s) {
    s.on_event_applied = [seen](const std::string& pid, std::uint64_t seq, const Added& ev,
                                const Total& t) { seen->emplace_back(pid, seq, ev.amount, t.sum); };
  });
  auto probe = e.kit.probe<Total>();
  e.tell("a", Add{{1, 2, 3}, probe.ref()});
  probe.expect_msg();
  e.tell("b", Add{{10}, probe.ref()});
  probe.expect_msg();
  e.tell("a", Add{{4}, probe.ref()});
  probe.expect_msg();
  const std::vector<Seen> want{{"counter-a", 1, 1, 1},
                               {"counter-a", 2, 2, 3},
                               {"counter-a", 3, 3, 6},
                               {"counter-b", 1, 10, 10},
                               {"counter-a", 4, 4, 10}};
  EXPECT_EQ(*seen, want);
  e.kit.advance(milliseconds(2000));  // passivated; the next command recovers "a"
  e.tell("a", Get{probe.ref()});
  EXPECT_EQ(probe.expect_msg(), fold({1, 2, 3, 4}));
  EXPECT_EQ(*seen, want);  // replaying is not applying anew
}

std::string signal_name(const Signal& s) {
  if (std::holds_alternative<PreStart>(s)) return "PreStart";
  if (std::holds_alternative<PostStop>(s)) return "PostStop";
  if (std::holds_alternative<PreRestart>(s)) return "PreRestart";
  return "other";
}

TEST(SharedSpecEntities, SignalHandlerSeesEachEntityStartAndStop) {
  auto signals = std::make_shared<std::vector<std::string>>();
  SharedEntities e([&](Spec& s) {
    s.signal_handler = [signals](const std::string& pid, const Total& t, const Signal& sig) {
      signals->push_back(pid + " " + signal_name(sig) + " " + std::to_string(t.sum));
    };
  });
  auto probe = e.kit.probe<Total>();
  e.tell("x", Add{{5}, probe.ref()});
  probe.expect_msg();
  e.tell("y", Get{probe.ref()});
  probe.expect_msg();
  EXPECT_EQ(*signals, (std::vector<std::string>{"counter-x PreStart 0", "counter-y PreStart 0"}));
  e.kit.advance(milliseconds(2000));  // both passivate: PostStop with the state they had
  std::ranges::sort(*signals);
  EXPECT_EQ(*signals, (std::vector<std::string>{"counter-x PostStop 5", "counter-x PreStart 0",
                                                "counter-y PostStop 0", "counter-y PreStart 0"}));
}

TEST(EventSourcedSignals, ARestartIsPreRestartThenPreStart) {
  TestKit kit;
  auto journal = std::make_shared<RecordingJournal>();
  auto signals = std::make_shared<std::vector<std::string>>();
  auto s = counter_spec("restarting", journal);
  s.signal_handler = [signals](const std::string&, const Total&, const Signal& sig) {
    signals->push_back(signal_name(sig));
  };
  journal->fail_reads(Error(Errc::io, "disk hiccup (test)"), 1);  // the first recovery fails
  auto a = kit.system().spawn(
      behaviors::supervise(event_sourced(std::move(s)), SupervisorStrategy::restart()));
  auto probe = kit.probe<Total>();
  a.tell(Add{{3}, probe.ref()});
  EXPECT_EQ(probe.expect_msg(), fold({3}));
  EXPECT_EQ(*signals, (std::vector<std::string>{"PreStart", "PreRestart", "PreStart"}));
  probe.watch(a);
  kit.system().stop(a);
  probe.expect_terminated(a);
  EXPECT_EQ(signals->back(), "PostStop");
}

}  // namespace
}  // namespace weft::persistence::es_test
