// Windows over keyed streams: tumbling, sliding and session windows in event or processing time,
// count and global windows with a trigger; allowed lateness; records later than that go to the
// "late" side output and are counted — never silently dropped.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <set>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "weft/core/codec.hpp"
#include "weft/stream/detail/basic_ops.hpp"
#include "weft/stream/detail/key_table.hpp"
#include "weft/stream/operator.hpp"

namespace weft::stream {

/// What a trigger decides for its key's global window.
enum class TriggerResult : std::uint8_t {
  keep,            // nothing yet
  fire,            // emit the window's result, keep its contents
  purge,           // drop the contents without emitting
  fire_and_purge,  // emit, then start an empty window
};

/// What a trigger sees of one key's global window, and where it sets its timers. Timers of a
/// window are dropped when the window is purged.
class TriggerContext {
 public:
  virtual ~TriggerContext() = default;
  /// Records in the window since it was last purged, the current one included.
  [[nodiscard]] virtual std::uint64_t count() const = 0;
  /// From the earliest record's event time to just after the latest one's.
  [[nodiscard]] virtual Window window() const = 0;
  [[nodiscard]] virtual Timestamp current_watermark() const = 0;
  /// The job clock's wall time (ms since the Unix epoch).
  [[nodiscard]] virtual Timestamp current_processing_time() const = 0;
  /// Calls on_event_time(t) once the watermark reaches `t`.
  virtual void register_event_timer(Timestamp t) = 0;
  /// Calls on_processing_time(t) once the job clock's wall time reaches `t`.
  virtual void register_processing_timer(Timestamp t) = 0;
};

/// Decides when a global window fires (as Flink's Trigger). One instance serves every key and
/// parallel instance, so it keeps no state of its own (hence const): what it needs is in the
/// context (the count, the window, timers), all of which is checkpointed. A trigger that
/// throws is reported as a dead letter; the record it was asked about stays in its window.
class Trigger {
 public:
  virtual ~Trigger() = default;
  virtual TriggerResult on_element(TriggerContext& ctx, Timestamp ts) const = 0;
  virtual TriggerResult on_event_time(TriggerContext& ctx, Timestamp time) const {
    (void)ctx;
    (void)time;
    return TriggerResult::keep;
  }
  virtual TriggerResult on_processing_time(TriggerContext& ctx, Timestamp time) const {
    (void)ctx;
    (void)time;
    return TriggerResult::keep;
  }
};

/// Fires and purges once the window holds `n` records.
std::shared_ptr<const Trigger> count_trigger(std::uint64_t n);
/// Fires and purges `d` of processing time after the first record of each window.
std::shared_ptr<const Trigger> processing_time_trigger(Duration d);
/// Fires and purges whenever `fires(count)` says so.
std::shared_ptr<const Trigger> predicate_trigger(std::function<bool(std::uint64_t count)> fires);
/// Whichever of the triggers fires first (e.g. 100 records or 1 s, whichever comes first): a
/// window fires if any fires and is purged if any purges.
std::shared_ptr<const Trigger> any_trigger(std::vector<std::shared_ptr<const Trigger>> triggers);

struct WindowAssigner {
  enum class Kind : std::uint8_t { tumbling, sliding, session, global };
  Kind kind = Kind::tumbling;
  Timestamp size = 0;    // tumbling, sliding (ms)
  Timestamp slide = 0;   // sliding (ms)
  Timestamp offset = 0;  // alignment of tumbling/sliding windows (ms)
  Timestamp gap = 0;     // session (ms)
  /// Global windows fire (and purge) when this says so.
  std::shared_ptr<const Trigger> trigger;
  /// Tumbling, sliding and session windows: event time (records' timestamps, closed by the
  /// watermark) or processing time (the job clock's wall time when a record arrives, closed by
  /// a processing-time timer).
  TimeDomain domain = TimeDomain::event_time;

