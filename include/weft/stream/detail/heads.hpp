// The typed ends of a task's chain: the head that feeds it (a source, or the channels from
// upstream tasks) and the exchange that sends its output to other tasks.
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "weft/stream/detail/task.hpp"
#include "weft/stream/source.hpp"

namespace weft::stream::detail {

enum class Partitioning : std::uint8_t { forward, rebalance, broadcast, hash };

/// Copies each record to several chained consumers (a stream used more than once).
template <class T>
class Tee final : public OperatorBase, public Output<T> {
 public:
  explicit Tee(std::vector<Output<T>*> outs) : outs_(std::move(outs)) {}
  void emit(T&& value, Timestamp ts) override {
    for (std::size_t i = 0; i + 1 < outs_.size(); ++i) outs_[i]->emit(T(value), ts);
    outs_.back()->emit(std::move(value), ts);
  }
  void watermark(Timestamp wm) override {
    for (auto* o : outs_) o->watermark(wm);
  }
  void finish() override {
    for (auto* o : outs_) o->finish();
  }

 private:
  std::vector<Output<T>*> outs_;
};

template <class T>
class Exchange final : public ExchangeBase, public Output<T> {
 public:
  Exchange(std::vector<Channel<T>*> channels, Partitioning mode,
           std::function<std::uint64_t(const T&)> key_hash, std::uint32_t max_parallelism,
           std::size_t chunk_records)
      : channels_(std::move(channels)),
        buffers_(channels_.size()),
        mode_(mode),
        key_hash_(std::move(key_hash)),
        max_parallelism_(max_parallelism),
        chunk_records_(chunk_records) {}

  void emit(T&& value, Timestamp ts) override {
    switch (mode_) {
      case Partitioning::forward:
        put(0, std::move(value), ts);
        break;
      case Partitioning::rebalance:
        put(next_++ % channels_.size(), std::move(value), ts);
        break;
      case Partitioning::broadcast:
        for (std::size_t i = 0; i + 1 < channels_.size(); ++i) put(i, T(value), ts);
        put(channels_.size() - 1, std::move(value), ts);
        break;
      case Partitioning::hash: {
        const auto group = key_group_of(key_hash_(value), max_parallelism_);
        put(subtask_of_key_group(group, static_cast<std::uint32_t>(channels_.size()),
                                 max_parallelism_),
            std::move(value), ts);
        break;
      }
    }
  }
  void watermark(Timestamp wm) override { control(ChunkKind::watermark, wm); }
  void finish() override {}  // the task ends the channels after the whole chain finished

  bool writable() override {
    bool all = true;
    for (auto* c : channels_) all = c->writable() && all;
    return all;
  }
  void flush() override {
    for (std::size_t i = 0; i < channels_.size(); ++i) send(i);
  }
  void barrier(CheckpointId id) override {
    control(ChunkKind::barrier, static_cast<std::int64_t>(id));
  }
  void end() override { control(ChunkKind::end, 0); }
  void idle(bool is_idle) override {
    // Activity resumes with the next watermark; only the idle transition needs a signal.
    if (is_idle) control(ChunkKind::idle, 0);
  }

 private:
  void put(std::size_t i, T&& value, Timestamp ts) {
    auto& b = buffers_[i];
    if (b.values.empty()) {
      b.values.reserve(chunk_records_);
      b.timestamps.reserve(chunk_records_);
    }
    b.values.push_back(std::move(value));
    b.timestamps.push_back(ts);
    if (b.values.size() >= chunk_records_) send(i);
  }
  void send(std::size_t i) {
    auto& b = buffers_[i];
    if (b.values.empty()) return;
    Chunk<T> chunk;
    chunk.kind = ChunkKind::data;
    chunk.values = std::move(b.values);
    chunk.timestamps = std::move(b.timestamps);
    b.values = {};
    b.timestamps = {};
    channels_[i]->push(std::move(chunk));
  }
  void control(ChunkKind kind, std::int64_t value) {
    for (std::size_t i = 0; i < channels_.size(); ++i) {
      send(i);
      Chunk<T> chunk;
      chunk.kind = kind;
      chunk.control = value;
      channels_[i]->push(std::move(chunk));
    }
  }

