// Keyed state, parallel instances, property tests and back-pressure.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <vector>

#include "weft/actor/actor_system.hpp"
#include "weft/core/codec.hpp"
#include "weft/stream/sinks.hpp"
#include "weft/stream/sources.hpp"
#include "weft/stream/stream.hpp"

namespace weft::stream {
namespace {

using namespace std::chrono_literals;

ActorSystemConfig workers(unsigned n) {
  ActorSystemConfig c;
  c.workers = n;
  return c;
}

struct Event {
  std::int64_t key = 0;
  Timestamp ts = 0;
  std::int64_t value = 0;
};
WEFT_CODEC(Event, "test.Event", 1, key, ts, value);

/// The batch answer: per key and tumbling window of `size`, the sum of values.
std::map<std::pair<std::int64_t, Timestamp>, std::int64_t> batch_sums(
    const std::vector<Event>& events, Timestamp size) {
  std::map<std::pair<std::int64_t, Timestamp>, std::int64_t> out;
  for (const auto& e : events) out[{e.key, e.ts - ((e.ts % size) + size) % size}] += e.value;
  return out;
}

std::map<std::pair<std::int64_t, Timestamp>, std::int64_t> run_windowed_sums(
    const std::vector<Event>& events, std::uint32_t parallelism, Duration lateness) {
  ActorSystem system(workers(2));
  std::vector<std::pair<Event, Timestamp>> input;
  for (const auto& e : events) input.emplace_back(e, e.ts);
  auto out = std::make_shared<Collected<Windowed<std::int64_t, Event>>>();
  JobOptions options;
  options.parallelism = parallelism;
  options.chunk_records = 7;  // many small chunks: exercises the exchanges
  StreamJob job(options);
  job.from(
         from_collection(input),
         WatermarkStrategy<Event>::bounded_out_of_orderness(lateness).with_per_record_watermarks(),
         "source", 1)
      .key_by([](const Event& e) { return e.key; })
      .window(tumbling(1s))
      .reduce([](const Event& a, const Event& b) {
        return Event{a.key, a.ts, a.value + b.value};
      })
      .to(collect(out));
  auto running = job.start(system);
  if (!running || !(*running)->wait_for(60s)) return {};
  std::map<std::pair<std::int64_t, Timestamp>, std::int64_t> got;
  for (const auto& w : out->values()) {
    auto [it, fresh] = got.emplace(std::pair{w.key, w.window.start}, w.value.value);
    if (!fresh) it->second = -1;  // a window fired twice: never expected without lateness
  }
  return got;
}

RC_GTEST_PROP(StreamProperty, WindowedSumOverAnyBoundedPermutationEqualsBatch, ()) {
  // Events in time order, then shuffled only within blocks whose time span is below the
  // out-of-orderness bound, so no record is late: the answer must equal the batch answer.
  const auto n = *rc::gen::inRange<std::size_t>(1, 300);
  const auto keys = *rc::gen::inRange<std::int64_t>(1, 6);
  std::vector<Event> events;
  Timestamp ts = 0;
  for (std::size_t i = 0; i < n; ++i) {
    ts += *rc::gen::inRange<Timestamp>(0, 200);
    events.push_back(Event{*rc::gen::inRange<std::int64_t>(0, keys), ts,
                           *rc::gen::inRange<std::int64_t>(-100, 100)});
  }
  const auto seed = *rc::gen::arbitrary<std::uint32_t>();
  std::mt19937 rng(seed);
  for (std::size_t start = 0; start < events.size();) {
    std::size_t end = start;
    while (end < events.size() && events[end].ts - events[start].ts < 500) ++end;
    std::shuffle(events.begin() + static_cast<std::ptrdiff_t>(start),
                 events.begin() + static_cast<std::ptrdiff_t>(end), rng);
    start = end;
  }
  const auto parallelism = *rc::gen::inRange<std::uint32_t>(1, 4);
  RC_ASSERT(run_windowed_sums(events, parallelism, 600ms) == batch_sums(events, 1000));
}

TEST(Keyed, ProcessFunctionKeepsPerKeyStateAndFiresEventTimers) {
  ActorSystem system(workers(2));
  // Per key: a running count; an event-time timer at ts + 1000 emits "key:count" then.
  std::vector<std::pair<Event, Timestamp>> input;
  for (int i = 0; i < 300; ++i) input.emplace_back(Event{i % 3, i * 10, 1}, i * 10);
  auto out = std::make_shared<Collected<std::string>>();
  JobOptions options;
  options.parallelism = 2;
  StreamJob job(options);
  job.from(from_collection(input),
           WatermarkStrategy<Event>::monotonous().with_per_record_watermarks(), "source", 1)
      .key_by([](const Event& e) { return e.key; })
      .process<std::int64_t, std::string>(
          [](KeyedContext<std::int64_t, std::int64_t, std::string>& ctx, const Event& e) {
            ctx.state() += e.value;
            if (e.ts == 0 || e.ts == 1 * 10 || e.ts == 2 * 10) {
              ctx.register_event_timer(e.ts + 1000);
            }
          },
          [](KeyedContext<std::int64_t, std::int64_t, std::string>& ctx, Timestamp ts,
             TimeDomain domain) {
            EXPECT_EQ(domain, TimeDomain::event_time);
            ctx.emit(std::to_string(ctx.key()) + ":" + std::to_string(ctx.state()) + "@" +
                     std::to_string(ts));
          })
      .to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running);
  ASSERT_TRUE((*running)->wait_for(30s));
  auto got = out->values();
  std::ranges::sort(got);
  // The timer at 1000 of key 0 fires when the watermark passes 1000, i.e. after the record at
  // ts 1010 (monotonous: wm = max - 1); by then key 0 has seen ts 0..1000 step 30: 34 records.
  EXPECT_EQ(got, (std::vector<std::string>{"0:34@1000", "1:34@1010", "2:34@1020"}));
}

TEST(Keyed, ProcessingTimeTimersAndStateTtlFollowTheClock) {
  auto clock = std::make_shared<ManualClock>();
  ActorSystemConfig config = workers(1);
  config.clock = clock;
  ActorSystem system(config);
  auto queue = std::make_shared<StreamQueue<Event>>(100);
  auto out = std::make_shared<Collected<std::string>>();
  StreamJob job;
  ProcessOptions popts;
  popts.state_ttl = 10s;
  job.from(from_queue(queue))
      .key_by([](const Event& e) { return e.key; })
      .process<std::int64_t, std::string>(
          [](KeyedContext<std::int64_t, std::int64_t, std::string>& ctx, const Event& e) {
            ctx.state() += e.value;
            // Registered before the emit: the test advances the clock once it sees the output,
            // and a timer registered after that would be due 5 s after the advanced time.
            if (e.value == 1) ctx.register_processing_timer(5s);
            ctx.emit("seen " + std::to_string(ctx.state()));
          },
          [](KeyedContext<std::int64_t, std::int64_t, std::string>& ctx, Timestamp,
             TimeDomain domain) {
            EXPECT_EQ(domain, TimeDomain::processing_time);
            ctx.emit("timer " + std::to_string(ctx.state()));
          },
          popts)
      .to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running);
  auto wait_for_size = [&](std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (out->size() < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    return out->size() >= n;
  };
  ASSERT_TRUE(queue->offer(Event{7, 0, 1}, 0));
  ASSERT_TRUE(wait_for_size(1));
  clock->advance(4s);
  ASSERT_TRUE(queue->offer(Event{7, 0, 2}, 0));
  ASSERT_TRUE(wait_for_size(2));
  clock->advance(2s);  // 6 s: the timer (due at 5 s) fires
  ASSERT_TRUE(wait_for_size(3));
  clock->advance(11s);  // 17 s: key 7 untouched since 6 s -> its state expired
  ASSERT_TRUE(queue->offer(Event{7, 0, 5}, 0));
  ASSERT_TRUE(wait_for_size(4));
  queue->close();
  ASSERT_TRUE((*running)->wait_for(20s));
  EXPECT_EQ(out->values(), (std::vector<std::string>{"seen 1", "seen 3", "timer 3", "seen 5"}));
}

TEST(Keyed, IdleSourceDoesNotHoldBackEventTime) {
  auto clock = std::make_shared<ManualClock>();
  ActorSystemConfig config = workers(1);
  config.clock = clock;
  ActorSystem system(config);
  auto busy = std::make_shared<StreamQueue<Event>>(100);
  auto silent = std::make_shared<StreamQueue<Event>>(100);
  auto out = std::make_shared<Collected<Windowed<std::int64_t, std::uint64_t>>>();
  StreamJob job;
  const auto strategy =
      WatermarkStrategy<Event>::monotonous().with_per_record_watermarks().with_idleness(5s);
  auto a = job.from(from_queue(busy), strategy, "busy");
  auto b = job.from(from_queue(silent), strategy, "silent");
  a.union_with(b)
      .key_by([](const Event& e) { return e.key; })
      .window(tumbling(1s))
      .aggregate(aggregates::count<Event>())
      .to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running);
  ASSERT_TRUE(silent->offer(Event{2, 100, 1}, 100));
  ASSERT_TRUE(busy->offer(Event{1, 500, 1}, 500));
  ASSERT_TRUE(busy->offer(Event{1, 2500, 1}, 2500));
  // The silent source holds the watermark at 99: nothing fires.
  const auto settle = std::chrono::steady_clock::now() + 200ms;
  while (std::chrono::steady_clock::now() < settle) std::this_thread::yield();
  EXPECT_EQ(out->size(), 0u);
  // After 5 s without records the silent source is idle; the busy one's next watermark
  // closes [0, 1000) for both keys.
  clock->advance(6s);
  ASSERT_TRUE(busy->offer(Event{1, 2600, 1}, 2600));
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (out->size() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  auto got = out->values();
  ASSERT_EQ(got.size(), 2u);
  std::ranges::sort(got, {}, [](const auto& w) { return w.key; });
  EXPECT_EQ(got[0].key, 1);
  EXPECT_EQ(got[1].key, 2);
  busy->close();
  silent->close();
  ASSERT_TRUE((*running)->wait_for(20s));
}

TEST(Keyed, SlowSinkKeepsMemoryBoundedOver10MillionRecords) {
  ActorSystem system(workers(2));
  constexpr std::uint64_t total = 10'000'000;
  auto produced = std::make_shared<std::atomic<std::uint64_t>>(0);
  auto max_in_flight = std::make_shared<std::atomic<std::uint64_t>>(0);
  auto consumed = std::make_shared<std::uint64_t>(0);
  JobOptions options;
  options.chunk_records = 256;
  options.channel_chunks = 4;
  StreamJob job(options);
  job.from(generator<std::uint64_t>(total,
                                    [produced](std::uint64_t i) {
                                      produced->fetch_add(1, std::memory_order_relaxed);
                                      return i;
                                    }),
           {}, "numbers", 1)
      .rebalance()
      .map([](std::uint64_t x) { return x; })
      .to(for_each<std::uint64_t>([produced, max_in_flight, consumed](std::uint64_t&&, Timestamp) {
            ++*consumed;
            // The sink is the slow end: it spins a little per record.
            for (int spin = 0; spin < 20; ++spin) asm volatile("" ::: "memory");
            const auto in_flight = produced->load(std::memory_order_relaxed) - *consumed;
            if (in_flight > max_in_flight->load(std::memory_order_relaxed)) {
              max_in_flight->store(in_flight, std::memory_order_relaxed);
            }
          }),
          "slow", 1);
  auto running = job.start(system);
  ASSERT_TRUE(running);
  ASSERT_TRUE((*running)->wait_for(600s));
  EXPECT_EQ(*consumed, total);
  // Bounded by the channel (4 chunks of 256) plus the chunk being filled and one poll batch of
  // the source: a few thousand records, never millions.
  EXPECT_LT(max_in_flight->load(), 8'192u) << "records buffered between source and sink";
}

}  // namespace
}  // namespace weft::stream
