#include "process_stats.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace weft::bench {

std::size_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size_pages = 0;
  unsigned long resident_pages = 0;
  const int n = std::fscanf(f, "%lu %lu", &size_pages, &resident_pages);
  std::fclose(f);
  if (n != 2) return 0;
  const long page = ::sysconf(_SC_PAGESIZE);
  return static_cast<std::size_t>(resident_pages) *
         static_cast<std::size_t>(page > 0 ? page : 4096);
}

double steal_seconds() {
  std::FILE* f = std::fopen("/proc/stat", "r");
  if (f == nullptr) return 0;
  // cpu  user nice system idle iowait irq softirq steal ...
  unsigned long long v[8] = {};
  const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                            &v[3], &v[4], &v[5], &v[6], &v[7]);
  std::fclose(f);
  if (n != 8) return 0;
  const long hz = ::sysconf(_SC_CLK_TCK);
  return static_cast<double>(v[7]) / static_cast<double>(hz > 0 ? hz : 100);
}

StallWatch::StallWatch()
    : thread_([this] {
        using Ms = std::chrono::duration<double, std::milli>;
        constexpr auto kTick = std::chrono::milliseconds(2);
        constexpr double kLateMs = 3;
        while (!stopping_.load(std::memory_order_relaxed)) {
          const auto due = std::chrono::steady_clock::now() + kTick;
          std::this_thread::sleep_until(due);
          const double late = Ms(std::chrono::steady_clock::now() - due).count();
          if (late > kLateMs) {
            ++seen_.count;
            seen_.total_ms += late;
            seen_.longest_ms = std::max(seen_.longest_ms, late);
          }
        }
      }) {}

StallWatch::~StallWatch() {
  stop();
}

StallWatch::Stalls StallWatch::stop() {
  stopping_.store(true, std::memory_order_relaxed);
  if (thread_.joinable()) thread_.join();
  return seen_;
}

ProfiledPhase::ProfiledPhase() {
  const char* ctl = std::getenv("WEFT_BENCH_PERF_CTL");
  if (ctl == nullptr) return;
  fd_ = ::open(ctl, O_WRONLY | O_CLOEXEC);
  if (fd_ >= 0 && ::write(fd_, "enable\n", 7) != 7) std::perror("WEFT_BENCH_PERF_CTL");
}

ProfiledPhase::~ProfiledPhase() {
  if (fd_ < 0) return;
  if (::write(fd_, "disable\n", 8) != 8) std::perror("WEFT_BENCH_PERF_CTL");
  ::close(fd_);
}

}  // namespace weft::bench
