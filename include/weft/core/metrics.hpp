// Metrics primitives (counter, gauge, histogram) cheap enough for hot paths, and a registry
// that renders them as Prometheus text. Format and costs: docs/metrics.md.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft {

namespace detail {

/// Hot cells are padded to this size so that threads on different shards never share a line.
/// A literal rather than hardware_destructive_interference_size, which may differ per TU flags.
inline constexpr std::size_t kCacheLine = 64;
/// Number of per-thread shards in a Counter or Histogram (threads share them round-robin).
inline constexpr std::size_t kMetricShards = 16;
inline constexpr std::uint32_t kNoShard = UINT32_MAX;

/// Assigns the calling thread its shard, once, from a global round-robin counter.
[[nodiscard]] std::uint32_t assign_thread_shard() noexcept;

inline thread_local std::uint32_t thread_shard = kNoShard;

[[nodiscard]] inline std::size_t this_thread_shard() noexcept {
  std::uint32_t shard = thread_shard;
  if (shard == kNoShard) [[unlikely]] {
    shard = thread_shard = assign_thread_shard();
  }
  return shard;
}

}  // namespace detail

/// A monotonically increasing count. inc() is one uncontended relaxed fetch_add on the calling
/// thread's cache-line-padded shard; value() sums the shards (a scrape-time cost).
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void inc(std::uint64_t n = 1) noexcept {
    cells_[detail::this_thread_shard()].value.fetch_add(n, std::memory_order_relaxed);
  }

  /// Sum over shards. Concurrent inc() calls may or may not be included.
  [[nodiscard]] std::uint64_t value() const noexcept;

 private:
  struct alignas(detail::kCacheLine) Cell {
    std::atomic<std::uint64_t> value{0};
  };
  std::array<Cell, detail::kMetricShards> cells_{};
};

/// A value that goes up and down (queue depth, bytes in use). One atomic int64: cheap, but
/// every writer touches the same line, so prefer a Counter or a CallbackGauge where many threads
/// would update it per message. Fractional values belong in a CallbackGauge.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void set(std::int64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(std::int64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  void sub(std::int64_t n = 1) noexcept { value_.fetch_sub(n, std::memory_order_relaxed); }
  [[nodiscard]] std::int64_t value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<std::int64_t> value_{0};
};

/// A gauge computed at scrape time (mailbox depth, journal size). The callback runs on the
/// scraping thread, outside the registry's lock, and must be thread-safe.
class CallbackGauge {
 public:
  using Callback = std::function<double()>;

  explicit CallbackGauge(Callback callback) : callback_(std::move(callback)) {}
  CallbackGauge(const CallbackGauge&) = delete;
  CallbackGauge& operator=(const CallbackGauge&) = delete;

  /// Replaces the callback; an empty one hides the series from the exposition.
  void set_callback(Callback callback);
  /// Drops the callback (say, before the object it reads is destroyed).
  void clear() { set_callback(nullptr); }
  /// The callback's result, or nullopt without a callback.
  [[nodiscard]] std::optional<double> value() const;

 private:
  mutable std::mutex mutex_;
  Callback callback_;
};

/// A merged, immutable view of a Histogram.
class HistogramSnapshot {
 public:
  HistogramSnapshot() = default;
  HistogramSnapshot(std::vector<std::uint64_t> buckets, double sum, std::uint64_t min,
                    std::uint64_t max);

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  /// Exact while the true sum stays below 2^53; never wraps.
  [[nodiscard]] double sum() const noexcept { return sum_; }
  /// Exact. 0 when empty.
  [[nodiscard]] std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  /// Exact. 0 when empty.
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  /// NaN when empty.
  [[nodiscard]] double mean() const noexcept;
  /// The value of rank ceil(q * count) (q clamped to [0, 1]; q = 0 gives min, q = 1 max), within
  /// Histogram::kRelativeError of the exact one. NaN when empty.
  [[nodiscard]] double quantile(double q) const noexcept;

 private:
  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0;
  double sum_ = 0;
  std::uint64_t min_ = 0;
  std::uint64_t max_ = 0;
};

/// Records non-negative integers (nanoseconds, bytes, ...) into log-linear buckets: values below
/// 64 exactly, then each power-of-two range [2^k, 2^(k+1)) split into 32 equal sub-buckets, up to
/// 2^64 - 1 (every uint64 has a bucket, so nothing is clamped). record() is lock-free: a relaxed
/// fetch_add on the calling thread's shard plus the sum and a min/max check. Shards (15 KiB each)
/// are allocated on first use by a thread mapped to them.
class Histogram {
 public:
  static constexpr unsigned kSubBucketBits = 5;
  static constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << kSubBucketBits;
  static constexpr std::size_t kBuckets = (65 - kSubBucketBits) * kSubBuckets;
  /// Bound on |reported - exact| / exact for quantile(): half a bucket width over its lower bound.
  static constexpr double kRelativeError = 1.0 / (2 * kSubBuckets);

