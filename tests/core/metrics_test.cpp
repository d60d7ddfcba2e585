#include "weft/core/metrics.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

namespace weft {
namespace {

template <class F>
void run_threads(int n, F body) {
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) threads.emplace_back(body, t);
  for (auto& thread : threads) thread.join();
}

TEST(MetricsCounter, SumsAcrossThreads) {
  Counter counter;
  constexpr int kThreads = 4;
  constexpr int kIncrements = 1'000'000;
  run_threads(kThreads, [&](int) {
    for (int i = 0; i < kIncrements; ++i) counter.inc();
  });
  counter.inc(10);
  EXPECT_EQ(counter.value(), std::uint64_t{kThreads} * kIncrements + 10);
}

TEST(MetricsGauge, SetAddSub) {
  Gauge gauge;
  gauge.set(10);
  gauge.add(5);
  gauge.sub(20);
  gauge.add();
  EXPECT_EQ(gauge.value(), -4);
}

TEST(MetricsGauge, CallbackIsEvaluatedOnReadAndCanBeCleared) {
  double source = 1.5;
  CallbackGauge gauge([&] { return source; });
  EXPECT_EQ(gauge.value(), 1.5);
  source = 2.5;
  EXPECT_EQ(gauge.value(), 2.5);
  gauge.clear();
  EXPECT_FALSE(gauge.value().has_value());
}

TEST(MetricsHistogram, BucketsTileTheWholeRange) {
  EXPECT_EQ(Histogram::bucket_lower(0), 0u);
  EXPECT_EQ(Histogram::bucket_upper(Histogram::kBuckets - 1), UINT64_MAX);
  for (std::size_t i = 0; i < Histogram::kBuckets; ++i) {
    const std::uint64_t lo = Histogram::bucket_lower(i);
    const std::uint64_t hi = Histogram::bucket_upper(i);
    ASSERT_LE(lo, hi) << i;
    ASSERT_EQ(Histogram::bucket_index(lo), i) << lo;
    ASSERT_EQ(Histogram::bucket_index(hi), i) << hi;
    if (i + 1 < Histogram::kBuckets) {
      ASSERT_EQ(hi + 1, Histogram::bucket_lower(i + 1)) << i;
    }
    // Half a bucket's width over its lower bound is the documented quantile error bound.
    if (lo > 0) {
      ASSERT_LE(static_cast<double>(hi - lo) / 2 / static_cast<double>(lo),
                Histogram::kRelativeError)
          << i;
    }
  }
}

// Checks every percentile (and a few tail ones) against the exact order statistic.
void expect_quantiles_within_bound(const HistogramSnapshot& snap, std::vector<std::uint64_t> data) {
  std::sort(data.begin(), data.end());
  std::vector<double> qs{0.001, 0.999, 0.9999};
  for (int p = 1; p < 100; ++p) qs.push_back(p / 100.0);
  for (double q : qs) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(data.size())));
    const auto exact = static_cast<double>(data[std::max<std::size_t>(rank, 1) - 1]);
    EXPECT_LE(std::abs(snap.quantile(q) - exact), Histogram::kRelativeError * exact)
        << "q=" << q << " exact=" << exact << " got=" << snap.quantile(q);
  }
  EXPECT_EQ(snap.quantile(0), static_cast<double>(data.front()));
  EXPECT_EQ(snap.quantile(1), static_cast<double>(data.back()));
}

