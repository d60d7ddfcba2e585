// A hash table of key -> value for the window operator's panes: entries in one vector (in
// insertion order), found through an open-addressing index of positions. A pane is filled, read
// whole when its windows fire, and dropped whole; nothing is erased one key at a time.
//
// Why not std::unordered_map: a node per key made Nexmark q5's window operator chase a pointer
// per lookup and free thousands of nodes per dropped pane, allocated on one worker thread and
// often freed on the other once the task had moved (docs/nexmark.md).
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace weft::stream::detail {

template <class K, class V>
class KeyTable {
 public:
  using Entry = std::pair<K, V>;

  [[nodiscard]] std::size_t size() const { return entries_.size(); }
  [[nodiscard]] bool empty() const { return entries_.empty(); }
  [[nodiscard]] auto begin() const { return entries_.begin(); }
  [[nodiscard]] auto end() const { return entries_.end(); }
  /// Mutable entries: a table about to be cleared may have its values moved out.
  [[nodiscard]] auto begin() { return entries_.begin(); }
  [[nodiscard]] auto end() { return entries_.end(); }

  /// Room for `n` keys without growing the index or moving the entries.
  void reserve(std::size_t n) {
    entries_.reserve(n);
    if (index_size_for(n) > index_.size()) rebuild(index_size_for(n));
  }

  /// Drops every entry; keeps the capacity (a table reused for every window fired).
  void clear() {
    entries_.clear();
    std::ranges::fill(index_, 0);
  }

  /// The value of `key`, made with `make()` if the key is new; and whether it was.
  template <class Make>
  std::pair<V*, bool> find_or_add(const K& key, Make&& make) {
    if (index_size_for(entries_.size() + 1) > index_.size()) {
      rebuild(index_size_for(entries_.size() + 1));
    }
    std::size_t slot = home(key);
    while (index_[slot] != 0) {
      auto& e = entries_[index_[slot] - 1];
      if (e.first == key) return {&e.second, false};
      slot = (slot + 1) & (index_.size() - 1);
    }
    if (entries_.size() >= max_entries) throw std::length_error("KeyTable: too many keys");
    entries_.emplace_back(key, make());
    index_[slot] = static_cast<std::uint32_t>(entries_.size());
    return {&entries_.back().second, true};
  }

  /// The value of `key`, default-constructed if the key is new.
  V& operator[](const K& key) {
    return *find_or_add(key, [] { return V{}; }).first;
  }

  [[nodiscard]] const V* find(const K& key) const {
    if (index_.empty()) return nullptr;
    std::size_t slot = home(key);
    while (index_[slot] != 0) {
      const auto& e = entries_[index_[slot] - 1];
      if (e.first == key) return &e.second;
      slot = (slot + 1) & (index_.size() - 1);
    }
    return nullptr;
  }

 private:
  // Positions are stored + 1 (0 marks a free slot) in 32 bits: half the index of size_t's.
  static constexpr std::size_t max_entries = 0xffff'fffe;

  /// At most half full: linear probing stays short.
  static std::size_t index_size_for(std::size_t n) { return n == 0 ? 0 : std::bit_ceil(2 * n); }

  [[nodiscard]] std::size_t home(const K& key) const {
    // Fibonacci hashing: std::hash of an integer is the integer itself, and ids that count up
    // (auctions, people) would otherwise fill runs of neighbouring slots.
    const std::uint64_t h = static_cast<std::uint64_t>(std::hash<K>{}(key));
    return static_cast<std::size_t>((h * 0x9e37'79b9'7f4a'7c15ULL) >> shift_);
  }

  void rebuild(std::size_t size) {
    index_.assign(size, 0);
    shift_ = 64 - std::countr_zero(size);
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      std::size_t slot = home(entries_[i].first);
      while (index_[slot] != 0) slot = (slot + 1) & (size - 1);
      index_[slot] = static_cast<std::uint32_t>(i + 1);
    }
  }

  std::vector<Entry> entries_;
  std::vector<std::uint32_t> index_;
  int shift_ = 64;
};

}  // namespace weft::stream::detail
