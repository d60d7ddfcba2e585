// Checkpoints: restore after a cancel, savepoints, and the exactly-once crash test (SIGKILL at
// random points, restart from the last completed checkpoint, compare the committed output).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.hpp"
#include "weft/actor/actor_system.hpp"
#include "weft/stream/sinks.hpp"
#include "weft/stream/sources.hpp"
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
WEFT_CODEC(Tick, "test.Tick", 1, key, value);

/// The job under test. The generator's index is its event time (x10 ms).
StreamJob make_job(JobOptions options, std::uint64_t count, const fs::path& out) {
  StreamJob job(std::move(options));
  auto ticks = job.from(generator<std::pair<std::uint64_t, Tick>>(
                            count,
                            [](std::uint64_t i) {
                              return std::pair{i, Tick{static_cast<std::int64_t>(i % 17),
                                                       static_cast<std::int64_t>(i % 100)}};
                            }),
                        WatermarkStrategy<std::pair<std::uint64_t, Tick>>::monotonous(
                            [](const auto& p) { return static_cast<Timestamp>(p.first * 10); }),
                        "ticks", 1);
  ticks.uid("ticks");
  ticks.map([](std::pair<std::uint64_t, Tick> p) { return p.second; }, "strip")
      .key_by([](const Tick& t) { return t.key; })
      .window(tumbling(1s))
      .reduce([](const Tick& a, const Tick& b) {
        return Tick{a.key, a.value + b.value};
      })
      .uid("sums")
      .to(transactional_files<Windowed<std::int64_t, Tick>>(
              out, "sums",
              [](const Windowed<std::int64_t, Tick>& w) {
                return std::to_string(w.key) + "," + std::to_string(w.window.start) + "," +
                       std::to_string(w.value.value);
              }),
          "files", 1);
  return job;
}

std::vector<std::string> published_lines(const fs::path& dir) {
  std::vector<std::string> lines;
  if (!fs::exists(dir)) return lines;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (name.ends_with(".pending") || name.ends_with(".inprogress")) continue;
    std::ifstream in(e.path());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  std::ranges::sort(lines);
  return lines;
}

std::vector<std::string> reference_output(std::uint64_t count) {
  TempDir dir;
  ActorSystem system;
  auto job = make_job({}, count, fs::path(dir.path()) / "out");
  auto running = job.start(system);
  EXPECT_TRUE(running);
  EXPECT_TRUE((*running)->wait_for(120s));
  return published_lines(fs::path(dir.path()) / "out");
}

JobOptions checkpointed(const fs::path& dir, Duration interval) {
  JobOptions o;
  o.name = "sums";
  o.checkpoint_dir = dir / "chk";
  o.checkpoint_interval = interval;
  return o;
}

