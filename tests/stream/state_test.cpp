// Named keyed state (value, list, map, aggregating) on the heap and RocksDB backends: the
// handles over a store, TTL on a ManualClock, and jobs that checkpoint and restore the state
// into a different parallelism.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "weft/actor/actor_system.hpp"
#include "weft/stream/sinks.hpp"
#include "weft/stream/sources.hpp"
#include "weft/stream/state.hpp"
#include "weft/stream/stream.hpp"

namespace weft::stream {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using weft::test::TempDir;

struct Tick {
  std::int64_t key = 0;
  std::int64_t value = 0;
};
WEFT_CODEC(Tick, "test.StateTick", 1, key, value);

struct Sum {
  using Acc = std::int64_t;
  using Result = std::int64_t;
  [[nodiscard]] Acc create() const { return 0; }
  void add(Acc& a, const Tick& t) const { a += t.value; }
  void merge(Acc& a, const Acc& b) const { a += b; }
  [[nodiscard]] Result result(const Acc& a) const { return a; }
};

const char* backend_name(StateBackend b) {
  return b == StateBackend::heap ? "heap" : "rocksdb";
}

class StateStoreTest : public ::testing::TestWithParam<StateBackend> {
 protected:
  void SetUp() override {
    StateBackendOptions o{GetParam(), dir_.path()};
    auto s = open_state_store(o, "unit");
    ASSERT_TRUE(s) << s.error().describe();
    store_ = std::move(*s);
  }
  /// A binding as the operator makes it.
  StateBinding bind(const std::string& name, const std::string& key,
                    std::optional<Duration> ttl = {}) {
    // Keys are Codec encodings, which delimit themselves: "k" is no prefix of "k2" here.
    std::string prefix = std::string("\x00\x01", 2) + name + "|";
    detail::append_encoded(prefix, key);
    return StateBinding{store_.get(), name, std::move(prefix), ttl, clock_.now()};
  }

