#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "weft/actor/actor_system.hpp"
#include "weft/stream/sinks.hpp"
#include "weft/stream/sources.hpp"
#include "weft/stream/stream.hpp"

namespace weft::stream {
namespace {

using namespace std::chrono_literals;

struct Reading {
  std::string device;
  Timestamp ts = 0;
  double temperature = 0;
};

ActorSystemConfig two_workers() {
  ActorSystemConfig c;
  c.workers = 2;
  return c;
}

TEST(Stream, MapFilterFlatMapInOrder) {
  ActorSystem system(two_workers());
  std::vector<std::pair<int, Timestamp>> input;
  for (int i = 0; i < 10'000; ++i) input.emplace_back(i, i);
  auto out = std::make_shared<Collected<std::string>>();
  StreamJob job;
  job.from(from_collection(input))
      .filter([](const int& x) { return x % 3 == 0; })
      .map([](int x) { return x * 2; })
      .flat_map<std::string>([](int x, Collector<std::string>& c) {
        c.collect(std::to_string(x));
        if (x % 4 == 0) c.collect("four");
      })
      .to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running) << running.error().describe();
  ASSERT_TRUE((*running)->wait_for(30s));
  std::vector<std::string> expected;
  for (int i = 0; i < 10'000; ++i) {
    if (i % 3 != 0) continue;
    expected.push_back(std::to_string(i * 2));
    if ((i * 2) % 4 == 0) expected.push_back("four");
  }
  EXPECT_EQ(out->values(), expected);
  EXPECT_EQ((*running)->metrics().records_in, 10'000u);
}

TEST(Stream, ThrowingFunctionGoesToDeadLettersAndJobContinues) {
  ActorSystem system(two_workers());
  std::vector<std::pair<int, Timestamp>> input;
  for (int i = 0; i < 100; ++i) input.emplace_back(i, i);
  auto out = std::make_shared<Collected<int>>();
  StreamJob job;
  job.from(from_collection(input))
      .map([](int x) {
        if (x == 42) throw std::runtime_error("forty-two is not allowed");
        return x;
      })
      .to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running);
  ASSERT_TRUE((*running)->wait_for(30s));
  EXPECT_EQ(out->size(), 99u);
  const auto letters = (*running)->dead_letters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_NE(letters[0].reason.find("forty-two"), std::string::npos);
  EXPECT_EQ(letters[0].timestamp, 42);
  EXPECT_EQ((*running)->metrics().dead_letters, 1u);
}

TEST(Stream, FailOnDeadLetterFailsTheJob) {
  ActorSystem system(two_workers());
  JobOptions options;
  options.fail_on_dead_letter = true;
  StreamJob job(options);
  job.from(from_collection<int>({{1, 1}, {2, 2}}))
      .map([](int x) -> int { throw std::runtime_error("bad " + std::to_string(x)); })
      .to(collect(std::make_shared<Collected<int>>()));
  auto running = job.start(system);
  ASSERT_TRUE(running);
  auto r = (*running)->wait_for(30s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("bad 1"), std::string::npos) << r.error().message();
}

std::vector<std::pair<Reading, Timestamp>> readings(
    const std::vector<std::tuple<std::string, Timestamp, double>>& rows) {
  std::vector<std::pair<Reading, Timestamp>> out;
  for (const auto& [d, ts, t] : rows) out.emplace_back(Reading{d, ts, t}, ts);
  return out;
}

/// The window tests run with and without combine_locally(): the same windows, late records
/// and counts either way.
class Windows : public ::testing::TestWithParam<bool> {
 protected:
  template <class K, class T, class Agg>
  auto aggregate(WindowedStream<K, T, void> w, Agg agg) {
    return GetParam() ? w.combine_locally().aggregate(std::move(agg)) : w.aggregate(std::move(agg));
  }
};
INSTANTIATE_TEST_SUITE_P(Combined, Windows, ::testing::Bool());

TEST_P(Windows, TumblingWindowWithOutOfOrderAndLateRecords) {
  ActorSystem system(two_workers());
  // Watermark = max ts - 1000 - 1. The record at 1'500 arrives after the watermark passed
  // 4'999 (max 6'100) but within no lateness: late. The one at 7'000 lands in [5000, 10000).
  auto input = readings({{"a", 1'000, 10},
                         {"b", 2'000, 30},
                         {"a", 4'000, 20},
                         {"a", 3'000, 60},  // out of order, in time
                         {"a", 6'100, 5},
                         {"a", 1'500, 99},  // late
                         {"b", 7'000, 40}});
  auto out = std::make_shared<Collected<Windowed<std::string, aggregates::Stats>>>();
  auto late = std::make_shared<Collected<Reading>>();
  StreamJob job;
  auto windowed =
      job.from(
             from_collection(input),
             WatermarkStrategy<Reading>::bounded_out_of_orderness(1s).with_per_record_watermarks())
          .key_by([](const Reading& r) { return r.device; })
          .window(tumbling(5s));
  auto windows = aggregate(
      windowed, aggregates::stats<Reading>([](const Reading& r) { return r.temperature; }));
  windows.side_output<Reading>("late").to(collect(late));
  windows.to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running);
  ASSERT_TRUE((*running)->wait_for(30s));
  std::map<std::pair<std::string, Timestamp>, aggregates::Stats> got;
  for (const auto& w : out->values()) got[{w.key, w.window.start}] = w.value;
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ((got[{"a", 0}].count), 3u);
  EXPECT_DOUBLE_EQ((got[{"a", 0}].avg()), 30.0);
  EXPECT_DOUBLE_EQ((got[{"a", 0}].max), 60.0);
  EXPECT_EQ((got[{"b", 0}].count), 1u);
  EXPECT_EQ((got[{"a", 5000}].count), 1u);
  EXPECT_EQ((got[{"b", 5000}].count), 1u);
  ASSERT_EQ(late->size(), 1u);
  EXPECT_EQ(late->values()[0].temperature, 99);
  EXPECT_EQ((*running)->metrics().late_records, 1u);
}

TEST_P(Windows, AllowedLatenessRefiresTheWindow) {
  ActorSystem system(two_workers());
  auto input = readings(
      {{"a", 1'000, 10}, {"a", 6'500, 1}, {"a", 2'000, 20}, {"a", 9'000, 1}, {"a", 3'000, 30}});
  // wm after 6'500: 5'499 -> [0,5000) fires with 1 record; 2'000 is within 2 s of lateness
  // (4'999 + 2'000 > 5'499): re-fires with 2; after 9'000 (wm 7'999) the window is gone and
  // 3'000 is late.
  auto out = std::make_shared<Collected<Windowed<std::string, std::uint64_t>>>();
  auto late = std::make_shared<Collected<Reading>>();
  StreamJob job;
  auto windowed =
      job.from(
             from_collection(input),
             WatermarkStrategy<Reading>::bounded_out_of_orderness(1s).with_per_record_watermarks())
          .key_by([](const Reading& r) { return r.device; })
          .window(tumbling(5s));
  windowed.allowed_lateness(2s);
  auto windows = aggregate(windowed, aggregates::count<Reading>());
  windows.side_output<Reading>("late").to(collect(late));
  windows.to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running);
  ASSERT_TRUE((*running)->wait_for(30s));
  std::vector<std::uint64_t> first_window;
  for (const auto& w : out->values()) {
    if (w.window.start == 0) first_window.push_back(w.value);
  }
  EXPECT_EQ(first_window, (std::vector<std::uint64_t>{1, 2}));
  ASSERT_EQ(late->size(), 1u);
  EXPECT_EQ(late->values()[0].ts, 3'000);
}

TEST(Stream, SlidingSessionAndCountWindows) {
  ActorSystem system(two_workers());
  auto input = readings({{"a", 0, 1},
                         {"a", 1'000, 1},
                         {"a", 2'500, 1},
                         {"a", 9'000, 1},
                         {"a", 10'000, 1},
                         {"b", 500, 1}});
  auto slide = std::make_shared<Collected<Windowed<std::string, std::uint64_t>>>();
  auto sessions = std::make_shared<Collected<Windowed<std::string, std::uint64_t>>>();
  auto counts = std::make_shared<Collected<Windowed<std::string, std::uint64_t>>>();
  StreamJob job;
  auto src = job.from(from_collection(input), WatermarkStrategy<Reading>::monotonous());
  auto keyed = src.key_by([](const Reading& r) { return r.device; });
  keyed.window(sliding(2s, 1s)).aggregate(aggregates::count<Reading>()).to(collect(slide));
  keyed.window(session(3s)).aggregate(aggregates::count<Reading>()).to(collect(sessions));
  keyed.window(count_window(2)).aggregate(aggregates::count<Reading>()).to(collect(counts));
  auto running = job.start(system);
  ASSERT_TRUE(running);
  ASSERT_TRUE((*running)->wait_for(30s));

  std::map<std::pair<std::string, Timestamp>, std::uint64_t> s;
  for (const auto& w : slide->values()) s[{w.key, w.window.start}] = w.value;
  // a: 0 in [-1000,1000) and [0,2000); 1000 in [0,2000),[1000,3000); 2500 in
  // [1000,3000),[2000,4000)
  EXPECT_EQ((s[{"a", -1000}]), 1u);
  EXPECT_EQ((s[{"a", 0}]), 2u);
  EXPECT_EQ((s[{"a", 1000}]), 2u);
  EXPECT_EQ((s[{"a", 2000}]), 1u);

  std::vector<std::tuple<std::string, Timestamp, Timestamp, std::uint64_t>> sess;
  for (const auto& w : sessions->values()) {
    sess.emplace_back(w.key, w.window.start, w.window.end, w.value);
  }
  std::ranges::sort(sess);
  const std::vector<std::tuple<std::string, Timestamp, Timestamp, std::uint64_t>> want_sessions{
      {"a", 0, 5'500, 3}, {"a", 9'000, 13'000, 2}, {"b", 500, 3'500, 1}};
  EXPECT_EQ(sess, want_sessions);

  std::vector<std::pair<std::string, std::uint64_t>> c;
  for (const auto& w : counts->values()) c.emplace_back(w.key, w.value);
  std::ranges::sort(c);
  // a has 5 records: two full windows of 2; the fifth waits (count windows never time out).
  EXPECT_EQ(c, (std::vector<std::pair<std::string, std::uint64_t>>{{"a", 2}, {"a", 2}}));
}

}  // namespace
}  // namespace weft::stream
