// Behaviors: become, same, stopped, unhandled, setup, class behaviors and the stash.
#include "weft/actor/behavior.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "weft/actor/actor_system.hpp"
#include "weft/actor/testkit/test_probe.hpp"

namespace weft {
namespace {

using testkit::TestKit;
using testkit::TestProbe;

/// Replies "<state>:<n>" for each n; 0 switches the state (become).
Behavior<int> toggler(ActorRef<std::string> out, std::string state, std::string other) {
  return behaviors::receive<int>([=](ActorContext<int>&, int& n) -> Behavior<int> {
    out.tell(state + ":" + std::to_string(n));
    if (n == 0) return toggler(out, other, state);
    return behaviors::same();
  });
}

TEST(Behavior, BecomeReplacesTheHandlerAndSameKeepsIt) {
  TestKit kit;
  auto probe = kit.probe<std::string>();
  auto a = kit.system().spawn(toggler(probe.ref(), "a", "b"));
  for (int n : {1, 0, 2, 3, 0, 4}) a.tell(n);
  for (const char* want : {"a:1", "a:0", "b:2", "b:3", "b:0", "a:4"}) {
    EXPECT_EQ(probe.expect_msg(), want);
  }
}

TEST(Behavior, BecomeWithSetupRunsTheFactoryAtOnce) {
  TestKit kit;
  auto probe = kit.probe<std::string>();
  auto a = kit.system().spawn(
      behaviors::receive<int>([out = probe.ref()](ActorContext<int>&, int&) -> Behavior<int> {
        out.tell("first");
        return behaviors::setup<int>([out](ActorContext<int>&) {
          out.tell("setup");
          return behaviors::receive<int>([out](ActorContext<int>&, int&) -> Behavior<int> {
            out.tell("second");
            return behaviors::same();
          });
        });
      }));
  a.tell(1);
  kit.run();
  EXPECT_EQ(probe.expect_msg(), "first");
  EXPECT_EQ(probe.expect_msg(), "setup");
  a.tell(2);
  EXPECT_EQ(probe.expect_msg(), "second");
}

TEST(Behavior, StoppedStopsTheActorAndRunsPostStop) {
  TestKit kit;
  auto probe = kit.probe<std::string>();
  auto a = kit.system().spawn(behaviors::receive<int>(
      [out = probe.ref()](ActorContext<int>&, int& n) -> Behavior<int> {
        out.tell("got " + std::to_string(n));
        return n == 0 ? Behavior<int>(behaviors::stopped()) : behaviors::same();
      },
      [out = probe.ref()](ActorContext<int>&, const Signal& s) -> Behavior<int> {
        if (std::holds_alternative<PostStop>(s)) out.tell("post-stop");
        return behaviors::same();
      }));
  probe.watch(a);
  a.tell(1);
  a.tell(0);
  EXPECT_EQ(probe.expect_msg(), "got 1");
  EXPECT_EQ(probe.expect_msg(), "got 0");
  EXPECT_EQ(probe.expect_msg(), "post-stop");
  probe.expect_terminated(a);
  EXPECT_TRUE(a.any().is_terminated());
  auto r = a.try_tell(2);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::actor_stopped);
}

TEST(Behavior, UnhandledMessagesAreCountedAndTheActorGoesOn) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto a = kit.system().spawn(
      behaviors::receive<int>([out = probe.ref()](ActorContext<int>&, int& n) -> Behavior<int> {
        if (n % 2 == 1) return behaviors::unhandled();
        out.tell(n);
        return behaviors::same();
      }));
  kit.run();
  const auto before = kit.system().stats().unhandled;
  for (int n = 0; n < 10; ++n) a.tell(n);
  for (int n = 0; n < 10; n += 2) EXPECT_EQ(probe.expect_msg(), n);
  EXPECT_EQ(kit.system().stats().unhandled, before + 5);
  EXPECT_FALSE(a.any().is_terminated());
}

