// Deterministic mode: the same seed gives the same interleaving; the seed matters.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

#include "weft/actor/actor_system.hpp"
#include "weft/actor/testkit/test_probe.hpp"

namespace weft {
namespace {

struct Hop {
  int from;
  int ttl;
};
using Trace = std::vector<std::pair<int, int>>;  // (actor, sender), in global handling order

/// Five actors passing hops around at random (each with its own seeded RNG) and recording the
/// global order in which messages are handled.
Trace run_scenario(std::uint64_t seed) {
  testkit::TestKit kit(seed);
  auto trace = std::make_shared<Trace>();
  auto peers = std::make_shared<std::vector<ActorRef<Hop>>>();
  constexpr int kActors = 5;
  for (int i = 0; i < kActors; ++i) {
    peers->push_back(
        kit.system().spawn(behaviors::setup<Hop>([i, trace, peers](ActorContext<Hop>&) {
          auto rng = std::make_shared<std::minstd_rand>(1000 + i);
          return behaviors::receive<Hop>(
              [i, trace, peers, rng](ActorContext<Hop>&, Hop& h) -> Behavior<Hop> {
                trace->emplace_back(i, h.from);
                if (h.ttl > 0) {
                  for (int k = 0; k < 2; ++k) {
                    (*peers)[(*rng)() % peers->size()].tell(Hop{i, h.ttl - 1});
                  }
                }
                return behaviors::same();
              });
        })));
  }
  for (int i = 0; i < kActors; ++i) (*peers)[i].tell(Hop{-1, 6});
  kit.run();
  peers->clear();  // the behaviors hold `peers`: break the cycle
  return *trace;
}

TEST(Deterministic, SameSeedSameTrace) {
  const auto a = run_scenario(7);
  const auto b = run_scenario(7);
  ASSERT_EQ(a.size(), 5u * ((1u << 7) - 1));  // every hop handled: 5 trees of depth 6
  EXPECT_EQ(a, b);
}

TEST(Deterministic, DifferentSeedsGiveDifferentTraces) {
  const auto base = run_scenario(1);
  int differing = 0;
  for (std::uint64_t seed = 2; seed <= 6; ++seed) {
    const auto other = run_scenario(seed);
    ASSERT_EQ(other.size(), base.size());
    if (other != base) ++differing;
  }
  EXPECT_GT(differing, 0);
}

TEST(Deterministic, RunUntilQuiescentIsRejectedOnAThreadedSystem) {
  ActorSystem system(ActorSystemConfig{.workers = 1});
  EXPECT_FALSE(system.is_deterministic());
  EXPECT_THROW(system.run_until_quiescent(), std::logic_error);
}

TEST(Deterministic, MaxTurnsBoundsARun) {
  testkit::TestKit kit;
  auto a = kit.system().spawn(behaviors::ignore<int>());
  kit.run();
  a.tell(1);
  EXPECT_EQ(kit.system().run_until_quiescent(1), 1u);
  EXPECT_EQ(kit.system().run_until_quiescent(), 0u);
}

}  // namespace
}  // namespace weft
