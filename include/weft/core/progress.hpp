// Progress of long work (replay, verify, compaction, bulk import): a bar on a terminal, a log
// line now and then otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace weft {

class Progress {
 public:
  /// Reports to `out` (stderr by default). `total` 0 means unknown: a count, no bar.
  Progress(std::string label, std::uint64_t total, std::FILE* out = stderr);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// Sets how much is done. Cheap to call often: output is throttled (a terminal redraws at
  /// most every 100 ms; a log gets a line at most every 5 s or every 10%).
  void update(std::uint64_t done, std::uint64_t total = 0);
  /// Final line (also called by the destructor if not called before).
  void finish();

  /// The rendered bar for `done` of `total` in `width` cells, e.g. "[#####.....]  50%".
  [[nodiscard]] static std::string bar(std::uint64_t done, std::uint64_t total, int width);

 private:
  void render(bool final);

  std::string label_;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  std::FILE* out_;
  bool tty_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
  int last_decile_ = -1;
};

}  // namespace weft
