// Windows over keyed streams: tumbling, sliding and session windows in event time, count and
// global windows with a trigger; allowed lateness; records later than that go to the "late"
// side output and are counted — never silently dropped.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "weft/core/codec.hpp"
#include "weft/stream/detail/basic_ops.hpp"
#include "weft/stream/operator.hpp"

namespace weft::stream {

struct WindowAssigner {
  enum class Kind : std::uint8_t { tumbling, sliding, session, global };
  Kind kind = Kind::tumbling;
  Timestamp size = 0;    // tumbling, sliding (ms)
  Timestamp slide = 0;   // sliding (ms)
  Timestamp offset = 0;  // alignment of tumbling/sliding windows (ms)
  Timestamp gap = 0;     // session (ms)
  /// Global windows fire (and purge) when this says so, given the count in the window.
  std::function<bool(std::uint64_t count)> trigger;
};

inline Timestamp to_ms(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

/// Windows [k*size + offset, (k+1)*size + offset).
inline WindowAssigner tumbling(Duration size, Duration offset = Duration{0}) {
  return {WindowAssigner::Kind::tumbling, to_ms(size), to_ms(size), to_ms(offset), 0, {}};
}
/// Windows of `size` starting every `slide`; a record belongs to size/slide of them.
inline WindowAssigner sliding(Duration size, Duration slide, Duration offset = Duration{0}) {
  return {WindowAssigner::Kind::sliding, to_ms(size), to_ms(slide), to_ms(offset), 0, {}};
}
/// Per key, records closer than `gap` to each other form one window [first, last + gap).
inline WindowAssigner session(Duration gap) {
  return {WindowAssigner::Kind::session, 0, 0, 0, to_ms(gap), {}};
}
/// Every `n` records of a key form a window.
inline WindowAssigner count_window(std::uint64_t n) {
  return {WindowAssigner::Kind::global, 0, 0, 0, 0, [n](std::uint64_t c) { return c >= n; }};
}
/// One window per key that fires (and is purged) whenever `trigger(count)` says so.
inline WindowAssigner global_window(std::function<bool(std::uint64_t count)> trigger) {
  return {WindowAssigner::Kind::global, 0, 0, 0, 0, std::move(trigger)};
}

/// Aggregations: Acc create(), add(Acc&, const T&), merge(Acc&, const Acc&), R result(const Acc&).
namespace aggregates {

struct Stats {
  std::uint64_t count = 0;
  double sum = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  [[nodiscard]] double avg() const { return count == 0 ? 0.0 : sum / static_cast<double>(count); }
  friend bool operator==(const Stats&, const Stats&) = default;
};
WEFT_CODEC(Stats, "weft.stream.Stats", 1, count, sum, min, max);

/// count, sum, min, max (and avg()) of a numeric field.
template <class T, class F>
struct StatsOf {
  using Acc = Stats;
  using Result = Stats;
  F field;
  [[nodiscard]] Acc create() const { return {}; }
  void add(Acc& a, const T& v) const {
    const double x = static_cast<double>(field(v));
    ++a.count;
    a.sum += x;
    a.min = std::min(a.min, x);
    a.max = std::max(a.max, x);
  }
  void merge(Acc& a, const Acc& b) const {
    a.count += b.count;
    a.sum += b.sum;
    a.min = std::min(a.min, b.min);
    a.max = std::max(a.max, b.max);
  }
  [[nodiscard]] Result result(const Acc& a) const { return a; }
};
template <class T, class F>
StatsOf<T, F> stats(F field) {
  return {std::move(field)};
}

template <class T>
struct Count {
  using Acc = std::uint64_t;
  using Result = std::uint64_t;
  [[nodiscard]] Acc create() const { return 0; }
  void add(Acc& a, const T&) const { ++a; }
  void merge(Acc& a, const Acc& b) const { a += b; }
  [[nodiscard]] Result result(const Acc& a) const { return a; }
};
template <class T>
Count<T> count() {
  return {};
}

/// Keeps the record with the greatest `field` (ties: the first seen).
template <class T, class F>
struct MaxBy {
  using Acc = std::optional<T>;
  using Result = T;
  F field;
  [[nodiscard]] Acc create() const { return std::nullopt; }
  void add(Acc& a, const T& v) const {
    if (!a || field(v) > field(*a)) a = v;
  }
  void merge(Acc& a, const Acc& b) const {
    if (b) add(a, *b);
  }
  [[nodiscard]] Result result(const Acc& a) const { return a ? *a : T{}; }
};
template <class T, class F>
MaxBy<T, F> max_by(F field) {
  return {std::move(field)};
}

/// A reduce function as an aggregation.
template <class T, class F>
struct Reduce {
  using Acc = std::optional<T>;
  using Result = T;
  F f;
  [[nodiscard]] Acc create() const { return std::nullopt; }
  void add(Acc& a, const T& v) const { a = a ? f(*a, v) : v; }
  void merge(Acc& a, const Acc& b) const {
    if (b) add(a, *b);
  }
  [[nodiscard]] Result result(const Acc& a) const { return a ? *a : T{}; }
};

/// All records of the window, for process-style window functions.
template <class T>
struct Collect {
  using Acc = std::vector<T>;
  using Result = std::vector<T>;
  [[nodiscard]] Acc create() const { return {}; }
  void add(Acc& a, const T& v) const { a.push_back(v); }
  void merge(Acc& a, const Acc& b) const { a.insert(a.end(), b.begin(), b.end()); }
  [[nodiscard]] Result result(const Acc& a) const { return a; }
};

}  // namespace aggregates

namespace detail {

inline Timestamp floor_mod(Timestamp x, Timestamp n) {
  return ((x % n) + n) % n;
}

/// Keyed window operator. `Fire` turns (key, window, acc) into output records.
template <class K, class T, class Agg, class Out, class Fire>
class WindowOp final : public OperatorBase, public Output<T> {
  using Acc = typename Agg::Acc;

 public:
  WindowOp(std::function<K(const T&)> key, WindowAssigner assigner, Timestamp lateness, Agg agg,
           Fire fire, Output<Out>* out, Output<T>* late)
      : key_fn_(std::move(key)),
        assigner_(std::move(assigner)),
        lateness_(lateness),
        agg_(std::move(agg)),
        fire_(std::move(fire)),
        out_(out),
        late_(late) {}

  void emit(T&& value, Timestamp ts) override {
    K key = key_fn_(value);
    try {
      switch (assigner_.kind) {
        case WindowAssigner::Kind::tumbling:
        case WindowAssigner::Kind::sliding:
          add_fixed(key, value, ts);
          return;
        case WindowAssigner::Kind::session:
          add_session(key, value, ts);
          return;
        case WindowAssigner::Kind::global:
          add_global(key, value, ts);
          return;
      }
    } catch (...) {
      ctx().dead_letter({{}, describe_current_exception(), {}, ts});
    }
  }

  void watermark(Timestamp wm) override {
    watermark_ = wm;
    if (assigner_.kind == WindowAssigner::Kind::session) {
      fire_sessions(wm);
    } else if (assigner_.kind != WindowAssigner::Kind::global) {
      fire_fixed(wm);
    }
    out_->watermark(wm);
  }

  void finish() override { out_->finish(); }

  [[nodiscard]] bool has_state() const override { return true; }

  Result<void> snapshot(CheckpointId, Writer& w) override {
    if constexpr (Codable<K> && Codable<Acc>) {
      w.put_varint(fixed_.size());
      for (const auto& [win, keys] : fixed_) {
        put_window(w, win);
        w.put_byte(fired_.contains(win) ? std::byte{1} : std::byte{0});
        w.put_varint(keys.size());
        for (const auto& [k, acc] : keys) {
          Codec<K>::encode(k, w);
          Codec<Acc>::encode(acc, w);
        }
      }
      w.put_varint(sessions_.size());
      for (const auto& [k, list] : sessions_) {
        Codec<K>::encode(k, w);
        w.put_varint(list.size());
        for (const auto& s : list) {
          put_window(w, s.window);
          w.put_byte(s.fired ? std::byte{1} : std::byte{0});
          Codec<Acc>::encode(s.acc, w);
        }
      }
      w.put_varint(global_.size());
      for (const auto& [k, g] : global_) {
        Codec<K>::encode(k, w);
        put_window(w, g.window);
        w.put_varint(g.count);
        Codec<Acc>::encode(g.acc, w);
      }
      return {};
    } else {
      return fail(Errc::invalid_argument,
                  "window state cannot be checkpointed: the key or accumulator has no Codec");
    }
  }

  Result<void> restore(std::span<const std::vector<std::byte>> blobs) override {
    if constexpr (Codable<K> && Codable<Acc>) {
      for (const auto& blob : blobs) {
        if (blob.empty()) continue;
        Reader r(blob);
        if (auto res = restore_one(r); !res) return res;
      }
      return {};
    } else {
      return fail(Errc::invalid_argument, "window state has no Codec to restore with");
    }
  }

 private:
  struct Session {
    Window window;
    Acc acc;
    bool fired = false;
  };
  struct Global {
    Window window;
    std::uint64_t count = 0;
    Acc acc;
  };

  static void put_window(Writer& w, const Window& win) {
    w.put_fixed64(static_cast<std::uint64_t>(win.start));
    w.put_fixed64(static_cast<std::uint64_t>(win.end));
  }
  static Result<Window> get_window(Reader& r) {
    auto s = r.fixed64();
    if (!s) return std::unexpected(s.error());
    auto e = r.fixed64();
    if (!e) return std::unexpected(e.error());
    return Window{static_cast<Timestamp>(*s), static_cast<Timestamp>(*e)};
  }

  Result<void> restore_one(Reader& r) {
    auto windows = r.varint();
    if (!windows) return std::unexpected(windows.error());
    for (std::uint64_t i = 0; i < *windows; ++i) {
      auto win = get_window(r);
      if (!win) return std::unexpected(win.error());
      auto fired = r.byte();
      if (!fired) return std::unexpected(fired.error());
      auto keys = r.varint();
      if (!keys) return std::unexpected(keys.error());
      for (std::uint64_t j = 0; j < *keys; ++j) {
        auto k = Codec<K>::decode(r);
        if (!k) return std::unexpected(k.error());
        auto acc = Codec<Acc>::decode(r);
        if (!acc) return std::unexpected(acc.error());
        if (!owns(*k)) continue;
        fixed_[*win][std::move(*k)] = std::move(*acc);
        if (*fired != std::byte{0}) fired_.insert(*win);
      }
    }
    auto keyed = r.varint();
    if (!keyed) return std::unexpected(keyed.error());
    for (std::uint64_t i = 0; i < *keyed; ++i) {
      auto k = Codec<K>::decode(r);
      if (!k) return std::unexpected(k.error());
      auto n = r.varint();
      if (!n) return std::unexpected(n.error());
      std::vector<Session> list;
      for (std::uint64_t j = 0; j < *n; ++j) {
        auto win = get_window(r);
        if (!win) return std::unexpected(win.error());
        auto fired = r.byte();
        if (!fired) return std::unexpected(fired.error());
        auto acc = Codec<Acc>::decode(r);
        if (!acc) return std::unexpected(acc.error());
        list.push_back(Session{*win, std::move(*acc), *fired != std::byte{0}});
      }
      if (!owns(*k)) continue;
      for (const auto& s : list) {
        timers_.emplace(s.fired ? s.window.max_timestamp() + lateness_ : s.window.max_timestamp(),
                        *k);
      }
      sessions_[std::move(*k)] = std::move(list);
    }
    auto globals = r.varint();
    if (!globals) return std::unexpected(globals.error());
    for (std::uint64_t i = 0; i < *globals; ++i) {
      auto k = Codec<K>::decode(r);
      if (!k) return std::unexpected(k.error());
      auto win = get_window(r);
      if (!win) return std::unexpected(win.error());
      auto count = r.varint();
      if (!count) return std::unexpected(count.error());
      auto acc = Codec<Acc>::decode(r);
      if (!acc) return std::unexpected(acc.error());
      if (owns(*k)) global_[std::move(*k)] = Global{*win, *count, std::move(*acc)};
    }
    return {};
  }

  [[nodiscard]] bool owns(const K& k) const {
    return ctx().owns_key_group(key_group_of(std::hash<K>{}(k), ctx().max_parallelism()));
  }

  void late(T&& value, Timestamp ts) {
    ctx().count_late(1);
    late_->emit(std::move(value), ts);
  }

  void add_fixed(const K& key, T& value, Timestamp ts) {
    const Timestamp last_start = ts - floor_mod(ts - assigner_.offset, assigner_.slide);
    bool assigned = false;
    for (Timestamp start = last_start; start > ts - assigner_.size; start -= assigner_.slide) {
      const Window w{start, start + assigner_.size};
      if (w.max_timestamp() + lateness_ <= watermark_) continue;
      assigned = true;
      auto& keys = fixed_[w];
      auto [it, fresh] = keys.try_emplace(key);
      if (fresh) it->second = agg_.create();
      agg_.add(it->second, value);
      // A window that already fired takes late records within the allowed lateness and fires
      // again with the updated result.
      if (w.max_timestamp() <= watermark_) fire_(key, w, it->second, *out_);
    }
    if (!assigned) late(std::move(value), ts);
  }

  void fire_fixed(Timestamp wm) {
    for (auto it = fixed_.begin(); it != fixed_.end() && it->first.max_timestamp() <= wm;) {
      const Window w = it->first;
      if (!fired_.contains(w)) {
        for (const auto& [k, acc] : it->second) fire_(k, w, acc, *out_);
      }
      if (w.max_timestamp() + lateness_ <= wm) {
        fired_.erase(w);
        it = fixed_.erase(it);
      } else {
        fired_.insert(w);
        ++it;
      }
    }
  }

  void add_session(const K& key, T& value, Timestamp ts) {
    auto& list = sessions_[key];
    Window merged{ts, ts + assigner_.gap};
    bool was_fired = false;
    for (const auto& s : list) {
      if (s.window.start <= merged.end && merged.start <= s.window.end) {
        merged.start = std::min(merged.start, s.window.start);
        merged.end = std::max(merged.end, s.window.end);
        was_fired = was_fired || s.fired;
      }
    }
    if (merged.max_timestamp() + lateness_ <= watermark_) {
      if (list.empty()) sessions_.erase(key);
      late(std::move(value), ts);
      return;
    }
    Session next{merged, agg_.create(), false};
    std::vector<Session> kept;
    for (auto& s : list) {
      if (s.window.start <= merged.end && merged.start <= s.window.end) {
        agg_.merge(next.acc, s.acc);
        timers_.erase({s.window.max_timestamp(), key});
        timers_.erase({s.window.max_timestamp() + lateness_, key});
      } else {
        kept.push_back(std::move(s));
      }
    }
    agg_.add(next.acc, value);
    if (merged.max_timestamp() <= watermark_) {
      // Merged into a session that already fired: fire again with the late record.
      (void)was_fired;
      fire_(key, merged, next.acc, *out_);
      next.fired = true;
      timers_.emplace(merged.max_timestamp() + lateness_, key);
    } else {
      timers_.emplace(merged.max_timestamp(), key);
    }
    kept.push_back(std::move(next));
    list = std::move(kept);
  }

  void fire_sessions(Timestamp wm) {
    while (!timers_.empty() && timers_.begin()->first <= wm) {
      auto node = timers_.extract(timers_.begin());
      const K& key = node.value().second;
      auto found = sessions_.find(key);
      if (found == sessions_.end()) continue;
      auto& list = found->second;
      for (auto it = list.begin(); it != list.end();) {
        const Timestamp end_ts = it->window.max_timestamp();
        if (!it->fired && end_ts <= wm) {
          fire_(key, it->window, it->acc, *out_);
          it->fired = true;
          if (lateness_ > 0) timers_.emplace(end_ts + lateness_, key);
        }
        if (it->fired && end_ts + lateness_ <= wm) {
          it = list.erase(it);
        } else {
          ++it;
        }
      }
      if (list.empty()) sessions_.erase(found);
    }
  }

  void add_global(const K& key, T& value, Timestamp ts) {
    auto [it, fresh] = global_.try_emplace(key);
    auto& g = it->second;
    if (fresh || g.count == 0) {
      g.acc = agg_.create();
      g.window = Window{ts, ts + 1};
    }
    agg_.add(g.acc, value);
    ++g.count;
    g.window.start = std::min(g.window.start, ts);
    g.window.end = std::max(g.window.end, ts + 1);
    if (assigner_.trigger && assigner_.trigger(g.count)) {
      fire_(key, g.window, g.acc, *out_);
      global_.erase(it);
    }
  }

  std::function<K(const T&)> key_fn_;
  WindowAssigner assigner_;
  Timestamp lateness_;
  Agg agg_;
  Fire fire_;
  Output<Out>* out_;
  Output<T>* late_;
  Timestamp watermark_ = min_timestamp;
  std::map<Window, std::unordered_map<K, Acc>> fixed_;
  std::set<Window> fired_;
  std::unordered_map<K, std::vector<Session>> sessions_;
  std::set<std::pair<Timestamp, K>> timers_;
  std::unordered_map<K, Global> global_;
};

}  // namespace detail
}  // namespace weft::stream
