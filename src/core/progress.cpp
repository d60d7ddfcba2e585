#include "weft/core/progress.hpp"

#include <unistd.h>

#include <algorithm>

namespace weft {

namespace {
using Clock = std::chrono::steady_clock;
}

Progress::Progress(std::string label, std::uint64_t total, std::FILE* out)
    : label_(std::move(label)),
      total_(total),
      out_(out),
      tty_(::isatty(::fileno(out)) != 0),
      start_(Clock::now()),
      last_(start_) {}

Progress::~Progress() {
  finish();
}

std::string Progress::bar(std::uint64_t done, std::uint64_t total, int width) {
  const double frac = total == 0 ? 0.0 : std::min(1.0, static_cast<double>(done) / total);
  const int filled = static_cast<int>(frac * width);
  std::string s = "[";
  s.append(static_cast<std::size_t>(filled), '#');
  s.append(static_cast<std::size_t>(width - filled), '.');
  char pct[8];
  std::snprintf(pct, sizeof pct, "] %3d%%", static_cast<int>(frac * 100));
  return s + pct;
}

void Progress::update(std::uint64_t done, std::uint64_t total) {
  done_ = done;
  if (total != 0) total_ = total;
  const auto now = Clock::now();
  if (tty_) {
    if (now - last_ < std::chrono::milliseconds(100)) return;
  } else {
    const int decile =
        total_ == 0 ? -1 : static_cast<int>(10 * done_ / std::max<std::uint64_t>(total_, 1));
    if (now - last_ < std::chrono::seconds(5) && decile == last_decile_) return;
    last_decile_ = decile;
  }
  last_ = now;
  render(false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  render(true);
}

void Progress::render(bool final) {
  const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
  std::string line = label_ + " ";
  if (total_ != 0) line += bar(done_, total_, 30) + " ";
  line += std::to_string(done_);
  if (total_ != 0) line += "/" + std::to_string(total_);
  char t[32];
  std::snprintf(t, sizeof t, " (%.1f s)", secs);
  line += t;
  if (tty_) {
    std::fprintf(out_, "\r%s\033[K%s", line.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(out_, "%s%s\n", line.c_str(), final ? " done" : "");
  }
  std::fflush(out_);
}

}  // namespace weft