  TempDir dir_{"weft-state"};
  ManualClock clock_;
  std::unique_ptr<StateStore> store_;
};

TEST_P(StateStoreTest, ValueStateIsPerKeyAndClears) {
  ValueState<std::string> a(bind("v", "a"));
  ValueState<std::string> b(bind("v", "b"));
  EXPECT_EQ(a.get(), std::nullopt);
  EXPECT_EQ(a.value_or("none"), "none");
  a.set("first");
  a.set("second");
  b.set("other");
  EXPECT_EQ(a.get(), "second");
  EXPECT_EQ(b.get(), "other");
  a.clear();
  EXPECT_EQ(a.get(), std::nullopt);
  EXPECT_EQ(b.get(), "other");
}

TEST_P(StateStoreTest, ListStateKeepsInsertionOrder) {
  ListState<Tick> l(bind("l", "k"));
  EXPECT_TRUE(l.get().empty());
  for (std::int64_t i = 0; i < 50; ++i) l.add(Tick{i, -i});
  const auto got = l.get();
  ASSERT_EQ(got.size(), 50u);
  for (std::int64_t i = 0; i < 50; ++i) {
    EXPECT_EQ(got[static_cast<std::size_t>(i)].key, i);
    EXPECT_EQ(got[static_cast<std::size_t>(i)].value, -i);
  }
  l.clear();
  EXPECT_TRUE(l.get().empty());
}

TEST_P(StateStoreTest, MapStatePutGetRemoveIterate) {
  MapState<std::string, std::int64_t> m(bind("m", "k"));
  MapState<std::string, std::int64_t> other(bind("m", "k2"));
  EXPECT_FALSE(m.contains("x"));
  m.put("x", 1);
  m.put("y", 2);
  m.put("x", 3);
  other.put("z", 9);
  EXPECT_EQ(m.get("x"), 3);
  EXPECT_TRUE(m.contains("y"));
  EXPECT_EQ(m.get("z"), std::nullopt);
  EXPECT_EQ(m.entries(), (std::vector<std::pair<std::string, std::int64_t>>{{"x", 3}, {"y", 2}}));
  m.remove("x");
  EXPECT_FALSE(m.contains("x"));
  m.clear();
  EXPECT_TRUE(m.entries().empty());
  EXPECT_EQ(other.entries(), (std::vector<std::pair<std::string, std::int64_t>>{{"z", 9}}));
}

TEST_P(StateStoreTest, AggregatingStateFoldsWhatIsAdded) {
  AggregatingState<Sum> s(bind("s", "k"), Sum{});
  EXPECT_EQ(s.get(), std::nullopt);
  s.add(Tick{0, 5});
  s.add(Tick{0, -2});
  EXPECT_EQ(s.get(), 3);
  AggregatingState<aggregates::Count<Tick>> c(bind("c", "k"), aggregates::count<Tick>());
  for (int i = 0; i < 7; ++i) c.add(Tick{});
  EXPECT_EQ(c.get(), 7u);
  s.clear();
  EXPECT_EQ(s.get(), std::nullopt);
}

using IntMap = MapState<std::int64_t, std::int64_t>;

TEST_P(StateStoreTest, TtlExpiresEntriesNotWrittenForTheTtl) {
  ValueState<std::int64_t>(bind("v", "k", 10s)).set(1);
  IntMap(bind("m", "k", 10s)).put(1, 1);
  clock_.advance(6s);
  IntMap(bind("m", "k", 10s)).put(2, 2);
  clock_.advance(3s);  // 9 s: everything alive
  EXPECT_EQ(ValueState<std::int64_t>(bind("v", "k", 10s)).get(), 1);
  EXPECT_EQ(IntMap(bind("m", "k", 10s)).entries().size(), 2u);
  clock_.advance(1s);  // 10 s: the value and map entry 1 expired; entry 2 (written at 6 s) not
  EXPECT_EQ(ValueState<std::int64_t>(bind("v", "k", 10s)).get(), std::nullopt);
  IntMap m(bind("m", "k", 10s));
  EXPECT_FALSE(m.contains(1));
  EXPECT_EQ(m.entries(), (std::vector<std::pair<std::int64_t, std::int64_t>>{{2, 2}}));
  // Without a TTL the same entry is still there.
  EXPECT_EQ(ValueState<std::int64_t>(bind("v", "k")).get(), 1);
}

TEST_P(StateStoreTest, UndecodableBytesAreAnErrorNamingTheState) {
  ValueState<std::string>(bind("v", "k")).set("text");
  try {
    (void)ValueState<Tick>(bind("v", "k")).get();
    FAIL() << "decoded a string as a Tick";
  } catch (const StateError& e) {
    EXPECT_NE(std::string(e.what()).find("state 'v'"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StateStoreTest,
                         ::testing::Values(StateBackend::heap, StateBackend::rocksdb),
                         [](const auto& info) { return backend_name(info.param); });

// ---------------------------------------------------------------------------------------
// Jobs

/// What the process function below emits after each record, computed without the runtime.
std::vector<std::string> reference(const std::vector<Tick>& ticks, std::size_t from) {
  struct PerKey {
    std::int64_t count = 0;
    std::vector<std::int64_t> list;
    std::map<std::int64_t, std::int64_t> map;
    std::int64_t sum = 0;
  };
  std::map<std::int64_t, PerKey> keys;
  std::vector<std::string> out;
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    auto& k = keys[ticks[i].key];
    ++k.count;
    k.list.push_back(ticks[i].value);
    ++k.map[ticks[i].value % 3];
    k.sum += ticks[i].value;
    if (i < from) continue;
    std::string s = std::to_string(ticks[i].key) + "|" + std::to_string(k.count) + "|";
    for (auto v : k.list) s += std::to_string(v) + ",";
    s += "|";
    for (auto [mk, mv] : k.map) s += std::to_string(mk) + "=" + std::to_string(mv) + ",";
    s += "|" + std::to_string(k.sum);
    out.push_back(std::move(s));
  }
  std::ranges::sort(out);
  return out;
}

using Ctx = KeyedContext<std::int64_t, std::int64_t, std::string>;

void all_kinds(Ctx& ctx, const Tick& t) {
  auto count = ctx.value<std::int64_t>({"count", {}});
  count.set(count.value_or(0) + 1);
  auto list = ctx.list<std::int64_t>({"values", {}});
  list.add(t.value);
  auto map = ctx.map<std::int64_t, std::int64_t>({"by-residue", {}});
  map.put(t.value % 3, map.get(t.value % 3).value_or(0) + 1);
  auto sum = ctx.aggregating<Sum>({"sum", {}});
  sum.add(t);
  std::string s = std::to_string(ctx.key()) + "|" + std::to_string(*count.get()) + "|";
  for (auto v : list.get()) s += std::to_string(v) + ",";
  s += "|";
  map.for_each([&](std::int64_t k, std::int64_t v) {
    s += std::to_string(k) + "=" + std::to_string(v) + ",";
  });
  s += "|" + std::to_string(*sum.get());
  ctx.emit(std::move(s));
}

std::vector<Tick> ticks(std::size_t n, std::int64_t keys, std::int64_t salt) {
  std::vector<Tick> out;
  for (std::size_t i = 0; i < n; ++i) {
    const auto x = static_cast<std::int64_t>(i) * 7919 + salt;
    out.push_back(Tick{x % keys, (x / keys) % 1000});
  }
  return out;
}

bool wait_until(const std::function<bool()>& done, Duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

class StateJobTest : public ::testing::TestWithParam<StateBackend> {
 protected:
  [[nodiscard]] ProcessOptions options() const {
    ProcessOptions o;
    o.state_backend = {GetParam(), fs::path(dir_.path()) / "state"};
    return o;
  }
  TempDir dir_{"weft-state-job"};
};

TEST_P(StateJobTest, EveryKindOfStateInAParallelJob) {
  ActorSystem system;
  const auto input = ticks(3000, 200, 1);
  std::vector<std::pair<Tick, Timestamp>> timed;
  for (const auto& t : input) timed.emplace_back(t, 0);
  auto out = std::make_shared<Collected<std::string>>();
  JobOptions jo;
  jo.parallelism = 2;
  StreamJob job(jo);
  job.from(from_collection(timed), {}, "ticks", 1)
      .key_by([](const Tick& t) { return t.key; })
      .process<std::int64_t, std::string>(
          all_kinds, [](Ctx&, Timestamp, TimeDomain) {}, options())
      .to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running) << running.error().describe();
  ASSERT_TRUE((*running)->wait_for(60s));
  auto got = out->values();
  std::ranges::sort(got);
  EXPECT_EQ(got, reference(input, 0));
  EXPECT_EQ((*running)->metrics().dead_letters, 0u);
}

TEST_P(StateJobTest, RestoresIntoTwoInstancesFromOne) {
  const fs::path base(dir_.path());
  const auto first = ticks(4000, 2000, 3);
  const auto second = ticks(2000, 2000, 11);
  auto all = first;
  all.insert(all.end(), second.begin(), second.end());
  ActorSystem system;
  auto queue = std::make_shared<StreamQueue<Tick>>(first.size() + second.size());
  auto out = std::make_shared<Collected<std::string>>();
  auto build = [&](std::uint32_t parallelism, std::optional<fs::path> restore) {
    JobOptions jo;
    jo.name = "state";
    jo.parallelism = parallelism;
    jo.checkpoint_dir = base / ("chk-p" + std::to_string(parallelism));
    jo.restore_from = std::move(restore);
    StreamJob job(jo);
    job.from(from_queue(queue), {}, "ticks", 1)
        .key_by([](const Tick& t) { return t.key; })
        .process<std::int64_t, std::string>(
            all_kinds, [](Ctx&, Timestamp, TimeDomain) {}, options())
        .uid("all-kinds")
        .to(collect(out));
    return job;
  };
  auto job1 = build(1, std::nullopt);
  auto running1 = job1.start(system);
  ASSERT_TRUE(running1) << running1.error().describe();
  for (const auto& t : first) ASSERT_TRUE(queue->offer(t, 0));
  // The queue is not checkpointed: the savepoint comes once all of `first` was processed.
  ASSERT_TRUE(wait_until([&] { return out->size() >= first.size(); }, 60s));
  auto sp = (*running1)->savepoint("p1", 60s);
  ASSERT_TRUE(sp) << sp.error().describe();
  (*running1)->cancel();
  running1->reset();
  ASSERT_EQ(out->size(), first.size());

  auto job2 = build(2, *sp);
  auto running2 = job2.start(system);
  ASSERT_TRUE(running2) << running2.error().describe();
  for (const auto& t : second) ASSERT_TRUE(queue->offer(t, 0));
  queue->close();
  ASSERT_TRUE((*running2)->wait_for(60s));
  auto got = out->values();
  got.erase(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(first.size()));
  std::ranges::sort(got);
  // Every key continued from the state it had at parallelism 1.
  EXPECT_EQ(got, reference(all, first.size()));
}

TEST_P(StateJobTest, TtlFollowsTheOperatorClock) {
  auto clock = std::make_shared<ManualClock>();
  ActorSystemConfig config;
  config.workers = 1;
  config.clock = clock;
  ActorSystem system(config);
  auto queue = std::make_shared<StreamQueue<Tick>>(100);
  auto out = std::make_shared<Collected<std::string>>();
  StreamJob job;
  job.from(from_queue(queue))
      .key_by([](const Tick& t) { return t.key; })
      .process<std::int64_t, std::string>(
          [](Ctx& ctx, const Tick& t) {
            auto seen = ctx.list<std::int64_t>({"seen", 10s});
            seen.add(t.value);
            std::string s;
            for (auto v : seen.get()) s += std::to_string(v);
            ctx.emit(s);
          },
          [](Ctx&, Timestamp, TimeDomain) {}, options())
      .to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running);
  const auto send = [&](std::int64_t v, std::size_t expect) {
    EXPECT_TRUE(queue->offer(Tick{1, v}, 0));
    EXPECT_TRUE(wait_until([&] { return out->size() >= expect; }, 20s));
  };
  send(1, 1);
  clock->advance(9s);
  send(2, 2);  // written at 9 s: the list lives until 19 s
  clock->advance(9s);
  send(3, 3);  // 18 s
  clock->advance(11s);
  send(4, 4);  // 29 s: untouched since 18 s, expired
  queue->close();
  ASSERT_TRUE((*running)->wait_for(20s));
  EXPECT_EQ(out->values(), (std::vector<std::string>{"1", "12", "123", "4"}));
}

TEST_P(StateJobTest, OneNameAsTwoKindsIsADeadLetter) {
  ActorSystem system;
  std::vector<std::pair<Tick, Timestamp>> timed{{Tick{1, 1}, 0}, {Tick{1, 2}, 0}};
  auto out = std::make_shared<Collected<std::string>>();
  StreamJob job;
  job.from(from_collection(timed), {}, "ticks", 1)
      .key_by([](const Tick& t) { return t.key; })
      .process<std::int64_t, std::string>(
          [](Ctx& ctx, const Tick& t) {
            if (t.value == 1) {
              ctx.value<std::int64_t>({"x", {}}).set(1);
            } else {
              ctx.list<std::int64_t>({"x", {}}).add(2);
            }
            ctx.emit("ok");
          },
          [](Ctx&, Timestamp, TimeDomain) {}, options())
      .to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running);
  ASSERT_TRUE((*running)->wait_for(30s));
  EXPECT_EQ(out->size(), 1u);
  const auto letters = (*running)->dead_letters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_NE(letters[0].reason.find("state 'x'"), std::string::npos) << letters[0].reason;
}

// ---------------------------------------------------------------------------------------
// Restoring damaged blobs: the operator alone, on a context the test controls.

class FixedContext final : public OperatorContext {
 public:
  FixedContext(std::uint32_t subtask, std::uint32_t parallelism)
      : subtask_(subtask), parallelism_(parallelism) {}
  [[nodiscard]] const std::string& name() const override { return name_; }
  [[nodiscard]] std::uint32_t subtask() const override { return subtask_; }
  [[nodiscard]] std::uint32_t parallelism() const override { return parallelism_; }
  [[nodiscard]] std::uint32_t max_parallelism() const override { return default_max_parallelism; }
  [[nodiscard]] const Clock& clock() const override { return clock_; }
  void dead_letter(DeadLetter letter) override { letters.push_back(std::move(letter)); }
  void count_late(std::uint64_t) override {}
  void request_wakeup(TimePoint) override {}
  std::vector<DeadLetter> letters;

