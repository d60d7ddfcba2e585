// Stateless one-input operators. A user function that throws sends its record to the dead
// letters (with the exception's text) and the stream goes on.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "weft/core/result.hpp"
#include "weft/stream/detail/channel.hpp"

#include "weft/stream/operator.hpp"

namespace weft::stream {

/// What flat_map and process functions emit into.
template <class T>
class Collector {
 public:
  virtual ~Collector() = default;
  virtual void collect(T value) = 0;
};

namespace detail {

inline std::string describe_current_exception() {
  try {
    throw;
  } catch (const std::exception& e) {
    return std::string("user function threw: ") + e.what();
  } catch (...) {
    return "user function threw a non-standard exception";
  }
}

template <class In, class Out, class F>
class MapOp final : public OperatorBase, public Output<In> {
 public:
  MapOp(F f, Output<Out>* out) : f_(std::move(f)), out_(out) {}
  void emit(In&& value, Timestamp ts) override {
    try {
      out_->emit(f_(std::move(value)), ts);
    } catch (...) {
      ctx().dead_letter({{}, describe_current_exception(), {}, ts});
    }
  }
  void watermark(Timestamp wm) override { out_->watermark(wm); }
  void finish() override { out_->finish(); }

 private:
  F f_;
  Output<Out>* out_;
};

template <class T, class F>
class FilterOp final : public OperatorBase, public Output<T> {
 public:
  FilterOp(F f, Output<T>* out) : f_(std::move(f)), out_(out) {}
  void emit(T&& value, Timestamp ts) override {
    bool keep = false;
    try {
      keep = f_(static_cast<const T&>(value));
    } catch (...) {
      ctx().dead_letter({{}, describe_current_exception(), {}, ts});
      return;
    }
    if (keep) out_->emit(std::move(value), ts);
  }
  void watermark(Timestamp wm) override { out_->watermark(wm); }
  void finish() override { out_->finish(); }

 private:
  F f_;
  Output<T>* out_;
};

template <class In, class Out, class F>
class FlatMapOp final : public OperatorBase, public Output<In>, private Collector<Out> {
 public:
  FlatMapOp(F f, Output<Out>* out) : f_(std::move(f)), out_(out) {}
  void emit(In&& value, Timestamp ts) override {
    ts_ = ts;
    try {
      f_(std::move(value), static_cast<Collector<Out>&>(*this));
    } catch (...) {
      ctx().dead_letter({{}, describe_current_exception(), {}, ts});
    }
  }
  void watermark(Timestamp wm) override { out_->watermark(wm); }
  void finish() override { out_->finish(); }

 private:
  void collect(Out value) override { out_->emit(std::move(value), ts_); }
  F f_;
  Output<Out>* out_;
  Timestamp ts_ = min_timestamp;
};

/// The head of a union: passes records through (the task merges the inputs' watermarks).
template <class T>
class PassOp final : public OperatorBase, public Output<T> {
 public:
  explicit PassOp(Output<T>* out) : out_(out) {}
  void emit(T&& value, Timestamp ts) override { out_->emit(std::move(value), ts); }
  void watermark(Timestamp wm) override { out_->watermark(wm); }
  void finish() override { out_->finish(); }

 private:
  Output<T>* out_;
};

/// Re-stamps records (e.g. after a map that changed what event time means).
template <class T, class F>
class StampOp final : public OperatorBase, public Output<T> {
 public:
  StampOp(F f, Output<T>* out) : f_(std::move(f)), out_(out) {}
  void emit(T&& value, Timestamp) override {
    const Timestamp ts = f_(static_cast<const T&>(value));
    out_->emit(std::move(value), ts);
  }
  void watermark(Timestamp wm) override { out_->watermark(wm); }
  void finish() override { out_->finish(); }

