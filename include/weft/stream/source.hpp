// Sources and sinks: the ends of a stream job. A source is polled by its task for a bounded
// number of records at a time (so checkpoints and back-pressure get a word in between).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>

#include "weft/core/clock.hpp"
#include "weft/stream/operator.hpp"

namespace weft::stream {

enum class SourceStatus : std::uint8_t {
  more,      // call again
  idle,      // nothing now; the source wakes its task (or a later poll) when there is
  finished,  // bounded input exhausted
};

/// What a source emits into. `emit(value)` lets the job's timestamp assigner stamp the record;
/// `emit(value, ts)` gives the event time directly.
template <class T>
class SourceOutput {
 public:
  virtual ~SourceOutput() = default;
  virtual void emit(T&& value) = 0;
  virtual void emit(T&& value, Timestamp ts) = 0;
  /// Wakes the source's task from another thread (after poll() returned idle).
  virtual void request_poll() = 0;
};

/// A source instance (one per parallel subtask). Stateful sources (offsets) override
/// snapshot/restore from OperatorBase; restore gets the blobs of all old subtasks.
template <class T>
class Source : public OperatorBase {
 public:
  virtual SourceStatus poll(SourceOutput<T>& out, std::size_t max_records) = 0;
};

/// A sink instance: the end of a chain.
template <class T>
class Sink : public OperatorBase, public Output<T> {
 public:
  void watermark(Timestamp) override {}
  void finish() override {}
};

/// How event time and watermarks come from the records (as Flink's WatermarkStrategy).
template <class T>
struct WatermarkStrategy {
  /// Event time of a record; empty: records keep the time the source gave them.
  std::function<Timestamp(const T&)> timestamp;
  /// Watermarks trail the highest timestamp seen by this much. Empty: no watermarks
  /// (processing-time jobs).
  std::optional<Duration> out_of_orderness;
  /// A source subtask with no record for this long is marked idle, so downstream operators
  /// stop waiting for its watermark until it sends again.
  std::optional<Duration> idleness;
  /// Watermarks after every record (punctuated) instead of after every polled batch: exact
  /// lateness at a per-record cost; for tests and low-rate sources.
  bool per_record = false;
  /// Watermark alignment (as Flink's): a source subtask whose watermark is further than this
  /// ahead of the lowest watermark of the job's aligned sources stops polling until the others
  /// catch up. Without it, a subtask the scheduler favours can run arbitrarily far ahead in
  /// event time, and every window downstream stays open until the slowest one catches up.
  /// Sources that are idle, finished, or have no watermark yet do not hold the others back.
  std::optional<Duration> max_drift;

  static WatermarkStrategy no_watermarks() { return {}; }
  static WatermarkStrategy bounded_out_of_orderness(Duration delay,
                                                    std::function<Timestamp(const T&)> ts = {}) {
    return {std::move(ts), delay, std::nullopt, false, std::nullopt};
  }
  static WatermarkStrategy monotonous(std::function<Timestamp(const T&)> ts = {}) {
    return {std::move(ts), Duration{0}, std::nullopt, false, std::nullopt};
  }
  [[nodiscard]] WatermarkStrategy with_per_record_watermarks() const {
    auto copy = *this;
    copy.per_record = true;
    return copy;
  }
  [[nodiscard]] WatermarkStrategy with_idleness(Duration idle) const {
    auto copy = *this;
    copy.idleness = idle;
    return copy;
  }
  [[nodiscard]] WatermarkStrategy with_alignment(Duration drift) const {
    auto copy = *this;
    copy.max_drift = drift;
    return copy;
  }
};

}  // namespace weft::stream