  /// The same windows over processing time.
  [[nodiscard]] WindowAssigner in_processing_time() const {
    auto copy = *this;
    copy.domain = TimeDomain::processing_time;
    return copy;
  }
};

inline Timestamp to_ms(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

/// Windows [k*size + offset, (k+1)*size + offset).
inline WindowAssigner tumbling(Duration size, Duration offset = Duration{0}) {
  return {WindowAssigner::Kind::tumbling, to_ms(size), to_ms(size), to_ms(offset), 0, {}, {}};
}
/// Windows of `size` starting every `slide`; a record belongs to size/slide of them.
inline WindowAssigner sliding(Duration size, Duration slide, Duration offset = Duration{0}) {
  return {WindowAssigner::Kind::sliding, to_ms(size), to_ms(slide), to_ms(offset), 0, {}, {}};
}
/// Per key, records closer than `gap` to each other form one window [first, last + gap).
inline WindowAssigner session(Duration gap) {
  return {WindowAssigner::Kind::session, 0, 0, 0, to_ms(gap), {}, {}};
}
/// Tumbling windows of the job clock's wall time, aligned to the Unix epoch (plus `offset`).
inline WindowAssigner tumbling_processing_time(Duration size, Duration offset = Duration{0}) {
  return tumbling(size, offset).in_processing_time();
}
inline WindowAssigner sliding_processing_time(Duration size, Duration slide,
                                              Duration offset = Duration{0}) {
  return sliding(size, slide, offset).in_processing_time();
}
/// A key's session closes after `gap` of processing time without a record.
inline WindowAssigner session_processing_time(Duration gap) {
  return session(gap).in_processing_time();
}
/// One window per key that fires (and is purged, or not) when `trigger` says so.
inline WindowAssigner global_window(std::shared_ptr<const Trigger> trigger) {
  return {WindowAssigner::Kind::global, 0, 0, 0, 0, std::move(trigger), {}};
}
/// One window per key that fires and is purged whenever `fires(count)` says so.
inline WindowAssigner global_window(std::function<bool(std::uint64_t count)> fires) {
  return global_window(predicate_trigger(std::move(fires)));
}
/// Every `n` records of a key form a window.
inline WindowAssigner count_window(std::uint64_t n) {
  return global_window(count_trigger(n));
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
///
/// Tumbling and sliding windows keep their contents in panes: slices of gcd(size, slide) ms,
/// one accumulator per key and pane. A record updates the one pane it falls in, and a window
/// merges its size/pane panes when it fires, instead of every record updating each of the
/// size/slide windows it belongs to (Nexmark q5's 10 s windows sliding by 2 s: one hash update
/// per bid instead of five; docs/streams.md). Tumbling windows are their own single pane.
///
/// Event-time windows close as the watermark passes them. Processing-time windows take the job
/// clock's wall time (ms) as each record's time and close on a processing-time wakeup once the
/// wall time reaches their end; their bounds are absolute, so a restored job fires at once what
/// closed while it was down. Global windows ask their Trigger.
template <class K, class T, class Agg, class Out, class Fire>
class WindowOp : public OperatorBase, public Output<T>, private TriggerContext {
  using Acc = typename Agg::Acc;

 public:
  WindowOp(std::function<K(const T&)> key, WindowAssigner assigner, Timestamp lateness, Agg agg,
           Fire fire, Output<Out>* out, Output<T>* late)
      : key_fn_(std::move(key)),
        assigner_(std::move(assigner)),
        // Nothing arrives late in processing time: a record's window always contains "now".
        lateness_(assigner_.domain == TimeDomain::processing_time ? 0 : lateness),
        pane_(fixed_windows() ? std::gcd(assigner_.size, assigner_.slide) : 0),
        agg_(std::move(agg)),
        fire_(std::move(fire)),
        out_(out),
        late_(late) {}

  void emit(T&& value, Timestamp ts) override {
    K key = key_fn_(value);
    try {
      const Timestamp at = processing_windows() ? ctx().clock().wall_ms() : ts;
      switch (assigner_.kind) {
        case WindowAssigner::Kind::tumbling:
        case WindowAssigner::Kind::sliding:
          add_fixed(key, value, at);
          break;
        case WindowAssigner::Kind::session:
          add_session(key, value, at);
          break;
        case WindowAssigner::Kind::global:
          add_global(key, value, ts);
          break;
      }
      arm();
    } catch (...) {
      ctx().dead_letter({{}, describe_current_exception(), {}, ts});
    }
  }

  void watermark(Timestamp wm) override {
    watermark_ = wm;
    if (assigner_.kind == WindowAssigner::Kind::global) {
      fire_event_timers(wm);
      // The end of input fires what processing-time timers were still waiting for.
      if (wm == max_timestamp) fire_processing_timers(max_timestamp);
    } else if (!processing_windows() || wm == max_timestamp) {
      close_up_to(wm);
    }
    out_->watermark(wm);
  }

  void on_processing_time(TimePoint) override {
    armed_.reset();
    const Timestamp now = ctx().clock().wall_ms();
    try {
      if (assigner_.kind == WindowAssigner::Kind::global) {
        fire_processing_timers(now);
      } else if (processing_windows()) {
        // A window [start, end) closes once the wall time reaches end, i.e. its last instant
        // end - 1 has passed.
        close_up_to(now - 1);
      }
    } catch (...) {
      ctx().dead_letter({{}, describe_current_exception(), {}, watermark_});
    }
    arm();
  }

  void finish() override { out_->finish(); }

  [[nodiscard]] bool has_state() const override { return true; }

  Result<void> snapshot(CheckpointId, Writer& w) override {
    if constexpr (Codable<K> && Codable<Acc>) {
      // Panes, then whole windows restored from a blob written before panes (the same
      // entries: the width tells them apart; a tumbling window is its pane).
      w.put_varint(panes_.size() + whole_.size());
      for (const auto& [start, keys] : panes_) put_fixed(w, Window{start, start + pane_}, keys);
      for (const auto& [start, keys] : whole_) {
        put_fixed(w, Window{start, start + assigner_.size}, keys);
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
      // Trigger timers (absent in blobs written before triggers had timers).
      put_timers(w, event_timers_);
      put_timers(w, processing_timers_);
      // How far fixed windows are closed: the windows that fired (absent in older blobs).
      w.put_fixed64(static_cast<std::uint64_t>(time_));
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
      for (const auto& [start, keys] : panes_) open_windows_of(start);
      for (const auto& [start, keys] : whole_) {
        if (!expired(start)) windows_.insert(start);
      }
      // Processing-time windows and timers are absolute wall times: wake up for the earliest.
      arm();
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
    // The trigger's timers of this window, dropped with it when it is purged.
    std::vector<Timestamp> event_timers;
    std::vector<Timestamp> processing_timers;
  };
  using Timers = std::set<std::pair<Timestamp, K>>;

  [[nodiscard]] bool processing_windows() const {
    return assigner_.domain == TimeDomain::processing_time &&
           assigner_.kind != WindowAssigner::Kind::global;
  }

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
  void put_fixed(Writer& w, const Window& win, const KeyTable<K, Acc>& keys) const {
    put_window(w, win);
    w.put_byte(win.max_timestamp() <= time_ ? std::byte{1} : std::byte{0});
    w.put_varint(keys.size());
    for (const auto& [k, acc] : keys) {
      Codec<K>::encode(k, w);
      Codec<Acc>::encode(acc, w);
    }
  }
  static void put_timers(Writer& w, const Timers& timers) {
    w.put_varint(timers.size());
    for (const auto& [t, k] : timers) {
      w.put_fixed64(static_cast<std::uint64_t>(t));
      Codec<K>::encode(k, w);
    }
  }
  Result<void> restore_timers(Reader& r, TimeDomain domain) {
    auto n = r.varint();
    if (!n) return std::unexpected(n.error().with_context("trigger timer count"));
    for (std::uint64_t i = 0; i < *n; ++i) {
      auto t = r.fixed64();
      if (!t) return std::unexpected(t.error());
      auto k = Codec<K>::decode(r);
      if (!k) return std::unexpected(k.error());
      const auto found = global_.find(*k);
      if (found == global_.end()) continue;  // another instance's key, or a purged window
      const auto at = static_cast<Timestamp>(*t);
      auto& own = domain == TimeDomain::event_time ? found->second.event_timers
                                                   : found->second.processing_timers;
      auto& all = domain == TimeDomain::event_time ? event_timers_ : processing_timers_;
      if (all.emplace(at, found->first).second) own.push_back(at);
    }
    return {};
  }

  Result<void> restore_one(Reader& r) {
    auto windows = r.varint();
    if (!windows) return std::unexpected(windows.error());
    for (std::uint64_t i = 0; i < *windows; ++i) {
      auto win = get_window(r);
      if (!win) return std::unexpected(win.error());
      auto fired = r.byte();
      if (!fired) return std::unexpected(fired.error());
      auto into = fixed_entry(*win);
      if (!into) return std::unexpected(into.error());
      auto keys = r.varint();
      if (!keys) return std::unexpected(keys.error());
      for (std::uint64_t j = 0; j < *keys; ++j) {
        auto k = Codec<K>::decode(r);
        if (!k) return std::unexpected(k.error());
        auto acc = Codec<Acc>::decode(r);
        if (!acc) return std::unexpected(acc.error());
        if (!owns(*k)) continue;
        (**into)[*k] = std::move(*acc);
        // Blobs written before time_ was: a window that fired is closed up to its end.
        if (*fired != std::byte{0} && (*win).end - (*win).start == assigner_.size) {
          time_ = std::max(time_, (*win).max_timestamp());
        }
      }
      if ((*into)->empty()) {
        panes_.erase((*win).start);
        whole_.erase((*win).start);
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
      if (owns(*k)) global_[std::move(*k)] = Global{*win, *count, std::move(*acc), {}, {}};
    }
    if (r.remaining() == 0) return {};  // written before trigger timers were checkpointed
    if (auto res = restore_timers(r, TimeDomain::event_time); !res) return res;
    if (auto res = restore_timers(r, TimeDomain::processing_time); !res) return res;
    if (r.remaining() == 0) return {};  // written before panes
    auto closed = r.fixed64();
    if (!closed) return std::unexpected(closed.error().with_context("closed window time"));
    // Every instance closed its windows up to the same watermark (the one before the barrier).
    time_ = std::max(time_, static_cast<Timestamp>(*closed));
    return {};
  }

  /// Where a restored fixed-window entry goes: a pane, or (from a blob written before panes) a
  /// whole sliding window. Any other width belongs to other windows than this operator's.
  Result<KeyTable<K, Acc>*> fixed_entry(const Window& win) {
    // Far beyond any real time, and far enough from the ends that no window arithmetic on it
    // overflows (a damaged or forged blob).
    constexpr Timestamp bound = std::numeric_limits<Timestamp>::max() / 4;
    const bool sane = win.start > -bound && win.end < bound && win.start < win.end;
    const Timestamp width = sane ? win.end - win.start : 0;
    if (sane && fixed_windows() && width == pane_ &&
        floor_mod(win.start - assigner_.offset, pane_) == 0) {
      return &panes_[win.start];
    }
    if (sane && fixed_windows() && width == assigner_.size &&
        floor_mod(win.start - assigner_.offset, assigner_.slide) == 0) {
      return &whole_[win.start];
    }
    return fail(Errc::corrupted, "window state holds [" + std::to_string(win.start) + ", " +
                                     std::to_string(win.end) +
                                     "), which is neither a pane nor a window of this operator");
  }

  [[nodiscard]] bool owns(const K& k) const {
    return ctx().owns_key_group(key_group_of(std::hash<K>{}(k), ctx().max_parallelism()));
  }

  void late(T&& value, Timestamp ts) {
    ctx().count_late(1);
    late_->emit(std::move(value), ts);
  }

  /// Closes (fires, then drops past the allowed lateness) the windows whose last instant is at
  /// or before `t`, in the assigner's time domain.
  void close_up_to(Timestamp t) {
    const Timestamp before = time_;
    time_ = std::max(time_, t);
    if (assigner_.kind == WindowAssigner::Kind::session) {
      fire_sessions(time_);
    } else {
      fire_fixed(before, time_);
    }
  }

  /// The wall time (ms) at which the next processing-time window or timer is due, if any.
  [[nodiscard]] std::optional<Timestamp> next_processing_due() const {
    if (assigner_.kind == WindowAssigner::Kind::global) {
      if (processing_timers_.empty()) return std::nullopt;
      return processing_timers_.begin()->first;
    }
    if (!processing_windows()) return std::nullopt;
    switch (assigner_.kind) {
      case WindowAssigner::Kind::tumbling:
      case WindowAssigner::Kind::sliding:
        if (windows_.empty()) return std::nullopt;
        return *windows_.begin() + assigner_.size;
      case WindowAssigner::Kind::session:
        if (timers_.empty()) return std::nullopt;
        return timers_.begin()->first == max_timestamp ? max_timestamp : timers_.begin()->first + 1;
      case WindowAssigner::Kind::global:
        break;
    }
    return std::nullopt;
  }

  /// Asks the task for a wakeup when the next processing-time window or timer is due (once per
  /// due time: the task keeps the earliest of its operators' requests).
  void arm() {
    const auto due = next_processing_due();
    if (!due || (armed_ && *armed_ <= *due)) return;
    armed_ = due;
    const auto& clock = ctx().clock();
    // Saturated: a due time from a damaged or far-future checkpoint must not overflow the
    // nanosecond TimePoint (a century ahead means never, for a running process).
    constexpr Timestamp century_ms = 100LL * 365 * 24 * 3600 * 1000;
    const Timestamp wall = clock.wall_ms();
    const Timestamp ahead = *due <= wall ? 0 : std::min<Timestamp>(*due - wall, century_ms);
    ctx().request_wakeup(clock.now() + std::chrono::milliseconds(ahead));
  }

  [[nodiscard]] bool fixed_windows() const {
    return assigner_.kind == WindowAssigner::Kind::tumbling ||
           assigner_.kind == WindowAssigner::Kind::sliding;
  }

  /// Whether the window starting at `start` is past its allowed lateness (dropped).
  [[nodiscard]] bool expired(Timestamp start) const {
    return start + assigner_.size - 1 + lateness_ <= time_;
  }

  /// The start of the latest window holding `t` (windows holding it start every slide before
  /// that, while they start after t - size). A window holds either all of a pane or none of it.
  [[nodiscard]] Timestamp last_window_start(Timestamp t) const {
    return t - floor_mod(t - assigner_.offset, assigner_.slide);
  }

  /// Records the not yet dropped windows holding the pane at `pane`, to fire in time.
  void open_windows_of(Timestamp pane) {
    for (Timestamp s = last_window_start(pane); s > pane - assigner_.size; s -= assigner_.slide) {
      if (!expired(s)) windows_.insert(s);
    }
  }

  void add_fixed(const K& key, T& value, Timestamp ts) {
    // Most records fall in the pane of the previous one, after every closed window.
    if (pane_of_last_ != nullptr && ts > time_ && ts >= last_pane_start_ &&
        ts - last_pane_start_ < pane_) {
      add_to(*pane_of_last_, key, value);
      return;
    }
    bool open = false;
    for (Timestamp s = last_window_start(ts); s > ts - assigner_.size; s -= assigner_.slide) {
      open = open || !expired(s);
    }
    if (!open) {
      late(std::move(value), ts);
      return;
    }
    const Timestamp pane = ts - floor_mod(ts - assigner_.offset, pane_);
    auto [it, opened] = panes_.try_emplace(pane);
    if (opened) {
      // Sized like the last pane dropped: growing a map of thousands of keys by rehashing cost
      // 3% of Nexmark q5 at parallelism 1 and 7% at 2.
      it->second.reserve(keys_per_pane_);
      open_windows_of(pane);
    }
    last_pane_start_ = pane;
    pane_of_last_ = &it->second;
    add_to(it->second, key, value);
    if (ts > time_) return;
    // A window that already fired takes late records within the allowed lateness and fires
    // again with the updated result.
    for (Timestamp s = last_window_start(ts); s > ts - assigner_.size; s -= assigner_.slide) {
      const Window w{s, s + assigner_.size};
      if (!expired(s) && w.max_timestamp() <= time_) fire_(key, w, merged(key, w), *out_);
    }
  }

  void add_to(KeyTable<K, Acc>& keys, const K& key, const T& value) {
    agg_.add(*keys.find_or_add(key, [&] { return agg_.create(); }).first, value);
  }

  /// One key's accumulator of window `w`, merged from its panes.
  [[nodiscard]] Acc merged(const K& key, const Window& w) const {
    Acc acc = agg_.create();
    if (const auto whole = whole_.find(w.start); whole != whole_.end()) {
      if (const Acc* found = whole->second.find(key)) agg_.merge(acc, *found);
    }
    for (auto it = panes_.lower_bound(w.start); it != panes_.end() && it->first < w.end; ++it) {
      if (const Acc* found = it->second.find(key)) agg_.merge(acc, *found);
    }
    return acc;
  }

  /// Fires the windows whose last instant passed from `before` to `now`, and drops those past
  /// their allowed lateness, and the panes no open window holds any more.
  void fire_fixed(Timestamp before, Timestamp now) {
    for (auto it = windows_.begin(); it != windows_.end();) {
      const Window w{*it, *it + assigner_.size};
      if (w.max_timestamp() > now) break;
      if (w.max_timestamp() > before) fire_window(w);
      if (expired(w.start)) {
        whole_.erase(w.start);
        it = windows_.erase(it);
      } else {
        ++it;
      }
    }
    const Timestamp kept = windows_.empty() ? max_timestamp : *windows_.begin();
    while (!panes_.empty() && panes_.begin()->first + pane_ <= kept) {
      keys_per_pane_ = panes_.begin()->second.size();
      if (pane_of_last_ == &panes_.begin()->second) pane_of_last_ = nullptr;
      panes_.erase(panes_.begin());
    }
  }

  void fire_window(const Window& w) {
    const auto first = panes_.lower_bound(w.start);
    const auto last = panes_.lower_bound(w.end);
    const auto whole = whole_.find(w.start);
    if (whole == whole_.end() && first != last && std::next(first) == last) {
      for (const auto& [k, acc] : first->second) fire_(k, w, acc, *out_);
      return;
    }
    merged_.clear();
    merged_.reserve(keys_per_window_);
    const auto merge_in = [&](const KeyTable<K, Acc>& keys) {
      for (const auto& [k, acc] : keys) {
        auto [into, fresh] = merged_.find_or_add(k, [&] { return acc; });
        if (!fresh) agg_.merge(*into, acc);
      }
    };
    if (whole != whole_.end()) merge_in(whole->second);
    for (auto it = first; it != last; ++it) merge_in(it->second);
    keys_per_window_ = merged_.size();
    for (const auto& [k, acc] : merged_) fire_(k, w, acc, *out_);
  }

  void add_session(const K& key, T& value, Timestamp ts) {
    auto& list = sessions_[key];
    Window merged{ts, ts + assigner_.gap};
    for (const auto& s : list) {
      if (s.window.start <= merged.end && merged.start <= s.window.end) {
        merged.start = std::min(merged.start, s.window.start);
        merged.end = std::max(merged.end, s.window.end);
      }
    }
    if (merged.max_timestamp() + lateness_ <= time_) {
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
    if (merged.max_timestamp() <= time_) {
      // Merged into a session that already fired: fire again with the late record.
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
    if (fresh) {
      g.acc = agg_.create();
      g.window = Window{ts, ts + 1};
    }
    agg_.add(g.acc, value);
    ++g.count;
    g.window.start = std::min(g.window.start, ts);
    g.window.end = std::max(g.window.end, ts + 1);
    if (!assigner_.trigger) return;
    apply(ask_trigger(it, [&](TriggerContext& c) { return assigner_.trigger->on_element(c, ts); }),
          it);
  }

  void fire_event_timers(Timestamp wm) {
    while (!event_timers_.empty() && event_timers_.begin()->first <= wm) {
      auto node = event_timers_.extract(event_timers_.begin());
      const Timestamp t = node.value().first;
      on_trigger_timer(node.value().second, t, TimeDomain::event_time);
    }
  }

  void fire_processing_timers(Timestamp now) {
    while (!processing_timers_.empty() && processing_timers_.begin()->first <= now) {
      auto node = processing_timers_.extract(processing_timers_.begin());
      const Timestamp t = node.value().first;
      on_trigger_timer(node.value().second, t, TimeDomain::processing_time);
    }
  }

  void on_trigger_timer(const K& key, Timestamp t, TimeDomain domain) {
    const auto it = global_.find(key);
    if (it == global_.end() || !assigner_.trigger) return;
    auto& own =
        domain == TimeDomain::event_time ? it->second.event_timers : it->second.processing_timers;
    std::erase(own, t);
    try {
      apply(ask_trigger(it,
                        [&](TriggerContext& c) {
                          return domain == TimeDomain::event_time
                                     ? assigner_.trigger->on_event_time(c, t)
                                     : assigner_.trigger->on_processing_time(c, t);
                        }),
            it);
    } catch (...) {
      ctx().dead_letter({{}, describe_current_exception(), {}, watermark_});
    }
  }

  template <class Ask>
  TriggerResult ask_trigger(typename std::unordered_map<K, Global>::iterator it, Ask ask) {
    current_ = &*it;
    return ask(static_cast<TriggerContext&>(*this));
  }

  void apply(TriggerResult r, typename std::unordered_map<K, Global>::iterator it) {
    if (r == TriggerResult::fire || r == TriggerResult::fire_and_purge) {
      fire_(it->first, it->second.window, it->second.acc, *out_);
    }
    if (r == TriggerResult::purge || r == TriggerResult::fire_and_purge) {
      for (const auto t : it->second.event_timers) event_timers_.erase({t, it->first});
      for (const auto t : it->second.processing_timers) processing_timers_.erase({t, it->first});
      global_.erase(it);
    }
  }

  // TriggerContext, for the window of `current_` while its trigger is asked.
  [[nodiscard]] std::uint64_t count() const override { return current_->second.count; }
  [[nodiscard]] Window window() const override { return current_->second.window; }
  [[nodiscard]] Timestamp current_watermark() const override { return watermark_; }
  [[nodiscard]] Timestamp current_processing_time() const override {
    return ctx().clock().wall_ms();
  }
  void register_event_timer(Timestamp t) override {
    if (event_timers_.emplace(t, current_->first).second) {
      current_->second.event_timers.push_back(t);
    }
  }
  void register_processing_timer(Timestamp t) override {
    if (processing_timers_.emplace(t, current_->first).second) {
      current_->second.processing_timers.push_back(t);
    }
    arm();
  }

  std::function<K(const T&)> key_fn_;
  WindowAssigner assigner_;
  Timestamp lateness_;
  Timestamp pane_;  // gcd(size, slide) for tumbling and sliding windows, else 0
  Agg agg_;
  Fire fire_;
  Output<Out>* out_;
  Output<T>* late_;
  Timestamp watermark_ = min_timestamp;
  /// How far windows have been closed, in the assigner's domain (the watermark in event time).
  Timestamp time_ = min_timestamp;
  /// The wall time of the wakeup asked for, while one is outstanding.
  std::optional<Timestamp> armed_;
  /// Tumbling and sliding windows: the panes by start, and the starts of the windows that hold
  /// one and are not past their allowed lateness (those that end by time_ have fired).
  std::map<Timestamp, KeyTable<K, Acc>> panes_;
  std::set<Timestamp> windows_;
  /// Whole windows by start, restored from a blob written before panes (merged with the panes
  /// of records since then when they fire).
  std::map<Timestamp, KeyTable<K, Acc>> whole_;
  /// The pane of the last record (null when it was dropped).
  KeyTable<K, Acc>* pane_of_last_ = nullptr;
  Timestamp last_pane_start_ = 0;
  std::size_t keys_per_pane_ = 0;    // of the last pane dropped
  std::size_t keys_per_window_ = 0;  // of the last window merged from panes
  KeyTable<K, Acc> merged_;          // reused by fire_window
  std::unordered_map<K, std::vector<Session>> sessions_;
  Timers timers_;  // sessions: when each key's sessions close
  std::unordered_map<K, Global> global_;
  Timers event_timers_;                            // global windows' trigger timers
  Timers processing_timers_;                       // (wall ms)
  std::pair<const K, Global>* current_ = nullptr;  // the window whose trigger is asked
};

// --- Two-phase (local-global) window aggregation ---------------------------------------------
//
// WindowedStream::combine_locally(): before the exchange, each upstream instance folds its
// records into one accumulator per key and pane (PaneCombineOp, fused into the upstream chain);
// only those partial accumulators cross the exchange, where the window operator merges them
// into its panes as if it had added the records one by one. Flink's SQL planner does the same
// ("local-global aggregation"). Nexmark q5 at parallelism 2: ~18,000 bids per 2 s pane from a
// few hundred auctions, so the exchange carries about one record in a hundred.

/// What crosses the exchange of a locally combined window aggregate: one key's accumulator of
/// what an upstream instance saw in one pane, stamped with the pane's last instant; or a record
/// passed on as it came (`raw`), because it was at or behind that instance's watermark and its
/// window may have closed downstream: the window operator decides whether it is late.
template <class K, class T, class Acc>
struct Partial {
  K key;
  Acc acc;
  std::optional<T> raw;
};

/// The window operator's aggregate over partials: merges accumulators, adds raw records.
template <class Agg, class P>
struct MergePartials {
  using Acc = typename Agg::Acc;
  using Result = typename Agg::Result;
  Agg agg;
  [[nodiscard]] Acc create() const { return agg.create(); }
  void add(Acc& a, const P& p) const {
    if (p.raw) {
      agg.add(a, *p.raw);
    } else {
      agg.merge(a, p.acc);
    }
  }
  void merge(Acc& a, const Acc& b) const { agg.merge(a, b); }
  [[nodiscard]] Result result(const Acc& a) const { return agg.result(a); }
};

/// The local stage. Holds nothing across a checkpoint: it sends on every pane the watermark
/// has passed before passing the watermark on, and everything else before each barrier
/// (prepare_snapshot), so what it had is in the snapshots downstream. What a flush emits at
/// once is bounded by the keys of the panes it held (the exchange takes a burst past its bound
/// and then stops this task's input until it drains).
template <class K, class T, class Agg>
class PaneCombineOp final : public OperatorBase, public Output<T> {
  using Acc = typename Agg::Acc;
  using P = Partial<K, T, Acc>;

 public:
  PaneCombineOp(std::function<K(const T&)> key, const WindowAssigner& assigner, Agg agg,
                Output<P>* out)
      : key_fn_(std::move(key)),
        size_(assigner.size),
        slide_(assigner.slide),
        pane_(std::gcd(assigner.size, assigner.slide)),
        offset_(assigner.offset),
        agg_(std::move(agg)),
        out_(out) {}

  void emit(T&& value, Timestamp ts) override {
    try {
      K key = key_fn_(value);
      // Behind the watermark, or in no window at all (between windows shorter than their
      // slide): the window operator counts it late, as it would without this stage.
      if (ts <= watermark_ || floor_mod(ts - offset_, slide_) >= size_) {
        out_->emit(P{std::move(key), agg_.create(), std::move(value)}, ts);
        return;
      }
      if (current_ == nullptr || ts < current_start_ || ts - current_start_ >= pane_) {
        current_start_ = ts - floor_mod(ts - offset_, pane_);
        current_ = &pane_at(current_start_);
      }
      agg_.add(*current_->find_or_add(key, [&] { return agg_.create(); }).first, value);
    } catch (...) {
      ctx().dead_letter({{}, describe_current_exception(), {}, ts});
    }
  }

  void watermark(Timestamp wm) override {
    watermark_ = std::max(watermark_, wm);
    while (!panes_.empty() && panes_.begin()->first + pane_ - 1 <= watermark_) flush_first();
    out_->watermark(wm);
  }

  void finish() override {
    flush_all();
    out_->finish();
  }

  void prepare_snapshot(CheckpointId) override { flush_all(); }

 private:
  KeyTable<K, Acc>& pane_at(Timestamp start) {
    if (auto found = panes_.find(start); found != panes_.end()) return found->second;
    if (spare_.empty()) return panes_[start];
    spare_.key() = start;
    return panes_.insert(std::move(spare_)).position->second;
  }

  void flush_first() {
    auto node = panes_.extract(panes_.begin());
    if (current_ == &node.mapped()) current_ = nullptr;
    const Timestamp last = node.key() + pane_ - 1;
    for (auto& [k, acc] : node.mapped()) out_->emit(P{k, std::move(acc), std::nullopt}, last);
    // Kept with its capacity for the next pane: panes open and close all the time.
    node.mapped().clear();
    spare_ = std::move(node);
  }

  void flush_all() {
    while (!panes_.empty()) flush_first();
  }

  std::function<K(const T&)> key_fn_;
  Timestamp size_;
  Timestamp slide_;
  Timestamp pane_;
  Timestamp offset_;
  Agg agg_;
  Output<P>* out_;
  Timestamp watermark_ = std::numeric_limits<Timestamp>::min();
  std::map<Timestamp, KeyTable<K, Acc>> panes_;
  typename std::map<Timestamp, KeyTable<K, Acc>>::node_type spare_;
  KeyTable<K, Acc>* current_ = nullptr;  // the pane of the last record
  Timestamp current_start_ = 0;
};

/// Hands the raw records among late partials to the user's "late" side output of type T (only
/// raw records can be late: a pane's partial always comes before the watermark that passes it).
template <class T, class P>
struct RawRecords final : Output<P> {
  explicit RawRecords(Output<T>* to) : out(to) {}
  void emit(P&& p, Timestamp ts) override {
    if (p.raw) out->emit(std::move(*p.raw), ts);
  }
  void watermark(Timestamp wm) override { out->watermark(wm); }
  void finish() override { out->finish(); }
  Output<T>* out;
};

template <class T, class P>
struct RawLateOutput {
  RawRecords<T, P> raw_late;
};

/// The global stage: the window operator over partials, whose late records are T again.
template <class K, class T, class Agg, class Out, class Fire>
class CombinedWindowOp final
    : private RawLateOutput<T, Partial<K, T, typename Agg::Acc>>,
      public WindowOp<K, Partial<K, T, typename Agg::Acc>,
                      MergePartials<Agg, Partial<K, T, typename Agg::Acc>>, Out, Fire> {
  using P = Partial<K, T, typename Agg::Acc>;

 public:
  CombinedWindowOp(WindowAssigner assigner, Timestamp lateness, Agg agg, Fire fire,
                   Output<Out>* out, Output<T>* late)
      : RawLateOutput<T, P>{RawRecords<T, P>(late)},
        WindowOp<K, P, MergePartials<Agg, P>, Out, Fire>(
            [](const P& p) { return p.key; }, std::move(assigner), lateness,
            MergePartials<Agg, P>{std::move(agg)}, std::move(fire), out, &this->raw_late) {}
};

}  // namespace detail
}  // namespace weft::stream
