// Job lifecycle against threads outside the job: a queue's offerer keeps waking the source task
// while the job is destroyed, and jobs are started while earlier ones stop.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "weft/actor/actor_system.hpp"
#include "weft/stream/sinks.hpp"
#include "weft/stream/sources.hpp"
#include "weft/stream/stream.hpp"

namespace weft::stream {
namespace {

using namespace std::chrono_literals;

template <class Pred>
bool poll_until(Pred done, Duration timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST(Lifecycle, OffersDuringJobDestructionNeverWakeADestroyedTask) {
  ActorSystemConfig config;
  config.workers = 2;
  ActorSystem system(config);
  auto queue = std::make_shared<StreamQueue<int>>(64, Overflow::drop_oldest);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> offers{0};
  std::jthread offerer([&] {
    for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      (void)queue->offer(i, i);
      offers.fetch_add(1, std::memory_order_relaxed);
    }
  });
  struct Stop {
    std::atomic<bool>& flag;
    ~Stop() { flag = true; }  // before the jthread joins, also when an assertion returns early
  } stopper{stop};
  // Each round destroys a running job while the offerer wakes its source; under ASan/TSan a
  // wake that reaches a destroyed (or half-destroyed) task is reported. The queue outlives the
  // jobs: a job destroyed late must not unhook the waker of the job after it (which would
  // never be woken, and time out here).
  for (int round = 0; round < 20; ++round) {
    auto out = std::make_shared<Collected<int>>();
    StreamJob job;
    job.from(from_queue(queue)).map([](int x) { return x + 1; }).to(collect(out));
    auto running = job.start(system);
    ASSERT_TRUE(running) << running.error().describe();
    ASSERT_TRUE(poll_until([&] { return out->size() > 0; })) << "round " << round;
    running->reset();
    const auto seen = offers.load();
    ASSERT_TRUE(poll_until([&] { return offers.load() > seen + 1000; }));
  }
}

TEST(Lifecycle, JobsStartWhileEarlierJobsStop) {
  // Spawning a job's runners under the user guardian while the guardian reaps the runners of
  // the job before it (the race TSan found in ActorCellBase::adopt_child).
  ActorSystemConfig config;
  config.workers = 2;
  ActorSystem system(config);
  for (int round = 0; round < 30; ++round) {
    std::vector<std::pair<int, Timestamp>> input;
    for (int i = 0; i < 100; ++i) input.emplace_back(i, i);
    auto out = std::make_shared<Collected<int>>();
    StreamJob job;
    job.from(from_collection(input), {}, "numbers", 2)
        .rebalance()
        .map([](int x) { return x * 2; })
        .to(collect(out));
    auto running = job.start(system);
    ASSERT_TRUE(running) << running.error().describe();
    ASSERT_TRUE((*running)->wait_for(20s));
    EXPECT_EQ(out->size(), 100u);  // the two source subtasks split the collection
  }
}

}  // namespace
}  // namespace weft::stream