 private:
  F f_;
  Output<T>* out_;
};

/// Calls `f(value, done)` for each record, which starts asynchronous work and calls
/// `done(Result<Out>)` once, from any thread. At most `limit` calls are in flight (the task
/// stops taking input meanwhile); results and watermarks leave in input order. A failed result
/// is a dead letter. Checkpoints and the end of input wait for the calls in flight.
template <class In, class Out, class F>
class AsyncMapOp final : public OperatorBase, public Output<In> {
 public:
  AsyncMapOp(F f, std::size_t limit, Output<Out>* out)
      : f_(std::move(f)),
        limit_(std::max<std::size_t>(limit, 1)),
        out_(out),
        shared_(std::make_shared<Shared>()) {}

  void emit(In&& value, Timestamp ts) override {
    drain();
    // ready() stops the task between input batches; within one batch the limit holds here.
    while (in_flight_ >= limit_) wait_for_one();
    const std::uint64_t seq = next_seq_++;
    queue_.push_back(Entry{seq, ts, false});
    ++in_flight_;
    auto shared = shared_;
    try {
      f_(std::move(value), [shared, seq](Result<Out> r) {
        // The task is woken under the mutex: once finish() or close() has cleared `task`
        // under it, no completion can still be touching the task.
        std::lock_guard lock(shared->mutex);
        shared->done.emplace_back(seq, std::move(r));
        shared->changed.notify_all();
        if (shared->task != nullptr) shared->task->wake();
      });
    } catch (...) {
      std::lock_guard lock(shared_->mutex);
      shared_->done.emplace_back(
          seq, std::unexpected(Error(Errc::actor_failed, describe_current_exception())));
    }
  }
  void watermark(Timestamp wm) override {
    queue_.push_back(Entry{0, wm, true});
    drain();
  }
  void finish() override {
    wait_for_all();
    detach();
    out_->finish();
  }
  void prepare_snapshot(CheckpointId) override { wait_for_all(); }
  bool ready(Waker& task) override {
    {
      std::lock_guard lock(shared_->mutex);
      shared_->task = &task;
    }
    drain();
    return in_flight_ < limit_;
  }
  void close() override {
    wait_for_all();
    detach();
  }

 private:
  struct Entry {
    std::uint64_t seq;
    Timestamp ts;  // the record's time, or the watermark
    bool is_watermark;
  };
  struct Shared {
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<std::pair<std::uint64_t, Result<Out>>> done;
    Waker* task = nullptr;
  };

  void detach() {
    std::lock_guard lock(shared_->mutex);
    shared_->task = nullptr;
  }

  /// Emits, in input order, everything whose turn has come.
  void drain() {
    {
      std::lock_guard lock(shared_->mutex);
      for (auto& d : shared_->done) results_.emplace(d.first, std::move(d.second));
      shared_->done.clear();
    }
    while (!queue_.empty()) {
      const Entry e = queue_.front();
      if (e.is_watermark) {
        queue_.pop_front();
        out_->watermark(e.ts);
        continue;
      }
      auto it = results_.find(e.seq);
      if (it == results_.end()) return;
      queue_.pop_front();
      --in_flight_;
      auto r = std::move(it->second);
      results_.erase(it);
      if (r) {
        out_->emit(std::move(*r), e.ts);
      } else {
        ctx().dead_letter({{}, r.error().message(), {}, e.ts});
      }
    }
  }
  /// Blocks the task until a call completes (the calls run elsewhere: never on this task).
  void wait_for_one() {
    {
      std::unique_lock lock(shared_->mutex);
      shared_->changed.wait(lock, [&] { return !shared_->done.empty(); });
    }
    drain();
  }
  void wait_for_all() {
    while (in_flight_ > 0) wait_for_one();
    drain();
  }

  F f_;
  std::size_t limit_;
  Output<Out>* out_;
  std::shared_ptr<Shared> shared_;
  std::deque<Entry> queue_;
  std::map<std::uint64_t, Result<Out>> results_;
  std::uint64_t next_seq_ = 0;
  std::size_t in_flight_ = 0;
};

}  // namespace detail
}  // namespace weft::stream