  Histogram();
  ~Histogram();
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void record(std::uint64_t value) noexcept {
    Shard& s = shard();
    s.buckets[bucket_index(value)].fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t old_lo = s.sum_lo.fetch_add(value, std::memory_order_relaxed);
    if (old_lo + value < old_lo) [[unlikely]] {
      s.sum_hi.fetch_add(1, std::memory_order_relaxed);
    }
    std::uint64_t cur = s.min.load(std::memory_order_relaxed);
    while (value < cur && !s.min.compare_exchange_weak(cur, value, std::memory_order_relaxed)) {
    }
    cur = s.max.load(std::memory_order_relaxed);
    while (value > cur && !s.max.compare_exchange_weak(cur, value, std::memory_order_relaxed)) {
    }
  }

  /// Merges the shards. Records racing with it may be partly included.
  [[nodiscard]] HistogramSnapshot snapshot() const;
  /// Zeroes everything. Not atomic with respect to concurrent record() calls.
  void reset() noexcept;

  [[nodiscard]] static constexpr std::size_t bucket_index(std::uint64_t value) noexcept {
    if (value < 2 * kSubBuckets) return static_cast<std::size_t>(value);
    const unsigned shift = static_cast<unsigned>(std::bit_width(value)) - 1 - kSubBucketBits;
    return static_cast<std::size_t>(shift * kSubBuckets + (value >> shift));
  }
  /// Smallest value that lands in bucket `index`.
  [[nodiscard]] static constexpr std::uint64_t bucket_lower(std::size_t index) noexcept {
    if (index < 2 * kSubBuckets) return index;
    const std::uint64_t shift = index / kSubBuckets - 1;
    return (kSubBuckets + index % kSubBuckets) << shift;
  }
  /// Largest value that lands in bucket `index`.
  [[nodiscard]] static constexpr std::uint64_t bucket_upper(std::size_t index) noexcept {
    if (index < 2 * kSubBuckets) return index;
    const std::uint64_t shift = index / kSubBuckets - 1;
    return bucket_lower(index) + ((std::uint64_t{1} << shift) - 1);
  }

 private:
  struct alignas(detail::kCacheLine) Shard {
    std::atomic<std::uint64_t> sum_lo{0};
    std::atomic<std::uint64_t> sum_hi{0};  // carries out of sum_lo: the sum never wraps
    std::atomic<std::uint64_t> min{UINT64_MAX};
    std::atomic<std::uint64_t> max{0};
    std::array<std::atomic<std::uint64_t>, kBuckets> buckets{};
  };

  Shard& shard() noexcept {
    const std::size_t i = detail::this_thread_shard();
    Shard* s = shards_[i].load(std::memory_order_acquire);
    if (s == nullptr) [[unlikely]] {
      s = allocate_shard(i);
    }
    return *s;
  }
  Shard* allocate_shard(std::size_t index) noexcept;

  std::array<std::atomic<Shard*>, detail::kMetricShards> shards_{};
};

/// Label name/value pairs of one series. Order does not matter: the registry sorts by name.
using Labels = std::vector<std::pair<std::string, std::string>>;

/// Prometheus metric name rule: [a-zA-Z_:][a-zA-Z0-9_:]*
[[nodiscard]] bool is_valid_metric_name(std::string_view name) noexcept;
/// Prometheus label name rule: [a-zA-Z_][a-zA-Z0-9_]*, and not starting with "__" (reserved).
[[nodiscard]] bool is_valid_label_name(std::string_view name) noexcept;

/// Owns metrics by (name, labels). Metrics never move or die before the registry, so callers
/// keep plain references. Registration is for setup paths (it locks and allocates); a bad name,
/// a kind clash or an empty help text is a programming error and throws std::invalid_argument.
/// All members are thread-safe.
class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  /// `name` must end in "_total" (Prometheus counter convention, checked by promtool).
  Counter& counter(std::string name, std::string help, Labels labels = {});
  Gauge& gauge(std::string name, std::string help, Labels labels = {});
  /// A second call for the same series replaces its callback.
  CallbackGauge& callback_gauge(std::string name, std::string help,
                                CallbackGauge::Callback callback, Labels labels = {});
  /// Exported as a Prometheus summary (quantiles 0.5, 0.9, 0.99, 0.999, _sum, _count); recorded
  /// values and the sum are multiplied by `export_scale` on output (1e-9 to record nanoseconds
  /// into a `_seconds` metric). The scale is per family and must match on later calls.
  Histogram& histogram(std::string name, std::string help, Labels labels = {},
                       double export_scale = 1.0);

  /// Text exposition format 0.0.4, families sorted by name, series by labels.
  [[nodiscard]] std::string prometheus_text() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace weft
