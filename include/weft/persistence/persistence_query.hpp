// Persistence query: the journal read as ordered streams, by persistence id or by tag, either
// up to what is stored ("current") or following new commits ("live"). Pull-based: a reader
// asks for its next page when ready for it, which is its back-pressure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "weft/actor/future.hpp"
#include "weft/persistence/journal.hpp"

namespace weft::persistence {

namespace detail {
struct QueryHub;
}

/// A position in one query's stream. next(max) completes with the next events in order, at
/// once when the journal has some; a live cursor otherwise completes when a commit brings
/// some (it waits on the journal's subscribe() notifications, never by polling). An empty
/// result means the end: a current cursor caught up with what was stored, a cursor with an
/// upper bound passed it, or the cursor was cancelled. Every event is delivered exactly once.
/// Thread-safe; one next() at a time (a second one while the first is pending fails with
/// Errc::invalid_argument). A failed next() keeps the position, so it can be retried.
template <class T>
class QueryCursor {
 public:
  QueryCursor(QueryCursor&&) noexcept;
  QueryCursor& operator=(QueryCursor&&) noexcept;
  /// Cancels.
  ~QueryCursor();

  [[nodiscard]] Future<std::vector<T>> next(std::size_t max_events);
  /// Ends the stream: a pending next() completes empty, and so does every later one.
  void cancel();

  struct State;

 private:
  friend class PersistenceQuery;
  explicit QueryCursor(std::shared_ptr<State> state);
  // Shared with the journal callbacks and the notification thread that resume it.
  std::shared_ptr<State> state_;
};

extern template class QueryCursor<EventRecord>;
extern template class QueryCursor<TaggedEvent>;

inline constexpr std::uint64_t kNoUpperBound = std::numeric_limits<std::uint64_t>::max();

/// Queries over one journal. Owns a thread that resumes waiting live cursors after commits,
/// so that the journal's notification stays short. Destroying it ends its live cursors.
class PersistenceQuery {
 public:
  /// Works over any Journal, an IntegrityJournal included (its checks then apply).
  explicit PersistenceQuery(std::shared_ptr<Journal> journal);
  ~PersistenceQuery();
  PersistenceQuery(const PersistenceQuery&) = delete;
  PersistenceQuery& operator=(const PersistenceQuery&) = delete;

  /// The events of `persistence_id` with from_seq <= sequence_nr <= to_seq, following new
  /// ones until to_seq.
  [[nodiscard]] QueryCursor<EventRecord> events_by_persistence_id(
      std::string persistence_id, std::uint64_t from_seq = 1, std::uint64_t to_seq = kNoUpperBound);
  /// The same, ending once it has caught up with what is stored.
  [[nodiscard]] QueryCursor<EventRecord> current_events_by_persistence_id(
      std::string persistence_id, std::uint64_t from_seq = 1, std::uint64_t to_seq = kNoUpperBound);

  /// The events tagged `tag` with offset > after_offset, in offset order, following new ones.
  /// Resume after a restart from the last offset processed.
  [[nodiscard]] QueryCursor<TaggedEvent> events_by_tag(std::string tag,
                                                       std::uint64_t after_offset = 0);
  /// The same, ending once it has caught up with what is stored.
  [[nodiscard]] QueryCursor<TaggedEvent> current_events_by_tag(std::string tag,
                                                               std::uint64_t after_offset = 0);

  /// Every persistence id that has stored an event.
  [[nodiscard]] Future<std::vector<std::string>> current_persistence_ids();

 private:
  std::shared_ptr<detail::QueryHub> hub_;
};

}  // namespace weft::persistence
