#include "weft/core/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <variant>

namespace weft {

namespace detail {

std::uint32_t assign_thread_shard() noexcept {
  static std::atomic<std::uint32_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed) % kMetricShards;
}

}  // namespace detail

std::uint64_t Counter::value() const noexcept {
  std::uint64_t total = 0;
  for (const Cell& cell : cells_) total += cell.value.load(std::memory_order_relaxed);
  return total;
}

void CallbackGauge::set_callback(Callback callback) {
  std::lock_guard lock(mutex_);
  callback_ = std::move(callback);
}

std::optional<double> CallbackGauge::value() const {
  std::lock_guard lock(mutex_);
  if (!callback_) return std::nullopt;
  return callback_();
}

// ---- Histogram ----

HistogramSnapshot::HistogramSnapshot(std::vector<std::uint64_t> buckets, double sum,
                                     std::uint64_t min, std::uint64_t max)
    : buckets_(std::move(buckets)), sum_(sum), min_(min), max_(max) {
  for (std::uint64_t n : buckets_) count_ += n;
}

double HistogramSnapshot::mean() const noexcept {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  return sum_ / static_cast<double>(count_);
}

double HistogramSnapshot::quantile(double q) const noexcept {
  if (count_ == 0 || std::isnan(q)) return std::numeric_limits<double>::quiet_NaN();
  if (q <= 0) return static_cast<double>(min_);
  if (q >= 1) return static_cast<double>(max_);
  const double wanted = std::ceil(q * static_cast<double>(count_));
  const std::uint64_t rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(wanted));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      // The bucket's midpoint, kept inside the exact [min, max] so the extremes stay exact.
      const std::uint64_t lo = std::max(Histogram::bucket_lower(i), min_);
      const std::uint64_t hi = std::min(Histogram::bucket_upper(i), max_);
      return static_cast<double>(lo) + static_cast<double>(hi - lo) / 2;
    }
  }
  return static_cast<double>(max_);
}

Histogram::Histogram() = default;

Histogram::~Histogram() {
  for (auto& shard : shards_) delete shard.load(std::memory_order_acquire);
}

Histogram::Shard* Histogram::allocate_shard(std::size_t index) noexcept {
  auto* fresh = new Shard;
  Shard* expected = nullptr;
  if (shards_[index].compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) {
    return fresh;
  }
  delete fresh;  // another thread on the same shard won the race
  return expected;
}

HistogramSnapshot Histogram::snapshot() const {
  std::vector<std::uint64_t> buckets(kBuckets, 0);
  double sum = 0;
  std::uint64_t min = UINT64_MAX;
  std::uint64_t max = 0;
  for (const auto& slot : shards_) {
    const Shard* s = slot.load(std::memory_order_acquire);
    if (s == nullptr) continue;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      buckets[i] += s->buckets[i].load(std::memory_order_relaxed);
    }
    sum += std::ldexp(static_cast<double>(s->sum_hi.load(std::memory_order_relaxed)), 64) +
           static_cast<double>(s->sum_lo.load(std::memory_order_relaxed));
    min = std::min(min, s->min.load(std::memory_order_relaxed));
    max = std::max(max, s->max.load(std::memory_order_relaxed));
  }
  return HistogramSnapshot(std::move(buckets), sum, min, max);
}

void Histogram::reset() noexcept {
  for (auto& slot : shards_) {
    Shard* s = slot.load(std::memory_order_acquire);
    if (s == nullptr) continue;
    for (auto& bucket : s->buckets) bucket.store(0, std::memory_order_relaxed);
    s->sum_lo.store(0, std::memory_order_relaxed);
    s->sum_hi.store(0, std::memory_order_relaxed);
    s->min.store(UINT64_MAX, std::memory_order_relaxed);
    s->max.store(0, std::memory_order_relaxed);
  }
}

// ---- Names ----

namespace {

bool is_name_start(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
}

bool is_name_char(char c, bool allow_colon) {
  return is_name_start(c, allow_colon) || (c >= '0' && c <= '9');
}

bool is_valid_name(std::string_view name, bool allow_colon) {
  if (name.empty() || !is_name_start(name.front(), allow_colon)) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return is_name_char(c, allow_colon); });
}

}  // namespace

bool is_valid_metric_name(std::string_view name) noexcept {
  return is_valid_name(name, true);
}

bool is_valid_label_name(std::string_view name) noexcept {
  return is_valid_name(name, false) && !name.starts_with("__");
}

// ---- Registry ----

