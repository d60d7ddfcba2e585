#include "weft/persistence/persistence_query.hpp"

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

namespace weft::persistence {

namespace detail {

/// What the hub resumes: a cursor waiting for a commit.
class ParkedCursor {
 public:
  virtual ~ParkedCursor() = default;
  virtual void poll() = 0;
  virtual void cancel() = 0;
};

/// Turns journal commits into resumed cursors. A commit bumps the generation and hands the
/// parked cursors to its thread; a cursor parks only if no commit happened since it started
/// its read (compared under the lock), so no commit is ever missed. It does not own the
/// journal: the journal's listener holds it, and a journal must not be released from its
/// own notification.
struct CommitSignal {
  enum class Park : std::uint8_t { parked, commit_since, stopped };

  std::mutex mutex;
  std::condition_variable wake;
  std::uint64_t generation = 0;
  bool stopping = false;
  std::vector<std::weak_ptr<ParkedCursor>> parked;
  std::vector<std::weak_ptr<ParkedCursor>> ready;
  std::vector<std::weak_ptr<ParkedCursor>> cursors;  // every cursor, to end them at shutdown
  std::thread thread;

  std::uint64_t current_generation() {
    std::lock_guard lock(mutex);
    return generation;
  }

  void on_commit() {
    std::lock_guard lock(mutex);
    ++generation;
    if (parked.empty()) return;
    ready.insert(ready.end(), parked.begin(), parked.end());
    parked.clear();
    wake.notify_one();
  }

  Park park(std::weak_ptr<ParkedCursor> cursor, std::uint64_t seen_generation) {
    std::lock_guard lock(mutex);
    if (stopping) return Park::stopped;
    if (generation != seen_generation) return Park::commit_since;
    parked.push_back(std::move(cursor));
    return Park::parked;
  }

  void track(std::weak_ptr<ParkedCursor> cursor) {
    std::lock_guard lock(mutex);
    std::erase_if(cursors, [](const auto& c) { return c.expired(); });
    cursors.push_back(std::move(cursor));
  }

  void run() {
    std::unique_lock lock(mutex);
    for (;;) {
      wake.wait(lock, [&] { return stopping || !ready.empty(); });
      if (stopping) return;
      auto batch = std::move(ready);
      ready.clear();
      lock.unlock();
      for (auto& weak : batch) {
        if (auto c = weak.lock()) c->poll();
      }
      lock.lock();
    }
  }

