#include "weft/persistence/event_sourced.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <numeric>

#include "weft/actor/testkit/test_probe.hpp"
#include "weft/persistence/memory_journal.hpp"

namespace weft::persistence {
namespace {

using testkit::TestKit;

struct Added {
  std::int64_t amount = 0;
};
WEFT_CODEC(Added, "test.Added", 1, amount);

struct Add {
  std::vector<std::int64_t> amounts;  // each becomes one event, persisted atomically
  ActorRef<std::int64_t> reply_to;    // gets the new total once durable (may be empty)
};
struct Get {
  ActorRef<std::int64_t> reply_to;
};
struct Boom {};
using Cmd = std::variant<Add, Get, Boom>;

struct Total {
  std::int64_t value = 0;
  std::uint64_t events = 0;
};

EventSourcedSpec<Cmd, Added, Total> spec(std::string pid, std::shared_ptr<Journal> journal,
                                         std::size_t page = 4096) {
  EventSourcedSpec<Cmd, Added, Total> s;
  s.persistence_id = std::move(pid);
  s.journal = std::move(journal);
  s.recovery_page = page;
  s.tagger = [](const Added&) { return std::vector<std::string>{"totals"}; };
  s.event_handler = [](Total t, const Added& e) {
    t.value += e.amount;
    ++t.events;
    return t;
  };
  s.command_handler = [](const Total& t, const Cmd& c) -> Effect<Added, Total> {
    if (auto* add = std::get_if<Add>(&c)) {
      std::vector<Added> evs;
      for (auto a : add->amounts) evs.push_back(Added{a});
      auto eff = effects::persist_all<Total>(std::move(evs));
      if (add->reply_to) {
        return std::move(eff).then_reply(add->reply_to, [](const Total& n) { return n.value; });
      }
      return eff;
    }
    if (auto* get = std::get_if<Get>(&c)) {
      get->reply_to.tell(t.value);
      return effects::none<Total, Added>();
    }
    throw std::runtime_error("boom");
  };
  return s;
}

TEST(EventSourced, PersistsThenRecoversTheSameState) {
  TestKit kit;
  auto journal = std::make_shared<MemoryJournal>();
  auto probe = kit.probe<std::int64_t>();
  {
    auto a = kit.system().spawn(event_sourced(spec("counter-1", journal)));
    a.tell(Add{{3, 4}, probe.ref()});
    EXPECT_EQ(probe.expect_msg(), 7);
    a.tell(Add{{5}, {}});
    a.tell(Get{probe.ref()});
    EXPECT_EQ(probe.expect_msg(), 12);
    probe.watch(a);
    kit.system().stop(a);
    probe.expect_terminated(a);
  }
  EXPECT_EQ(journal->highest_sequence_nr("counter-1").get().value(), 3u);
  auto tagged = journal->events_by_tag("totals", 0, 100).get().value();
  EXPECT_EQ(tagged.size(), 3u);

  auto b = kit.system().spawn(event_sourced(spec("counter-1", journal)));
  b.tell(Get{probe.ref()});  // arrives while recovering: stashed, answered after recovery
  EXPECT_EQ(probe.expect_msg(), 12);
}

TEST(EventSourced, RecoveryIsPagedAndComplete) {
  TestKit kit;
  auto journal = std::make_shared<MemoryJournal>();
  auto probe = kit.probe<std::int64_t>();
  auto a = kit.system().spawn(event_sourced(spec("p", journal)));
  for (int i = 1; i <= 10; ++i) a.tell(Add{{i}, {}});
  a.tell(Get{probe.ref()});
  EXPECT_EQ(probe.expect_msg(), 55);
  kit.system().stop(a);
  kit.run();
  auto b = kit.system().spawn(event_sourced(spec("p", journal, 3)));
  b.tell(Get{probe.ref()});
  EXPECT_EQ(probe.expect_msg(), 55);
}

TEST(EventSourced, FailedPersistAppliesNothingAndStopsTheActor) {
  TestKit kit;
  auto journal = std::make_shared<MemoryJournal>();
  auto probe = kit.probe<std::int64_t>();
  auto a = kit.system().spawn(event_sourced(spec("f", journal)));
  a.tell(Add{{1}, probe.ref()});
  EXPECT_EQ(probe.expect_msg(), 1);
  journal->fail_appends(Error(Errc::io, "disk full"));
  probe.watch(a);
  a.tell(Add{{100}, probe.ref()});
  probe.expect_terminated(a);
  probe.expect_no_msg();
  journal->fail_appends(std::nullopt);
  auto b = kit.system().spawn(event_sourced(spec("f", journal)));
  b.tell(Get{probe.ref()});
  EXPECT_EQ(probe.expect_msg(), 1);
}

TEST(EventSourced, SupervisedRestartRecoversFromTheJournal) {
  TestKit kit;
  auto journal = std::make_shared<MemoryJournal>();
  auto probe = kit.probe<std::int64_t>();
  auto a = kit.system().spawn(
      behaviors::supervise(event_sourced(spec("r", journal)), SupervisorStrategy::restart()));
  a.tell(Add{{2}, {}});
  a.tell(Boom{});  // the command handler throws: restart, recover, go on
  a.tell(Add{{3}, {}});
  a.tell(Get{probe.ref()});
  EXPECT_EQ(probe.expect_msg(), 5);
  EXPECT_EQ(kit.system().stats().restarts, 1u);
}

// Whatever commands arrive, the state recovered from the journal equals the live state, and
// both equal folding the event handler over every persisted event.
RC_GTEST_PROP(EventSourced, RecoveredStateEqualsLiveState,
              (const std::vector<std::vector<std::int8_t>>& batches, std::uint8_t page)) {
  TestKit kit(*rc::gen::arbitrary<std::uint32_t>());
  auto journal = std::make_shared<MemoryJournal>();
  auto probe = kit.probe<std::int64_t>();
  auto a = kit.system().spawn(event_sourced(spec("prop", journal)));
  std::int64_t expected = 0;
  for (auto& b : batches) {
    std::vector<std::int64_t> amounts(b.begin(), b.end());
    expected = std::accumulate(amounts.begin(), amounts.end(), expected);
    a.tell(Add{amounts, {}});
  }
  a.tell(Get{probe.ref()});
  RC_ASSERT(probe.expect_msg() == expected);
  kit.system().stop(a);
  kit.run();
  auto b = kit.system().spawn(
      event_sourced(spec("prop", journal, static_cast<std::size_t>(page % 7) + 1)));
  b.tell(Get{probe.ref()});
  RC_ASSERT(probe.expect_msg() == expected);
}

}  // namespace
}  // namespace weft::persistence