namespace {

enum class Kind { counter, gauge, histogram };

std::string_view to_string(Kind kind) {
  switch (kind) {
    case Kind::counter:
      return "counter";
    case Kind::gauge:
      return "gauge";
    case Kind::histogram:
      return "summary";
  }
  return "untyped";
}

// monostate: a slot just created by MetricsRegistry::Impl::slot, about to be filled.
using Metric = std::variant<std::monostate, std::unique_ptr<Counter>, std::unique_ptr<Gauge>,
                            std::unique_ptr<CallbackGauge>, std::unique_ptr<Histogram>>;

struct Family {
  Kind kind;
  std::string help;
  double export_scale = 1.0;
  std::map<Labels, Metric> series;
};

// Sample suffixes a summary family writes besides its own name.
constexpr std::array<std::string_view, 2> kSummarySuffixes{"_sum", "_count"};

[[noreturn]] void reject(const std::string& name, std::string_view why) {
  throw std::invalid_argument("metric '" + name + "': " + std::string(why));
}

Labels normalize(const std::string& name, Kind kind, Labels labels) {
  std::sort(labels.begin(), labels.end());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const std::string& label = labels[i].first;
    if (!is_valid_label_name(label)) reject(name, "invalid label name '" + label + "'");
    if (i > 0 && labels[i - 1].first == label) reject(name, "duplicate label '" + label + "'");
    if (kind == Kind::histogram && label == "quantile") {
      reject(name, "label 'quantile' is reserved for summaries");
    }
  }
  return labels;
}

void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
  }
}

template <class Int>
void append_integer(std::string& out, Int v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void append_escaped(std::string& out, std::string_view text, bool escape_quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// `{a="x",b="y"}`, with an optional extra label last (quantile for summaries); nothing if empty.
void append_labels(std::string& out, const Labels& labels, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  auto one = [&](std::string_view name, std::string_view value) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
  };
  for (const auto& [name, value] : labels) one(name, value);
  if (!extra_name.empty()) one(extra_name, extra_value);
  out += '}';
}

void append_sample_prefix(std::string& out, std::string_view name, std::string_view suffix,
                          const Labels& labels) {
  out += name;
  out += suffix;
  append_labels(out, labels);
  out += ' ';
}

constexpr std::array<std::pair<double, std::string_view>, 4> kQuantiles{{
    {0.5, "0.5"},
    {0.9, "0.9"},
    {0.99, "0.99"},
    {0.999, "0.999"},
}};

void append_series(std::string& out, const std::string& name, const Family& family,
                   const Labels& labels, const Metric& metric) {
  if (std::holds_alternative<std::monostate>(metric)) return;  // creation failed (bad_alloc)
  if (const auto* counter = std::get_if<std::unique_ptr<Counter>>(&metric)) {
    append_sample_prefix(out, name, "", labels);
    append_integer(out, (*counter)->value());
  } else if (const auto* gauge = std::get_if<std::unique_ptr<Gauge>>(&metric)) {
    append_sample_prefix(out, name, "", labels);
    append_integer(out, (*gauge)->value());
  } else if (const auto* callback = std::get_if<std::unique_ptr<CallbackGauge>>(&metric)) {
    const std::optional<double> value = (*callback)->value();
    if (!value) return;
    append_sample_prefix(out, name, "", labels);
    append_number(out, *value);
  } else {
    const HistogramSnapshot snap = std::get<std::unique_ptr<Histogram>>(metric)->snapshot();
    const double scale = family.export_scale;
    for (const auto& [q, text] : kQuantiles) {
      out += name;
      append_labels(out, labels, "quantile", text);
      out += ' ';
      append_number(out, snap.quantile(q) * scale);
      out += '\n';
    }
    append_sample_prefix(out, name, "_sum", labels);
    append_number(out, snap.sum() * scale);
    out += '\n';
    append_sample_prefix(out, name, "_count", labels);
    append_integer(out, snap.count());
  }
  out += '\n';
}

}  // namespace

struct MetricsRegistry::Impl {
  mutable std::mutex mutex;
  std::map<std::string, Family> families;  // sorted by name, for stable output

  // Returns the series slot for (name, labels), creating the family and an empty slot if needed.
  Metric& slot(std::string name, std::string help, Kind kind, Labels labels,
               double export_scale = 1.0) {
    labels = normalize(name, kind, std::move(labels));
    auto it = families.find(name);
    if (it == families.end()) {
      check_new_family(name, help, kind, export_scale);
      it = families.emplace(name, Family{kind, std::move(help), export_scale, {}}).first;
    } else if (it->second.kind != kind) {
      reject(name, "already registered as a " + std::string(to_string(it->second.kind)) +
                       ", not a " + std::string(to_string(kind)));
    } else if (it->second.export_scale != export_scale) {
      reject(name, "registered again with a different export scale");
    }
    return it->second.series[std::move(labels)];
  }

