// Bridges between stream jobs and the actor/persistence layers:
//   - from_journal_tag: a replayable source over the journal's events by tag, its offset
//     checkpointed, so a restored job resumes after the last checkpointed event;
//   - to_actor: a sink that sends each record to an actor and keeps at most N unacknowledged
//     (a stream never floods a mailbox; the task stops taking input while N are out);
//   - to_persistent_actor: the same with a (job, subtask, seq) DedupId per record that an
//     event-sourced actor records (DedupState), so a replay after a restore applies nothing twice.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "weft/actor/actor_system.hpp"
#include "weft/core/codec.hpp"
#include "weft/persistence/journal.hpp"
#include "weft/stream/detail/channel.hpp"
#include "weft/stream/source.hpp"
#include "weft/stream/stream.hpp"

namespace weft::stream {

// --- Journal events by tag as a source -------------------------------------------------------

/// What from_journal_tag reads and how it turns journal events into records.
template <class T>
struct JournalTagSpec {
  std::shared_ptr<persistence::Journal> journal;
  std::string tag;
  /// Decodes a stored event; an error sends the event to the dead letters (with its offset)
  /// and the source goes on after it.
  std::function<Result<T>(const persistence::EventRecord&)> decode;
  /// Event time of a record; empty: the event's persist time (timestamp_ms).
  std::function<Timestamp(const persistence::EventRecord&, const T&)> event_time;
  /// Live: keeps following new commits. Otherwise finishes once caught up.
  bool live = true;
  /// Events read per journal round trip (also bounded by the task's poll budget).
  std::size_t page = 256;
  /// After a failed journal read, the next try waits this long (processing time).
  Duration retry_after = std::chrono::milliseconds(100);
};

namespace detail {
/// Wakes a source task from journal threads; cleared when the source closes, so a late
/// notification never touches a destroyed task.
struct SourceWake {
  std::mutex mutex;
  std::function<void()> wake;
  bool dirty = false;  // a commit arrived since the last read was issued
  /// A commit: there may be more to read.
  void fire() {
    std::lock_guard lock(mutex);
    dirty = true;
    if (wake) wake();
  }
  /// A read completed: only a turn is needed. (Marking dirty here made an empty read that
  /// completed at once ask for another read, forever: a busy loop on an idle journal; the
  /// source also stops reading once caught up, until a commit.)
  void poke() {
    std::lock_guard lock(mutex);
    if (wake) wake();
  }
};
}  // namespace detail

/// A source (parallelism 1) over the events tagged `spec.tag` with offset > the checkpointed
/// offset. Reads are asynchronous: while one is pending, or when nothing new is stored, poll()
/// returns idle and the journal's completion or commit notification wakes the task.
template <class T>
SourceFactory<T> from_journal_tag(JournalTagSpec<T> spec) {
  class Impl final : public Source<T> {
   public:
    explicit Impl(JournalTagSpec<T> spec) : spec_(std::move(spec)) {}

    SourceStatus poll(SourceOutput<T>& out, std::size_t max) override {
      if (this->ctx().parallelism() != 1) {
        if (this->ctx().subtask() == 0) {
          this->ctx().dead_letter({{},
                                   "from_journal_tag runs at parallelism 1, not " +
                                       std::to_string(this->ctx().parallelism()),
                                   {},
                                   min_timestamp});
        }
        return SourceStatus::finished;
      }
      if (!subscribed_) subscribe(out);
      if (!pending_.valid()) {
        if (retry_at_ && this->ctx().clock().now() < *retry_at_) return SourceStatus::idle;
        retry_at_.reset();
        {
          std::lock_guard lock(wake_->mutex);
          // Caught up: read again only once a commit says there is something new (a turn can
          // also come from the poke of the last read, or from a checkpoint).
          if (caught_up_ && !wake_->dirty) return SourceStatus::idle;
          wake_->dirty = false;
        }
        caught_up_ = false;
        pending_ = spec_.journal->events_by_tag(spec_.tag, offset_, std::min(max, spec_.page));
        pending_.on_complete([w = wake_](const auto&) { w->poke(); });
      }
      if (!pending_.is_ready()) return SourceStatus::idle;
      auto page = std::move(pending_).take();
      if (!page) {
        this->ctx().dead_letter({{},
                                 "reading tag '" + spec_.tag + "' after offset " +
                                     std::to_string(offset_) + ": " + page.error().describe(),
                                 {},
                                 min_timestamp});
        retry_at_ = this->ctx().clock().now() + spec_.retry_after;
        this->ctx().request_wakeup(*retry_at_);
        return SourceStatus::idle;
      }
      for (auto& tagged : *page) {
        offset_ = tagged.offset;
        auto value = spec_.decode(tagged.event);
        if (!value) {
          this->ctx().dead_letter(
              {{},
               "tag '" + spec_.tag + "' offset " + std::to_string(tagged.offset) + " (" +
                   tagged.event.persistence_id + " #" + std::to_string(tagged.event.sequence_nr) +
                   "): " + value.error().describe(),
               {},
               tagged.event.timestamp_ms});
          continue;
        }
        const Timestamp ts =
            spec_.event_time ? spec_.event_time(tagged.event, *value) : tagged.event.timestamp_ms;
        out.emit(std::move(*value), ts);
      }
      if (!page->empty()) return SourceStatus::more;
      if (!spec_.live) return SourceStatus::finished;
      std::lock_guard lock(wake_->mutex);
      // A commit between issuing the read and now may not be in the page: read again.
      if (wake_->dirty) return SourceStatus::more;
      caught_up_ = true;
      return SourceStatus::idle;
    }

    void on_processing_time(TimePoint) override {}  // the retry wakeup only needs a turn

    [[nodiscard]] bool has_state() const override { return true; }
    Result<void> snapshot(CheckpointId, Writer& w) override {
      w.put_varint(offset_);
      return {};
    }
    Result<void> restore(std::span<const std::vector<std::byte>> blobs) override {
      if (blobs.size() != 1) {
        return fail(Errc::invalid_argument,
                    "journal source for tag '" + spec_.tag + "' was checkpointed with " +
                        std::to_string(blobs.size()) + " subtasks; it runs at parallelism 1");
      }
      Reader r(blobs[0]);
      auto offset = r.varint();
      if (!offset) {
        return std::unexpected(offset.error().with_context("journal source offset"));
      }
      offset_ = *offset;
      return {};
    }
    void close() override {
      if (subscribed_) spec_.journal->unsubscribe(subscription_);
      std::lock_guard lock(wake_->mutex);
      wake_->wake = nullptr;
    }

   private:
    void subscribe(SourceOutput<T>& out) {
      {
        std::lock_guard lock(wake_->mutex);
        wake_->wake = [&out] { out.request_poll(); };
      }
      subscription_ = spec_.journal->subscribe([w = wake_](std::uint64_t) { w->fire(); });
      subscribed_ = true;
    }

    JournalTagSpec<T> spec_;
    std::shared_ptr<detail::SourceWake> wake_ = std::make_shared<detail::SourceWake>();
    Future<std::vector<persistence::TaggedEvent>> pending_;
    std::optional<TimePoint> retry_at_;
    std::uint64_t offset_ = 0;
    std::uint64_t subscription_ = 0;
    bool subscribed_ = false;
    bool caught_up_ = false;  // the last read was empty and no commit came since
  };
  return [spec] { return std::make_unique<Impl>(spec); };
}

// --- Acknowledged sinks into actors ----------------------------------------------------------

/// What an actor replies to each message an acked sink sent it, once it is done with it (one
/// per message). `seq` is the DedupId::seq of the message it acknowledges (to_persistent_actor):
/// then acks may come in any order, as from the many entities behind one entity manager.
/// `seq` 0 acknowledges the oldest message still out (to_actor: replies in arrival order).
struct Ack {
  std::uint64_t seq = 0;
};

/// Identifies a record sent by to_persistent_actor: sink subtask `subtask` of job `job` sent it
/// as its `seq`-th record (from 1). A replay after a restore sends the same records with the
/// same ids, in the same order.
struct DedupId {
  std::string job;
  std::uint32_t subtask = 0;
  std::uint64_t seq = 0;
  friend bool operator==(const DedupId&, const DedupId&) = default;
};
WEFT_CODEC(DedupId, "weft.stream.DedupId", 1, job, subtask, seq);

/// The part of an event-sourced actor's state that makes it idempotent for stream input: the
/// highest seq applied per (job, subtask). Ask `seen(id)` in the command handler (true: already
/// applied, only acknowledge) and call `record(id)` in the event handler.
struct DedupState {
  std::map<std::string, std::uint64_t> applied;  // "<job>/<subtask>" -> highest seq

