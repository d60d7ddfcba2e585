// Coordinated shutdown, refs that outlive their system, and the metrics the system exports.
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "weft/actor/actor_system.hpp"
#include "weft/actor/testkit/test_probe.hpp"
#include "weft/core/metrics.hpp"

namespace weft {
namespace {

using namespace std::chrono_literals;

struct OrderLog {
  std::mutex mutex;
  std::vector<std::string> names;
  void add(std::string n) {
    std::lock_guard lock(mutex);
    names.push_back(std::move(n));
  }
};

Behavior<int> recorder(std::shared_ptr<OrderLog> log, std::string name) {
  return behaviors::receive<int>(
      [](ActorContext<int>&, int&) -> Behavior<int> { return behaviors::same(); },
      [log, name](ActorContext<int>&, const Signal& s) -> Behavior<int> {
        if (std::holds_alternative<PostStop>(s)) log->add(name);
        return behaviors::same();
      });
}

/// parent -> child -> grandchild, each recording its PostStop; waits until all are set up.
void spawn_tree(ActorSystem& system, const std::shared_ptr<OrderLog>& log) {
  testkit::TestProbe<int> ready(system);
  system.spawn(behaviors::setup<int>([log, r = ready.ref()](ActorContext<int>& ctx) {
                 ctx.spawn(behaviors::setup<int>([log, r](ActorContext<int>& c2) {
                             c2.spawn(behaviors::setup<int>([log, r](ActorContext<int>&) {
                                        r.tell(1);
                                        return recorder(log, "grandchild");
                                      }),
                                      "grandchild");
                             return recorder(log, "child");
                           }),
                           "child");
                 return recorder(log, "parent");
               }),
               "parent");
  ready.expect_msg(1);
}

TEST(Shutdown, TerminateStopsChildrenBeforeParentsOnAThreadedSystem) {
  auto log = std::make_shared<OrderLog>();
  ActorSystem system(ActorSystemConfig{.workers = 2});
  spawn_tree(system, log);
  system.terminate();
  EXPECT_TRUE(system.is_terminated());
  std::lock_guard lock(log->mutex);
  EXPECT_EQ(log->names, (std::vector<std::string>{"grandchild", "child", "parent"}));
  system.terminate();  // idempotent
}

TEST(Shutdown, DestructorShutsDownTheSameWay) {
  auto log = std::make_shared<OrderLog>();
  {
    ActorSystem system(ActorSystemConfig{.workers = 2});
    spawn_tree(system, log);
  }
  std::lock_guard lock(log->mutex);
  EXPECT_EQ(log->names, (std::vector<std::string>{"grandchild", "child", "parent"}));
}

TEST(Shutdown, SpawningAfterTerminateFails) {
  ActorSystem system(ActorSystemConfig{.workers = 1});
  system.terminate();
  auto r = system.try_spawn(behaviors::ignore<int>());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::actor_stopped);
}

TEST(Shutdown, RefsThatOutliveTheSystemTurnSendsIntoDeadLetters) {
  ActorRef<int> kept;
  ActorRef<int> adapter;
  {
    ActorSystem system(ActorSystemConfig{.workers = 2});
    kept = system.spawn(behaviors::ignore<int>());
    testkit::TestProbe<ActorRef<int>> probe(system);
    auto owner = system.spawn(behaviors::receive<ActorRef<ActorRef<int>>>(
        [](ActorContext<ActorRef<ActorRef<int>>>& ctx,
           ActorRef<ActorRef<int>>& to) -> Behavior<ActorRef<ActorRef<int>>> {
          to.tell(ctx.message_adapter<int>([](int&&) { return ActorRef<ActorRef<int>>(); }));
          return behaviors::same();
        }));
    owner.tell(probe.ref());
    adapter = probe.expect_msg();
  }
  auto r = kept.try_tell(1);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::actor_stopped);
  EXPECT_FALSE(adapter.try_tell(2).has_value());
  EXPECT_TRUE(kept.any().is_terminated());
}