TEST(Checkpoint, CancelledJobResumesFromItsLastCheckpointExactlyOnce) {
  constexpr std::uint64_t count = 300'000;
  const auto expected = reference_output(count);
  ASSERT_EQ(expected.size(), 17u * 3'000u);

  TempDir dir;
  const fs::path base(dir.path());
  bool interrupted = false;
  {
    ActorSystem system;
    auto options = checkpointed(base, 1h);  // only the checkpoint below
    auto job = make_job(options, count, base / "out");
    auto running = job.start(system);
    ASSERT_TRUE(running) << running.error().describe();
    auto id = (*running)->checkpoint();
    ASSERT_TRUE(id) << id.error().describe();
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while ((*running)->metrics().checkpoints_completed == 0 && !(*running)->is_done() &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    interrupted = !(*running)->is_done();
    (*running)->cancel();
  }
  ActorSystem system;
  auto job = make_job(checkpointed(base, 1h), count, base / "out");
  auto running = job.start(system);
  ASSERT_TRUE(running) << running.error().describe();
  ASSERT_TRUE((*running)->wait_for(120s));
  if (interrupted) {
    EXPECT_EQ((*running)->metrics().restored_from, std::optional<CheckpointId>(1));
  }
  EXPECT_EQ(published_lines(base / "out"), expected);
}

// A job that is one fused task re-schedules itself turn after turn (a turn is up to 256 batches
// of records); the checkpoint timer's message comes from outside the workers and must still get
// in between turns. On one worker, such a job used to complete a checkpoint only every 61 turns
// (a stateless Nexmark query at parallelism 1 took none in 60M records).
TEST(Checkpoint, ABusyFusedJobOnOneWorkerTakesItsPeriodicCheckpoints) {
  TempDir dir;
  ActorSystem system(ActorSystemConfig{.workers = 1});
  StreamJob job(checkpointed(fs::path(dir.path()), 20ms));
  job.from(generator<std::uint64_t>(std::uint64_t{1} << 40, [](std::uint64_t i) { return i; }),
           WatermarkStrategy<std::uint64_t>::no_watermarks(), "numbers", 1)
      .map([](std::uint64_t i) { return i * 3; }, "triple")
      .to(count_into<std::uint64_t>(std::make_shared<std::atomic<std::uint64_t>>(0)), "count", 1);
  auto running = job.start(system);
  ASSERT_TRUE(running) << running.error().describe();
  // Three checkpoints within 24 turns' worth of records (the old scheduler needed ~180 turns).
  constexpr std::uint64_t kRecordBudget = 24ull * 256 * 4096;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  JobMetrics m = (*running)->metrics();
  while (m.checkpoints_completed < 3 && m.records_in < kRecordBudget &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
    m = (*running)->metrics();
  }
  (*running)->cancel();
  EXPECT_GE(m.checkpoints_completed, 3u) << "after " << m.records_in << " records";
  EXPECT_EQ(m.checkpoints_failed, 0u);
}

TEST(Checkpoint, SavepointIsKeptAndRestorable) {
  TempDir dir;
  const fs::path base(dir.path());
  ActorSystem system;
  auto queue = std::make_shared<StreamQueue<Tick>>(1000);
  auto out = std::make_shared<Collected<Windowed<std::int64_t, std::uint64_t>>>();
  auto options = checkpointed(base, 1h);
  options.retained_checkpoints = 1;
  auto build = [&](JobOptions o) {
    StreamJob job(std::move(o));
    job.from(from_queue(queue), WatermarkStrategy<Tick>::monotonous(), "ticks", 1)
        .key_by([](const Tick& t) { return t.key; })
        .window(count_window(3))
        .aggregate(aggregates::count<Tick>())
        .uid("counts")
        .to(collect(out));
    return job;
  };
  auto job = build(options);
  auto running = job.start(system);
  ASSERT_TRUE(running);
  ASSERT_TRUE(queue->offer(Tick{1, 0}, 1));
  ASSERT_TRUE(queue->offer(Tick{1, 0}, 2));
  // The queue is not checkpointed: the savepoint must come after the source took both.
  const auto taken = std::chrono::steady_clock::now() + 30s;
  while ((*running)->metrics().records_in < 2 && std::chrono::steady_clock::now() < taken) {
    std::this_thread::yield();
  }
  ASSERT_EQ((*running)->metrics().records_in, 2u);
  auto sp = (*running)->savepoint("before-upgrade", 30s);
  ASSERT_TRUE(sp) << sp.error().describe();
  EXPECT_TRUE(fs::exists(*sp / "_metadata"));
  // Later checkpoints do not delete the savepoint.
  for (int i = 0; i < 3; ++i) {
    auto id = (*running)->checkpoint();
    ASSERT_TRUE(id);
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while ((*running)->metrics().last_checkpoint != *id &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  }
  EXPECT_TRUE(fs::exists(*sp / "_metadata"));
  (*running)->cancel();
  running->reset();

  // "A new build of the same job": restored from the savepoint, the count window already holds
  // two records of key 1, so one more closes it.
  auto restored_options = options;
  restored_options.restore_from = *sp;
  restored_options.checkpoint_dir = base / "chk2";
  auto queue2 = queue;
  auto job2 = build(restored_options);
  auto running2 = job2.start(system);
  ASSERT_TRUE(running2) << running2.error().describe();
  ASSERT_TRUE(queue->offer(Tick{1, 0}, 3));
  queue->close();
  ASSERT_TRUE((*running2)->wait_for(30s));
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ(out->values()[0].value, 3u);
}

TEST(Checkpoint, UnwritableCheckpointFailsTheCheckpointNotTheJob) {
  TempDir dir;
  const fs::path base(dir.path());
  ActorSystem system;
  auto queue = std::make_shared<StreamQueue<Tick>>(1000);
  auto out = std::make_shared<Collected<Windowed<std::int64_t, std::uint64_t>>>();
  auto options = checkpointed(base, 1h);
  StreamJob job(options);
  job.from(from_queue(queue), WatermarkStrategy<Tick>::monotonous(), "ticks", 1)
      .key_by([](const Tick& t) { return t.key; })
      .window(count_window(2))
      .aggregate(aggregates::count<Tick>())
      .to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running);
  // A file where the checkpoint directory should go: creating chk-1 fails.
  fs::remove_all(base / "chk");
  std::ofstream(base / "chk") << "not a directory";
  auto id = (*running)->checkpoint();
  EXPECT_FALSE(id);
  EXPECT_EQ((*running)->metrics().checkpoints_failed, 1u);
  ASSERT_TRUE(queue->offer(Tick{5, 0}, 1));
  ASSERT_TRUE(queue->offer(Tick{5, 0}, 2));
  queue->close();
  ASSERT_TRUE((*running)->wait_for(30s));
  EXPECT_EQ(out->size(), 1u);
}

// State files are written by the job's checkpoint writer, off the task: a file it cannot write
// fails that checkpoint (its directory removed), and the tasks, long past its barrier, go on.
TEST(Checkpoint, StateFileTheWriterCannotWriteFailsTheCheckpointNotTheJob) {
  TempDir dir;
  const fs::path base(dir.path());
  ActorSystem system;
  auto queue = std::make_shared<StreamQueue<Tick>>(1000);
  auto out = std::make_shared<Collected<Windowed<std::int64_t, std::uint64_t>>>();
  StreamJob job(checkpointed(base, 1h));
  job.from(from_queue(queue), WatermarkStrategy<Tick>::monotonous(), "ticks", 1)
      .key_by([](const Tick& t) { return t.key; })
      .window(count_window(2))
      .aggregate(aggregates::count<Tick>())
      .uid("counts")
      .to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running);
  const auto completed = [&](CheckpointId id) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto m = (*running)->metrics();
      if (m.last_checkpoint == id || m.checkpoints_failed > 0) return m;
      std::this_thread::yield();
    }
    return (*running)->metrics();
  };
  auto first = (*running)->checkpoint();
  ASSERT_TRUE(first);
  EXPECT_EQ(completed(*first).last_checkpoint, *first);
  EXPECT_TRUE(fs::exists(base / "chk" / ("chk-" + std::to_string(*first)) / "counts.0"));
  // A directory where the window's state file of the next checkpoint goes.
  const auto next = base / "chk" / ("chk-" + std::to_string(*first + 1));
  fs::create_directories(next / "counts.0");
  auto second = (*running)->checkpoint();
  ASSERT_TRUE(second);
  ASSERT_EQ(*second, *first + 1);
  const auto m = completed(*second);
  EXPECT_EQ(m.checkpoints_failed, 1u);
  EXPECT_EQ(m.last_checkpoint, *first);
  EXPECT_FALSE(fs::exists(next));
  ASSERT_TRUE(queue->offer(Tick{5, 0}, 1));
  ASSERT_TRUE(queue->offer(Tick{5, 0}, 2));
  queue->close();
  ASSERT_TRUE((*running)->wait_for(30s));
  EXPECT_EQ(out->size(), 1u);
}