 private:
  std::string name_ = "process";
  std::uint32_t subtask_;
  std::uint32_t parallelism_;
  ManualClock clock_;
};

class Strings final : public Output<std::string> {
 public:
  using Output<std::string>::emit;
  void emit(std::string&& value, Timestamp) override { values.push_back(std::move(value)); }
  void watermark(Timestamp) override {}
  void finish() override {}
  std::vector<std::string> values;
};

using OnTick = std::function<void(Ctx&, const Tick&)>;
using OnTimer = std::function<void(Ctx&, Timestamp, TimeDomain)>;
using AllKindsOp =
    detail::KeyedProcessOp<std::int64_t, Tick, std::int64_t, std::string, OnTick, OnTimer>;

std::unique_ptr<AllKindsOp> make_op(Strings& out) {
  return std::make_unique<AllKindsOp>([](const Tick& t) { return t.key; }, all_kinds,
                                      [](Ctx&, Timestamp, TimeDomain) {}, ProcessOptions{}, &out);
}

TEST(StateRestore, DamagedBlobsAreErrorsNotCrashes) {
  Strings out;
  FixedContext ctx(0, 1);
  auto op = make_op(out);
  op->open(ctx);
  for (const auto& t : ticks(40, 8, 5)) op->emit(Tick(t), 0);
  std::vector<std::byte> blob;
  Writer w(blob);
  ASSERT_TRUE(op->snapshot(1, w));
  // No heap state and no timers: three zero counts, then the named states.
  ASSERT_GT(blob.size(), 3u);
  for (std::size_t len = 0; len <= blob.size(); ++len) {
    Strings sink;
    FixedContext fresh(0, 1);
    auto restored = make_op(sink);
    restored->open(fresh);
    const std::vector<std::vector<std::byte>> blobs{
        std::vector<std::byte>(blob.begin(), blob.begin() + static_cast<std::ptrdiff_t>(len))};
    const auto r = restored->restore(blobs);
    // Cut anywhere but after the timers (a blob without named states) or at the end, a blob
    // is truncated and must say so.
    const bool whole = len == 0 || len == 3 || len == blob.size();
    EXPECT_EQ(r.has_value(), whole) << "prefix of " << len << " bytes";
  }
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    auto damaged = blob;
    damaged[rng() % damaged.size()] ^= static_cast<std::byte>(1 + rng() % 255);
    Strings sink;
    FixedContext fresh(0, 1);
    auto restored = make_op(sink);
    restored->open(fresh);
    if (!restored->restore(std::vector<std::vector<std::byte>>{damaged})) continue;
    // Restored garbage may decode or not; reading it is a dead letter at worst.
    for (const auto& t : ticks(40, 8, 5)) restored->emit(Tick(t), 0);
    EXPECT_EQ(sink.values.size() + fresh.letters.size(), 40u);
  }
}

