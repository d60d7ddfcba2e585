// Future and Promise: one-shot results shared between threads.
#include "weft/actor/future.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace weft {
namespace {

using namespace std::chrono_literals;

TEST(Future, ReadyFutureHoldsItsValue) {
  auto f = make_ready_future<int>(5);
  ASSERT_TRUE(f.valid());
  EXPECT_TRUE(f.is_ready());
  EXPECT_EQ(f.get(), Result<int>(5));
  EXPECT_FALSE(Future<int>().valid());
}

TEST(Future, CompletesOnceAndKeepsTheFirstResult) {
  Promise<int> p;
  auto f = p.future();
  EXPECT_FALSE(f.is_ready());
  EXPECT_FALSE(f.wait_for(Duration{0}).has_value());
  EXPECT_TRUE(p.complete(fail(Errc::timeout, "late")));
  EXPECT_FALSE(p.complete(1));
  auto r = f.get();
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Errc::timeout);
}

TEST(Future, TakeMovesTheResultOutAndLeavesTheFutureEmpty) {
  Promise<std::vector<int>> p;
  auto f = p.future();
  std::thread producer([&] { p.complete(std::vector<int>{1, 2, 3}); });
  auto r = std::move(f).take();
  producer.join();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, (std::vector<int>{1, 2, 3}));
  EXPECT_FALSE(f.valid());  // NOLINT(bugprone-use-after-move): take() empties it
}

TEST(Future, CallbacksRunOnceBeforeOrAfterCompletion) {
  Promise<int> p;
  auto f = p.future();
  std::vector<int> seen;
  f.on_complete([&](const Result<int>& r) { seen.push_back(*r); });
  f.on_complete([&](const Result<int>& r) { seen.push_back(*r + 1); });
  EXPECT_TRUE(seen.empty());
  p.complete(10);
  EXPECT_EQ(seen, (std::vector<int>{10, 11}));
  f.on_complete([&](const Result<int>& r) { seen.push_back(*r + 2); });  // runs at once
  p.complete(20);
  EXPECT_EQ(seen, (std::vector<int>{10, 11, 12}));
}

TEST(Future, GetWakesUpWhenAnotherThreadCompletes) {
  Promise<int> p;
  auto f = p.future();
  std::atomic<bool> started{false};
  std::thread t([&] {
    while (!started.load()) std::this_thread::yield();
    p.complete(7);
  });
  started = true;
  EXPECT_EQ(f.get(), Result<int>(7));
  auto w = f.wait_for(1s);
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(**w, 7);
  t.join();
}

TEST(Future, RacingCompletersOnlyOneWins) {
  for (int round = 0; round < 50; ++round) {
    Promise<int> p;
    std::atomic<int> wins{0};
    std::atomic<int> callbacks{0};
    p.future().on_complete([&](const Result<int>&) { callbacks.fetch_add(1); });
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; ++i) {
      ts.emplace_back([&, i] {
        if (p.complete(i)) wins.fetch_add(1);
      });
    }
    for (auto& t : ts) t.join();
    EXPECT_EQ(wins.load(), 1);
    EXPECT_EQ(callbacks.load(), 1);
  }
}

// Every blocked waiter wakes on completion, whether it waits without a limit or with one, and a
// waiter that times out sees the future still pending.
TEST(Future, EveryBlockedWaiterWakesAndTimedWaitsTimeOut) {
  for (int round = 0; round < 20; ++round) {
    Promise<int> p;
    auto f = p.future();
    EXPECT_FALSE(f.wait_for(std::chrono::milliseconds(2)).has_value());
    std::atomic<int> woke{0};
    std::atomic<int> waiting{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; ++i) {
      ts.emplace_back([&, i] {
        waiting.fetch_add(1);
        if (i % 2 == 0) {
          if (f.get() == Result<int>(round)) woke.fetch_add(1);
        } else {
          auto r = f.wait_for(60s);
          if (r && *r == Result<int>(round)) woke.fetch_add(1);
        }
      });
    }
    while (waiting.load() < 4) std::this_thread::yield();
    EXPECT_TRUE(p.complete(round));
    for (auto& t : ts) t.join();
    EXPECT_EQ(woke.load(), 4);
    EXPECT_TRUE(f.is_ready());
  }
}

}  // namespace
}  // namespace weft
