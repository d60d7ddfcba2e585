// The journal: where event-sourced actors store their events, durably and in order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "weft/actor/future.hpp"
#include "weft/core/result.hpp"

namespace weft::persistence {

/// One event as stored: who wrote it, where it sits in that writer's history, and its bytes
/// with the manifest and schema version of the codec that wrote them.
struct EventRecord {
  std::string persistence_id;
  std::uint64_t sequence_nr = 0;  // 1-based and gap-free per persistence id
  std::string manifest;
  std::uint32_t version = 1;
  std::vector<std::byte> payload;
  std::vector<std::string> tags;
  std::int64_t timestamp_ms = 0;  // wall clock at persist time
  std::uint64_t writer_epoch = 0;
  /// Opaque integrity bytes (the hash-chain MAC of IntegrityJournal); every journal stores and
  /// returns them unchanged. Empty when integrity is off.
  std::vector<std::byte> mac;

  friend bool operator==(const EventRecord&, const EventRecord&) = default;
};

/// Events of one persistence id to store atomically: all or none.
struct AppendBatch {
  std::string persistence_id;
  /// Must equal highest_sequence_nr + 1 and events.front().sequence_nr (optimistic
  /// concurrency); a mismatch fails with Errc::conflict and stores nothing.
  std::uint64_t expected_next_sequence_nr = 1;
  /// Fencing: refused with Errc::conflict if lower than the highest epoch already stored for
  /// this persistence id (a stale owner after a cluster hand-over).
  std::uint64_t writer_epoch = 0;
  std::vector<EventRecord> events;  // consecutive sequence numbers
};

/// An event found by tag, with its global offset: gap-free, assigned in commit order, so a
/// reader resuming after offset N never misses an event committed later with a smaller one.
struct TaggedEvent {
  std::uint64_t offset = 0;
  EventRecord event;
};

enum class Durability : std::uint8_t {
  fsync,  // acknowledged only after the write is on disk (default)
  none,   // acknowledged once written to the OS; may be lost in a power cut
};

/// Asynchronous and thread-safe. Futures complete on the journal's own threads; actors pipe
/// them to themselves.
class Journal {
 public:
  virtual ~Journal() = default;

  /// Stores a batch; completes with the batch's highest sequence number once durable.
  [[nodiscard]] virtual Future<std::uint64_t> append(AppendBatch batch) = 0;

  /// Events of `persistence_id` with from <= sequence_nr <= to, in order, at most
  /// `max_events` of them: read the next page when ready for it (back-pressure).
  [[nodiscard]] virtual Future<std::vector<EventRecord>> read(std::string persistence_id,
                                                              std::uint64_t from, std::uint64_t to,
                                                              std::size_t max_events) = 0;

  /// Highest sequence number ever stored for the id (also after its events were deleted); 0 if
  /// none.
  [[nodiscard]] virtual Future<std::uint64_t> highest_sequence_nr(std::string persistence_id) = 0;

  /// Deletes the events with sequence_nr <= to; completes with how many were deleted.
  [[nodiscard]] virtual Future<std::uint64_t> delete_to(std::string persistence_id,
                                                        std::uint64_t to) = 0;

  /// Events carrying `tag` with offset > after_offset, in offset order, at most max_events.
  [[nodiscard]] virtual Future<std::vector<TaggedEvent>> events_by_tag(std::string tag,
                                                                       std::uint64_t after_offset,
                                                                       std::size_t max_events) = 0;

  /// Every persistence id that has stored an event.
  [[nodiscard]] virtual Future<std::vector<std::string>> persistence_ids() = 0;

  /// Calls `listener(highest_offset)` after each commit (on a journal thread; keep it short).
  /// Live queries use it to know when to read again. Returns an id for unsubscribe.
  virtual std::uint64_t subscribe(std::function<void(std::uint64_t)> listener) = 0;
  virtual void unsubscribe(std::uint64_t id) = 0;
};

}  // namespace weft::persistence
