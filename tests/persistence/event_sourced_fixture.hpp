// A counter entity and journal/store decorators shared by the event-sourced actor tests
// (snapshots, recovery, passivation).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "weft/actor/testkit/test_probe.hpp"
#include "weft/persistence/event_sourced.hpp"
#include "weft/persistence/memory_journal.hpp"
#include "weft/persistence/snapshot_store.hpp"

namespace weft::persistence::es_test {

struct Added {
  std::int64_t amount = 0;
};
WEFT_CODEC(Added, "test.es.Added", 1, amount);

/// Order-sensitive: `digest` differs if events are applied twice, skipped or reordered.
struct Total {
  std::int64_t sum = 0;
  std::uint64_t events = 0;
  std::uint64_t digest = 14695981039346656037ull;
  friend bool operator==(const Total&, const Total&) = default;
};
WEFT_CODEC(Total, "test.es.Total", 1, sum, events, digest);

inline Total apply(Total t, const Added& e) {
  t.sum += e.amount;
  ++t.events;
  t.digest = (t.digest ^ static_cast<std::uint64_t>(e.amount)) * 1099511628211ull;
  return t;
}

struct Add {
  std::vector<std::int64_t> amounts;  // one event each, persisted atomically
  ActorRef<Total> reply_to;           // the new state once durable (may be empty)
};
struct Get {
  ActorRef<Total> reply_to;
};
using Cmd = std::variant<Add, Get>;

inline EventSourcedSpec<Cmd, Added, Total> counter_spec(std::string pid,
                                                        std::shared_ptr<Journal> journal) {
  EventSourcedSpec<Cmd, Added, Total> s;
  s.persistence_id = std::move(pid);
  s.journal = std::move(journal);
  s.event_handler = apply;
  s.command_handler = [](const Total& t, const Cmd& c) -> Effect<Added, Total> {
    if (auto* add = std::get_if<Add>(&c)) {
      std::vector<Added> evs;
      for (auto a : add->amounts) evs.push_back(Added{a});
      auto eff = effects::persist_all<Total>(std::move(evs));
      if (add->reply_to) {
        return std::move(eff).then_reply(add->reply_to, [](const Total& n) { return n; });
      }
      return eff;
    }
    std::get<Get>(c).reply_to.tell(t);
    return effects::none<Total, Added>();
  };
  return s;
}

/// Folds `apply` over amounts: what any correct recovery must give.
inline Total fold(const std::vector<std::int64_t>& amounts) {
  Total t;
  for (auto a : amounts) t = apply(t, Added{a});
  return t;
}

/// A journal that forwards to a MemoryJournal, records where reads start, and can fail reads.
class RecordingJournal final : public Journal {
 public:
  Future<std::uint64_t> append(AppendBatch batch) override {
    return inner_.append(std::move(batch));
  }
  Future<std::vector<EventRecord>> read(std::string pid, std::uint64_t from, std::uint64_t to,
                                        std::size_t max) override {
    {
      std::lock_guard lock(mutex_);
      reads_.push_back(from);
      if (read_failures_ > 0) {
        --read_failures_;
        return make_ready_future<std::vector<EventRecord>>(std::unexpected(*read_error_));
      }
    }
    if (on_read) on_read(pid, from);
    auto result = inner_.read(std::move(pid), from, to, max);
    std::lock_guard lock(mutex_);
    if (!defer_reads_) return result;
    deferred_.emplace_back(Promise<std::vector<EventRecord>>(), result.get());
    return deferred_.back().first.future();
  }
  Future<std::uint64_t> highest_sequence_nr(std::string pid) override {
    return inner_.highest_sequence_nr(std::move(pid));
  }
  Future<std::uint64_t> delete_to(std::string pid, std::uint64_t to) override {
    return inner_.delete_to(std::move(pid), to);
  }
  Future<std::vector<TaggedEvent>> events_by_tag(std::string tag, std::uint64_t after,
                                                 std::size_t max) override {
    return inner_.events_by_tag(std::move(tag), after, max);
  }
  Future<std::vector<std::string>> persistence_ids() override { return inner_.persistence_ids(); }
  std::uint64_t subscribe(std::function<void(std::uint64_t)> l) override {
    return inner_.subscribe(std::move(l));
  }
  void unsubscribe(std::uint64_t id) override { inner_.unsubscribe(id); }

  /// The `from` of every read so far; cleared.
  std::vector<std::uint64_t> take_reads() {
    std::lock_guard lock(mutex_);
    return std::exchange(reads_, {});
  }
  /// The next `n` reads fail with `error`.
  void fail_reads(Error error, int n) {
    std::lock_guard lock(mutex_);
    read_error_ = std::move(error);
    read_failures_ = n;
  }
  /// Reads complete only when complete_deferred() says so (from the test's thread), so that
  /// recoveries overlap as with a journal that reads on its own threads.
  void defer_reads(bool on) {
    std::lock_guard lock(mutex_);
    defer_reads_ = on;
  }
  /// Completes one deferred read, chosen at random; false if none is pending.
  bool complete_deferred(std::mt19937_64& rng) {
    std::pair<Promise<std::vector<EventRecord>>, Result<std::vector<EventRecord>>> next;
    {
      std::lock_guard lock(mutex_);
      if (deferred_.empty()) return false;
      auto it = deferred_.begin() + static_cast<std::ptrdiff_t>(rng() % deferred_.size());
      next = std::move(*it);
      deferred_.erase(it);
    }
    next.first.complete(std::move(next.second));
    return true;
  }
  /// Called (on the reading thread) before each read that is not made to fail.
  std::function<void(const std::string&, std::uint64_t)> on_read;

 private:
  MemoryJournal inner_;
  std::mutex mutex_;
  std::vector<std::uint64_t> reads_;
  std::optional<Error> read_error_;
  int read_failures_ = 0;
  bool defer_reads_ = false;
  std::vector<std::pair<Promise<std::vector<EventRecord>>, Result<std::vector<EventRecord>>>>
      deferred_;
};

/// A snapshot store whose saves fail, or stay pending until released.
class ControlledSnapshotStore final : public SnapshotStore {
 public:
  enum class Mode { pass, fail, hold };
  Mode mode = Mode::pass;

  Future<std::monostate> save(SnapshotRecord record) override {
    if (mode == Mode::fail) {
      return make_ready_future<std::monostate>(fail(Errc::io, "disk full (test)"));
    }
    if (mode == Mode::hold) {
      held_.emplace_back(std::move(record), Promise<std::monostate>());
      return held_.back().second.future();
    }
    return inner_.save(std::move(record));
  }
  /// Saves what `hold` kept back and completes those futures.
  void release_held() {
    for (auto& [rec, promise] : std::exchange(held_, {})) promise.complete(inner_.save(rec).get());
  }
  [[nodiscard]] std::size_t held() const { return held_.size(); }

  Future<std::optional<SnapshotRecord>> load_latest(std::string pid,
                                                    SnapshotSelection sel) override {
    return inner_.load_latest(std::move(pid), sel);
  }
  Future<std::size_t> delete_older(std::string pid, std::size_t keep) override {
    return inner_.delete_older(std::move(pid), keep);
  }
  Future<std::size_t> delete_to(std::string pid, std::uint64_t max) override {
    return inner_.delete_to(std::move(pid), max);
  }
  MemorySnapshotStore& inner() { return inner_; }

 private:
  MemorySnapshotStore inner_;
  std::vector<std::pair<SnapshotRecord, Promise<std::monostate>>> held_;
};

}  // namespace weft::persistence::es_test
