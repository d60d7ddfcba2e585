// Rule 2: DeviceWindows (per-device watermark, out-of-orderness, late readings, idle close) and
// the window job over the journal into the device actors: numbers per window, per-device
// clocks, idle closes on the job's clock, and exactly one AggregateRecorded per window across a
// restore from a checkpoint.
#include "weft/node/windows.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "eventually.hpp"
#include "temp_dir.hpp"
#include "weft/actor/actor_system.hpp"
#include "weft/persistence/memory_journal.hpp"

namespace weft::node {
namespace {

using namespace std::chrono_literals;
using persistence::EntityEnvelope;

/// Polls `done` until it holds or 20 s pass.
bool eventually(const std::function<bool()>& done) {
  return weft::test::eventually(done, 20s);
}

const WindowRules kRules{5'000, 2'000, std::chrono::hours(1)};

Aggregate agg(std::string device, std::int64_t start, std::vector<double> temps) {
  Aggregate a{std::move(device), start, start + 5'000, temps.size(), 0, temps.at(0), temps.at(0)};
  double sum = 0;
  for (double t : temps) {
    sum += t;
    a.min = std::min(a.min, t);
    a.max = std::max(a.max, t);
  }
  a.avg = sum / static_cast<double>(temps.size());
  return a;
}

// --- DeviceWindows ---------------------------------------------------------------------------

TEST(DeviceWindows, InOrderReadingsCloseEachWindowOnceTheWatermarkPassesItsEnd) {
  DeviceWindows w;
  std::vector<Aggregate> closed;
  for (std::int64_t ts = 0; ts < 7'000; ts += 1'000) {
    EXPECT_TRUE(w.add(kRules, "d", ts, static_cast<double>(ts / 1'000), closed));
  }
  EXPECT_TRUE(closed.empty()) << "[0, 5000) closed before a reading at 7000";
  EXPECT_TRUE(w.add(kRules, "d", 7'000, 7, closed));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0], agg("d", 0, {0, 1, 2, 3, 4}));
  EXPECT_EQ(w.closed_until, 5'000);
  EXPECT_EQ(w.open.size(), 1u);
  // A jump closes every window it passes, oldest first; empty windows are not reported.
  closed.clear();
  EXPECT_TRUE(w.add(kRules, "d", 30'000, 30, closed));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0], agg("d", 5'000, {5, 6, 7}));
  EXPECT_EQ(w.closed_until, 25'000);
}

TEST(DeviceWindows, OutOfOrderWithinTheBoundIsKeptAndLaterIsLate) {
  DeviceWindows w;
  std::vector<Aggregate> closed;
  EXPECT_TRUE(w.add(kRules, "d", 1'000, 10, closed));
  EXPECT_TRUE(w.add(kRules, "d", 6'500, 20, closed));  // watermark 4500: [0,5000) stays open
  EXPECT_TRUE(w.add(kRules, "d", 4'999, 30, closed));  // 1.5 s behind: kept
  EXPECT_TRUE(closed.empty());
  EXPECT_TRUE(w.add(kRules, "d", 7'000, 40, closed));  // watermark 5000: closes [0,5000)
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0], agg("d", 0, {10, 30}));
  EXPECT_FALSE(w.add(kRules, "d", 4'000, 99, closed));  // its window is closed: late
  EXPECT_FALSE(w.add(kRules, "d", 0, 99, closed));
  EXPECT_EQ(w.late, 2u);
  EXPECT_TRUE(w.add(kRules, "d", 5'000, 50, closed));  // the open window still takes it
  closed.clear();
  w.close_all("d", closed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0], agg("d", 5'000, {20, 40, 50}));
  EXPECT_TRUE(w.open.empty());
  EXPECT_FALSE(w.add(kRules, "d", 9'999, 1, closed)) << "a reading for an idle-closed window";
  EXPECT_TRUE(w.add(kRules, "d", 10'000, 1, closed));
}

TEST(DeviceWindows, NegativeAndExtremeTimestampsDoNotOverflow) {
  DeviceWindows w;
  std::vector<Aggregate> closed;
  EXPECT_TRUE(w.add(kRules, "d", -1, 5, closed));
  EXPECT_EQ(w.open.begin()->first, -5'000);
  EXPECT_TRUE(w.add(kRules, "d", std::numeric_limits<std::int64_t>::max(), 6, closed));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].window_start, -5'000);
  EXPECT_EQ(closed[0].window_end, 0);
  closed.clear();
  w.close_all("d", closed);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].window_end, std::numeric_limits<std::int64_t>::max());
  DeviceWindows low;
  EXPECT_TRUE(low.add(kRules, "d", std::numeric_limits<std::int64_t>::min(), 1, closed));
}

/// The batch answer: every window of the readings, by start.
std::vector<Aggregate> batch(const std::string& device,
                             const std::vector<std::pair<std::int64_t, int>>& readings) {
  std::map<std::int64_t, std::vector<double>> by_window;
  for (const auto& [ts, t] : readings) {
    const std::int64_t s = ts >= 0 ? ts / 5'000 * 5'000 : -((-ts + 4'999) / 5'000) * 5'000;
    by_window[s].push_back(t);
  }
  std::vector<Aggregate> out;
  for (const auto& [s, temps] : by_window) out.push_back(agg(device, s, temps));
  return out;
}

RC_GTEST_PROP(DeviceWindows, AnyOrderWithinTheOutOfOrdernessGivesTheBatchAggregates, ()) {
  const auto timestamps = *rc::gen::container<std::vector<std::int64_t>>(
      rc::gen::inRange<std::int64_t>(-20'000, 60'000));
  std::vector<std::pair<std::int64_t, int>> readings;  // (ts, integral temperature: exact sums)
  for (auto ts : timestamps) readings.emplace_back(ts, *rc::gen::inRange(-40, 120));
  // Arrival order: by ts plus a delay below the out-of-orderness, so no reading arrives after
  // one that is 2 s or more newer than it.
  std::vector<std::pair<std::int64_t, std::size_t>> keys;
  for (std::size_t i = 0; i < readings.size(); ++i) {
    keys.emplace_back(readings[i].first + *rc::gen::inRange<std::int64_t>(0, 2'000), i);
  }
  std::ranges::sort(keys);
  DeviceWindows w;
  std::vector<Aggregate> closed;
  for (const auto& [key, i] : keys) {
    RC_ASSERT(w.add(kRules, "p", readings[i].first, readings[i].second, closed));
  }
  w.close_all("p", closed);
  RC_ASSERT(w.late == 0u);
  RC_ASSERT(closed == batch("p", readings));
}

TEST(LateCounts, SetReplacesTheDevicesCountAndKeepsTheTotal) {
  LateCounts late;
  late.set("a", 2);
  late.set("b", 5);
  late.set("a", 3);  // a restored operator sets its count again: not added twice
  EXPECT_EQ(late.total(), 8u);
  EXPECT_EQ(late.snapshot(),
            (std::vector<std::pair<std::string, std::uint64_t>>{{"a", 3}, {"b", 5}}));
}

// --- The job ---------------------------------------------------------------------------------

struct Node {
  explicit Node(std::shared_ptr<persistence::Journal> j, ActorSystemConfig config = {})
      : journal(std::move(j)), system(std::move(config)) {
    DeviceOptions options;
    options.journal = journal;
    devices = system.spawn(devices_behavior(options), "devices");
  }

  void record(const std::string& device, const std::vector<std::pair<std::int64_t, double>>& rs) {
    std::vector<Reading> readings;
    for (const auto& [ts, t] : rs) readings.push_back(Reading{device, ts, t, std::nullopt});
    auto promise = std::make_shared<std::promise<Result<std::size_t>>>();
    auto future = promise->get_future();
    devices.tell(EntityEnvelope<DeviceCommand>{
        device, RecordReadings{std::move(readings), [promise](Result<std::size_t> r) {
                                 promise->set_value(std::move(r));
                               }}});
    ASSERT_EQ(future.wait_for(20s), std::future_status::ready);
    auto r = future.get();
    ASSERT_TRUE(r) << r.error().describe();
  }

  std::unique_ptr<stream::Job> start(const stream::JobOptions& options, WindowRules rules = kRules,
                                     std::shared_ptr<LateCounts> late = nullptr) {
    WindowJobSpec spec;
    spec.journal = journal;
    spec.devices = devices;
    spec.rules = rules;
    spec.options = options;
    spec.late = std::move(late);
    auto job = start_window_job(system, std::move(spec));
    EXPECT_TRUE(job) << job.error().describe();
    return job ? std::move(*job) : nullptr;
  }

  std::shared_ptr<persistence::Journal> journal;
  ActorSystem system;
  ActorRef<DevicesMsg> devices;
};

/// Every AggregateRecorded in the journal, as Aggregates, in journal (tag) order.
std::vector<Aggregate> recorded(persistence::Journal& journal) {
  auto events = journal.events_by_tag("aggregate", 0, 1'000'000).get();
  EXPECT_TRUE(events);
  std::vector<Aggregate> out;
  for (const auto& t : events.value_or(std::vector<persistence::TaggedEvent>{})) {
    auto e = decode<DeviceEvent>(t.event.payload);
    EXPECT_TRUE(e);
    const auto& a = std::get<AggregateRecorded>(*e);
    out.push_back(Aggregate{std::string(device_of_pid(t.event.persistence_id)), a.window_start,
                            a.window_end, a.count, a.avg, a.min, a.max});
  }
  return out;
}

std::vector<Aggregate> of_device(const std::vector<Aggregate>& all, const std::string& device) {
  std::vector<Aggregate> out;
  for (const auto& a : all) {
    if (a.device == device) out.push_back(a);
  }
  return out;
}

TEST(WindowJob, BadSpecsAreErrorsThatSayWhat) {
  Node node(std::make_shared<persistence::MemoryJournal>());
  WindowJobSpec spec;
  spec.journal = node.journal;
  auto r = start_window_job(node.system, spec);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "window job: no devices actor");
  spec.devices = node.devices;
  spec.rules.size_ms = 0;
  r = start_window_job(node.system, spec);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "window job: window size must be positive, got 0");
  spec.rules = kRules;
  spec.rules.out_of_orderness_ms = -1;
  r = start_window_job(node.system, spec);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "window job: out-of-orderness must not be negative, got -1");
}

TEST(WindowJob, InOrderReadingsBecomeOneAggregatePerClosedWindow) {
  Node node(std::make_shared<persistence::MemoryJournal>());
  std::vector<std::pair<std::int64_t, double>> rs;
  for (std::int64_t ts = 0; ts <= 14'000; ts += 1'000) rs.emplace_back(ts, 70.0 + ts / 1'000);
  node.record("m-1", rs);
  auto job = node.start({});
  ASSERT_TRUE(job);
  ASSERT_TRUE(eventually([&] { return recorded(*node.journal).size() == 2; }));
  const std::vector<Aggregate> expected{agg("m-1", 0, {70, 71, 72, 73, 74}),
                                        agg("m-1", 5'000, {75, 76, 77, 78, 79})};
  EXPECT_EQ(recorded(*node.journal), expected);
  // [10000, 15000) waits for its watermark: a reading at 17000 closes it (avg 82 > 80: alarm).
  node.record("m-1", {{17'000, 90}});
  ASSERT_TRUE(eventually([&] { return recorded(*node.journal).size() == 3; }));
  EXPECT_EQ(recorded(*node.journal).back(), agg("m-1", 10'000, {80, 81, 82, 83, 84}));
  const auto alarms = node.journal->events_by_tag("alarm", 0, 100).get().value();
  ASSERT_FALSE(alarms.empty());
  EXPECT_EQ(decode<DeviceEvent>(alarms.back().event.payload).value(),
            DeviceEvent(AlarmTriggered{15'000, AlarmRule::window_average, 82.0, 80.0}));
  job->cancel();
}

TEST(WindowJob, EachDeviceHasItsOwnWatermarkAndLateReadingsAreCounted) {
  Node node(std::make_shared<persistence::MemoryJournal>());
  auto late = std::make_shared<LateCounts>();
  auto job = node.start({}, kRules, late);
  ASSERT_TRUE(job);
  // Device A's clock is far ahead of B's: B's readings are not late because of A.
  node.record("a", {{1'000'000, 50}, {1'001'000, 52}, {1'008'000, 60}});
  node.record("b", {{1'000, 10}, {2'000, 20}, {3'500, 15}, {1'500, 30}, {8'000, 40}});
  ASSERT_TRUE(eventually([&] { return recorded(*node.journal).size() == 2; }));
  EXPECT_EQ(of_device(recorded(*node.journal), "a"), (std::vector{agg("a", 1'000'000, {50, 52})}));
  EXPECT_EQ(of_device(recorded(*node.journal), "b"), (std::vector{agg("b", 0, {10, 20, 15, 30})}));
  // Now B sends for its closed window: late, counted, kept out; still recorded as a reading.
  node.record("b", {{4'000, 99}, {9'000, 41}});
  ASSERT_TRUE(eventually([&] { return late->total() == 1; }));
  EXPECT_EQ(late->snapshot(), (std::vector<std::pair<std::string, std::uint64_t>>{{"b", 1}}));
  node.record("b", {{12'000, 42}});  // closes [5000, 10000) without the late 99
  ASSERT_TRUE(eventually([&] { return recorded(*node.journal).size() == 3; }));
  EXPECT_EQ(of_device(recorded(*node.journal), "b").back(), agg("b", 5'000, {40, 41}));
  job->cancel();
}

TEST(WindowJob, AnIdleDeviceHasItsWindowsClosedOnTheJobsClock) {
  auto clock = std::make_shared<ManualClock>();
  ActorSystemConfig config;
  config.clock = clock;
  Node node(std::make_shared<persistence::MemoryJournal>(), config);
  WindowRules rules = kRules;
  rules.idle_timeout = 10s;
  auto job = node.start({}, rules);
  ASSERT_TRUE(job);
  // The last reading closes [0, 5000): once that aggregate is in, the operator has seen it.
  node.record("idle", {{1'000, 10}, {5'000, 20}, {6'000, 30}, {7'000, 40}});
  ASSERT_TRUE(eventually([&] { return recorded(*node.journal).size() == 1; }));
  clock->advance(9s);
  node.record("other", {{0, 1}});  // keeps the job busy; not the idle device
  clock->advance(500ms);
  EXPECT_EQ(recorded(*node.journal).size(), 1u) << "closed before the idle timeout";
  clock->advance(1s);
  ASSERT_TRUE(eventually([&] { return of_device(recorded(*node.journal), "idle").size() == 2; }));
  EXPECT_EQ(of_device(recorded(*node.journal), "idle").back(), agg("idle", 5'000, {20, 30, 40}));
  job->cancel();
}

TEST(WindowJob, RestoreFromACheckpointRecordsEveryWindowExactlyOnce) {
  test::TempDir dir;
  auto journal = std::make_shared<persistence::MemoryJournal>();
  stream::JobOptions options;
  options.name = "windows";
  options.checkpoint_dir = std::filesystem::path(dir.path()) / "chk";
  options.checkpoint_interval = std::chrono::hours(1);  // only the checkpoint taken below
  // Each step sends 5 s of readings for 3 devices: one more window per device closes.
  auto send_step = [](Node& node, int step) {
    for (const std::string d : {"x", "y", "z"}) {
      std::vector<std::pair<std::int64_t, double>> rs;
      for (int i = 0; i < 5; ++i) rs.emplace_back(step * 5'000 + i * 1'000, step * 10 + i);
      node.record(d, rs);
    }
  };
  {
    Node node(journal);
    auto job = node.start(options);
    ASSERT_TRUE(job);
    for (int step = 0; step < 4; ++step) send_step(node, step);
    ASSERT_TRUE(eventually([&] { return recorded(*journal).size() == 9; }));  // 3 windows each
    ASSERT_TRUE(job->checkpoint());
    ASSERT_TRUE(eventually([&] { return job->metrics().checkpoints_completed == 1; }));
    for (int step = 4; step < 6; ++step) send_step(node, step);  // replayed after the restore
    ASSERT_TRUE(eventually([&] { return recorded(*journal).size() == 15; }));
    job->cancel();
  }
  Node node(journal);  // a new process: actors recover from the journal
  auto job = node.start(options);
  ASSERT_TRUE(job);
  send_step(node, 6);
  ASSERT_TRUE(eventually([&] { return recorded(*journal).size() >= 18; }));
  // Let a wrong duplicate show up, if any: the job has read everything once its last window
  // (closed by the step-6 readings) is in; a few more reads cannot add what was not sent.
  EXPECT_EQ(job->metrics().restored_from, std::optional<stream::CheckpointId>(1));
  job->cancel();
  std::map<std::tuple<std::string, std::int64_t>, int> per_window;
  for (const auto& a : recorded(*journal)) ++per_window[{a.device, a.window_start}];
  EXPECT_EQ(per_window.size(), 18u);
  for (const auto& [w, n] : per_window) {
    EXPECT_EQ(n, 1) << std::get<0>(w) << " " << std::get<1>(w);
  }
  for (const std::string d : {"x", "y", "z"}) {
    const auto got = of_device(recorded(*journal), d);
    ASSERT_EQ(got.size(), 6u);
    for (int step = 0; step < 6; ++step) {
      EXPECT_EQ(
          got[static_cast<std::size_t>(step)],
          agg(d, step * 5'000,
              {step * 10.0, step * 10.0 + 1, step * 10.0 + 2, step * 10.0 + 3, step * 10.0 + 4}));
    }
  }
}

}  // namespace
}  // namespace weft::node