TEST(Shutdown, PendingAsksCompleteWhenTheSystemTerminates) {
  ActorSystem system(ActorSystemConfig{.workers = 2});
  struct Req {
    ActorRef<int> reply_to;
  };
  auto silent = system.spawn(behaviors::ignore<Req>());
  auto f = system.ask<int>(
      silent, [](ActorRef<int> r) { return Req{r}; }, 1h);
  system.terminate();
  auto r = f.wait_for(10s);
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->has_value());
  EXPECT_EQ(r->error().code(), Errc::actor_stopped);
}

// A callback that reaches an actor after its system is down (a journal completing a write the
// actor asked for) may hold the actor itself: it is destroyed at once, not kept in a queue no
// one drains, where it would keep the actor and its system alive for good.
TEST(Shutdown, WhatIsPostedToAnActorAfterTheSystemIsDownIsDestroyed) {
  auto token = std::make_shared<int>(0);
  ActorRef<int> kept;
  {
    ActorSystem system(ActorSystemConfig{.workers = 2});
    kept = system.spawn(behaviors::ignore<int>());
    system.terminate();
  }
  auto* cell = kept.any().cell();
  ASSERT_NE(cell, nullptr);
  cell->post(
      new detail::CallbackMsg([self = detail::IntrusivePtr<detail::ActorCellBase>::share(cell),
                               token](detail::ActorCellBase&) { ++*token; }));
  EXPECT_EQ(*token, 0);             // never run
  EXPECT_EQ(token.use_count(), 1);  // and gone, with its reference to the actor
}

TEST(Shutdown, DeterministicTerminateRunsEverythingToTheEnd) {
  auto log = std::make_shared<OrderLog>();
  testkit::TestKit kit;
  spawn_tree(kit.system(), log);
  kit.system().terminate();
  EXPECT_TRUE(kit.system().is_terminated());
  EXPECT_EQ(log->names, (std::vector<std::string>{"grandchild", "child", "parent"}));
}

TEST(Metrics, StatsMoveAsMessagesFlow) {
  testkit::TestKit kit;
  auto probe = kit.probe<int>();
  auto a = kit.system().spawn(behaviors::supervise(
      behaviors::receive<int>([out = probe.ref()](ActorContext<int>&, int& n) -> Behavior<int> {
        if (n < 0) return behaviors::failed(Error(Errc::internal, "negative"));
        if (n == 0) return behaviors::unhandled();
        out.tell(n);
        return behaviors::same();
      }),
      SupervisorStrategy::restart()));
  kit.run();
  const auto s0 = kit.system().stats();
  for (int n : {1, 2, 0, -1, 3}) a.tell(n);
  EXPECT_EQ(kit.system().stats().mailbox_depth, s0.mailbox_depth + 5);
  kit.run();
  const auto s1 = kit.system().stats();
  EXPECT_EQ(s1.messages_sent, s0.messages_sent + 5 + 3);  // and 3 forwarded to the probe
  EXPECT_EQ(s1.messages_processed, s0.messages_processed + 5 + 3);
  EXPECT_EQ(s1.unhandled, s0.unhandled + 1);
  EXPECT_EQ(s1.restarts, s0.restarts + 1);
  EXPECT_EQ(s1.mailbox_depth, 0);

  kit.system().stop(a);
  kit.run();
  a.tell(4);
  EXPECT_EQ(kit.system().stats().dead_letters, s1.dead_letters + 1);

  const auto text = kit.system().metrics().prometheus_text();
  for (const char* family :
       {"weft_actor_messages_sent_total", "weft_actor_messages_processed_total",
        "weft_actor_dead_letters_total", "weft_actor_mailbox_dropped_total",
        "weft_actor_unhandled_total", "weft_actor_restarts_total", "weft_actor_mailbox_depth"}) {
    EXPECT_NE(text.find(family), std::string::npos) << family;
  }
  EXPECT_NE(text.find("weft_actor_restarts_total 1"), std::string::npos) << text;
}

}  // namespace
}  // namespace weft
