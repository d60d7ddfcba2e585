#include "weft/persistence/memory_journal.hpp"

#include <algorithm>

namespace weft::persistence {

struct MemoryJournal::State {
  struct Stream {
    std::map<std::uint64_t, EventRecord> events;
    std::uint64_t highest = 0;
    std::uint64_t epoch = 0;
  };
  std::mutex mutex;
  std::map<std::string, Stream> streams;
  std::map<std::string,
           std::vector<std::pair<std::uint64_t, std::pair<std::string, std::uint64_t>>>>
      tags;  // tag -> (offset, (pid, seq))
  std::uint64_t offset = 0;
  std::optional<Error> failure;
  std::uint64_t next_listener = 1;
  std::map<std::uint64_t, std::function<void(std::uint64_t)>> listeners;
};

MemoryJournal::MemoryJournal() : state_(std::make_unique<State>()) {}
MemoryJournal::~MemoryJournal() = default;

void MemoryJournal::fail_appends(std::optional<Error> error) {
  std::lock_guard lock(state_->mutex);
  state_->failure = std::move(error);
}

Future<std::uint64_t> MemoryJournal::append(AppendBatch batch) {
  std::vector<std::function<void(std::uint64_t)>> notify;
  std::uint64_t offset = 0;
  std::uint64_t highest = 0;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->failure) return make_ready_future<std::uint64_t>(std::unexpected(*state_->failure));
    auto& s = state_->streams[batch.persistence_id];
    if (batch.writer_epoch < s.epoch) {
      return make_ready_future<std::uint64_t>(
          fail(Errc::conflict, "append to '" + batch.persistence_id + "' with writer epoch " +
                                   std::to_string(batch.writer_epoch) + " below the stored epoch " +
                                   std::to_string(s.epoch)));
    }
    if (batch.expected_next_sequence_nr != s.highest + 1) {
      return make_ready_future<std::uint64_t>(
          fail(Errc::conflict, "append to '" + batch.persistence_id + "' expected next sequence " +
                                   std::to_string(batch.expected_next_sequence_nr) +
                                   " but the journal is at " + std::to_string(s.highest)));
    }
    std::uint64_t seq = batch.expected_next_sequence_nr;
    for (auto& e : batch.events) {
      if (e.sequence_nr != seq || e.persistence_id != batch.persistence_id) {
        return make_ready_future<std::uint64_t>(
            fail(Errc::invalid_argument, "append batch for '" + batch.persistence_id +
                                             "' has a gap or a foreign event at sequence " +
                                             std::to_string(seq)));
      }
      ++seq;
    }
    s.epoch = batch.writer_epoch;
    for (auto& e : batch.events) {
      for (auto& t : e.tags)
        state_->tags[t].push_back({++state_->offset, {e.persistence_id, e.sequence_nr}});
      s.highest = e.sequence_nr;
      s.events.emplace(e.sequence_nr, std::move(e));
    }
    offset = state_->offset;
    highest = s.highest;
    for (auto& [id, l] : state_->listeners) notify.push_back(l);
  }
  for (auto& l : notify) l(offset);
  return make_ready_future<std::uint64_t>(highest);
}

Future<std::vector<EventRecord>> MemoryJournal::read(std::string persistence_id, std::uint64_t from,
                                                     std::uint64_t to, std::size_t max_events) {
  std::lock_guard lock(state_->mutex);
  std::vector<EventRecord> out;
  auto it = state_->streams.find(persistence_id);
  if (it != state_->streams.end()) {
    for (auto e = it->second.events.lower_bound(from);
         e != it->second.events.end() && e->first <= to && out.size() < max_events; ++e) {
      out.push_back(e->second);
    }
  }
  return make_ready_future<std::vector<EventRecord>>(std::move(out));
}

Future<std::uint64_t> MemoryJournal::highest_sequence_nr(std::string persistence_id) {
  std::lock_guard lock(state_->mutex);
  auto it = state_->streams.find(persistence_id);
  return make_ready_future<std::uint64_t>(it == state_->streams.end() ? 0 : it->second.highest);
}

Future<std::uint64_t> MemoryJournal::delete_to(std::string persistence_id, std::uint64_t to) {
  std::lock_guard lock(state_->mutex);
  std::uint64_t n = 0;
  auto it = state_->streams.find(persistence_id);
  if (it != state_->streams.end()) {
    auto& ev = it->second.events;
    auto end = ev.upper_bound(to);
    n = static_cast<std::uint64_t>(std::distance(ev.begin(), end));
    ev.erase(ev.begin(), end);
  }
  return make_ready_future<std::uint64_t>(n);
}

Future<std::vector<TaggedEvent>> MemoryJournal::events_by_tag(std::string tag,
                                                              std::uint64_t after_offset,
                                                              std::size_t max_events) {
  std::lock_guard lock(state_->mutex);
  std::vector<TaggedEvent> out;
  auto it = state_->tags.find(tag);
  if (it != state_->tags.end()) {
    for (auto& [offset, where] : it->second) {
      if (offset <= after_offset) continue;
      if (out.size() >= max_events) break;
      auto& s = state_->streams[where.first];
      auto e = s.events.find(where.second);
      if (e != s.events.end()) out.push_back(TaggedEvent{offset, e->second});
    }
  }
  return make_ready_future<std::vector<TaggedEvent>>(std::move(out));
}

Future<std::vector<std::string>> MemoryJournal::persistence_ids() {
  std::lock_guard lock(state_->mutex);
  std::vector<std::string> out;
  for (auto& [id, s] : state_->streams) {
    if (s.highest > 0) out.push_back(id);
  }
  return make_ready_future<std::vector<std::string>>(std::move(out));
}

std::uint64_t MemoryJournal::subscribe(std::function<void(std::uint64_t)> listener) {
  std::lock_guard lock(state_->mutex);
  auto id = state_->next_listener++;
  state_->listeners.emplace(id, std::move(listener));
  return id;
}

void MemoryJournal::unsubscribe(std::uint64_t id) {
  std::lock_guard lock(state_->mutex);
  state_->listeners.erase(id);
}

}  // namespace weft::persistence
