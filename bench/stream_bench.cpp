#include "stream_bench.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "weft/actor/actor_system.hpp"
#include "weft/stream/sinks.hpp"
#include "weft/stream/sources.hpp"
#include "weft/stream/stream.hpp"

namespace weft::bench {
namespace {

using namespace weft::stream;
using namespace std::chrono_literals;

constexpr std::int64_t keys = 1000;

struct Reading {
  std::int64_t key = 0;
  Timestamp ts = 0;
  double value = 0;
};

Reading reading_at(std::uint64_t i, double rate) {
  return Reading{static_cast<std::int64_t>(i % keys),
                 static_cast<Timestamp>(static_cast<double>(i) * 1000.0 / rate),
                 static_cast<double>(i % 97)};
}

void build(Stream<Reading> source, SinkFactory<Windowed<std::int64_t, aggregates::Stats>> sink) {
  source.key_by([](const Reading& r) { return r.key; })
      .window(tumbling(1s))
      .aggregate(aggregates::stats<Reading>([](const Reading& r) { return r.value; }))
      .to(std::move(sink), "sink");
}

/// Emits `total` readings stamped with the wall clock, `rate` per second (0: as fast as the
/// pipeline takes them).
class PacedSource final : public Source<Reading> {
 public:
  PacedSource(double rate, double total) : rate_(rate), total_(std::floor(total)) {}
  SourceStatus poll(SourceOutput<Reading>& out, std::size_t max) override {
    const auto now = std::chrono::steady_clock::now();
    if (sent_ == 0) start_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const auto due =
        static_cast<std::uint64_t>(rate_ == 0 ? total_ : std::min(total_, elapsed * rate_ + 1));
    const Timestamp wall = ctx().clock().wall_ms();
    for (std::size_t i = 0; i < max && sent_ < due; ++i, ++sent_) {
      out.emit(Reading{static_cast<std::int64_t>(sent_ % keys), wall, 1.0}, wall);
    }
    if (static_cast<double>(sent_) >= total_) return SourceStatus::finished;
    if (sent_ < due) return SourceStatus::more;
    // Ahead of schedule: come back when the next record is due.
    const auto next = start_ + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(
                                   static_cast<double>(sent_) / rate_));
    ctx().request_wakeup(next);
    return SourceStatus::idle;
  }

 private:
  double rate_;
  double total_;
  std::uint64_t sent_ = 0;
  TimePoint start_{};
};

/// Records per second through the pipeline fed by the unpaced wall-clock source.
double max_rate(std::uint64_t n, unsigned threads) {
  ActorSystemConfig config;
  config.workers = threads;
  ActorSystem system(config);
  StreamJob job;
  auto windows = std::make_shared<std::atomic<std::uint64_t>>(0);
  const double total = static_cast<double>(n);
  build(job.from<Reading>([total] { return std::make_unique<PacedSource>(0, total); },
                          WatermarkStrategy<Reading>::monotonous(), "unpaced", 1),
        count_into<Windowed<std::int64_t, aggregates::Stats>>(windows));
  const auto start = std::chrono::steady_clock::now();
  auto running = job.start(system);
  if (!running || !(*running)->wait()) return 0;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(n) / s;
}

/// The naive peer: one thread, one hash map per open window, no engine.
double naive_rate(std::uint64_t n) {
  constexpr double event_rate = 100'000;
  std::unordered_map<std::int64_t, aggregates::Stats> open;
  Timestamp window = 0;
  std::uint64_t emitted = 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    const Reading r = reading_at(i, event_rate);
    const Timestamp w = r.ts - r.ts % 1000;
    if (w != window) {
      emitted += open.size();
      open.clear();
      window = w;
    }
    auto& s = open[r.key];
    ++s.count;
    s.sum += r.value;
    s.min = std::min(s.min, r.value);
    s.max = std::max(s.max, r.value);
  }
  emitted += open.size();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return emitted > 0 ? static_cast<double>(n) / s : 0;
}

struct Latency {
  double p50_us = 0, p99_us = 0, max_us = 0;
  std::size_t samples = 0;
};

Latency latency_at(double rate, double seconds, unsigned threads) {
  ActorSystemConfig config;
  config.workers = threads;
  ActorSystem system(config);
  StreamJob job;
  auto samples = std::make_shared<std::vector<std::pair<Timestamp, double>>>();
  auto mutex = std::make_shared<std::mutex>();
  // Window [s, e) closes at wall time e (event time is the wall clock): the latency is how long
  // after that instant its result reaches the sink.
  build(job.from<Reading>(
            [rate, seconds] { return std::make_unique<PacedSource>(rate, rate * seconds); },
            WatermarkStrategy<Reading>::monotonous(), "paced", 1),
        for_each<Windowed<std::int64_t, aggregates::Stats>>(
            [samples, mutex](Windowed<std::int64_t, aggregates::Stats>&& w, Timestamp) {
              const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
              const double us = static_cast<double>(now_us - w.window.end * 1000);
              std::lock_guard lock(*mutex);
              samples->emplace_back(w.window.end, us);
            }));
  auto running = job.start(system);
  if (!running || !(*running)->wait()) return {};
  // The last window closes at the end of input, not by time: leave it out.
  std::vector<double> v;
  {
    std::lock_guard lock(*mutex);
    Timestamp last = min_timestamp;
    for (const auto& [end, us] : *samples) last = std::max(last, end);
    for (const auto& [end, us] : *samples) {
      if (end != last) v.push_back(us);
    }
  }
  std::sort(v.begin(), v.end());
  if (v.empty()) return {};
  auto at = [&](double q) {
    return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
  };
  return {at(0.50), at(0.99), v.back(), v.size()};
}

}  // namespace

bool run_stream_suite(double scale, unsigned threads, const std::optional<std::string>& scenario,
                      const std::function<void(const std::string&)>& print) {
  const bool all = !scenario;
  if (!all && *scenario != "throughput" && *scenario != "latency") return false;
  const unsigned t = threads == 0 ? 2 : threads;
  const auto n = static_cast<std::uint64_t>(std::max(1e4, 2e7 * scale));
  double ours = 0;
  if (all || *scenario == "throughput" || *scenario == "latency") ours = max_rate(n, t);
  if (all || *scenario == "throughput") {
    const double naive = naive_rate(n);
    print(fmt::format(R"({{"suite":"stream","scenario":"throughput","records":{},"keys":{},)"
                      R"("window":"tumbling 1s","threads":{},"records_per_s":{:.0f},)"
                      R"("naive_records_per_s":{:.0f},"vs_naive":{:.2f}}})",
                      n, keys, t, ours, naive, naive > 0 ? ours / naive : 0));
  }
  if (all || *scenario == "latency") {
    // Half the maximum, unless WEFT_BENCH_STREAM_RATE says otherwise (records per second).
    const char* fixed = std::getenv("WEFT_BENCH_STREAM_RATE");
    const double rate = fixed != nullptr ? std::atof(fixed) : ours / 2;
    const double seconds = std::max(2.0, 8.0 * std::min(1.0, scale * 10));
    const auto l = latency_at(rate, seconds, t);
    print(fmt::format(R"({{"suite":"stream","scenario":"latency","keys":{},"window":"tumbling 1s",)"
                      R"("rate_per_s":{:.0f},"seconds":{:.0f},"samples":{},"p50_us":{:.0f},)"
                      R"("p99_us":{:.0f},"max_us":{:.0f}}})",
                      keys, rate, seconds, l.samples, l.p50_us, l.p99_us, l.max_us));
  }
  return true;
}

}  // namespace weft::bench
