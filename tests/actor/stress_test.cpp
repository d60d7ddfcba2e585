// Stress on a threaded system: many actors, sends from outside threads and from actors; no
// message may be lost or duplicated, and each sender's messages to one receiver stay in order.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "weft/actor/actor_system.hpp"

namespace weft {
namespace {

struct Seq {
  std::uint32_t sender;  // < kActors: an actor; else an external thread
  std::uint32_t seq;     // per (sender, receiver)
  std::uint32_t ttl;     // hops the receiver still sends on
};

constexpr std::uint32_t kActors = 1000;
constexpr std::uint32_t kThreads = 4;
constexpr std::uint32_t kSenders = kActors + kThreads;
constexpr std::uint32_t kPerThread = 100'000;
constexpr std::uint32_t kTtl = 4;  // each external message causes kTtl more from actors
constexpr std::uint64_t kTotal = std::uint64_t{kThreads} * kPerThread * (kTtl + 1);  // 2M

struct Shared {
  // Row r belongs to actor r alone (its own thread of execution), so rows need no locks; the
  // test reads them after `handled` reaches kTotal (acquire), which orders every write before.
  std::vector<std::vector<std::uint32_t>> expected{kActors,
                                                   std::vector<std::uint32_t>(kSenders, 0)};
  std::vector<std::vector<std::uint32_t>> sent_by_actor{kActors,
                                                        std::vector<std::uint32_t>(kActors, 0)};
  std::vector<ActorRef<Seq>> actors;
  std::atomic<std::uint64_t> out_of_order{0};
  std::atomic<std::uint64_t> handled{0};
  std::mutex mutex;
  std::condition_variable done;
};

Behavior<Seq> node(std::uint32_t self, Shared* shared) {
  return behaviors::setup<Seq>([self, shared](ActorContext<Seq>&) {
    auto rng = std::make_shared<std::minstd_rand>(self + 1);
    return behaviors::receive<Seq>(
        [self, shared, rng](ActorContext<Seq>&, Seq& m) -> Behavior<Seq> {
          auto& want = shared->expected[self][m.sender];
          if (m.seq != want) shared->out_of_order.fetch_add(1, std::memory_order_relaxed);
          want = m.seq + 1;
          if (m.ttl > 0) {
            const auto to = static_cast<std::uint32_t>((*rng)() % kActors);
            shared->actors[to].tell(Seq{self, shared->sent_by_actor[self][to]++, m.ttl - 1});
          }
          if (shared->handled.fetch_add(1, std::memory_order_acq_rel) + 1 == kTotal) {
            std::lock_guard lock(shared->mutex);
            shared->done.notify_all();
          }
          return behaviors::same();
        });
  });
}

TEST(Stress, NoLossNoDuplicatesPerSenderFifo) {
  auto shared = std::make_unique<Shared>();
  ActorSystem system(ActorSystemConfig{.workers = 2});
  shared->actors.reserve(kActors);
  for (std::uint32_t i = 0; i < kActors; ++i)
    shared->actors.push_back(system.spawn(node(i, shared.get())));

  std::vector<std::vector<std::uint32_t>> sent_by_thread(kThreads,
                                                         std::vector<std::uint32_t>(kActors, 0));
  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::minstd_rand rng(7919 * (t + 1));
      auto& seqs = sent_by_thread[t];
      for (std::uint32_t i = 0; i < kPerThread; ++i) {
        const auto to = static_cast<std::uint32_t>(rng() % kActors);
        shared->actors[to].tell(Seq{kActors + t, seqs[to]++, kTtl});
      }
    });
  }
  for (auto& t : threads) t.join();
  {
    std::unique_lock lock(shared->mutex);
    ASSERT_TRUE(shared->done.wait_for(
        lock, std::chrono::seconds(120),
        [&] { return shared->handled.load(std::memory_order_acquire) >= kTotal; }))
        << shared->handled.load() << " of " << kTotal;
  }
  EXPECT_EQ(shared->handled.load(std::memory_order_acquire), kTotal);
  EXPECT_EQ(shared->out_of_order.load(), 0u);
  // Each receiver saw exactly as many messages from each sender as that sender sent it.
  std::uint64_t mismatched = 0;
  for (std::uint32_t r = 0; r < kActors; ++r) {
    for (std::uint32_t s = 0; s < kActors; ++s) {
      mismatched += shared->expected[r][s] != shared->sent_by_actor[s][r];
    }
    for (std::uint32_t t = 0; t < kThreads; ++t) {
      mismatched += shared->expected[r][kActors + t] != sent_by_thread[t][r];
    }
  }
  EXPECT_EQ(mismatched, 0u);
  system.terminate();
  const auto stats = system.stats();
  EXPECT_EQ(stats.messages_processed, kTotal);
  EXPECT_EQ(stats.messages_sent, kTotal);
  EXPECT_EQ(stats.dead_letters, 0u);
  shared->actors.clear();
}

}  // namespace
}  // namespace weft