TEST(Behavior, SetupRunsAtStartBeforeAnyMessageAndPreStartFollows) {
  TestKit kit;
  auto probe = kit.probe<std::string>();
  auto setups = std::make_shared<int>(0);
  auto a =
      kit.system().spawn(behaviors::setup<int>([setups, out = probe.ref()](ActorContext<int>& ctx) {
                           ++*setups;
                           out.tell("setup " + std::string(ctx.name()));
                           return behaviors::receive<int>(
                               [out](ActorContext<int>&, int& n) -> Behavior<int> {
                                 out.tell("msg " + std::to_string(n));
                                 return behaviors::same();
                               },
                               [out](ActorContext<int>&, const Signal& s) -> Behavior<int> {
                                 if (std::holds_alternative<PreStart>(s)) out.tell("pre-start");
                                 return behaviors::same();
                               });
                         }),
                         "setup-actor");
  EXPECT_EQ(*setups, 0);  // nothing runs before the deterministic system is run
  kit.run();
  EXPECT_EQ(*setups, 1);
  a.tell(7);
  EXPECT_EQ(probe.expect_msg(), "setup setup-actor");
  EXPECT_EQ(probe.expect_msg(), "pre-start");
  EXPECT_EQ(probe.expect_msg(), "msg 7");
  EXPECT_EQ(*setups, 1);
}

TEST(Behavior, SetupReturningStoppedStopsAtOnce) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto a = kit.system().spawn(behaviors::setup<int>(
      [](ActorContext<int>&) -> Behavior<int> { return behaviors::stopped(); }));
  probe.watch(a);
  probe.expect_terminated(a);
}

TEST(Behavior, SetupReturningADirectiveOtherThanStoppedFails) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto a = kit.system().spawn(
      behaviors::setup<int>([](ActorContext<int>&) -> Behavior<int> { return behaviors::same(); }));
  probe.watch(a);
  probe.expect_terminated(a);
}

TEST(Behavior, SpawningADirectiveIsAnError) {
  TestKit kit;
  auto r = kit.system().try_spawn(Behavior<int>(behaviors::same()));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
}

TEST(Behavior, ReturningAnEmptyBehaviorFailsTheActor) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto a = kit.system().spawn(
      behaviors::receive<int>([](ActorContext<int>&, int&) { return Behavior<int>(); }));
  probe.watch(a);
  a.tell(1);
  probe.expect_terminated(a);
}

struct Inc {};
struct Report {
  ActorRef<int> reply_to;
};
using CountMsg = std::variant<Inc, Report>;

class CountingBehavior final : public AbstractBehavior<CountMsg> {
 public:
  CountingBehavior(ActorContext<CountMsg>& ctx, int start, std::shared_ptr<std::string> name_seen)
      : count_(start) {
    *name_seen = std::string(ctx.name());
  }
  Behavior<CountMsg> on_message(ActorContext<CountMsg>&, CountMsg& m) override {
    if (std::holds_alternative<Inc>(m)) {
      ++count_;
    } else {
      std::get<Report>(m).reply_to.tell(count_);
    }
    return behaviors::same();
  }

 private:
  int count_;
};

class NoContextBehavior final : public AbstractBehavior<CountMsg> {
 public:
  explicit NoContextBehavior(int step) : step_(step) {}
  Behavior<CountMsg> on_message(ActorContext<CountMsg>&, CountMsg& m) override {
    if (std::holds_alternative<Inc>(m)) {
      total_ += step_;
    } else {
      std::get<Report>(m).reply_to.tell(total_);
    }
    return behaviors::same();
  }

 private:
  int step_;
  int total_ = 0;
};

TEST(Behavior, ClassBehaviorsGetFreshStatePerActor) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto seen = std::make_shared<std::string>();
  auto b = behaviors::make<CountingBehavior>(10, seen);
  auto x = kit.system().spawn(b, "x");
  auto y = kit.system().spawn(b, "y");
  x.tell(Inc{});
  x.tell(Inc{});
  x.tell(Report{probe.ref()});
  EXPECT_EQ(probe.expect_msg(), 12);
  y.tell(Report{probe.ref()});
  EXPECT_EQ(probe.expect_msg(), 10);
  EXPECT_TRUE(*seen == "x" || *seen == "y");

  auto z = kit.system().spawn(behaviors::make<NoContextBehavior>(5));
  z.tell(Inc{});
  z.tell(Inc{});
  z.tell(Report{probe.ref()});
  EXPECT_EQ(probe.expect_msg(), 10);
}

