#include "weft/actor/detail/node_pool.hpp"

#include <array>
#include <cstdint>
#include <mutex>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WEFT_POOL_BYPASS 1
#endif

namespace weft::detail {

#ifdef WEFT_POOL_BYPASS

void* pool_allocate(std::size_t size) {
  return ::operator new(size);
}
void pool_deallocate(void* p, std::size_t) noexcept {
  ::operator delete(p);
}

#else

namespace {

constexpr std::size_t kGranule = 16;
constexpr std::size_t kClasses = 16;  // 16..256 bytes
constexpr std::size_t kMaxPooled = kGranule * kClasses;
constexpr std::size_t kBatch = 256;  // blocks moved to or from the depot at once
// Full batches the depot keeps per size class; what a burst frees beyond that goes back to
// malloc. A node that starts tells 100k recoveries at once (~19 MB of envelopes the pool
// would otherwise keep for good: weft-bench node --scenario actors_100k).
constexpr std::size_t kDepotBatches = 32;

struct FreeBlock {
  FreeBlock* next;
};

/// A singly linked batch of free blocks, with its length.
struct Batch {
  FreeBlock* head = nullptr;
  std::size_t count = 0;
};

/// Global exchange of batches, one stack per size class. Blocks are allocated one by one (not
/// carved from slabs) so that a batch past the depot's bound can be freed: the pool keeps what
/// steady traffic needs, not the peak of a burst.
class Depot {
 public:
  bool take(std::size_t cls, Batch& out) {
    std::lock_guard lock(mutex_);
    auto& stack = batches_[cls];
    if (stack.empty()) return false;
    out = stack.back();
    stack.pop_back();
    return true;
  }

  void give(std::size_t cls, Batch batch) {
    {
      std::lock_guard lock(mutex_);
      if (batches_[cls].size() < kDepotBatches) {
        batches_[cls].push_back(batch);
        return;
      }
    }
    while (batch.head) {
      FreeBlock* next = batch.head->next;
      ::operator delete(batch.head);
      batch.head = next;
    }
  }

  /// A fresh batch of blocks of class `cls`.
  static Batch allocate(std::size_t cls) {
    const std::size_t block = (cls + 1) * kGranule;
    Batch b;
    for (std::size_t i = 0; i < kBatch; ++i) {
      auto* f = static_cast<FreeBlock*>(::operator new(block));
      f->next = b.head;
      b.head = f;
      ++b.count;
    }
    return b;
  }

 private:
  std::mutex mutex_;
  std::array<std::vector<Batch>, kClasses> batches_;
};

Depot& depot() {
  static Depot* d = new Depot();  // never destroyed: threads may free blocks during exit
  return *d;
}

struct ThreadCache {
  std::array<Batch, kClasses> lists{};

  ~ThreadCache() {
    for (std::size_t c = 0; c < kClasses; ++c) {
      if (lists[c].count) depot().give(c, lists[c]);
    }
  }

  void* allocate(std::size_t cls) {
    Batch& list = lists[cls];
    if (!list.head) {
      if (!depot().take(cls, list)) list = Depot::allocate(cls);
    }
    FreeBlock* b = list.head;
    list.head = b->next;
    --list.count;
    return b;
  }

  void deallocate(void* p, std::size_t cls) {
    Batch& list = lists[cls];
    auto* b = static_cast<FreeBlock*>(p);
    b->next = list.head;
    list.head = b;
    if (++list.count >= 2 * kBatch) {
      // Hand the older half to the depot so producer threads can reuse it.
      Batch give;
      FreeBlock* cut = list.head;
      for (std::size_t i = 1; i < kBatch; ++i) cut = cut->next;
      give.head = cut->next;
      give.count = list.count - kBatch;
      cut->next = nullptr;
      list.count = kBatch;
      depot().give(cls, give);
    }
  }
};

thread_local ThreadCache tl_cache;

constexpr std::size_t class_of(std::size_t size) {
  return (size - 1) / kGranule;
}

}  // namespace

void* pool_allocate(std::size_t size) {
  if (size > kMaxPooled || size == 0) return ::operator new(size);
  return tl_cache.allocate(class_of(size));
}

void pool_deallocate(void* p, std::size_t size) noexcept {
  if (size > kMaxPooled || size == 0) {
    ::operator delete(p);
    return;
  }
  tl_cache.deallocate(p, class_of(size));
}

#endif

}  // namespace weft::detail
