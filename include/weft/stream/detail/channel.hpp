// The bounded queue between two tasks. Records travel in chunks (a few hundred at a time) so the
// per-record cost of crossing tasks is a vector push; control events (watermarks, barriers,
// end of input) travel in the same queue, so they stay in order with the data.
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

#include "weft/stream/types.hpp"

namespace weft::stream::detail {

/// Something that can be scheduled to run again (a task).
class Waker {
 public:
  virtual ~Waker() = default;
  virtual void wake() = 0;
};

enum class ChunkKind : std::uint8_t { data, watermark, idle, barrier, end };

template <class T>
struct Chunk {
  ChunkKind kind = ChunkKind::data;
  std::vector<T> values;
  std::vector<Timestamp> timestamps;
  /// watermark: the new watermark; barrier: the checkpoint id.
  std::int64_t control = 0;
};

/// Single producer, single consumer. Bounded in chunks: the producer checks writable() before
/// it takes more input (so one input's fan-out may overshoot by a little, never without bound).
template <class T>
class Channel {
 public:
  explicit Channel(std::size_t capacity) : capacity_(capacity) {}

  void connect(Waker* producer, Waker* consumer) {
    producer_ = producer;
    consumer_ = consumer;
  }

  void push(Chunk<T>&& chunk) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(chunk));
      size_.store(queue_.size(), std::memory_order_release);
    }
    consumer_->wake();
  }

  /// False (and the producer is woken when space frees up) if the channel is full.
  [[nodiscard]] bool writable() {
    if (size_.load(std::memory_order_acquire) < capacity_) return true;
    producer_waiting_.store(true, std::memory_order_seq_cst);
    // Re-check: the consumer may have drained between the load and the flag.
    if (size_.load(std::memory_order_seq_cst) < capacity_) {
      producer_waiting_.store(false, std::memory_order_relaxed);
      return true;
    }
    return false;
  }

  [[nodiscard]] bool pop(Chunk<T>& out) {
    {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) return false;
      out = std::move(queue_.front());
      queue_.pop_front();
      size_.store(queue_.size(), std::memory_order_seq_cst);
    }
    if (producer_waiting_.load(std::memory_order_seq_cst) &&
        producer_waiting_.exchange(false, std::memory_order_seq_cst)) {
      producer_->wake();
    }
    return true;
  }

  [[nodiscard]] std::size_t size() const { return size_.load(std::memory_order_acquire); }

 private:
  std::size_t capacity_;
  Waker* producer_ = nullptr;
  Waker* consumer_ = nullptr;
  std::mutex mutex_;
  std::deque<Chunk<T>> queue_;
  std::atomic<std::size_t> size_{0};
  std::atomic<bool> producer_waiting_{false};
};

}  // namespace weft::stream::detail
