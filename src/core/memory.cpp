#include "weft/core/memory.hpp"

#include <malloc.h>

#include <cstddef>

// jemalloc's control interface, when the binary links jemalloc (release builds); null when not.
extern "C" int mallctl(const char* name, void* oldp, std::size_t* oldlenp, void* newp,
                       std::size_t newlen) __attribute__((weak));

namespace weft {

void release_free_memory() {
  if (mallctl != nullptr) {
    // "arena.<MALLCTL_ARENAS_ALL>.purge" (4096 in jemalloc 5): every arena's unused pages.
    (void)mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
  } else {
    (void)malloc_trim(0);
  }
}

}  // namespace weft
