// ask: from outside (a Future) and from inside an actor (a mapped message); pipe_to_self and
// message adapters.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "weft/actor/actor_system.hpp"
#include "weft/actor/testkit/test_probe.hpp"

namespace weft {
namespace {

using namespace std::chrono_literals;
using testkit::TestKit;
using testkit::TestProbe;

struct Ping {
  int n;
  ActorRef<int> reply_to;
};

/// Replies n * 2; n < 0 stops without replying; n == 0 does not reply.
Behavior<Ping> doubler() {
  return behaviors::receive<Ping>([](ActorContext<Ping>&, Ping& p) -> Behavior<Ping> {
    if (p.n < 0) return behaviors::stopped();
    if (p.n > 0) p.reply_to.tell(p.n * 2);
    return behaviors::same();
  });
}

auto ping(int n) {
  return [n](ActorRef<int> r) { return Ping{n, std::move(r)}; };
}

TEST(Ask, ReplyCompletesTheFuture) {
  TestKit kit;
  auto d = kit.system().spawn(doubler());
  auto f = kit.system().ask<int>(d, ping(21), 1s);
  EXPECT_FALSE(f.is_ready());  // nothing runs until the system does
  kit.run();
  ASSERT_TRUE(f.is_ready());
  auto r = f.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 42);
}

TEST(Ask, NoReplyTimesOutExactlyAtTheTimeout) {
  TestKit kit;
  auto d = kit.system().spawn(doubler());
  auto f = kit.system().ask<int>(d, ping(0), 500ms);
  kit.run();
  kit.advance(499ms);
  EXPECT_FALSE(f.is_ready());
  kit.advance(1ms);
  ASSERT_TRUE(f.is_ready());
  auto r = f.get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::timeout);
  EXPECT_NE(r.error().message().find("500 ms"), std::string::npos);
}

TEST(Ask, ALateReplyAfterTheTimeoutIsIgnored) {
  TestKit kit;
  auto reply_to = std::make_shared<ActorRef<int>>();
  auto d = kit.system().spawn(
      behaviors::receive<Ping>([reply_to](ActorContext<Ping>&, Ping& p) -> Behavior<Ping> {
        *reply_to = p.reply_to;
        return behaviors::same();
      }));
  auto f = kit.system().ask<int>(d, ping(1), 10ms);
  kit.advance(10ms);
  ASSERT_TRUE(f.is_ready());
  ASSERT_TRUE(static_cast<bool>(*reply_to));
  reply_to->tell(7);
  EXPECT_EQ(f.get().error().code(), Errc::timeout);
}

TEST(Ask, AskingAStoppedActorFailsAtOnceNotByTimeout) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto d = kit.system().spawn(doubler());
  probe.watch(d);
  kit.system().stop(d);
  probe.expect_terminated(d);
  const auto dead_before = kit.system().stats().dead_letters;
  auto f = kit.system().ask<int>(d, ping(1), 1h);
  ASSERT_TRUE(f.is_ready());  // no run, no time passed
  auto r = f.get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::actor_stopped);
  EXPECT_EQ(kit.system().stats().dead_letters, dead_before + 1);
}

TEST(Ask, TargetStoppingBeforeItRepliesFailsPromptly) {
  TestKit kit;
  auto d = kit.system().spawn(doubler());
  auto f = kit.system().ask<int>(d, ping(-1), 1h);
  kit.run();  // no time passes
  ASSERT_TRUE(f.is_ready());
  EXPECT_EQ(f.get().error().code(), Errc::actor_stopped);
}

TEST(Ask, TargetStoppedWithTheAskQueuedFailsPromptly) {
  TestKit kit;
  auto d = kit.system().spawn(doubler());
  kit.run();
  d.tell(Ping{-1, {}});  // stops on this one; the ask behind it becomes a dead letter
  auto f = kit.system().ask<int>(d, ping(1), 1h);
  kit.run();
  ASSERT_TRUE(f.is_ready());
  EXPECT_EQ(f.get().error().code(), Errc::actor_stopped);
}

struct Answer {
  std::string text;
};
struct Go {
  ActorRef<Ping> target;
  int n;
};
using AskerMsg = std::variant<Go, Answer>;

/// Asks `target` on Go and forwards the mapped answer.
Behavior<AskerMsg> asker(ActorRef<std::string> out) {
  return behaviors::receive<AskerMsg>(
      [out](ActorContext<AskerMsg>& ctx, AskerMsg& m) -> Behavior<AskerMsg> {
        if (auto* go = std::get_if<Go>(&m)) {
          ctx.ask<int>(go->target, ping(go->n), 100ms, [](Result<int> r) -> AskerMsg {
            if (r) return Answer{"reply " + std::to_string(*r)};
            return Answer{std::string(to_string(r.error().code()))};
          });
        } else {
          out.tell(std::get<Answer>(m).text);
        }
        return behaviors::same();
      });
}

TEST(Ask, FromInsideAnActorDeliversTheMappedResultAsAMessage) {
  TestKit kit;
  auto probe = kit.probe<std::string>();
  auto d = kit.system().spawn(doubler());
  auto a = kit.system().spawn(asker(probe.ref()));
  a.tell(Go{d, 5});
  EXPECT_EQ(probe.expect_msg(), "reply 10");
  a.tell(Go{d, 0});
  kit.run();
  kit.advance(99ms);
  EXPECT_FALSE(probe.receive(Duration{0}).has_value());
  kit.advance(1ms);
  EXPECT_EQ(probe.receive(Duration{0}), std::optional<std::string>("timeout"));
  a.tell(Go{d, -1});
  EXPECT_EQ(probe.receive(Duration{0}), std::optional<std::string>("actor_stopped"));
}

