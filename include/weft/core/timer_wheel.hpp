// A hierarchical timer wheel: the data structure under actor timers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <tuple>
#include <vector>

#include "weft/core/clock.hpp"

namespace weft {

/// Timers keyed by deadline, fired by advancing time. Single-threaded: the owner (the actor
/// system's timer service) serializes access and drives advance() from a timer thread or a
/// ManualClock listener.
///
/// Ten levels of 64 slots; a slot at level l spans 64^l ticks, so the wheel covers 2^60 ticks
/// from `start` (36 years at 1 ns ticks) and needs no overflow list. Deadlines past that range are
/// parked in the last tick and still fire no earlier than their deadline. Each slot is an
/// intrusive list over a slot map of nodes, so schedule and cancel are O(1); advance jumps
/// straight to the next occupied slot through per-level occupancy bitmaps, so it costs
/// O(levels) per timer (cascading) plus O(log k) per timer among the k due in the same tick.
///
/// Firing is exact, not rounded to ticks: advance(now) fires precisely the timers whose deadline
/// is <= now, in (deadline, scheduling order), so a timer is never early and never late relative
/// to the `now` passed in.
class TimerWheel {
 public:
  /// Encodes a node index and a generation; never reused, and 0 is never issued.
  using TimerId = std::uint64_t;
  /// Callbacks must not throw: one that does terminates the process, because the wheel cannot be
  /// left half-advanced.
  using Callback = std::move_only_function<void()>;

  static constexpr TimerId kInvalidTimer = 0;

  /// `tick` must be positive; it sets the slot granularity, not the firing precision.
  explicit TimerWheel(TimePoint start, Duration tick = std::chrono::milliseconds(1));

  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  /// Runs `fn` (non-empty) on the first advance whose `now` is >= `deadline`. A deadline already
  /// passed fires on the next advance. Called from a callback, a timer that is already due fires
  /// within the same advance, in deadline order among the timers still to fire.
  TimerId schedule(TimePoint deadline, Callback fn);

  /// O(1). False if `id` is unknown, already fired or already cancelled. Cancelling, from a
  /// callback, a timer due later in the same advance stops it from firing.
  bool cancel(TimerId id);

  /// Fires every timer whose deadline is <= `now`, in deadline order (ties in scheduling order),
  /// each after it has left the wheel, and returns how many fired. Time never goes backwards: a
  /// `now` earlier than a previous one counts as the previous one. Not reentrant: a callback must
  /// not call advance().
  std::size_t advance(TimePoint now);

  /// The exact earliest pending deadline (possibly already passed, if scheduled after the last
  /// advance), or nullopt if no timer is pending. Costs O(timers in the earliest occupied slot).
  /// From inside a callback it ignores the timers already collected to fire in this advance.
  [[nodiscard]] std::optional<TimePoint> next_deadline() const;

  /// Pending timers: scheduled, not yet fired nor cancelled.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  /// The latest `now` passed to advance (or `start`).
  [[nodiscard]] TimePoint now() const noexcept { return now_; }
  [[nodiscard]] Duration tick() const noexcept { return Duration(tick_ns_); }

 private:
  static constexpr unsigned kSlotBits = 6;
  static constexpr unsigned kSlots = 1U << kSlotBits;
  static constexpr unsigned kLevels = 10;
  static constexpr std::uint64_t kMaxTick = (std::uint64_t{1} << (kSlotBits * kLevels)) - 1;
  static constexpr std::uint32_t kNil = UINT32_MAX;
  // Node::where, besides a slot number (level * kSlots + slot):
  static constexpr std::uint16_t kDue = UINT16_MAX - 1;  // collected to fire in this advance
  static constexpr std::uint16_t kFree = UINT16_MAX;

  struct Node {
    Callback fn;
    TimePoint deadline;
    std::uint64_t seq = 0;   // scheduling order, breaks deadline ties
    std::uint64_t tick = 0;  // ticks since start_, never below elapsed_ at scheduling
    std::uint32_t prev = kNil;
    std::uint32_t next = kNil;  // also links the free list
    std::uint32_t generation = 1;
    std::uint16_t where = kFree;
  };

  struct List {
    std::uint32_t head = kNil;
    std::uint32_t tail = kNil;
  };

  struct Expiration {
    unsigned level;
    unsigned slot;
    std::uint64_t tick;  // the first tick the slot covers
  };

  struct DueEntry {
    TimePoint deadline;
    std::uint64_t seq;
    TimerId id;

    friend bool operator>(const DueEntry& a, const DueEntry& b) noexcept {
      return std::tie(a.deadline, a.seq) > std::tie(b.deadline, b.seq);
    }
  };

  [[nodiscard]] std::uint64_t tick_of(TimePoint t) const noexcept;
  [[nodiscard]] std::optional<Expiration> next_expiration() const noexcept;
  [[nodiscard]] bool is_live(TimerId id) const noexcept;

  std::uint32_t allocate();
  void release(std::uint32_t index) noexcept;
  void place(std::uint32_t index) noexcept;
  void link(std::uint32_t index, unsigned where) noexcept;
  void unlink(std::uint32_t index) noexcept;
  void push_due(std::uint32_t index);
  void cascade(const Expiration& exp) noexcept;
  void collect_due(unsigned slot);
  std::size_t fire_due();

  TimePoint start_;
  std::int64_t tick_ns_;
  TimePoint now_;
  std::uint64_t elapsed_ = 0;  // the tick the wheel has advanced to
  std::uint64_t next_seq_ = 0;
  std::size_t size_ = 0;
  bool advancing_ = false;

  std::vector<Node> nodes_;
  std::uint32_t free_head_ = kNil;
  std::array<List, kLevels * kSlots> slots_{};
  std::array<std::uint64_t, kLevels> occupied_{};  // bit s: slot s of the level is non-empty
  std::uint32_t occupied_levels_ = 0;              // bit l: occupied_[l] != 0
  std::vector<DueEntry> due_;                      // min-heap by (deadline, seq)
};

}  // namespace weft
