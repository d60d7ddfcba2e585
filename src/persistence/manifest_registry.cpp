#include "persistence/manifest_registry.hpp"

#include <bit>
#include <functional>

namespace weft::persistence {

ManifestRegistry::ManifestRegistry(std::uint32_t capacity)
    : capacity_(capacity),
      names_(std::make_unique<std::string[]>(capacity)),
      slots_(std::make_unique<std::atomic<std::uint32_t>[]>(
          std::bit_ceil(std::max<std::size_t>(2 * std::size_t{capacity}, 2)))),
      mask_(std::bit_ceil(std::max<std::size_t>(2 * std::size_t{capacity}, 2)) - 1) {
  for (std::size_t i = 0; i <= mask_; ++i) slots_[i].store(0, std::memory_order_relaxed);
}

std::size_t ManifestRegistry::slot_of(std::string_view manifest) const noexcept {
  const std::size_t hash = std::hash<std::string_view>{}(manifest);
  return hash & mask_;
}

std::optional<std::uint32_t> ManifestRegistry::id_of(std::string_view manifest) {
  for (std::size_t i = slot_of(manifest);; i = (i + 1) & mask_) {
    const std::uint32_t s = slots_[i].load(std::memory_order_acquire);
    if (s == 0) break;
    if (names_[s - 1] == manifest) return s - 1;
  }
  std::lock_guard lock(mutex_);
  for (std::size_t i = slot_of(manifest);; i = (i + 1) & mask_) {
    const std::uint32_t s = slots_[i].load(std::memory_order_relaxed);
    if (s == 0) break;
    if (names_[s - 1] == manifest) return s - 1;
  }
  if (size_.load(std::memory_order_relaxed) == capacity_) return std::nullopt;
  return add_locked(manifest);
}

std::uint32_t ManifestRegistry::add_locked(std::string_view manifest) {
  const std::uint32_t id = size_.load(std::memory_order_relaxed);
  names_[id] = manifest;
  size_.store(id + 1, std::memory_order_release);
  std::size_t i = slot_of(manifest);
  while (slots_[i].load(std::memory_order_relaxed) != 0) i = (i + 1) & mask_;
  slots_[i].store(id + 1, std::memory_order_release);
  return id;
}

const std::string* ManifestRegistry::name(std::uint32_t id) const noexcept {
  if (id >= size_.load(std::memory_order_acquire)) return nullptr;
  return &names_[id];
}

Result<void> ManifestRegistry::define(std::uint64_t id, std::string_view manifest,
                                      std::string_view where) {
  std::lock_guard lock(mutex_);
  const std::uint32_t size = size_.load(std::memory_order_relaxed);
  if (id < size) {
    if (names_[id] == manifest) return {};
    return fail(Errc::corrupted, std::string(where) + ": manifest " + std::to_string(id) + " is '" +
                                     std::string(manifest) + "', known as '" + names_[id] + "'");
  }
  if (id > size || id >= capacity_) {
    return fail(Errc::corrupted, std::string(where) + ": manifest " + std::to_string(id) +
                                     " defined where " + std::to_string(size) +
                                     " comes next (of at most " + std::to_string(capacity_) + ")");
  }
  // Redefining a name under a second id would make id_of ambiguous.
  for (std::size_t i = slot_of(manifest);; i = (i + 1) & mask_) {
    const std::uint32_t s = slots_[i].load(std::memory_order_relaxed);
    if (s == 0) break;
    if (names_[s - 1] == manifest) {
      return fail(Errc::corrupted, std::string(where) + ": manifest '" + std::string(manifest) +
                                       "' defined again as " + std::to_string(id) + " (it is " +
                                       std::to_string(s - 1) + ")");
    }
  }
  add_locked(manifest);
  return {};
}

}  // namespace weft::persistence
