// Death watch and dead letters.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "weft/actor/actor_system.hpp"
#include "weft/actor/testkit/test_probe.hpp"

namespace weft {
namespace {

using testkit::TestKit;
using testkit::TestProbe;

struct WatchIt {
  AnyActorRef target;
};
struct UnwatchIt {
  AnyActorRef target;
};
using WatcherMsg = std::variant<WatchIt, UnwatchIt>;

/// Watches and unwatches on command; reports "terminated <name>" for each Terminated.
Behavior<WatcherMsg> watcher(ActorRef<std::string> out) {
  return behaviors::receive<WatcherMsg>(
      [](ActorContext<WatcherMsg>& ctx, WatcherMsg& m) -> Behavior<WatcherMsg> {
        if (auto* w = std::get_if<WatchIt>(&m)) ctx.watch(w->target);
        if (auto* u = std::get_if<UnwatchIt>(&m)) ctx.unwatch(u->target);
        return behaviors::same();
      },
      [out](ActorContext<WatcherMsg>&, const Signal& s) -> Behavior<WatcherMsg> {
        if (auto* t = std::get_if<Terminated>(&s)) out.tell("terminated " + t->ref.name());
        return behaviors::same();
      });
}

TEST(DeathWatch, WatcherGetsTerminatedWhenTheTargetStops) {
  TestKit kit;
  auto probe = kit.probe<std::string>();
  auto w = kit.system().spawn(watcher(probe.ref()));
  auto t = kit.system().spawn(behaviors::ignore<int>(), "target");
  w.tell(WatchIt{t.any()});
  w.tell(WatchIt{t.any()});  // watching twice still gives one signal
  kit.run();
  probe.expect_no_msg();
  kit.system().stop(t);
  EXPECT_EQ(probe.expect_msg(), "terminated target");
  probe.expect_no_msg();
}

TEST(DeathWatch, WatchingAnAlreadyStoppedActorSignalsAtOnce) {
  TestKit kit;
  auto probe = kit.probe<std::string>();
  auto t = kit.system().spawn(behaviors::ignore<int>(), "gone");
  kit.system().stop(t);
  kit.run();
  ASSERT_TRUE(t.any().is_terminated());
  auto w = kit.system().spawn(watcher(probe.ref()));
  w.tell(WatchIt{t.any()});
  kit.run();  // no time passes
  EXPECT_EQ(probe.receive(Duration{0}), std::optional<std::string>("terminated gone"));
}

TEST(DeathWatch, UnwatchMeansNoSignal) {
  TestKit kit;
  auto probe = kit.probe<std::string>();
  auto w = kit.system().spawn(watcher(probe.ref()));
  auto t = kit.system().spawn(behaviors::ignore<int>(), "target");
  w.tell(WatchIt{t.any()});
  kit.run();
  w.tell(UnwatchIt{t.any()});
  kit.run();
  kit.system().stop(t);
  probe.expect_no_msg();
  EXPECT_TRUE(t.any().is_terminated());
  EXPECT_FALSE(w.any().is_terminated());
}

TEST(DeathWatch, UnhandledTerminatedIsADeathPact) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto t = kit.system().spawn(behaviors::ignore<int>());
  auto pact = kit.system().spawn(behaviors::setup<int>([t](ActorContext<int>& ctx) {
    ctx.watch(t);
    return behaviors::ignore<int>();  // no signal handler: Terminated is unhandled
  }));
  probe.watch(pact);
  kit.run();
  kit.system().stop(t);
  probe.expect_terminated(pact, Duration{0});
}

TEST(DeathWatch, WatchingSelfIsIgnored) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto a = kit.system().spawn(behaviors::setup<int>([](ActorContext<int>& ctx) {
    ctx.watch(ctx.self());
    return behaviors::receive<int>(
        [](ActorContext<int>&, int&) -> Behavior<int> { return behaviors::stopped(); });
  }));
  probe.watch(a);
  a.tell(1);
  probe.expect_terminated(a, Duration{0});
}

