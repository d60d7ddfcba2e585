// Process-level statistics used by weft-bench (no CAF, no weft dependencies).
#pragma once

#include <cstddef>

namespace weft::bench {

// Current resident set size of this process in bytes, read from
// /proc/self/statm (resident pages * page size). Returns 0 if unavailable.
std::size_t rss_bytes();

// Time the host took the machine's CPUs away (the "steal" column of /proc/stat, all CPUs), in
// seconds since boot; 0 if unavailable. On a VM with a CPU quota, a busy machine is stopped for
// some milliseconds of each quota period, which shows up here and in every latency measured.
double steal_seconds();

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