  void check_new_family(const std::string& name, const std::string& help, Kind kind,
                        double export_scale) const {
    if (!is_valid_metric_name(name)) reject(name, "invalid name, want [a-zA-Z_:][a-zA-Z0-9_:]*");
    if (help.empty()) reject(name, "empty help text");
    if (kind == Kind::counter && !name.ends_with("_total")) {
      reject(name, "a counter's name must end in _total");
    }
    if (!(export_scale > 0) || std::isinf(export_scale)) {
      reject(name, "export scale must be positive and finite");
    }
    // A summary also writes <name>_sum and <name>_count samples; no other family may own them.
    for (std::string_view suffix : kSummarySuffixes) {
      if (kind == Kind::histogram && families.contains(name + std::string(suffix))) {
        reject(name, "clashes with family " + name + std::string(suffix));
      }
      if (!name.ends_with(suffix)) continue;
      auto other = families.find(name.substr(0, name.size() - suffix.size()));
      if (other != families.end() && other->second.kind == Kind::histogram) {
        reject(name, "clashes with the samples of summary " + other->first);
      }
    }
  }
};

MetricsRegistry::MetricsRegistry() : impl_(std::make_unique<Impl>()) {}
MetricsRegistry::~MetricsRegistry() = default;

Counter& MetricsRegistry::counter(std::string name, std::string help, Labels labels) {
  std::lock_guard lock(impl_->mutex);
  Metric& m = impl_->slot(std::move(name), std::move(help), Kind::counter, std::move(labels));
  if (std::holds_alternative<std::monostate>(m)) m = std::make_unique<Counter>();
  return *std::get<std::unique_ptr<Counter>>(m);
}

Gauge& MetricsRegistry::gauge(std::string name, std::string help, Labels labels) {
  const std::string key = name;
  std::lock_guard lock(impl_->mutex);
  Metric& m = impl_->slot(std::move(name), std::move(help), Kind::gauge, std::move(labels));
  if (std::holds_alternative<std::monostate>(m)) {
    m = std::make_unique<Gauge>();
  } else if (!std::holds_alternative<std::unique_ptr<Gauge>>(m)) {
    reject(key, "series already registered as a callback gauge");
  }
  return *std::get<std::unique_ptr<Gauge>>(m);
}

CallbackGauge& MetricsRegistry::callback_gauge(std::string name, std::string help,
                                               CallbackGauge::Callback callback, Labels labels) {
  const std::string key = name;
  std::lock_guard lock(impl_->mutex);
  Metric& m = impl_->slot(std::move(name), std::move(help), Kind::gauge, std::move(labels));
  if (std::holds_alternative<std::monostate>(m)) {
    m = std::make_unique<CallbackGauge>(std::move(callback));
  } else if (auto* existing = std::get_if<std::unique_ptr<CallbackGauge>>(&m)) {
    (*existing)->set_callback(std::move(callback));
  } else {
    reject(key, "series already registered as a plain gauge");
  }
  return *std::get<std::unique_ptr<CallbackGauge>>(m);
}

Histogram& MetricsRegistry::histogram(std::string name, std::string help, Labels labels,
                                      double export_scale) {
  std::lock_guard lock(impl_->mutex);
  Metric& m = impl_->slot(std::move(name), std::move(help), Kind::histogram, std::move(labels),
                          export_scale);
  if (std::holds_alternative<std::monostate>(m)) m = std::make_unique<Histogram>();
  return *std::get<std::unique_ptr<Histogram>>(m);
}

std::string MetricsRegistry::prometheus_text() const {
  // Copy what to render under the lock, render outside it: callbacks may take their own locks,
  // and metrics (never removed) stay valid.
  struct Series {
    const Labels* labels;
    const Metric* metric;
  };
  struct View {
    const std::string* name;
    const Family* family;
    std::vector<Series> series;
  };
  std::vector<View> views;
  {
    std::lock_guard lock(impl_->mutex);
    views.reserve(impl_->families.size());
    for (const auto& [name, family] : impl_->families) {
      View view{&name, &family, {}};
      for (const auto& [labels, metric] : family.series) view.series.push_back({&labels, &metric});
      views.push_back(std::move(view));
    }
  }
  std::string out;
  for (const View& view : views) {
    out += "# HELP ";
    out += *view.name;
    out += ' ';
    append_escaped(out, view.family->help, false);
    out += "\n# TYPE ";
    out += *view.name;
    out += ' ';
    out += to_string(view.family->kind);
    out += '\n';
    for (const Series& s : view.series) {
      append_series(out, *view.name, *view.family, *s.labels, *s.metric);
    }
  }
  return out;
}

}  // namespace weft