  void stop() {
    std::vector<std::weak_ptr<ParkedCursor>> all;
    {
      std::lock_guard lock(mutex);
      stopping = true;
      all.swap(cursors);
      parked.clear();
      ready.clear();
    }
    wake.notify_one();
    if (thread.joinable()) thread.join();
    for (auto& weak : all) {
      if (auto c = weak.lock()) c->cancel();
    }
  }
};

/// What cursors share: the journal and the signal.
struct QueryHub {
  std::shared_ptr<Journal> journal;
  std::shared_ptr<CommitSignal> signal = std::make_shared<CommitSignal>();
  std::uint64_t subscription = 0;
};

}  // namespace detail

template <class T>
struct QueryCursor<T>::State final : detail::ParkedCursor,
                                     std::enable_shared_from_this<QueryCursor<T>::State> {
  using Page = std::vector<T>;

  std::shared_ptr<detail::QueryHub> hub;
  bool live = false;
  /// Reads up to `max` items from `position`.
  std::function<Future<Page>(Journal&, std::uint64_t position, std::size_t max)> fetch;
  /// The position after an item.
  std::function<std::uint64_t(const T&)> after;
  /// The last position that may be read (by persistence id: to_seq + 1 is past the end).
  std::uint64_t end_position = kNoUpperBound;

  std::mutex mutex;
  std::uint64_t position = 0;
  std::optional<Promise<Page>> pending;
  std::size_t asked = 0;
  bool reading = false;
  bool ended = false;

  Future<Page> next(std::size_t max_events) {
    Promise<Page> promise;
    auto future = promise.future();
    {
      std::lock_guard lock(mutex);
      if (pending) {
        promise.complete(
            fail(Errc::invalid_argument, "next() called while the previous next() is pending"));
        return future;
      }
      if (max_events == 0) {
        promise.complete(fail(Errc::invalid_argument, "next() needs max_events > 0"));
        return future;
      }
      if (ended || position > end_position) {
        ended = true;
        promise.complete(Page{});
        return future;
      }
      pending = promise;
      asked = max_events;
    }
    poll();
    return future;
  }

  void cancel() override {
    std::optional<Promise<Page>> done;
    {
      std::lock_guard lock(mutex);
      ended = true;
      done.swap(pending);
    }
    if (done) done->complete(Page{});
  }

  /// Reads until it has something to deliver or must wait; loops (rather than recursing)
  /// while the journal answers at once.
  void poll() override {
    for (;;) {
      std::uint64_t from = 0;
      std::size_t max = 0;
      {
        std::lock_guard lock(mutex);
        if (!pending || reading || ended) return;
        reading = true;
        from = position;
        max = asked;
      }
      const std::uint64_t seen = hub->signal->current_generation();
      auto page = fetch(*hub->journal, from, max);
      if (!page.is_ready()) {
        page.on_complete([self = this->shared_from_this(), seen](const Result<Page>& r) {
          if (self->handle(r, seen)) self->poll();
        });
        return;
      }
      if (!handle(page.get(), seen)) return;
    }
  }

  /// Delivers a page or parks; true if the read must be repeated (a commit came meanwhile).
  bool handle(const Result<Page>& r, std::uint64_t seen) {
    std::optional<Promise<Page>> deliver;
    Result<Page> value = Page{};
    bool again = false;
    {
      std::lock_guard lock(mutex);
      reading = false;
      if (!pending) return false;  // cancelled while reading
      if (!r) {
        value = r;
        deliver.swap(pending);
      } else if (!r->empty()) {
        position = after(r->back());
        if ((!live && r->size() < asked) || position > end_position) ended = true;
        value = r;
        deliver.swap(pending);
      } else if (!live) {
        ended = true;
        deliver.swap(pending);
      } else {
        switch (hub->signal->park(this->weak_from_this(), seen)) {
          case detail::CommitSignal::Park::parked:
            break;
          case detail::CommitSignal::Park::commit_since:
            again = true;
            break;
          case detail::CommitSignal::Park::stopped:
            ended = true;
            deliver.swap(pending);
            break;
        }
      }
    }
    // Completed outside the lock: the reader's callback may call next() at once.
    if (deliver) deliver->complete(std::move(value));
    return again;
  }
};

template <class T>
QueryCursor<T>::QueryCursor(std::shared_ptr<State> state) : state_(std::move(state)) {}
template <class T>
QueryCursor<T>::QueryCursor(QueryCursor&&) noexcept = default;
template <class T>
QueryCursor<T>& QueryCursor<T>::operator=(QueryCursor&& other) noexcept {
  if (this != &other) {
    cancel();
    state_ = std::move(other.state_);
  }
  return *this;
}
template <class T>
QueryCursor<T>::~QueryCursor() {
  cancel();
}

template <class T>
Future<std::vector<T>> QueryCursor<T>::next(std::size_t max_events) {
  if (!state_) {
    return make_ready_future<std::vector<T>>(
        fail(Errc::invalid_argument, "next() on a moved-from cursor"));
  }
  return state_->next(max_events);
}

template <class T>
void QueryCursor<T>::cancel() {
  if (state_) state_->cancel();
}

template class QueryCursor<EventRecord>;
template class QueryCursor<TaggedEvent>;

PersistenceQuery::PersistenceQuery(std::shared_ptr<Journal> journal)
    : hub_(std::make_shared<detail::QueryHub>()) {
  hub_->journal = std::move(journal);
  auto& signal = hub_->signal;
  signal->thread = std::thread([s = signal.get()] { s->run(); });
  // Shared: the listener may still run briefly after unsubscribe returns.
  hub_->subscription = hub_->journal->subscribe([signal](std::uint64_t) { signal->on_commit(); });
}

PersistenceQuery::~PersistenceQuery() {
  hub_->journal->unsubscribe(hub_->subscription);
  hub_->signal->stop();
}

namespace {

std::shared_ptr<QueryCursor<EventRecord>::State> by_id_state(
    const std::shared_ptr<detail::QueryHub>& hub, std::string pid, std::uint64_t from,
    std::uint64_t to, bool live) {
  auto s = std::make_shared<QueryCursor<EventRecord>::State>();
  s->hub = hub;
  hub->signal->track(s);
  s->live = live;
  s->position = std::max<std::uint64_t>(from, 1);
  s->end_position = to;
  s->fetch = [pid = std::move(pid), to](Journal& j, std::uint64_t position, std::size_t max) {
    return j.read(pid, position, to, max);
  };
  s->after = [](const EventRecord& e) { return e.sequence_nr + 1; };
  return s;
}

std::shared_ptr<QueryCursor<TaggedEvent>::State> by_tag_state(
    const std::shared_ptr<detail::QueryHub>& hub, std::string tag, std::uint64_t after_offset,
    bool live) {
  auto s = std::make_shared<QueryCursor<TaggedEvent>::State>();
  s->hub = hub;
  hub->signal->track(s);
  s->live = live;
  s->position = after_offset;
  s->fetch = [tag = std::move(tag)](Journal& j, std::uint64_t position, std::size_t max) {
    return j.events_by_tag(tag, position, max);
  };
  s->after = [](const TaggedEvent& e) { return e.offset; };
  return s;
}

}  // namespace

QueryCursor<EventRecord> PersistenceQuery::events_by_persistence_id(std::string persistence_id,
                                                                    std::uint64_t from_seq,
                                                                    std::uint64_t to_seq) {
  return QueryCursor<EventRecord>(
      by_id_state(hub_, std::move(persistence_id), from_seq, to_seq, true));
}

QueryCursor<EventRecord> PersistenceQuery::current_events_by_persistence_id(
    std::string persistence_id, std::uint64_t from_seq, std::uint64_t to_seq) {
  return QueryCursor<EventRecord>(
      by_id_state(hub_, std::move(persistence_id), from_seq, to_seq, false));
}

QueryCursor<TaggedEvent> PersistenceQuery::events_by_tag(std::string tag,
                                                         std::uint64_t after_offset) {
  return QueryCursor<TaggedEvent>(by_tag_state(hub_, std::move(tag), after_offset, true));
}

QueryCursor<TaggedEvent> PersistenceQuery::current_events_by_tag(std::string tag,
                                                                 std::uint64_t after_offset) {
  return QueryCursor<TaggedEvent>(by_tag_state(hub_, std::move(tag), after_offset, false));
}

Future<std::vector<std::string>> PersistenceQuery::current_persistence_ids() {
  return hub_->journal->persistence_ids();
}

}  // namespace weft::persistence