  [[nodiscard]] bool seen(const DedupId& id) const {
    const auto it = applied.find(key(id));
    return it != applied.end() && id.seq <= it->second;
  }
  void record(const DedupId& id) {
    auto& hi = applied[key(id)];
    if (id.seq > hi) hi = id.seq;
  }
  friend bool operator==(const DedupState&, const DedupState&) = default;

 private:
  static std::string key(const DedupId& id) { return id.job + "/" + std::to_string(id.subtask); }
};
WEFT_CODEC(DedupState, "weft.stream.DedupState", 1, applied);

namespace detail {

/// Flow control shared by an acked sink and the reply receiver (which runs on the target
/// actor's thread): at most `limit` messages out; the rest wait here, sent as acks arrive.
/// Sends happen under the lock so the target sees them in seq order.
template <class T, class M>
class AckGate {
 public:
  AckGate(ActorRef<M> target, std::size_t limit) : target_(std::move(target)), limit_(limit) {}

  /// `keep` (exactly-once sinks): the record stays until acknowledged, for the checkpoint.
  void offer(std::uint64_t seq, std::optional<T> keep, M msg) {
    std::lock_guard lock(mutex_);
    if (keep) unacked_.emplace_back(seq, std::move(*keep));
    if (in_flight_ < limit_) {
      send(seq, std::move(msg));
    } else {
      waiting_.emplace_back(seq, std::move(msg));
    }
  }
  /// The record `seq` is done (0: the oldest one still unacknowledged).
  void on_ack(std::uint64_t seq) {
    std::lock_guard lock(mutex_);
    if (in_flight_ == 0) return;  // a stray reply
    --in_flight_;
    ++acked_;
    forget(seq);
    if (!waiting_.empty()) {
      auto [next_seq, msg] = std::move(waiting_.front());
      waiting_.pop_front();
      send(next_seq, std::move(msg));
    }
    if (task_ && in_flight_ < limit_) std::exchange(task_, nullptr)->wake();
  }
  /// True if another message may go out now; else `task` is woken once one may.
  bool ready(Waker& task) {
    std::lock_guard lock(mutex_);
    if (in_flight_ < limit_) return true;
    task_ = &task;
    return false;
  }
  /// The sink is gone: no more wakeups, and the messages still waiting are dropped (they hold
  /// reply_to refs that lead back here, a cycle nothing else would break).
  void detach() {
    std::deque<std::pair<std::uint64_t, M>> dropped;
    ActorRef<M> target;
    {
      std::lock_guard lock(mutex_);
      task_ = nullptr;
      detached_ = true;
      dropped.swap(waiting_);
      target = std::move(target_);
    }
  }
  [[nodiscard]] std::vector<std::pair<std::uint64_t, T>> unacked() const {
    std::lock_guard lock(mutex_);
    return {unacked_.begin(), unacked_.end()};
  }
  /// Errors of sends that the target refused since the last call.
  std::vector<Error> take_errors() {
    std::lock_guard lock(mutex_);
    return std::exchange(errors_, {});
  }

