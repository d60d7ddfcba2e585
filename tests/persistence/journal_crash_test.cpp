// Crash torture: a child process appends at full speed with fsync and reports every
// acknowledged append on a pipe; the parent SIGKILLs it at a random point, reopens the journal
// and checks that every acknowledged event is there, once, in order, intact, and that no batch
// is half-stored. The child is this test binary again (fork + exec), in the mode selected by
// WEFT_CRASH_CHILD, so it starts with no state inherited from the parent.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <random>

#include "temp_dir.hpp"
#include "weft/persistence/rocksdb_journal.hpp"

namespace weft::persistence {
namespace {

constexpr std::uint32_t kPids = 16;
constexpr std::size_t kInFlight = 64;

std::string pid_name(std::uint32_t i) {
  return "device-" + std::to_string(i);
}

// Batch boundaries are a function of (pid, first sequence), so a reader can tell whether the
// stored history ends exactly at a boundary: all or nothing of every batch.
std::uint64_t batch_size(std::uint32_t pid, std::uint64_t first) {
  return 1 + (first * 7 + pid) % 3;
}

EventRecord expected_event(std::uint32_t pid, std::uint64_t seq) {
  EventRecord e;
  e.persistence_id = pid_name(pid);
  e.sequence_nr = seq;
  // New manifests keep appearing as the histories grow (64 in all): their ids are defined in
  // log segments that kills land around, and folded into the metadata.
  e.manifest = "crash.Event" + std::to_string((seq / 25 + pid) % 64);
  e.timestamp_ms = static_cast<std::int64_t>(seq);
  e.tags = {"all"};
  e.payload.resize(20 + (seq * 13 + pid) % 200);
  for (std::size_t i = 0; i < e.payload.size(); ++i) {
    e.payload[i] = static_cast<std::byte>((seq * 31 + pid * 17 + i) & 0xff);
  }
  return e;
}

// One acknowledged append as reported on the pipe: 12 bytes, written atomically.
struct Ack {
  std::uint32_t pid;
  std::uint64_t highest;
};
constexpr std::size_t kAckBytes = 12;

// A tiny fold threshold: the log is folded into chunks all the time, so kills land in the
// middle of folds too, and re-opens re-read partly folded logs. Small log files, prepared
// ahead: kills land while the log moves from file to file and reuses released ones too.
constexpr std::size_t kFoldBytes = 16u << 10;
constexpr std::size_t kLogFileBytes = 256u << 10;

JournalOptions crash_options(const std::string& dir) {
  JournalOptions o;
  o.directory = dir;
  o.fold_bytes = kFoldBytes;
  o.log_file_bytes = kLogFileBytes;
  o.preallocate_log = true;
  return o;
}

[[noreturn]] void child_main(const std::string& dir, int fd) {
  auto opened = RocksDbJournal::open(crash_options(dir));
  if (!opened) {
    std::fprintf(stderr, "crash child: %s\n", opened.error().describe().c_str());
    ::_exit(3);
  }
  auto& j = **opened;
  std::array<std::uint64_t, kPids> next{};
  for (std::uint32_t p = 0; p < kPids; ++p)
    next[p] = j.highest_sequence_nr(pid_name(p)).get().value() + 1;
  struct InFlight {
    std::uint32_t pid;
    Future<std::uint64_t> done;
  };
  std::deque<InFlight> in_flight;
  for (std::uint64_t i = 0;; ++i) {
    const auto p = static_cast<std::uint32_t>(i % kPids);
    AppendBatch b{pid_name(p), next[p], 0, {}};
    const auto n = batch_size(p, next[p]);
    for (std::uint64_t k = 0; k < n; ++k) b.events.push_back(expected_event(p, next[p] + k));
    next[p] += n;
    in_flight.push_back({p, j.append(std::move(b))});
    if (in_flight.size() < kInFlight) continue;
    auto r = in_flight.front().done.get();
    if (!r) {
      std::fprintf(stderr, "crash child: append failed: %s\n", r.error().describe().c_str());
      ::_exit(4);
    }
    std::array<char, kAckBytes> msg;
    std::memcpy(msg.data(), &in_flight.front().pid, 4);
    std::memcpy(msg.data() + 4, &*r, 8);
    if (::write(fd, msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) ::_exit(5);
    in_flight.pop_front();
  }
}

// The child's entry point: only runs when the parent test exec'd this binary for it.
TEST(JournalCrashChild, Writer) {
  const char* dir = std::getenv("WEFT_CRASH_CHILD");
  const char* fd = std::getenv("WEFT_CRASH_FD");
  if (dir == nullptr || fd == nullptr) GTEST_SKIP() << "the crash test's child process mode";
  child_main(dir, std::atoi(fd));
}

using weft::test::TempDir;

// Starts the child, lets it report `acks` acknowledgements (or runs into the deadline), kills
// it with SIGKILL and returns everything it reported, including what was still in the pipe.
std::vector<Ack> run_and_kill(const std::string& dir, std::size_t acks) {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  ::fcntl(fds[1], F_SETFD, 0);  // the child inherits the write end only
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe");
  const std::string fd_text = std::to_string(fds[1]);
  const pid_t child = ::fork();
  if (child == 0) {
    ::setenv("WEFT_CRASH_CHILD", dir.c_str(), 1);
    ::setenv("WEFT_CRASH_FD", fd_text.c_str(), 1);
    ::execl(exe.c_str(), exe.c_str(), "--gtest_filter=JournalCrashChild.Writer", nullptr);
    ::_exit(127);
  }
  ::close(fds[1]);
  std::vector<Ack> out;
  std::string buf;
  bool killed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto kill_child = [&] {
    if (!killed) ::kill(child, SIGKILL);
    killed = true;
  };
  if (acks == 0) kill_child();  // during start-up or recovery
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) kill_child();
    pollfd p{fds[0], POLLIN, 0};
    ::poll(&p, 1, killed ? -1 : static_cast<int>(std::max<long>(1, left.count())));
    char chunk[4096];
    const ssize_t n = ::read(fds[0], chunk, sizeof chunk);
    if (n == 0) break;  // the child is dead and the pipe drained
    if (n < 0) continue;
    buf.append(chunk, static_cast<std::size_t>(n));
    while (buf.size() >= kAckBytes) {
      Ack a;
      std::memcpy(&a.pid, buf.data(), 4);
      std::memcpy(&a.highest, buf.data() + 4, 8);
      out.push_back(a);
      buf.erase(0, kAckBytes);
    }
    if (out.size() >= acks) kill_child();
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(fds[0]);
  EXPECT_TRUE(buf.empty()) << "a torn ack on the pipe";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the child ended on its own, status " << status;
  return out;
}

TEST(JournalCrash, SigkillLosesNoAcknowledgedEventAndLeavesNoPartialBatch) {
  TempDir dir;
  const std::string db = dir.path() + "/db";
  const auto seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::array<std::uint64_t, kPids> acked{};
  std::array<std::uint64_t, kPids> verified{};
  std::uint64_t tags_verified = 0;
  std::uint64_t total_acks = 0;
  // 50 cycles in `make test`; scripts/crash-soak sets WEFT_CRASH_CYCLES for a longer run.
  const int kCycles = std::getenv("WEFT_CRASH_CYCLES") != nullptr
                          ? std::max(1, std::atoi(std::getenv("WEFT_CRASH_CYCLES")))
                          : 50;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    // Mostly mid-stream kills; now and then one during start-up and recovery.
    const std::size_t target = rng() % 8 == 0 ? 0 : 1 + rng() % 2000;
    for (const auto& a : run_and_kill(db, target)) {
      ASSERT_LT(a.pid, kPids);
      ASSERT_GT(a.highest, acked[a.pid]) << "acks of one pid arrive in order";
      acked[a.pid] = a.highest;
      ++total_acks;
    }

    auto j = RocksDbJournal::open(crash_options(db));

    ASSERT_TRUE(j.has_value()) << j.error().describe();
    // Everything every few cycles and at the end; otherwise what the last child added (and
    // the event just before it), which keeps 50 cycles fast under ASan.
    const bool full = cycle % 10 == 9 || cycle == kCycles - 1;
    std::uint64_t events = 0;
    for (std::uint32_t p = 0; p < kPids; ++p) {
      const std::uint64_t from = full ? 1 : std::max<std::uint64_t>(1, verified[p]);
      auto stored = (*j)->read(pid_name(p), from, UINT64_MAX, 1'000'000).get();
      ASSERT_TRUE(stored.has_value()) << stored.error().describe();
      const std::uint64_t highest = stored->empty() ? from - 1 : stored->back().sequence_nr;
      ASSERT_GE(highest, acked[p]) << pid_name(p) << " lost acknowledged events";
      ASSERT_GE(highest, verified[p]) << pid_name(p) << " lost events seen before";
      for (std::uint64_t i = 0; i < stored->size(); ++i) {
        ASSERT_EQ((*stored)[i], expected_event(p, from + i)) << pid_name(p) << " seq " << from + i;
      }
      std::uint64_t boundary = 1;
      while (boundary <= highest) boundary += batch_size(p, boundary);
      ASSERT_EQ(boundary, highest + 1) << pid_name(p) << " holds part of a batch";
      ASSERT_EQ((*j)->highest_sequence_nr(pid_name(p)).get().value(), highest);
      // Unacknowledged but stored events are fine (the kill came between fsync and ack);
      // the next child continues after them.
      acked[p] = verified[p] = highest;
      events += highest;
    }
    const std::uint64_t after = full ? 0 : tags_verified;
    auto tagged = (*j)->events_by_tag("all", after, 10'000'000).get();
    ASSERT_TRUE(tagged.has_value()) << tagged.error().describe();
    ASSERT_EQ(after + tagged->size(), events);
    for (std::size_t i = 0; i < tagged->size(); ++i) {
      ASSERT_EQ((*tagged)[i].offset, after + i + 1) << "tag offsets are gap-free";
    }
    EXPECT_EQ((*j)->last_offset(), events);
    tags_verified = events;
  }
  EXPECT_GT(total_acks, 0u);
  std::printf("crash test: %d cycles, %llu acknowledged appends, %llu events stored\n", kCycles,
              static_cast<unsigned long long>(total_acks),
              static_cast<unsigned long long>(tags_verified));
}

}  // namespace
}  // namespace weft::persistence
