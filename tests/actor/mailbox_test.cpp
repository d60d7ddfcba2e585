// Mailboxes: unbounded by default; bounded ones apply their overflow policy and count drops.
#include "weft/actor/mailbox.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "weft/actor/actor_system.hpp"
#include "weft/actor/testkit/test_probe.hpp"

namespace weft {
namespace {

using testkit::TestKit;
using testkit::TestProbe;

Behavior<int> forwarder(ActorRef<int> out) {
  return behaviors::receive<int>([out](ActorContext<int>&, int& n) -> Behavior<int> {
    out.tell(n);
    return behaviors::same();
  });
}

std::vector<int> drain(TestProbe<int>& probe) {
  std::vector<int> seen;
  while (auto m = probe.receive(Duration{0})) seen.push_back(*m);
  return seen;
}

TEST(Mailbox, UnboundedByDefaultKeepsEverythingInOrder) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto a = kit.system().spawn(forwarder(probe.ref()));
  for (int n = 0; n < 5000; ++n) ASSERT_TRUE(a.try_tell(n).has_value());
  kit.run();
  auto seen = drain(probe);
  ASSERT_EQ(seen.size(), 5000u);
  for (int n = 0; n < 5000; ++n) ASSERT_EQ(seen[n], n);
  EXPECT_EQ(kit.system().stats().mailbox_dropped, 0u);
}

struct PolicyCase {
  OverflowPolicy policy;
  std::vector<bool> accepted;  // try_tell results for 1..5
  std::vector<int> seen;
};

class BoundedMailbox : public ::testing::TestWithParam<PolicyCase> {};

TEST_P(BoundedMailbox, AppliesItsOverflowPolicyAndCountsDrops) {
  const auto& c = GetParam();
  TestKit kit;
  auto probe = kit.probe<int>();
  auto a = kit.system().spawn(forwarder(probe.ref()), "bounded",
                              SpawnOptions{MailboxConfig::bounded(3, c.policy)});
  kit.run();  // started, mailbox empty
  const auto before = kit.system().stats().mailbox_dropped;
  for (int n = 1; n <= 5; ++n) {
    auto r = a.try_tell(n);
    EXPECT_EQ(r.has_value(), c.accepted[n - 1]) << "message " << n;
    if (!r) {
      EXPECT_EQ(r.error().code(), Errc::mailbox_full);
    }
  }
  kit.run();
  EXPECT_EQ(drain(probe), c.seen);
  EXPECT_EQ(kit.system().stats().mailbox_dropped, before + 2);
  EXPECT_EQ(kit.system().stats().mailbox_depth, 0);

  // Room again once the actor has caught up.
  for (int n = 6; n <= 8; ++n) EXPECT_TRUE(a.try_tell(n).has_value());
  kit.run();
  EXPECT_EQ(drain(probe), (std::vector<int>{6, 7, 8}));
  EXPECT_EQ(kit.system().stats().mailbox_dropped, before + 2);
}

INSTANTIATE_TEST_SUITE_P(
    Policies, BoundedMailbox,
    ::testing::Values(PolicyCase{OverflowPolicy::drop_newest, {1, 1, 1, 1, 1}, {1, 2, 3}},
                      PolicyCase{OverflowPolicy::drop_oldest, {1, 1, 1, 1, 1}, {3, 4, 5}},
                      PolicyCase{OverflowPolicy::fail, {1, 1, 1, 0, 0}, {1, 2, 3}}),
    [](const auto& info) {
      switch (info.param.policy) {
        case OverflowPolicy::drop_newest:
          return std::string("drop_newest");
        case OverflowPolicy::drop_oldest:
          return std::string("drop_oldest");
        case OverflowPolicy::fail:
          return std::string("fail");
      }
      return std::string("unknown");
    });

TEST(Mailbox, BoundedMailboxOfAStoppedActorTurnsQueuedMessagesIntoDeadLetters) {
  TestKit kit;
  auto probe = kit.probe<int>();
  auto a =
      kit.system().spawn(behaviors::receive<int>([](ActorContext<int>&, int&) -> Behavior<int> {
                           return behaviors::stopped();
                         }),
                         "stops", SpawnOptions{MailboxConfig::bounded(4, OverflowPolicy::fail)});
  probe.watch(a);
  kit.run();
  const auto before = kit.system().stats();
  for (int n = 0; n < 4; ++n) ASSERT_TRUE(a.try_tell(n).has_value());
  probe.expect_terminated(a);
  const auto after = kit.system().stats();
  EXPECT_EQ(after.dead_letters, before.dead_letters + 3);
  EXPECT_EQ(after.mailbox_dropped, before.mailbox_dropped);
  EXPECT_EQ(after.mailbox_depth, 0);
}

TEST(Mailbox, BoundedMailboxUnderThreadsNeverExceedsItsCapacity) {
  ActorSystem system(ActorSystemConfig{.workers = 2});
  TestProbe<int> probe(system);
  constexpr int kSent = 20000;
  auto a = system.spawn(forwarder(probe.ref()), "bounded",
                        SpawnOptions{MailboxConfig::bounded(16, OverflowPolicy::drop_newest)});
  for (int n = 0; n < kSent; ++n) a.tell(n);
  a.tell(-1);  // may itself be dropped; then the count below still closes the books
  // Every message is either handled (forwarded) or counted as dropped.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int last = -2;
  std::size_t forwarded = 0;
  for (;;) {
    if (auto m = probe.receive(std::chrono::milliseconds(10))) {
      if (*m >= 0) {
        EXPECT_GT(*m, last) << "per-sender FIFO order";
        last = *m;
      }
      ++forwarded;
    }
    const auto s = system.stats();
    if (forwarded + s.mailbox_dropped == kSent + 1u) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << forwarded << " + " << s.mailbox_dropped;
  }
  SUCCEED();
}

}  // namespace
}  // namespace weft