 private:
  void send(std::uint64_t seq, M&& msg) {
    if (detached_) return;
    if (auto sent = target_.try_tell(std::move(msg)); !sent) {
      // Nothing will acknowledge it: the slot is free again, the record is reported.
      errors_.push_back(sent.error());
      forget(seq);
      return;
    }
    ++in_flight_;
  }
  /// Drops record `seq` (0: the oldest) from the unacknowledged ones. Few are out (the limit
  /// plus one batch), and acks mostly come for the oldest: a scan from the front is enough.
  void forget(std::uint64_t seq) {
    if (unacked_.empty()) return;
    if (seq == 0) {
      unacked_.pop_front();
      return;
    }
    const auto it = std::find_if(unacked_.begin(), unacked_.end(),
                                 [seq](const auto& entry) { return entry.first == seq; });
    if (it != unacked_.end()) unacked_.erase(it);
  }

  mutable std::mutex mutex_;
  ActorRef<M> target_;
  std::size_t limit_;
  std::size_t in_flight_ = 0;
  std::uint64_t acked_ = 0;
  std::deque<std::pair<std::uint64_t, M>> waiting_;  // (seq, message)
  std::deque<std::pair<std::uint64_t, T>> unacked_;
  std::vector<Error> errors_;
  Waker* task_ = nullptr;
  bool detached_ = false;
};

/// The reply_to of every message an acked sink sends.
template <class T, class M>
class AckReceiver final : public weft::detail::Receiver<Ack> {
 public:
  AckReceiver(std::shared_ptr<AckGate<T, M>> gate, std::string path)
      : gate_(std::move(gate)), path_(std::move(path)) {}
  Result<void> deliver(Ack&& ack) override {
    gate_->on_ack(ack.seq);
    return {};
  }
  [[nodiscard]] std::string path() const override { return path_; }

