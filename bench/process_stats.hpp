// Process-level statistics used by weft-bench (no CAF, no weft dependencies).
#pragma once

#include <atomic>
#include <cstddef>
#include <thread>

namespace weft::bench {

// Current resident set size of this process in bytes, read from
// /proc/self/statm (resident pages * page size). Returns 0 if unavailable.
std::size_t rss_bytes();

// Time the host took the machine's CPUs away (the "steal" column of /proc/stat, all CPUs), in
// seconds since boot; 0 if unavailable. On a VM with a CPU quota, a busy machine is stopped for
// some milliseconds of each quota period, which shows up here and in every latency measured.
double steal_seconds();

/// Watches for the machine stopping, which the guest cannot see otherwise: a thread sleeps
/// 2 ms at a time and counts the wakes that come more than 3 ms late. On the PVM host of
/// sessions 16-17 the host stops this VM for 5-15 ms in most 100 ms periods once it does I/O
/// beside a few thousand thread wakes a second, and /proc/stat shows no steal for it. Costs
/// 500 wakes a second.
class StallWatch {
 public:
  struct Stalls {
    unsigned count = 0;
    double total_ms = 0;
    double longest_ms = 0;
  };
  StallWatch();
  ~StallWatch();
  StallWatch(const StallWatch&) = delete;
  StallWatch& operator=(const StallWatch&) = delete;
  /// Stops watching (once) and returns what was seen.
  Stalls stop();

 private:
  std::atomic<bool> stopping_{false};
  Stalls seen_;  // the watching thread's until joined
  std::thread thread_;
};

/// Brackets a measured phase for `perf record --control=fifo:CTL -D -1`: when
/// WEFT_BENCH_PERF_CTL names perf's control fifo, "enable" is written to it on construction and
/// "disable" on destruction, so a profile holds the timed phase only (not the load before it).
class ProfiledPhase {
 public:
  ProfiledPhase();
  ~ProfiledPhase();
  ProfiledPhase(const ProfiledPhase&) = delete;
  ProfiledPhase& operator=(const ProfiledPhase&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace weft::bench
