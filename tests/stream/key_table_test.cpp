// KeyTable (the window operator's pane table) against std::unordered_map as the model.
#include "weft/stream/detail/key_table.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using weft::stream::detail::KeyTable;

template <class K, class V>
void expect_same(const KeyTable<K, V>& table, const std::unordered_map<K, V>& model) {
  RC_ASSERT(table.size() == model.size());
  RC_ASSERT(table.empty() == model.empty());
  for (const auto& [k, v] : model) {
    const V* found = table.find(k);
    RC_ASSERT(found != nullptr);
    RC_ASSERT(*found == v);
  }
  std::size_t seen = 0;
  for (const auto& [k, v] : table) {
    const auto it = model.find(k);
    RC_ASSERT(it != model.end());
    RC_ASSERT(it->second == v);
    ++seen;
  }
  RC_ASSERT(seen == model.size());
}

RC_GTEST_PROP(KeyTableProperty, BehavesLikeAnUnorderedMap, ()) {
  KeyTable<std::int64_t, std::uint64_t> table;
  std::unordered_map<std::int64_t, std::uint64_t> model;
  // Narrow key ranges make repeats; wide ones spread over the index; consecutive ids are the
  // Nexmark case.
  const auto span = *rc::gen::element<std::int64_t>(8, 1000, 1'000'000'000);
  const auto n = *rc::gen::inRange(0, 600);
  for (int i = 0; i < n; ++i) {
    const auto key = *rc::gen::inRange<std::int64_t>(-span, span);
    switch (*rc::gen::inRange(0, 20)) {
      case 0:
        table.clear();
        model.clear();
        break;
      case 1: {
        const auto want = *rc::gen::inRange<std::size_t>(0, 300);
        table.reserve(want);
        break;
      }
      case 2:
      case 3:
        RC_ASSERT((table.find(key) != nullptr) == model.contains(key));
        break;
      default: {
        const auto add = *rc::gen::inRange<std::uint64_t>(1, 10);
        auto [value, fresh] = table.find_or_add(key, [] { return std::uint64_t{100}; });
        RC_ASSERT(fresh == !model.contains(key));
        auto [it, made] = model.try_emplace(key, 100);
        *value += add;
        it->second += add;
      }
    }
  }
  expect_same(table, model);
}

TEST(KeyTable, KeepsEntriesInInsertionOrderAcrossGrowth) {
  KeyTable<std::int64_t, int> table;
  for (std::int64_t k = 0; k < 5000; ++k) table[k * 7919] = static_cast<int>(k);
  ASSERT_EQ(table.size(), 5000u);
  int expected = 0;
  for (const auto& [k, v] : table) {
    EXPECT_EQ(k, std::int64_t{expected} * 7919);
    EXPECT_EQ(v, expected);
    ++expected;
  }
  for (std::int64_t k = 0; k < 5000; ++k) ASSERT_NE(table.find(k * 7919), nullptr);
  EXPECT_EQ(table.find(1), nullptr);
}

TEST(KeyTable, HoldsKeysThatAreNotIntegers) {
  KeyTable<std::string, std::vector<int>> table;
  table["a"].push_back(1);
  table["b"].push_back(2);
  table["a"].push_back(3);
  ASSERT_NE(table.find("a"), nullptr);
  EXPECT_EQ(*table.find("a"), (std::vector<int>{1, 3}));
  EXPECT_EQ(table.find("c"), nullptr);
  table.clear();
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.find("a"), nullptr);
  table["c"].push_back(4);
  EXPECT_EQ(table.size(), 1u);
}

TEST(KeyTable, AnEmptyTableFindsNothing) {
  const KeyTable<std::int64_t, int> table;
  EXPECT_EQ(table.find(0), nullptr);
  EXPECT_EQ(table.begin(), table.end());
}

}  // namespace
