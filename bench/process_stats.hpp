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

}  // namespace weft::bench