// The end of input publishes without a checkpoint; a crash before the job is recorded finished
// restores the last checkpoint and writes the tail again. The parts published after that
// checkpoint are withdrawn on restore, the ones it covered stay.
TEST(TransactionalFiles, RestoreWithdrawsPartsPublishedAfterTheCheckpoint) {
  TempDir dir;
  const fs::path out = fs::path(dir.path()) / "out";
  std::vector<std::byte> blob;
  {
    detail::TransactionalFiles files(out, "p");
    ASSERT_TRUE(files.open(0));
    ASSERT_TRUE(files.write_line("covered"));
    Writer w(blob);
    ASSERT_TRUE(files.prepare(1, w));
    files.commit(1);
    ASSERT_TRUE(files.write_line("after the checkpoint"));
    ASSERT_TRUE(files.commit_all());  // end of input, then the process dies
  }
  EXPECT_EQ(published_lines(out), (std::vector<std::string>{"after the checkpoint", "covered"}));
  detail::TransactionalFiles again(out, "p");
  ASSERT_TRUE(again.open(0));
  ASSERT_TRUE(again.recover(std::span(&blob, 1)));
  EXPECT_EQ(published_lines(out), (std::vector<std::string>{"covered"}));
  // The replay writes the tail again, once.
  ASSERT_TRUE(again.write_line("after the checkpoint"));
  ASSERT_TRUE(again.commit_all());
  EXPECT_EQ(published_lines(out), (std::vector<std::string>{"after the checkpoint", "covered"}));
}