  std::vector<Channel<T>*> channels_;
  std::vector<Chunk<T>> buffers_;
  Partitioning mode_;
  std::function<std::uint64_t(const T&)> key_hash_;
  std::uint32_t max_parallelism_;
  std::size_t chunk_records_;
  std::size_t next_ = 0;
};

/// Stamps records, tracks the highest event time and emits watermarks for a source task.
template <class T>
class SourceTask final : public TaskBase, private SourceOutput<T> {
 public:
  SourceTask(JobRuntime& job, std::string name, std::uint32_t subtask, std::uint32_t parallelism,
             Source<T>& source, Output<T>& head, WatermarkStrategy<T> strategy)
      : TaskBase(job, std::move(name), subtask, parallelism),
        source_(source),
        head_(head),
        strategy_(std::move(strategy)) {}

  [[nodiscard]] bool is_source() const override { return true; }

 private:
  Step run_work(std::size_t budget) override {
    if (auto id = take_checkpoint_request()) checkpoint(*id);
    const TimePoint now = job().clock().now();
    while (budget > 0) {
      if (!outputs_writable() || ahead_of_aligned()) {
        flush_outputs();
        return Step::waiting;
      }
      emitted_ = 0;
      const auto status = source_.poll(*this, std::min<std::size_t>(budget, 1024));
      budget -= std::min(budget, std::max<std::size_t>(emitted_, 1));
      if (emitted_ > 0) {
        job().count_records_in(emitted_);
        last_record_ = now;
        if (idle_) {
          idle_ = false;
          idle_outputs(false);
        }
      }
      advance_watermark();
      if (status == SourceStatus::finished) {
        head_.watermark(max_timestamp);
        head_.finish();
        end_outputs();
        release_alignment();
        return Step::finished;
      }
      if (status == SourceStatus::idle) {
        check_idleness(now);
        flush_outputs();
        return Step::waiting;
      }
    }
    flush_outputs();
    return Step::more;
  }

  void check_idleness(TimePoint now) {
    if (!strategy_.idleness || idle_) return;
    if (!last_record_) last_record_ = now;
    if (now - *last_record_ >= *strategy_.idleness) {
      idle_ = true;
      idle_outputs(true);
      release_alignment();
    } else {
      wakeup_at(*last_record_ + *strategy_.idleness);
    }
  }

  /// Watermark alignment: whether this subtask is too far ahead of the other aligned sources
  /// to poll now (the job wakes it when they move). Asks the job only when the answer can have
  /// changed: this watermark moved, or it was ahead last time.
  [[nodiscard]] bool ahead_of_aligned() {
    if (!strategy_.max_drift) return false;
    const std::optional<Timestamp> wm =
        idle_ || watermark_ == min_timestamp ? std::nullopt : std::optional(watermark_);
    if (wm == reported_ && !ahead_) return false;
    reported_ = wm;
    const auto drift =
        std::chrono::duration_cast<std::chrono::milliseconds>(*strategy_.max_drift).count();
    ahead_ = job().align_source(*this, wm, drift);
    return ahead_;
  }

  /// An idle or finished subtask holds no other aligned source back.
  void release_alignment() {
    if (!strategy_.max_drift || !reported_) return;
    reported_.reset();
    ahead_ = job().align_source(*this, std::nullopt, 0);
  }

  void advance_watermark() {
    if (!strategy_.out_of_orderness || max_ts_ == min_timestamp) return;
    const auto delay =
        std::chrono::duration_cast<std::chrono::milliseconds>(*strategy_.out_of_orderness).count();
    const Timestamp wm = max_ts_ - delay - 1;
    if (wm > watermark_) {
      watermark_ = wm;
      head_.watermark(wm);
    }
  }

  void emit(T&& value) override {
    const Timestamp ts = strategy_.timestamp ? strategy_.timestamp(value) : min_timestamp;
    emit(std::move(value), ts);
  }
  void emit(T&& value, Timestamp ts) override {
    ++emitted_;
    if (ts > max_ts_) max_ts_ = ts;
    head_.emit(std::move(value), ts);
    if (strategy_.per_record) advance_watermark();
  }
  void request_poll() override { TaskBase::wake(); }

