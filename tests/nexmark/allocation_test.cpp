// The generator's hot path must not allocate once an Event's strings have grown (the stream
// engine's pass-through target is measured against it). This file replaces the global
// operator new/delete of the test binary to count allocations while a flag is set.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "nexmark/generator.hpp"

// GCC sees the replaced delete free memory that it believes came from the library's new.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace weft::nexmark {
namespace {

TEST(GeneratorAllocation, NextAllocatesNothingOnceTheStringsHaveGrown) {
  Generator g(GeneratorConfig{});
  Event e;
  for (int i = 0; i < 100'000; ++i) ASSERT_TRUE(g.next(e));
  counting = true;
  for (int i = 0; i < 200'000; ++i) g.next(e);
  counting = false;
  EXPECT_EQ(allocations.load(), 0);
  // The counter works: a string too long for the small-string buffer allocates.
  counting = true;
  std::string grown(100, 'x');
  counting = false;
  EXPECT_EQ(grown.size(), 100u);
  EXPECT_GE(allocations.load(), 1);
}

}  // namespace
}  // namespace weft::nexmark
