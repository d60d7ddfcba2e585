// Built-in sources: collections, generators, a bounded queue that actors and I/O threads offer
// to, and files of lines (CSV, JSON lines) with a parser. Offsets are checkpointed, so a
// restored job resumes where its last checkpoint was.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "weft/core/result.hpp"
#include "weft/stream/source.hpp"
#include "weft/stream/stream.hpp"

namespace weft::stream {

namespace detail {
/// A source over positions i, i+p, i+2p... of an indexed sequence; the next position is its
/// checkpointed state.
template <class T>
class IndexedSource : public Source<T> {
 public:
  void open(OperatorContext& ctx) override {
    Source<T>::open(ctx);
    next_ = ctx.subtask();
    stride_ = ctx.parallelism();
  }
  [[nodiscard]] bool has_state() const override { return true; }
  Result<void> snapshot(CheckpointId, Writer& w) override {
    w.put_varint(next_);
    return {};
  }
  Result<void> restore(std::span<const std::vector<std::byte>> blobs) override {
    const auto me = this->ctx().subtask();
    if (blobs.size() != this->ctx().parallelism()) {
      return fail(Errc::invalid_argument,
                  "source parallelism changed from " + std::to_string(blobs.size()) + " to " +
                      std::to_string(this->ctx().parallelism()) + "; sources cannot rescale");
    }
    Reader r(blobs[me]);
    auto next = r.varint();
    if (!next) return std::unexpected(next.error());
    next_ = *next;
    return {};
  }

 protected:
  std::uint64_t next_ = 0;
  std::uint64_t stride_ = 1;
};
}  // namespace detail

/// Records from a vector with their event times.
template <class T>
SourceFactory<T> from_collection(std::vector<std::pair<T, Timestamp>> records) {
  auto shared = std::make_shared<const std::vector<std::pair<T, Timestamp>>>(std::move(records));
  class Impl final : public detail::IndexedSource<T> {
   public:
    explicit Impl(std::shared_ptr<const std::vector<std::pair<T, Timestamp>>> r)
        : records_(std::move(r)) {}
    SourceStatus poll(SourceOutput<T>& out, std::size_t max) override {
      for (std::size_t i = 0; i < max && this->next_ < records_->size(); ++i) {
        const auto& [v, ts] = (*records_)[this->next_];
        out.emit(T(v), ts);
        this->next_ += this->stride_;
      }
      return this->next_ < records_->size() ? SourceStatus::more : SourceStatus::finished;
    }

   private:
    std::shared_ptr<const std::vector<std::pair<T, Timestamp>>> records_;
  };
  return [shared] { return std::make_unique<Impl>(shared); };
}

/// Records `make(i)` for i in [0, count); the job's timestamp assigner stamps them.
template <class T, class F>
SourceFactory<T> generator(std::uint64_t count, F make) {
  class Impl final : public detail::IndexedSource<T> {
   public:
    Impl(std::uint64_t count, F make) : count_(count), make_(std::move(make)) {}
    SourceStatus poll(SourceOutput<T>& out, std::size_t max) override {
      for (std::size_t i = 0; i < max && this->next_ < count_; ++i) {
        out.emit(make_(this->next_));
        this->next_ += this->stride_;
      }
      return this->next_ < count_ ? SourceStatus::more : SourceStatus::finished;
    }

   private:
    std::uint64_t count_;
    F make_;
  };
  return [count, make] { return std::make_unique<Impl>(count, make); };
}

enum class Overflow : std::uint8_t {
  backpressure,  // offer() fails with mailbox_full; offer_wait() blocks until there is room
  drop_newest,   // the offered record is dropped (counted)
  drop_oldest,   // the oldest queued record is dropped (counted)
};

/// A bounded queue feeding a source (parallelism 1): actors and I/O threads offer records to
/// it. Not checkpointed: what was offered before a crash is the offerer's to resend.
template <class T>
class StreamQueue {
 public:
  explicit StreamQueue(std::size_t capacity, Overflow overflow = Overflow::backpressure)
      : capacity_(capacity), overflow_(overflow) {}

  /// Queues a record with its event time, or says why not.
  Result<void> offer(T value, Timestamp ts) {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return fail(Errc::shutting_down, "stream queue is closed");
      if (queue_.size() >= capacity_) {
        switch (overflow_) {
          case Overflow::backpressure:
            return fail(Errc::mailbox_full,
                        "stream queue is full (" + std::to_string(capacity_) + " records)");
          case Overflow::drop_newest:
            ++dropped_;
            return {};
          case Overflow::drop_oldest:
            ++dropped_;
            queue_.pop_front();
            break;
        }
      }
      queue_.emplace_back(std::move(value), ts);
    }
    wake();
    return {};
  }

  /// Blocks until there is room (backpressure), the queue closes, or `timeout` passes.
  Result<void> offer_wait(T value, Timestamp ts, Duration timeout) {
    {
      std::unique_lock lock(mutex_);
      if (!space_.wait_for(lock, timeout, [&] { return closed_ || queue_.size() < capacity_; })) {
        return fail(Errc::timeout, "stream queue stayed full");
      }
    }
    return offer(std::move(value), ts);
  }