// --- SIGKILL crash test -------------------------------------------------------------------

constexpr std::uint64_t crash_count = 400'000;

TEST(StreamCrashChild, Job) {
  const char* dir = std::getenv("WEFT_STREAM_CRASH_CHILD");
  if (dir == nullptr) GTEST_SKIP() << "the stream crash test's child process mode";
  const fs::path base(dir);
  ActorSystem system;
  auto job = make_job(checkpointed(base, 15ms), crash_count, base / "out");
  auto running = job.start(system);
  if (!running) ::_exit(3);
  if (!(*running)->wait_for(600s)) ::_exit(4);
  ::_exit(0);
}

/// Runs the job in child processes in `dir` until one finishes, killing each run at a random
/// point while `kills` is below `cycles`. Returns false if a child failed.
bool run_until_finished(const fs::path& dir, std::mt19937& rng, int cycles, int& kills) {
  const std::string exe = fs::read_symlink("/proc/self/exe");
  for (int run = 0; run < 1000; ++run) {
    const pid_t child = ::fork();
    if (child == 0) {
      ::setenv("WEFT_STREAM_CRASH_CHILD", dir.c_str(), 1);
      ::execl(exe.c_str(), exe.c_str(), "--gtest_filter=StreamCrashChild.Job", nullptr);
      ::_exit(127);
    }
    const auto kill_at = std::chrono::steady_clock::now() +
                         std::chrono::milliseconds(std::uniform_int_distribution<>(5, 150)(rng));
    const auto give_up = std::chrono::steady_clock::now() + 300s;
    int status = 0;
    for (;;) {
      const pid_t r = ::waitpid(child, &status, WNOHANG);
      if (r == child) break;
      const auto now = std::chrono::steady_clock::now();
      if ((kills < cycles && now >= kill_at) || now >= give_up) {
        ::kill(child, SIGKILL);
        ::waitpid(child, &status, 0);
        break;
      }
      std::this_thread::sleep_for(1ms);  // the kill timer's resolution, not a wait for events
    }
    if (WIFSIGNALED(status)) {
      ++kills;
      continue;
    }
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  return false;
}

TEST(StreamCrash, SigkillAtRandomPointsCommitsExactlyTheUncrashedOutput) {
  const auto expected = reference_output(crash_count);
  const auto seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const int cycles = std::getenv("WEFT_CRASH_CYCLES") != nullptr
                         ? std::max(1, std::atoi(std::getenv("WEFT_CRASH_CYCLES")))
                         : 20;
  // A fast machine may finish the job before it was killed `cycles` times: then the job runs
  // again from scratch in a fresh directory, and every run's output is checked.
  int kills = 0;
  for (int experiment = 0; experiment < 100 && kills < cycles; ++experiment) {
    TempDir dir;
    const fs::path base(dir.path());
    ASSERT_TRUE(run_until_finished(base, rng, cycles, kills));
    const auto got = published_lines(base / "out");
    if (got != expected) {
      // Name the lines: the sets are too large for gtest to print whole.
      std::vector<std::string> missing;
      std::vector<std::string> extra;
      std::ranges::set_difference(expected, got, std::back_inserter(missing));
      std::ranges::set_difference(got, expected, std::back_inserter(extra));
      for (std::size_t i = 0; i < std::min<std::size_t>(missing.size(), 20); ++i) {
        ADD_FAILURE() << "missing: " << missing[i];
      }
      for (std::size_t i = 0; i < std::min<std::size_t>(extra.size(), 20); ++i) {
        ADD_FAILURE() << "extra: " << extra[i];
      }
      FAIL() << got.size() << " lines, expected " << expected.size() << ": " << missing.size()
             << " missing, " << extra.size() << " extra, after " << kills << " kills";
    }
  }
  EXPECT_GE(kills, cycles);
}

}  // namespace
}  // namespace weft::stream