using PipeMsg = std::variant<Future<int>, std::string>;

TEST(Ask, PipeToSelfDeliversTheMappedResultWhenTheFutureCompletes) {
  TestKit kit;
  auto probe = kit.probe<std::string>();
  auto a = kit.system().spawn(behaviors::receive<PipeMsg>(
      [out = probe.ref()](ActorContext<PipeMsg>& ctx, PipeMsg& m) -> Behavior<PipeMsg> {
        if (auto* f = std::get_if<Future<int>>(&m)) {
          ctx.pipe_to_self(*f, [](const Result<int>& r) -> PipeMsg {
            return r ? "value " + std::to_string(*r) : "error " + r.error().message();
          });
        } else {
          out.tell(std::get<std::string>(m));
        }
        return behaviors::same();
      }));
  Promise<int> pending;
  a.tell(pending.future());
  a.tell(make_ready_future<int>(1));
  a.tell(make_ready_future<int>(fail(Errc::io, "disk")));
  EXPECT_EQ(probe.expect_msg(), "value 1");
  EXPECT_EQ(probe.expect_msg(), "error disk");
  EXPECT_FALSE(probe.receive(Duration{0}).has_value());
  EXPECT_TRUE(pending.complete(3));
  EXPECT_FALSE(pending.complete(4));
  EXPECT_EQ(probe.expect_msg(), "value 3");
  probe.expect_no_msg();
}

TEST(Ask, PipeToSelfAfterTheActorStoppedIsADeadLetter) {
  TestKit kit;
  auto probe = kit.probe<std::string>();
  Promise<int> pending;
  auto a = kit.system().spawn(behaviors::setup<PipeMsg>([f = pending.future()](
                                                            ActorContext<PipeMsg>& ctx) {
    ctx.pipe_to_self(f, [](const Result<int>&) -> PipeMsg { return std::string("late"); });
    return behaviors::receive<PipeMsg>(
        [](ActorContext<PipeMsg>&, PipeMsg&) -> Behavior<PipeMsg> { return behaviors::stopped(); });
  }));
  probe.watch(a);
  a.tell(std::string("stop"));
  probe.expect_terminated(a);
  const auto before = kit.system().stats().dead_letters;
  pending.complete(1);
  kit.run();
  EXPECT_EQ(kit.system().stats().dead_letters, before + 1);
}

struct Wrapped {
  int n;
};
using AdapterOwnerMsg = std::variant<ActorRef<ActorRef<int>>, Wrapped>;

TEST(Ask, MessageAdapterConvertsOnTheOwnersThread) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto refs = kit.probe<ActorRef<int>>();
  auto owner = kit.system().spawn(behaviors::receive<AdapterOwnerMsg>(
      [out = probe.ref()](ActorContext<AdapterOwnerMsg>& ctx,
                          AdapterOwnerMsg& m) -> Behavior<AdapterOwnerMsg> {
        if (auto* give = std::get_if<ActorRef<ActorRef<int>>>(&m)) {
          give->tell(
              ctx.message_adapter<int>([](int&& n) -> AdapterOwnerMsg { return Wrapped{n * 10}; }));
        } else {
          out.tell(std::get<Wrapped>(m).n);
        }
        return behaviors::same();
      }));
  owner.tell(refs.ref());
  auto adapter = refs.expect_msg();
  EXPECT_TRUE(adapter.path().ends_with("/$adapter"));
  EXPECT_FALSE(static_cast<bool>(adapter.any()));
  for (int n = 1; n <= 3; ++n) adapter.tell(n);
  for (int n = 1; n <= 3; ++n) EXPECT_EQ(probe.expect_msg(), n * 10);

  // The adapter of a stopped owner refuses and counts a dead letter.
  refs.watch(owner);
  kit.system().stop(owner);
  refs.expect_terminated(owner);
  const auto before = kit.system().stats().dead_letters;
  auto r = adapter.try_tell(4);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::actor_stopped);
  EXPECT_EQ(kit.system().stats().dead_letters, before + 1);
}

TEST(Ask, ManyConcurrentAsksOnAThreadedSystem) {
  ActorSystem system(ActorSystemConfig{.workers = 2});
  auto d = system.spawn(doubler());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 1; i <= 300; ++i) {
        auto r = system.ask<int>(d, ping(t * 1000 + i), 20s).wait_for(20s);
        if (r && *r && **r == 2 * (t * 1000 + i)) ok.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 900);
  // A stop racing with asks: each one completes (reply or actor_stopped), none hangs.
  std::vector<Future<int>> futures;
  for (int i = 1; i <= 200; ++i) futures.push_back(system.ask<int>(d, ping(i), 20s));
  system.stop(d);
  for (int i = 1; i <= 200; ++i) futures.push_back(system.ask<int>(d, ping(i), 20s));
  for (auto& f : futures) {
    auto r = f.wait_for(20s);
    ASSERT_TRUE(r.has_value());
    if (!*r) {
      EXPECT_EQ(r->error().code(), Errc::actor_stopped);
    }
  }
}

}  // namespace
}  // namespace weft