  /// No more records: the source finishes once the queue is drained.
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    space_.notify_all();
    wake();
  }

  [[nodiscard]] std::uint64_t dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
  }
  [[nodiscard]] std::size_t size() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
  }

  // For the source. Once set_waker or clear_waker returns, no call of the previous waker is
  // running or will start: the source clears its waker on close, and its task is destroyed
  // after that. Returns the id that clears this waker.
  std::uint64_t set_waker(std::function<void()> wake) {
    std::lock_guard lock(waker_mutex_);
    waker_ = std::move(wake);
    return ++waker_id_;
  }
  /// Clears the waker `id` unless another one replaced it (a queue outlives its jobs: the next
  /// job's source may have set its waker before the previous job's source closes).
  void clear_waker(std::uint64_t id) {
    std::lock_guard lock(waker_mutex_);
    if (waker_id_ == id) waker_ = {};
  }
  /// Moves up to `max` records out; false once closed and empty.
  bool drain(std::vector<std::pair<T, Timestamp>>& out, std::size_t max) {
    bool open = true;
    {
      std::lock_guard lock(mutex_);
      while (!queue_.empty() && out.size() < max) {
        out.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      open = !(closed_ && queue_.empty());
    }
    space_.notify_all();
    return open;
  }

 private:
  // Called under waker_mutex_ (not mutex_, so the source can drain meanwhile): a waker copied
  // out and called after the lock would wake a task that may already be destroyed.
  void wake() {
    std::lock_guard lock(waker_mutex_);
    if (waker_) waker_();
  }

  std::size_t capacity_;
  Overflow overflow_;
  mutable std::mutex mutex_;
  std::mutex waker_mutex_;
  std::condition_variable space_;
  std::deque<std::pair<T, Timestamp>> queue_;
  std::function<void()> waker_;  // guarded by waker_mutex_
  std::uint64_t waker_id_ = 0;   // guarded by waker_mutex_
  std::uint64_t dropped_ = 0;
  bool closed_ = false;
};

template <class T>
SourceFactory<T> from_queue(std::shared_ptr<StreamQueue<T>> queue) {
  class Impl final : public Source<T> {
   public:
    explicit Impl(std::shared_ptr<StreamQueue<T>> q) : queue_(std::move(q)) {}
    SourceStatus poll(SourceOutput<T>& out, std::size_t max) override {
      if (waker_ == 0) waker_ = queue_->set_waker([&out] { out.request_poll(); });
      batch_.clear();
      const bool open = queue_->drain(batch_, max);
      for (auto& [v, ts] : batch_) out.emit(std::move(v), ts);
      if (!open) return SourceStatus::finished;
      return batch_.empty() ? SourceStatus::idle : SourceStatus::more;
    }
    void close() override {
      if (waker_ != 0) queue_->clear_waker(waker_);
    }

   private:
    std::shared_ptr<StreamQueue<T>> queue_;
    std::vector<std::pair<T, Timestamp>> batch_;
    std::uint64_t waker_ = 0;  // the id of the waker set on the queue, 0 before the first poll
  };
  return [queue] { return std::make_unique<Impl>(queue); };
}

/// Lines of a file (parallelism 1), each parsed by `parse(line) -> Result<T>`; a line that does
/// not parse goes to the dead letters with its line number. The byte offset is checkpointed.
template <class T, class Parse>
SourceFactory<T> from_lines(std::string path, Parse parse) {
  class Impl final : public Source<T> {
   public:
    Impl(std::string path, Parse parse) : path_(std::move(path)), parse_(std::move(parse)) {}
    SourceStatus poll(SourceOutput<T>& out, std::size_t max) override {
      if (!in_.is_open()) {
        in_.open(path_, std::ios::binary);
        if (!in_) {
          this->ctx().dead_letter({{}, "cannot open " + path_, {}, min_timestamp});
          return SourceStatus::finished;
        }
        in_.seekg(static_cast<std::streamoff>(offset_));
      }
      std::string line;
      for (std::size_t i = 0; i < max; ++i) {
        if (!std::getline(in_, line)) return SourceStatus::finished;
        offset_ += line.size() + 1;
        ++line_no_;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        auto r = parse_(std::string_view(line));
        if (!r) {
          this->ctx().dead_letter(
              {{},
               path_ + ":" + std::to_string(line_no_) + ": " + r.error().message(),
               line,
               min_timestamp});
          continue;
        }
        out.emit(std::move(*r));
      }
      return SourceStatus::more;
    }
    [[nodiscard]] bool has_state() const override { return true; }
    Result<void> snapshot(CheckpointId, Writer& w) override {
      w.put_varint(offset_);
      w.put_varint(line_no_);
      return {};
    }
    Result<void> restore(std::span<const std::vector<std::byte>> blobs) override {
      if (blobs.empty() || blobs[0].empty()) return {};
      Reader r(blobs[0]);
      auto off = r.varint();
      if (!off) return std::unexpected(off.error());
      auto line = r.varint();
      if (!line) return std::unexpected(line.error());
      offset_ = *off;
      line_no_ = *line;
      return {};
    }

   private:
    std::string path_;
    Parse parse_;
    std::ifstream in_;
    std::uint64_t offset_ = 0;
    std::uint64_t line_no_ = 0;
  };
  return [path, parse] { return std::make_unique<Impl>(path, parse); };
}

}  // namespace weft::stream