class SignalRecorder final : public AbstractBehavior<int> {
 public:
  explicit SignalRecorder(ActorRef<std::string> out) : out_(std::move(out)) {}
  Behavior<int> on_message(ActorContext<int>&, int& n) override {
    if (n < 0) return behaviors::stopped();
    return behaviors::same();
  }
  Behavior<int> on_signal(ActorContext<int>&, const Signal& s) override {
    if (std::holds_alternative<PreStart>(s)) out_.tell("pre-start");
    if (std::holds_alternative<PostStop>(s)) out_.tell("post-stop");
    return behaviors::same();
  }

 private:
  ActorRef<std::string> out_;
};

TEST(Behavior, ClassBehaviorSeesSignals) {
  TestKit kit;
  auto probe = kit.probe<std::string>();
  auto a = kit.system().spawn(behaviors::make<SignalRecorder>(probe.ref()));
  a.tell(-1);
  EXPECT_EQ(probe.expect_msg(), "pre-start");
  EXPECT_EQ(probe.expect_msg(), "post-stop");
}

// --- stash ---

/// Stashes everything until it gets 0, then unstashes and forwards everything to `out`.
Behavior<int> stasher(ActorRef<int> out) {
  return behaviors::receive<int>([out](ActorContext<int>& ctx, int& n) -> Behavior<int> {
    if (n != 0) {
      if (!ctx.stash().stash(n)) out.tell(-n);
      return behaviors::same();
    }
    ctx.stash().unstash_all();
    return behaviors::receive<int>([out](ActorContext<int>&, int& m) -> Behavior<int> {
      out.tell(m);
      return behaviors::same();
    });
  });
}

TEST(Stash, UnstashAllReplaysInOrderBeforeLaterMessages) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto a = kit.system().spawn(stasher(probe.ref()));
  for (int n : {1, 2, 3}) a.tell(n);
  kit.run();
  EXPECT_FALSE(probe.receive(Duration{0}).has_value());
  for (int n : {0, 4, 5}) a.tell(n);
  for (int n : {1, 2, 3, 4, 5}) EXPECT_EQ(probe.expect_msg(), n);
  probe.expect_no_msg();
}

TEST(Stash, UnstashedMessagesComeBeforeMessagesAlreadyInTheMailbox) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto a = kit.system().spawn(stasher(probe.ref()));
  for (int n : {1, 2, 0, 3, 4}) a.tell(n);  // all queued before the first turn
  for (int n : {1, 2, 3, 4}) EXPECT_EQ(probe.expect_msg(), n);
}

TEST(Stash, FullStashFailsWithMailboxFull) {
  TestKit kit;
  auto probe = kit.probe<std::string>();
  auto a = kit.system().spawn(behaviors::receive<int>([out = probe.ref()](ActorContext<int>& ctx,
                                                                          int& n) -> Behavior<int> {
    auto stash = ctx.stash();
    stash.set_capacity(2);
    auto r = stash.stash(n);
    out.tell(r ? "ok " + std::to_string(stash.size()) : std::string(to_string(r.error().code())));
    return behaviors::same();
  }));
  for (int n = 1; n <= 3; ++n) a.tell(n);
  EXPECT_EQ(probe.expect_msg(), "ok 1");
  EXPECT_EQ(probe.expect_msg(), "ok 2");
  EXPECT_EQ(probe.expect_msg(), to_string(Errc::mailbox_full));
}

TEST(Stash, StashedMessagesOfAStoppingActorAreDeadLetters) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto a = kit.system().spawn(
      behaviors::receive<int>([](ActorContext<int>& ctx, int& n) -> Behavior<int> {
        if (n < 0) return behaviors::stopped();
        (void)ctx.stash().stash(n);
        return behaviors::same();
      }));
  probe.watch(a);
  kit.run();
  const auto before = kit.system().stats().dead_letters;
  for (int n : {1, 2, 3, -1}) a.tell(n);
  probe.expect_terminated(a);
  EXPECT_EQ(kit.system().stats().dead_letters, before + 3);
}

}  // namespace
}  // namespace weft
