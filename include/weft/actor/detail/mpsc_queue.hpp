// Unbounded lock-free multi-producer single-consumer queue of intrusive nodes (Vyukov's
// algorithm): push is one atomic exchange, pop touches no shared counter.
#pragma once

#include <atomic>

namespace weft::detail {

struct MpscNode {
  std::atomic<MpscNode*> next{nullptr};
};

class MpscQueue {
 public:
  MpscQueue() : head_(&stub_), tail_(&stub_) {}
  MpscQueue(const MpscQueue&) = delete;
  MpscQueue& operator=(const MpscQueue&) = delete;

  /// Any thread. Sequentially consistent, so a later load of a "scheduled" flag cannot be
  /// reordered before it (the consumer does the mirror image; see ActorCellBase::finish_turn).
  void push(MpscNode* n) noexcept {
    n->next.store(nullptr, std::memory_order_relaxed);
    MpscNode* prev = tail_.exchange(n, std::memory_order_seq_cst);
    prev->next.store(n, std::memory_order_release);
  }

  /// Consumer only. Returns nullptr when empty, or when a producer is between its two steps
  /// (then empty() is false and the caller retries later).
  MpscNode* pop() noexcept {
    MpscNode* head = head_;
    MpscNode* next = head->next.load(std::memory_order_acquire);
    if (head == &stub_) {
      if (!next) return nullptr;
      head_ = next;
      head = next;
      next = next->next.load(std::memory_order_acquire);
    }
    if (next) {
      head_ = next;
      return head;
    }
    if (head != tail_.load(std::memory_order_acquire)) return nullptr;
    push(&stub_);
    next = head->next.load(std::memory_order_acquire);
    if (next) {
      head_ = next;
      return head;
    }
    return nullptr;
  }

  /// Any thread, atomics only: false only if the queue is drained (every pushed node popped).
  /// For the check a consumer makes after giving up the queue, when another consumer may
  /// already be popping.
  [[nodiscard]] bool maybe_nonempty() const noexcept {
    return tail_.load(std::memory_order_seq_cst) != &stub_;
  }

  /// Consumer only; exact for the consumer, conservative (may say non-empty) while a push is
  /// half done.
  [[nodiscard]] bool empty() const noexcept {
    MpscNode* head = head_;
    if (head->next.load(std::memory_order_acquire)) return false;
    return head == tail_.load(std::memory_order_seq_cst) && head == &stub_;
  }

 private:
  MpscNode* head_;  // consumer-owned
  std::atomic<MpscNode*> tail_;
  MpscNode stub_;
};

}  // namespace weft::detail