// Past a few, the watched and the watching are kept in a hash set (an entity manager watches
// every entity): the same answers as with a few.
TEST(DeathWatch, ManyTargetsSignalOnceEachUnlessUnwatched) {
  TestKit kit;
  auto probe = kit.probe<std::string>();
  auto w = kit.system().spawn(watcher(probe.ref()));
  std::vector<ActorRef<int>> targets;
  for (int i = 0; i < 40; ++i) {
    targets.push_back(kit.system().spawn(behaviors::ignore<int>(), "t" + std::to_string(i)));
    w.tell(WatchIt{targets.back().any()});
    if (i % 5 == 0) w.tell(WatchIt{targets.back().any()});  // twice: still one signal
  }
  for (int i = 0; i < 40; i += 3) w.tell(UnwatchIt{targets[i].any()});
  kit.run();
  for (auto& t : targets) kit.system().stop(t);
  std::set<std::string> got;
  for (int i = 0; i < 40; ++i) {
    if (i % 3 == 0) continue;
    ASSERT_TRUE(got.insert(probe.expect_msg()).second);
  }
  probe.expect_no_msg();
  std::set<std::string> want;
  for (int i = 0; i < 40; ++i) {
    if (i % 3 != 0) want.insert("terminated t" + std::to_string(i));
  }
  EXPECT_EQ(got, want);
}

TEST(DeathWatch, ManyWatchersOfOneTargetEachGetOneSignal) {
  TestKit kit;
  auto probe = kit.probe<std::string>();
  auto t = kit.system().spawn(behaviors::ignore<int>(), "target");
  std::vector<ActorRef<WatcherMsg>> watchers;
  for (int i = 0; i < 40; ++i) {
    watchers.push_back(kit.system().spawn(watcher(probe.ref())));
    watchers.back().tell(WatchIt{t.any()});
  }
  kit.run();
  for (int i = 0; i < 40; i += 4) watchers[i].tell(UnwatchIt{t.any()});
  kit.run();
  kit.system().stop(t);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(probe.expect_msg(), "terminated target");
  probe.expect_no_msg();
}

TEST(DeadLetters, SendsToAStoppedActorAreCounted) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto a = kit.system().spawn(behaviors::ignore<int>());
  probe.watch(a);
  kit.system().stop(a);
  probe.expect_terminated(a);
  const auto before = kit.system().stats();
  for (int i = 0; i < 25; ++i) a.tell(i);  // more than the log limit: all still counted
  const auto after = kit.system().stats();
  EXPECT_EQ(after.dead_letters, before.dead_letters + 25);
  EXPECT_EQ(after.messages_sent, before.messages_sent + 25);
  EXPECT_EQ(after.mailbox_depth, 0);
}

TEST(DeadLetters, MessagesQueuedBehindAStopBecomeDeadLetters) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto a = kit.system().spawn(behaviors::receive<int>(
      [](ActorContext<int>&, int&) -> Behavior<int> { return behaviors::stopped(); }));
  probe.watch(a);
  kit.run();
  const auto before = kit.system().stats();
  for (int i = 0; i < 10; ++i) a.tell(i);
  probe.expect_terminated(a, Duration{0});
  const auto after = kit.system().stats();
  EXPECT_EQ(after.dead_letters, before.dead_letters + 9);
  EXPECT_EQ(after.messages_processed, before.messages_processed + 1);
  EXPECT_EQ(after.mailbox_depth, 0);
}

TEST(DeadLetters, MessagesQueuedForAnExternallyStoppedActorBecomeDeadLetters) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto a = kit.system().spawn(behaviors::ignore<int>());
  probe.watch(a);
  kit.run();
  const auto before = kit.system().stats();
  for (int i = 0; i < 10; ++i) a.tell(i);
  kit.system().stop(a);  // the stop is a control message: it overtakes the queued ones
  probe.expect_terminated(a, Duration{0});
  EXPECT_EQ(kit.system().stats().dead_letters, before.dead_letters + 10);
}

}  // namespace
}  // namespace weft
