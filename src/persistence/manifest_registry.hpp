// The journal's manifest registry: a small number per manifest (an event type's stable name),
// which records of format 3 store instead of the name (docs/journal-format.md, "Manifests").
// A journal holds a handful of event types and millions of events: the name was most of a
// small event's bytes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "persistence/journal_record.hpp"
#include "weft/core/result.hpp"

namespace weft::persistence {

class ManifestRegistry final : public ManifestNames {
 public:
  /// Ids run from 0 up to `capacity` - 1; past that, id_of says no and the record keeps its
  /// manifest inline (format 2), so a journal with more event types than this still works.
  explicit ManifestRegistry(std::uint32_t capacity = 1024);

  /// The id of `manifest`, registered now if it is new; nullopt when the registry is full.
  /// Safe from any thread; without a lock once the manifest is known.
  [[nodiscard]] std::optional<std::uint32_t> id_of(std::string_view manifest);

  /// The name of `id`, null if not registered. Lock-free; lives as long as the registry.
  [[nodiscard]] const std::string* name(std::uint32_t id) const noexcept override;

  /// Enters `id` = `manifest` as read back from the journal (its metadata, a log segment): a
  /// known id must name the same manifest, a new one must come next. Errc::corrupted otherwise
  /// (`where` names what was being read).
  [[nodiscard]] Result<void> define(std::uint64_t id, std::string_view manifest,
                                    std::string_view where);

  /// How many ids are registered (ids 0 .. size - 1).
  [[nodiscard]] std::uint32_t size() const noexcept {
    return size_.load(std::memory_order_acquire);
  }

 private:
  std::uint32_t add_locked(std::string_view manifest);
  [[nodiscard]] std::size_t slot_of(std::string_view manifest) const noexcept;

  const std::uint32_t capacity_;
  std::unique_ptr<std::string[]> names_;  // written once each, before size_ covers them
  // Open addressing by the name's hash: id + 1, 0 for empty; twice the capacity, so probes
  // stay short. Written under mutex_, read without it.
  std::unique_ptr<std::atomic<std::uint32_t>[]> slots_;
  std::size_t mask_;
  std::atomic<std::uint32_t> size_{0};
  std::mutex mutex_;
};

}  // namespace weft::persistence
