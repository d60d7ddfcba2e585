// Process-level statistics used by weft-bench (no CAF, no weft dependencies).
#pragma once

#include <cstddef>

namespace weft::bench {

// Current resident set size of this process in bytes, read from
// /proc/self/statm (resident pages * page size). Returns 0 if unavailable.
std::size_t rss_bytes();

}  // namespace weft::bench
