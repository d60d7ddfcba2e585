// map_async: bounded concurrency, input order kept, failures as dead letters.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "weft/actor/actor_system.hpp"
#include "weft/stream/sinks.hpp"
#include "weft/stream/sources.hpp"
#include "weft/stream/stream.hpp"

namespace weft::stream {
namespace {

using namespace std::chrono_literals;

/// A worker thread that completes requests newest-first, so completions come out of order.
class Backend {
 public:
  Backend() : thread_([this] { run(); }) {}
  ~Backend() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void submit(std::function<void()> work) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(work));
      max_pending_ = std::max(max_pending_, queue_.size());
    }
    cv_.notify_all();
  }
  [[nodiscard]] std::size_t max_pending() {
    std::lock_guard lock(mutex_);
    return max_pending_;
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      auto work = std::move(queue_.back());
      queue_.pop_back();
      lock.unlock();
      work();
      lock.lock();
    }
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::size_t max_pending_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

TEST(AsyncMap, KeepsInputOrderAndBoundsCallsInFlight) {
  ActorSystemConfig c;
  c.workers = 2;
  ActorSystem system(c);
  auto backend = std::make_shared<Backend>();
  auto in_flight = std::make_shared<std::atomic<int>>(0);
  auto most = std::make_shared<std::atomic<int>>(0);
  std::vector<std::pair<int, Timestamp>> input;
  for (int i = 0; i < 5'000; ++i) input.emplace_back(i, i);
  auto out = std::make_shared<Collected<int>>();
  StreamJob job;
  job.from(from_collection(input))
      .map_async<int>(
          [backend, in_flight, most](int x, std::function<void(Result<int>)> done) {
            const int now = ++*in_flight;
            int seen = most->load();
            while (now > seen && !most->compare_exchange_weak(seen, now)) {
            }
            backend->submit([x, done = std::move(done), in_flight] {
              --*in_flight;
              if (x == 77) {
                done(fail(Errc::io, "backend refused 77"));
              } else {
                done(x * 10);
              }
            });
          },
          8)
      .to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running);
  ASSERT_TRUE((*running)->wait_for(60s));
  std::vector<int> want;
  for (int i = 0; i < 5'000; ++i) {
    if (i != 77) want.push_back(i * 10);
  }
  EXPECT_EQ(out->values(), want);
  EXPECT_LE(most->load(), 8);
  EXPECT_GT(most->load(), 1) << "calls never overlapped";
  const auto letters = (*running)->dead_letters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_NE(letters[0].reason.find("refused 77"), std::string::npos);
}

}  // namespace
}  // namespace weft::stream
