// Giving freed memory back to the operating system.
#pragma once

namespace weft {

/// Returns the pages the allocator holds freed but not yet given back (jemalloc keeps them for
/// its 10 s decay; glibc malloc, in sanitizer builds, trims its heaps). For the end of a phase
/// that freed much at once, such as recovery at start-up, so the resident size is what is in use.
void release_free_memory();

}  // namespace weft
