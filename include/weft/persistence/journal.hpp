// The journal: where event-sourced actors store their events, durably and in order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
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

/// One event of a replay page: views into the page that holds it. Tags and integrity bytes are
/// not part of it (read() returns them).
struct EventView {
  std::uint64_t sequence_nr = 0;
  std::string_view manifest;
  std::uint32_t version = 1;
  std::span<const std::byte> payload;
  std::int64_t timestamp_ms = 0;
  std::uint64_t writer_epoch = 0;
};

/// Events read for a replay, as views into storage the page owns: a journal can hand out a page
/// without a copy or an allocation per event. Moving a page keeps its views valid; it cannot be
/// copied.
class EventPage {
 public:
  EventPage() = default;
  /// Views into `records`.
  explicit EventPage(std::vector<EventRecord> records) : records_(std::move(records)) {
    views_.reserve(records_.size());
    for (const auto& r : records_) {
      views_.push_back(EventView{r.sequence_nr, r.manifest, r.version, r.payload, r.timestamp_ms,
                                 r.writer_epoch});
    }
  }
  /// `views` point into `bytes` (a vector keeps its buffer when moved).
  EventPage(std::vector<char> bytes, std::vector<EventView> views)
      : bytes_(std::move(bytes)), views_(std::move(views)) {}
  EventPage(EventPage&&) noexcept = default;
  EventPage& operator=(EventPage&&) noexcept = default;
  EventPage(const EventPage&) = delete;
  EventPage& operator=(const EventPage&) = delete;
  ~EventPage() = default;

  [[nodiscard]] std::span<const EventView> events() const noexcept { return views_; }
  [[nodiscard]] std::size_t size() const noexcept { return views_.size(); }
  [[nodiscard]] bool empty() const noexcept { return views_.empty(); }

 private:
  std::vector<EventRecord> records_;
  std::vector<char> bytes_;
  std::vector<EventView> views_;
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

  /// The same events as read(), as a page of views (event-sourced recovery replays with it). The
  /// default wraps read(), so a journal that decorates another (IntegrityJournal) stays correct
  /// without overriding this; a journal overrides it to save the copies.
  [[nodiscard]] virtual Future<EventPage> read_page(std::string persistence_id, std::uint64_t from,
                                                    std::uint64_t to, std::size_t max_events) {
    auto records = read(std::move(persistence_id), from, to, max_events);
    Promise<EventPage> page;
    // The read's result is not shared with anyone else: moved into the page, not copied.
    records.on_complete([page, records](const Result<std::vector<EventRecord>>& r) mutable {
      if (!r) {
        page.complete(std::unexpected(r.error()));
        return;
      }
      page.complete(EventPage(std::move(records).take().value()));
    });
    return page.future();
  }

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