  Source<T>& source_;
  Output<T>& head_;
  WatermarkStrategy<T> strategy_;
  std::size_t emitted_ = 0;
  Timestamp max_ts_ = min_timestamp;
  Timestamp watermark_ = min_timestamp;
  std::optional<TimePoint> last_record_;
  bool idle_ = false;
  std::optional<Timestamp> reported_;  // to watermark alignment
  bool ahead_ = false;
};

/// Reads the channels from upstream tasks: the minimum watermark over active channels moves
/// event time; a barrier blocks its channel until it has arrived on all of them (alignment).
template <class T>
class InputTask final : public TaskBase {
 public:
  InputTask(JobRuntime& job, std::string name, std::uint32_t subtask, std::uint32_t parallelism,
            std::vector<Channel<T>*> channels, Output<T>& head)
      : TaskBase(job, std::move(name), subtask, parallelism), head_(head) {
    inputs_.reserve(channels.size());
    for (auto* c : channels) inputs_.push_back(Input{c});
  }

 private:
  struct Input {
    Channel<T>* channel;
    Timestamp watermark = min_timestamp;
    bool idle = false;
    bool blocked = false;  // delivered the barrier of the pending checkpoint
    bool ended = false;
  };

  Step run_work(std::size_t budget) override {
    Chunk<T> chunk;
    while (budget > 0) {
      bool progressed = false;
      for (std::size_t n = 0; n < inputs_.size() && budget > 0; ++n) {
        auto& in = inputs_[next_];
        next_ = (next_ + 1) % inputs_.size();
        if (in.blocked || in.ended) continue;
        if (!outputs_writable()) {
          flush_outputs();
          return Step::waiting;
        }
        if (!in.channel->pop(chunk)) continue;
        progressed = true;
        switch (chunk.kind) {
          case ChunkKind::data: {
            const std::size_t count = chunk.values.size();
            for (std::size_t i = 0; i < count; ++i) {
              head_.emit(std::move(chunk.values[i]), chunk.timestamps[i]);
            }
            budget -= std::min(budget, count);
            break;
          }
          case ChunkKind::watermark:
            in.idle = false;
            in.watermark = std::max(in.watermark, chunk.control);
            update_watermark();
            break;
          case ChunkKind::idle:
            in.idle = true;
            update_watermark();
            break;
          case ChunkKind::barrier:
            in.blocked = true;
            pending_ = static_cast<CheckpointId>(chunk.control);
            maybe_checkpoint();
            break;
          case ChunkKind::end:
            in.ended = true;
            if (std::ranges::all_of(inputs_, [](const Input& i) { return i.ended; })) {
              head_.watermark(max_timestamp);
              head_.finish();
              end_outputs();
              return Step::finished;
            }
            maybe_checkpoint();
            update_watermark();
            break;
        }
      }
      if (!progressed) {
        flush_outputs();
        return Step::waiting;
      }
    }
    flush_outputs();
    return Step::more;
  }

  void maybe_checkpoint() {
    if (!pending_) return;
    for (const auto& in : inputs_) {
      if (!in.blocked && !in.ended) return;
    }
    checkpoint(*pending_);
    pending_.reset();
    for (auto& in : inputs_) in.blocked = false;
  }

  void update_watermark() {
    Timestamp low = max_timestamp;
    bool any_active = false;
    for (const auto& in : inputs_) {
      if (in.ended || in.idle) continue;
      any_active = true;
      low = std::min(low, in.watermark);
    }
    if (!any_active) {
      if (!std::ranges::all_of(inputs_, [](const Input& i) { return i.ended; }) && !idle_) {
        idle_ = true;
        idle_outputs(true);
      }
      return;
    }
    idle_ = false;
    if (low > watermark_) {
      watermark_ = low;
      head_.watermark(low);
    }
  }

  Output<T>& head_;
  std::vector<Input> inputs_;
  std::size_t next_ = 0;
  std::optional<CheckpointId> pending_;
  Timestamp watermark_ = min_timestamp;
  bool idle_ = false;
};

}  // namespace weft::stream::detail
