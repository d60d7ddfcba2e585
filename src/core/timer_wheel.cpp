#include "weft/core/timer_wheel.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <utility>

namespace weft {
namespace {

constexpr std::uint32_t index_of(TimerWheel::TimerId id) noexcept {
  return static_cast<std::uint32_t>(id);
}
constexpr std::uint32_t generation_of(TimerWheel::TimerId id) noexcept {
  return static_cast<std::uint32_t>(id >> 32);
}
constexpr TimerWheel::TimerId make_id(std::uint32_t index, std::uint32_t generation) noexcept {
  return (std::uint64_t{generation} << 32) | index;
}

// noexcept turns a throwing callback into std::terminate instead of a half-advanced wheel.
void invoke(TimerWheel::Callback& fn) noexcept {
  fn();
}

}  // namespace

TimerWheel::TimerWheel(TimePoint start, Duration tick)
    : start_(start), tick_ns_(std::max<std::int64_t>(tick.count(), 1)), now_(start) {
  assert(tick.count() > 0 && "TimerWheel tick must be positive");
}

TimerWheel::TimerId TimerWheel::schedule(TimePoint deadline, Callback fn) {
  assert(fn && "TimerWheel::schedule needs a callback");
  const std::uint32_t index = allocate();
  Node& node = nodes_[index];
  node.fn = std::move(fn);
  node.deadline = deadline;
  node.seq = next_seq_++;
  node.tick = std::max(tick_of(deadline), elapsed_);
  ++size_;
  const TimerId id = make_id(index, node.generation);
  // A callback scheduling a timer already due joins the timers being fired, so it fires in this
  // advance and in deadline order among them.
  if (advancing_ && node.tick == elapsed_ && deadline <= now_) {
    push_due(index);
  } else {
    place(index);
  }
  return id;
}

bool TimerWheel::cancel(TimerId id) {
  if (!is_live(id)) return false;
  const std::uint32_t index = index_of(id);
  // Destroyed only after the wheel is consistent again: its destructor may call back in.
  Callback doomed = std::move(nodes_[index].fn);
  if (nodes_[index].where != kDue) unlink(index);  // a due entry goes stale with the generation
  release(index);
  --size_;
  return true;
}

std::size_t TimerWheel::advance(TimePoint now) {
  assert(!advancing_ && "TimerWheel::advance is not reentrant");
  now_ = std::max(now_, now);
  const std::uint64_t target = tick_of(now_);
  std::size_t fired = 0;
  advancing_ = true;
  for (auto exp = next_expiration(); exp && exp->tick <= target; exp = next_expiration()) {
    elapsed_ = exp->tick;
    if (exp->level > 0) {
      cascade(*exp);
      continue;
    }
    collect_due(exp->slot);
    fired += fire_due();
    // What is left in the slot is due later within the tick of `now`.
    if (slots_[exp->slot].head != kNil) {
      assert(exp->tick == target);
      break;
    }
  }
  elapsed_ = target;
  advancing_ = false;
  return fired;
}

std::optional<TimePoint> TimerWheel::next_deadline() const {
  const auto exp = next_expiration();
  if (!exp) return std::nullopt;
  // Every deadline in the earliest occupied slot precedes every deadline in later slots.
  const List& list = slots_[exp->level * kSlots + exp->slot];
  TimePoint earliest = nodes_[list.head].deadline;
  for (std::uint32_t i = nodes_[list.head].next; i != kNil; i = nodes_[i].next) {
    earliest = std::min(earliest, nodes_[i].deadline);
  }
  return earliest;
}

std::uint64_t TimerWheel::tick_of(TimePoint t) const noexcept {
  if (t <= start_) return 0;
  // Unsigned arithmetic keeps the difference exact even when it overflows int64.
  const std::uint64_t ns = static_cast<std::uint64_t>(t.time_since_epoch().count()) -
                           static_cast<std::uint64_t>(start_.time_since_epoch().count());
  return std::min(ns / static_cast<std::uint64_t>(tick_ns_), kMaxTick);
}

// Invariants that make this a bitmap lookup: every occupied slot lies in the same rotation of
// its level as elapsed_, at or after elapsed_'s own slot (strictly after, above level 0), and
// every slot at a lower level expires before any slot at a higher one.
std::optional<TimerWheel::Expiration> TimerWheel::next_expiration() const noexcept {
  if (occupied_levels_ == 0) return std::nullopt;
  const auto level = static_cast<unsigned>(std::countr_zero(occupied_levels_));
  const unsigned shift = level * kSlotBits;
  const auto current = static_cast<unsigned>((elapsed_ >> shift) & (kSlots - 1));
  const std::uint64_t ahead = occupied_[level] & (~std::uint64_t{0} << current);
  assert(ahead != 0 && "TimerWheel: occupied slot behind the current tick");
  const auto slot = static_cast<unsigned>(std::countr_zero(ahead));
  const std::uint64_t rotation = elapsed_ & ~((std::uint64_t{1} << (shift + kSlotBits)) - 1);
  return Expiration{level, slot, rotation + (std::uint64_t{slot} << shift)};
}

bool TimerWheel::is_live(TimerId id) const noexcept {
  const std::uint32_t index = index_of(id);
  return index < nodes_.size() && nodes_[index].generation == generation_of(id) &&
         nodes_[index].where != kFree;
}

std::uint32_t TimerWheel::allocate() {
  if (free_head_ != kNil) {
    const std::uint32_t index = free_head_;
    free_head_ = nodes_[index].next;
    return index;
  }
  assert(nodes_.size() < kNil);
  nodes_.emplace_back();
  return static_cast<std::uint32_t>(nodes_.size() - 1);
}

void TimerWheel::release(std::uint32_t index) noexcept {
  Node& node = nodes_[index];
  node.fn = nullptr;
  node.where = kFree;
  node.prev = kNil;
  // A node whose generation wraps is retired rather than reused, so ids are never repeated.
  if (++node.generation == 0) return;
  node.next = free_head_;
  free_head_ = index;
}

void TimerWheel::place(std::uint32_t index) noexcept {
  const std::uint64_t tick = nodes_[index].tick;
  // The level is that of the highest 6-bit digit in which the tick differs from elapsed_.
  const auto highest_bit = static_cast<unsigned>(63 - std::countl_zero((tick ^ elapsed_) | 1));
  const unsigned level = highest_bit / kSlotBits;
  const auto slot = static_cast<unsigned>((tick >> (level * kSlotBits)) & (kSlots - 1));
  link(index, level * kSlots + slot);
}

void TimerWheel::link(std::uint32_t index, unsigned where) noexcept {
  Node& node = nodes_[index];
  List& list = slots_[where];
  node.where = static_cast<std::uint16_t>(where);
  node.prev = list.tail;
  node.next = kNil;
  if (list.tail == kNil) {
    list.head = index;
    const unsigned level = where / kSlots;
    occupied_[level] |= std::uint64_t{1} << (where % kSlots);
    occupied_levels_ |= 1U << level;
  } else {
    nodes_[list.tail].next = index;
  }
  list.tail = index;
}

void TimerWheel::unlink(std::uint32_t index) noexcept {
  Node& node = nodes_[index];
  List& list = slots_[node.where];
  (node.prev == kNil ? list.head : nodes_[node.prev].next) = node.next;
  (node.next == kNil ? list.tail : nodes_[node.next].prev) = node.prev;
  if (list.head == kNil) {
    const unsigned level = node.where / kSlots;
    occupied_[level] &= ~(std::uint64_t{1} << (node.where % kSlots));
    if (occupied_[level] == 0) occupied_levels_ &= ~(1U << level);
  }
  node.prev = kNil;
  node.next = kNil;
}

void TimerWheel::push_due(std::uint32_t index) {
  Node& node = nodes_[index];
  node.where = kDue;
  due_.push_back({node.deadline, node.seq, make_id(index, node.generation)});
  std::push_heap(due_.begin(), due_.end(), std::greater<>{});
}

void TimerWheel::cascade(const Expiration& exp) noexcept {
  List& list = slots_[exp.level * kSlots + exp.slot];
  std::uint32_t i = list.head;
  list = List{};
  occupied_[exp.level] &= ~(std::uint64_t{1} << exp.slot);
  if (occupied_[exp.level] == 0) occupied_levels_ &= ~(1U << exp.level);
  while (i != kNil) {
    const std::uint32_t next = nodes_[i].next;
    place(i);
    i = next;
  }
}

void TimerWheel::collect_due(unsigned slot) {
  std::uint32_t i = slots_[slot].head;
  while (i != kNil) {
    const std::uint32_t next = nodes_[i].next;
    if (nodes_[i].deadline <= now_) {
      unlink(i);
      push_due(i);
    }
    i = next;
  }
}

std::size_t TimerWheel::fire_due() {
  std::size_t fired = 0;
  while (!due_.empty()) {
    std::pop_heap(due_.begin(), due_.end(), std::greater<>{});
    const TimerId id = due_.back().id;
    due_.pop_back();
    if (!is_live(id)) continue;  // cancelled by an earlier callback
    Callback fn = std::move(nodes_[index_of(id)].fn);
    release(index_of(id));
    --size_;
    ++fired;
    invoke(fn);
  }
  return fired;
}

}  // namespace weft
