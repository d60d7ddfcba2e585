// Size-class pool for mailbox nodes and other small, short-lived runtime allocations.
//
// Messages are allocated by the sender's thread and freed by the receiver's. Each thread keeps
// a free list per size class and trades whole batches with a global depot, so the hot path is
// a thread-local pop/push and the global lock is taken once per batch (weft-bench actors:count).
// Sanitizer builds bypass the pool so ASan and TSan see every allocation.
#pragma once

#include <cstddef>

namespace weft::detail {

[[nodiscard]] void* pool_allocate(std::size_t size);
void pool_deallocate(void* p, std::size_t size) noexcept;

/// Mixin giving a class pooled operator new/delete.
template <class Derived>
struct Pooled {
  static void* operator new(std::size_t size) { return pool_allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { pool_deallocate(p, size); }
};

}  // namespace weft::detail