 private:
  std::shared_ptr<AckGate<T, M>> gate_;
  std::string path_;
};

/// The sink of to_actor (Exactly = false) and to_persistent_actor (Exactly = true: numbers the
/// records and keeps the unacknowledged ones in its checkpoint, to resend after a restore).
template <class T, class M, bool Exactly>
class AckedSink final : public Sink<T> {
 public:
  using Make = std::conditional_t<Exactly, std::function<M(T&&, DedupId, ActorRef<Ack>)>,
                                  std::function<M(T&&, ActorRef<Ack>)>>;

  AckedSink(ActorRef<M> target, std::size_t limit, Make make, std::string job)
      : target_path_(target.path()),
        gate_(std::make_shared<AckGate<T, M>>(std::move(target), limit)),
        make_(std::move(make)),
        job_(std::move(job)) {
    reply_to_ =
        ActorRef<Ack>::from_receiver(weft::detail::IntrusivePtr<weft::detail::Receiver<Ack>>::adopt(
            new AckReceiver<T, M>(gate_, target_path_ + "/$stream-ack")));
  }
  ~AckedSink() override { gate_->detach(); }

  void emit(T&& value, Timestamp) override {
    report_errors();
    if constexpr (Exactly) {
      const std::uint64_t seq = next_seq_++;
      T kept(value);
      gate_->offer(seq, std::move(kept),
                   make_(std::move(value), DedupId{job_, this->ctx().subtask(), seq}, reply_to_));
    } else {
      gate_->offer(0, std::nullopt, make_(std::move(value), reply_to_));
    }
  }
  void finish() override {
    resend();
    report_errors();
  }
  bool ready(Waker& task) override {
    resend();
    report_errors();
    return gate_->ready(task);
  }