TEST(MetricsHistogram, UniformQuantilesWithinRelativeError) {
  std::vector<std::uint64_t> data;
  for (std::uint64_t v = 1; v <= 100'000; ++v) data.push_back(v);
  std::shuffle(data.begin(), data.end(), std::mt19937_64(42));
  Histogram histogram;
  for (std::uint64_t v : data) histogram.record(v);

  const HistogramSnapshot snap = histogram.snapshot();
  EXPECT_EQ(snap.count(), 100'000u);
  EXPECT_EQ(snap.sum(), 100'000.0 * 100'001.0 / 2);
  EXPECT_EQ(snap.min(), 1u);
  EXPECT_EQ(snap.max(), 100'000u);
  EXPECT_DOUBLE_EQ(snap.mean(), 50'000.5);
  expect_quantiles_within_bound(snap, data);
}

TEST(MetricsHistogram, SkewedQuantilesWithinRelativeError) {
  // Latency-like: log-normal around 50 us, with a long tail into seconds.
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(std::log(50'000.0), 1.5);
  std::vector<std::uint64_t> data;
  std::uint64_t sum = 0;
  for (int i = 0; i < 200'000; ++i) {
    data.push_back(static_cast<std::uint64_t>(dist(rng)));
    sum += data.back();
  }
  Histogram histogram;
  for (std::uint64_t v : data) histogram.record(v);

  const HistogramSnapshot snap = histogram.snapshot();
  EXPECT_EQ(snap.count(), data.size());
  EXPECT_EQ(snap.sum(), static_cast<double>(sum));
  EXPECT_EQ(snap.min(), *std::min_element(data.begin(), data.end()));
  EXPECT_EQ(snap.max(), *std::max_element(data.begin(), data.end()));
  expect_quantiles_within_bound(snap, data);
}

TEST(MetricsHistogram, SmallValuesAreExact) {
  Histogram histogram;
  for (std::uint64_t v = 0; v < 64; ++v) histogram.record(v);
  const HistogramSnapshot snap = histogram.snapshot();
  for (std::uint64_t v = 0; v < 64; ++v) {
    EXPECT_EQ(snap.quantile((static_cast<double>(v) + 0.5) / 64), static_cast<double>(v));
  }
}

TEST(MetricsHistogram, HugeValuesDoNotCrashOrWrapTheSum) {
  Histogram histogram;
  histogram.record(UINT64_MAX);
  histogram.record(std::uint64_t{1} << 63);
  histogram.record(0);
  const HistogramSnapshot snap = histogram.snapshot();
  EXPECT_EQ(snap.count(), 3u);
  EXPECT_EQ(snap.min(), 0u);
  EXPECT_EQ(snap.max(), UINT64_MAX);
  EXPECT_EQ(snap.sum(), std::ldexp(1.0, 64) + std::ldexp(1.0, 63));
  EXPECT_EQ(snap.quantile(1), std::ldexp(1.0, 64));
  const double median = snap.quantile(0.5);
  EXPECT_LE(std::abs(median - std::ldexp(1.0, 63)),
            Histogram::kRelativeError * std::ldexp(1.0, 63));
}

TEST(MetricsHistogram, EmptyAnswersNaN) {
  Histogram histogram;
  const HistogramSnapshot snap = histogram.snapshot();
  EXPECT_EQ(snap.count(), 0u);
  EXPECT_EQ(snap.sum(), 0.0);
  EXPECT_EQ(snap.min(), 0u);
  EXPECT_EQ(snap.max(), 0u);
  EXPECT_TRUE(std::isnan(snap.quantile(0.5)));
  EXPECT_TRUE(std::isnan(snap.mean()));
}

TEST(MetricsHistogram, RecordsFromManyThreadsAreAllCounted) {
  Histogram histogram;
  constexpr int kThreads = 4;
  constexpr std::uint64_t kPerThread = 250'000;
  run_threads(kThreads, [&](int t) {
    for (std::uint64_t i = 1; i <= kPerThread; ++i) histogram.record(i * (t + 1));
  });
  const HistogramSnapshot snap = histogram.snapshot();
  EXPECT_EQ(snap.count(), kThreads * kPerThread);
  // sum over t of (t + 1) * kPerThread * (kPerThread + 1) / 2, with 1 + 2 + 3 + 4 = 10.
  EXPECT_EQ(snap.sum(), 10.0 * kPerThread * (kPerThread + 1) / 2);
  EXPECT_EQ(snap.min(), 1u);
  EXPECT_EQ(snap.max(), kThreads * kPerThread);
}

TEST(MetricsHistogram, ResetForgetsEverything) {
  Histogram histogram;
  histogram.record(100);
  histogram.reset();
  EXPECT_EQ(histogram.snapshot().count(), 0u);
  histogram.record(7);
  const HistogramSnapshot snap = histogram.snapshot();
  EXPECT_EQ(snap.count(), 1u);
  EXPECT_EQ(snap.min(), 7u);
  EXPECT_EQ(snap.max(), 7u);
  EXPECT_EQ(snap.sum(), 7.0);
}

TEST(MetricsRegistry, SameKeyReturnsSameObject) {
  MetricsRegistry registry;
  Counter& a = registry.counter("weft_x_total", "X.", {{"a", "1"}, {"b", "2"}});
  Counter& same = registry.counter("weft_x_total", "X.", {{"b", "2"}, {"a", "1"}});
  Counter& other = registry.counter("weft_x_total", "X.", {{"a", "1"}, {"b", "3"}});
  EXPECT_EQ(&a, &same);
  EXPECT_NE(&a, &other);
  for (int i = 0; i < 1000; ++i) {
    registry.counter("weft_x_total", "X.", {{"a", std::to_string(i)}});
    registry.histogram("weft_h" + std::to_string(i), "H.");
  }
  EXPECT_EQ(&registry.counter("weft_x_total", "X.", {{"a", "1"}, {"b", "2"}}), &a);

  Gauge& g = registry.gauge("weft_g", "G.");
  EXPECT_EQ(&registry.gauge("weft_g", "G."), &g);
  Histogram& h = registry.histogram("weft_lat_seconds", "L.", {}, 1e-9);
  EXPECT_EQ(&registry.histogram("weft_lat_seconds", "L.", {}, 1e-9), &h);
}

TEST(MetricsRegistry, SecondCallbackRegistrationReplacesTheCallback) {
  MetricsRegistry registry;
  CallbackGauge& g = registry.callback_gauge("weft_size_bytes", "S.", [] { return 1.0; });
  CallbackGauge& again = registry.callback_gauge("weft_size_bytes", "S.", [] { return 2.0; });
  EXPECT_EQ(&g, &again);
  EXPECT_EQ(g.value(), 2.0);
}

TEST(MetricsRegistry, RejectsBadNames) {
  MetricsRegistry registry;
  for (const char* bad : {"", "1abc", "a-b", "a b", "é"}) {
    EXPECT_THROW(registry.gauge(bad, "G."), std::invalid_argument) << bad;
  }
  for (const char* bad : {"", "1a", "a:b", "__reserved", "a-b"}) {
    EXPECT_THROW(registry.gauge("weft_g", "G.", {{bad, "v"}}), std::invalid_argument) << bad;
  }
  EXPECT_THROW(registry.counter("weft_requests", "No _total."), std::invalid_argument);
  EXPECT_THROW(registry.gauge("weft_g", ""), std::invalid_argument);
  EXPECT_THROW(registry.gauge("weft_g", "G.", {{"a", "1"}, {"a", "2"}}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("weft_h", "H.", {{"quantile", "x"}}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("weft_h", "H.", {}, 0.0), std::invalid_argument);

  EXPECT_TRUE(is_valid_metric_name("weft:ns_x_total"));
  EXPECT_TRUE(is_valid_metric_name("_x9"));
  EXPECT_TRUE(is_valid_label_name("_x9"));
  EXPECT_FALSE(is_valid_label_name("x:y"));
  EXPECT_EQ(registry.prometheus_text(), "");  // nothing half-registered
}

TEST(MetricsRegistry, RejectsKindClashes) {
  MetricsRegistry registry;
  registry.counter("weft_a_total", "A.");
  EXPECT_THROW(registry.gauge("weft_a_total", "A."), std::invalid_argument);
  EXPECT_THROW(registry.histogram("weft_a_total", "A."), std::invalid_argument);

  registry.gauge("weft_b", "B.", {{"k", "plain"}});
  EXPECT_THROW(registry.callback_gauge("weft_b", "B.", [] { return 0.0; }, {{"k", "plain"}}),
               std::invalid_argument);
  registry.callback_gauge("weft_b", "B.", [] { return 0.0; }, {{"k", "computed"}});
  EXPECT_THROW(registry.gauge("weft_b", "B.", {{"k", "computed"}}), std::invalid_argument);

  registry.histogram("weft_c_seconds", "C.", {}, 1e-9);
  EXPECT_THROW(registry.histogram("weft_c_seconds", "C.", {}, 1e-6), std::invalid_argument);
  // A summary writes <name>_sum and <name>_count samples: those names are taken.
  EXPECT_THROW(registry.gauge("weft_c_seconds_sum", "S."), std::invalid_argument);
  registry.gauge("weft_d_count", "D.");
  EXPECT_THROW(registry.histogram("weft_d", "D."), std::invalid_argument);
}

TEST(MetricsRegistry, PrometheusTextIsExact) {
  MetricsRegistry registry;
  registry
      .counter("weft_test_requests_total", "Requests \\ handled.\nSecond \"line\"",
               {{"path", "/a\"b\\c\nd"}, {"code", "200"}})
      .inc(3);
  registry.counter("weft_test_requests_total", "Requests \\ handled.\nSecond \"line\"").inc(7);
  registry.gauge("weft_test_depth", "Queue depth.").set(-5);
  registry.callback_gauge("weft_test_ratio", "A ratio.", [] { return 0.25; },
                          {{"kind", "quarter"}});
  registry.callback_gauge("weft_test_ratio", "A ratio.", [] { return NAN; }, {{"kind", "nan"}});
  registry.callback_gauge("weft_test_ratio", "A ratio.", [] { return INFINITY; },
                          {{"kind", "inf"}});
  registry.callback_gauge("weft_test_ratio", "A ratio.", [] { return 1.0; }, {{"kind", "gone"}})
      .clear();
  Histogram& read =
      registry.histogram("weft_test_latency_seconds", "Latency.", {{"op", "read"}}, 0.5);
  for (std::uint64_t v : {10, 20, 30}) read.record(v);
  registry.histogram("weft_test_latency_seconds", "Latency.", {{"op", "write"}}, 0.5);

  EXPECT_EQ(registry.prometheus_text(),
            "# HELP weft_test_depth Queue depth.\n"
            "# TYPE weft_test_depth gauge\n"
            "weft_test_depth -5\n"
            "# HELP weft_test_latency_seconds Latency.\n"
            "# TYPE weft_test_latency_seconds summary\n"
            "weft_test_latency_seconds{op=\"read\",quantile=\"0.5\"} 10\n"
            "weft_test_latency_seconds{op=\"read\",quantile=\"0.9\"} 15\n"
            "weft_test_latency_seconds{op=\"read\",quantile=\"0.99\"} 15\n"
            "weft_test_latency_seconds{op=\"read\",quantile=\"0.999\"} 15\n"
            "weft_test_latency_seconds_sum{op=\"read\"} 30\n"
            "weft_test_latency_seconds_count{op=\"read\"} 3\n"
            "weft_test_latency_seconds{op=\"write\",quantile=\"0.5\"} NaN\n"
            "weft_test_latency_seconds{op=\"write\",quantile=\"0.9\"} NaN\n"
            "weft_test_latency_seconds{op=\"write\",quantile=\"0.99\"} NaN\n"
            "weft_test_latency_seconds{op=\"write\",quantile=\"0.999\"} NaN\n"
            "weft_test_latency_seconds_sum{op=\"write\"} 0\n"
            "weft_test_latency_seconds_count{op=\"write\"} 0\n"
            "# HELP weft_test_ratio A ratio.\n"
            "# TYPE weft_test_ratio gauge\n"
            "weft_test_ratio{kind=\"inf\"} +Inf\n"
            "weft_test_ratio{kind=\"nan\"} NaN\n"
            "weft_test_ratio{kind=\"quarter\"} 0.25\n"
            "# HELP weft_test_requests_total Requests \\\\ handled.\\nSecond \"line\"\n"
            "# TYPE weft_test_requests_total counter\n"
            "weft_test_requests_total 7\n"
            "weft_test_requests_total{code=\"200\",path=\"/a\\\"b\\\\c\\nd\"} 3\n");
}

TEST(MetricsRegistry, NanosecondHistogramExportsSeconds) {
  MetricsRegistry registry;
  registry.histogram("weft_op_seconds", "Op.", {}, 1e-9).record(2'000'000'000);
  const std::string text = registry.prometheus_text();
  EXPECT_NE(text.find("weft_op_seconds_sum 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("weft_op_seconds{quantile=\"0.5\"} 2\n"), std::string::npos) << text;
}

TEST(MetricsRegistry, ScrapeWhileOthersRecordAndRegister) {
  MetricsRegistry registry;
  Counter& counter = registry.counter("weft_ops_total", "Ops.");
  Histogram& histogram = registry.histogram("weft_op_bytes", "Sizes.");
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) EXPECT_FALSE(registry.prometheus_text().empty());
  });
  run_threads(3, [&](int t) {
    for (int i = 0; i < 20'000; ++i) {
      counter.inc();
      histogram.record(static_cast<std::uint64_t>(i));
      if (i % 1000 == 0) {
        registry.gauge("weft_level", "L.", {{"t", std::to_string(t)}, {"i", std::to_string(i)}})
            .set(i);
      }
    }
  });
  done = true;
  scraper.join();
  EXPECT_EQ(counter.value(), 60'000u);
  EXPECT_EQ(histogram.snapshot().count(), 60'000u);
  EXPECT_NE(registry.prometheus_text().find("weft_ops_total 60000\n"), std::string::npos);
}

}  // namespace
}  // namespace weft