TEST(StateRestore, EachInstanceKeepsTheKeyGroupsItOwns) {
  Strings out;
  FixedContext ctx(0, 1);
  auto op = make_op(out);
  op->open(ctx);
  const auto input = ticks(600, 300, 2);
  for (const auto& t : input) op->emit(Tick(t), 0);
  std::vector<std::byte> blob;
  Writer w(blob);
  ASSERT_TRUE(op->snapshot(1, w));
  const std::vector<std::vector<std::byte>> blobs{blob};
  std::vector<std::string> got;
  for (std::uint32_t sub = 0; sub < 3; ++sub) {
    Strings sink;
    FixedContext c(sub, 3);
    auto restored = make_op(sink);
    restored->open(c);
    ASSERT_TRUE(restored->restore(blobs));
    // Only keys this instance owns carry on from their count; the others start again at 1.
    for (std::int64_t key = 0; key < 300; ++key) {
      const auto group = key_group_of(std::hash<std::int64_t>{}(key), default_max_parallelism);
      if (c.owns_key_group(group)) restored->emit(Tick{key, 0}, 0);
    }
    got.insert(got.end(), sink.values.begin(), sink.values.end());
    ASSERT_TRUE(c.letters.empty());
  }
  auto all = input;
  for (std::int64_t key = 0; key < 300; ++key) all.push_back(Tick{key, 0});
  std::ranges::sort(got);
  EXPECT_EQ(got, reference(all, input.size()));
}

INSTANTIATE_TEST_SUITE_P(Backends, StateJobTest,
                         ::testing::Values(StateBackend::heap, StateBackend::rocksdb),
                         [](const auto& info) { return backend_name(info.param); });

}  // namespace
}  // namespace weft::stream