  [[nodiscard]] bool has_state() const override { return Exactly; }
  Result<void> snapshot(CheckpointId, Writer& w) override {
    if constexpr (Exactly) {
      // Records before the barrier that the actor has not acknowledged may be lost with a
      // crash: they go into the checkpoint and are sent again (same ids) after a restore.
      const auto unacked = gate_->unacked();
      w.put_varint(next_seq_);
      w.put_varint(unacked.size());
      for (const auto& [seq, value] : unacked) {
        w.put_varint(seq);
        Codec<T>::encode(value, w);
      }
    }
    return {};
  }
  Result<void> restore(std::span<const std::vector<std::byte>> blobs) override {
    if constexpr (Exactly) {
      const auto me = this->ctx().subtask();
      if (blobs.size() != this->ctx().parallelism()) {
        return fail(Errc::invalid_argument,
                    "sink to " + target_path_ + " was checkpointed with parallelism " +
                        std::to_string(blobs.size()) + ", now " +
                        std::to_string(this->ctx().parallelism()) + "; its dedup ids cannot move");
      }
      Reader r(blobs[me]);
      auto next = r.varint();
      if (!next) return std::unexpected(next.error().with_context("sink next seq"));
      auto n = r.count(2);
      if (!n) return std::unexpected(n.error().with_context("sink unacked records"));
      std::vector<std::pair<std::uint64_t, T>> resend;
      for (std::size_t i = 0; i < *n; ++i) {
        auto seq = r.varint();
        if (!seq) return std::unexpected(seq.error().with_context("sink unacked seq"));
        auto value = Codec<T>::decode(r);
        if (!value) return std::unexpected(value.error().with_context("sink unacked record"));
        resend.emplace_back(*seq, std::move(*value));
      }
      next_seq_ = *next;
      resend_ = std::move(resend);
    }
    return {};
  }
  void close() override { gate_->detach(); }

 private:
  void resend() {
    if constexpr (Exactly) {
      for (auto& [seq, value] : resend_) {
        T kept(value);
        gate_->offer(seq, std::move(kept),
                     make_(std::move(value), DedupId{job_, this->ctx().subtask(), seq}, reply_to_));
      }
      resend_.clear();
    }
  }
  void report_errors() {
    for (auto& e : gate_->take_errors()) {
      this->ctx().dead_letter(
          {{}, "send to " + target_path_ + ": " + e.describe(), {}, min_timestamp});
    }
  }

  std::string target_path_;
  std::shared_ptr<AckGate<T, M>> gate_;
  ActorRef<Ack> reply_to_;
  Make make_;
  std::string job_;
  std::uint64_t next_seq_ = 1;
  std::vector<std::pair<std::uint64_t, T>> resend_;
};

}  // namespace detail

/// Sends each record to `target` as `make_message(T&&, ActorRef<Ack> reply_to)`; the actor
/// replies Ack{} to reply_to when done. At most `max_in_flight` messages are unacknowledged per
/// sink subtask: when that many are out, the task stops taking input (back-pressure up to the
/// sources) until an Ack arrives. Records that arrived in the same input batch wait in the
/// sink (at most one batch) and go out as acks arrive, also after the end of input; the
/// job's end does not wait for them, and those still waiting when the job is destroyed are
/// dropped. A refused send (actor stopped) goes to the dead letters. Not checkpointed: records
/// in flight at a crash are not resent (use to_persistent_actor).
template <class T, class M, class Make>
SinkFactory<T> to_actor(ActorRef<M> target, Make make_message, std::size_t max_in_flight = 16) {
  using Sink = detail::AckedSink<T, M, false>;
  return [target, make = typename Sink::Make(std::move(make_message)), max_in_flight] {
    return std::make_unique<Sink>(target, std::max<std::size_t>(max_in_flight, 1), make,
                                  std::string{});
  };
}

/// Exactly-once into an event-sourced actor: each record goes as
/// `make_message(T&&, DedupId, ActorRef<Ack>)`, with a DedupId of (job_id, subtask, seq) that
/// the actor keeps in a DedupState (skipping ids it has seen, acknowledging them all). Reply
/// Ack{id.seq}: records to several actors (entities) are then acknowledged in any order; a
/// plain Ack{} acknowledges the oldest unacknowledged record. The
/// sink checkpoints its next seq and its unacknowledged records (T needs a Codec), so after a
/// restore the replayed records carry the ids they had before. Needs a deterministic order of
/// records into each sink subtask (as any replay-based exactly-once sink does).
template <class T, class M, class Make>
SinkFactory<T> to_persistent_actor(ActorRef<M> target, std::string job_id, Make make_message,
                                   std::size_t max_in_flight = 16) {
  using Sink = detail::AckedSink<T, M, true>;
  return [target, job_id, make = typename Sink::Make(std::move(make_message)), max_in_flight] {
    return std::make_unique<Sink>(target, std::max<std::size_t>(max_in_flight, 1), make, job_id);
  };
}

}  // namespace weft::stream
