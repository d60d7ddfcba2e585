// Interval and window joins of two keyed streams.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <tuple>
#include <vector>

#include "weft/actor/actor_system.hpp"
#include "weft/core/codec.hpp"
#include "weft/stream/sinks.hpp"
#include "weft/stream/sources.hpp"
#include "weft/stream/stream.hpp"

namespace weft::stream {
namespace {

using namespace std::chrono_literals;

struct Order {
  std::int64_t user = 0;
  std::int64_t id = 0;
};
WEFT_CODEC(Order, "test.Order", 1, user, id);
struct Click {
  std::int64_t user = 0;
  std::string page;
};
WEFT_CODEC(Click, "test.Click", 1, user, page);

using Pair = std::tuple<std::int64_t, std::int64_t, std::string>;  // user, order, page

std::vector<Pair> run_join(bool interval, std::uint32_t parallelism) {
  ActorSystemConfig c;
  c.workers = 2;
  ActorSystem system(c);
  const std::vector<std::pair<Order, Timestamp>> orders{
      {{1, 100}, 1'000}, {{2, 200}, 2'000}, {{1, 101}, 7'000}, {{3, 300}, 9'000}};
  const std::vector<std::pair<Click, Timestamp>> clicks{{{1, "a"}, 500},   {{1, "b"}, 1'800},
                                                        {{2, "c"}, 4'500}, {{1, "d"}, 5'500},
                                                        {{1, "e"}, 7'900}, {{3, "f"}, 12'000}};
  auto out = std::make_shared<Collected<Pair>>();
  JobOptions options;
  options.parallelism = parallelism;
  StreamJob job(options);
  auto o = job.from(from_collection(orders), WatermarkStrategy<Order>::monotonous(), "orders", 1)
               .key_by([](const Order& x) { return x.user; });
  auto k = job.from(from_collection(clicks), WatermarkStrategy<Click>::monotonous(), "clicks", 1)
               .key_by([](const Click& x) { return x.user; });
  auto join = [](const Order& a, const Click& b) { return Pair{a.user, a.id, b.page}; };
  if (interval) {
    // Clicks from 1 s before to 2 s after the order.
    o.interval_join(k, -1s, 2s, join).to(collect(out));
  } else {
    o.window_join(k, tumbling(5s), join).to(collect(out));
  }
  auto running = job.start(system);
  EXPECT_TRUE(running);
  EXPECT_TRUE((*running)->wait_for(30s));
  auto got = out->values();
  std::ranges::sort(got);
  return got;
}

TEST(Join, IntervalJoinPairsRecordsWithinTheBounds) {
  // order 100 @1000 matches clicks of user 1 in [0, 3000]: a @500, b @1800.
  // order 200 @2000 matches user 2 in [1000, 4000]: c @4500 is outside.
  // order 101 @7000 matches user 1 in [6000, 9000]: e @7900 (d @5500 is outside).
  // order 300 @9000 matches user 3 in [8000, 11000]: f @12000 is outside.
  const std::vector<Pair> want{{1, 100, "a"}, {1, 100, "b"}, {1, 101, "e"}};
  EXPECT_EQ(run_join(true, 1), want);
  EXPECT_EQ(run_join(true, 2), want);
}

TEST(Join, WindowJoinPairsRecordsOfTheSameWindow) {
  // [0, 5000): user 1: order 100 with a, b; user 2: order 200 with c.
  // [5000, 10000): user 1: order 101 with d, e; user 3: order 300, no click (f is at 12000).
  const std::vector<Pair> want{
      {1, 100, "a"}, {1, 100, "b"}, {1, 101, "d"}, {1, 101, "e"}, {2, 200, "c"}};
  EXPECT_EQ(run_join(false, 1), want);
  EXPECT_EQ(run_join(false, 2), want);
}

}  // namespace
}  // namespace weft::stream
