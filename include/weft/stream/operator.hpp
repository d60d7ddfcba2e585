// Operators are fused into chains inside one task: each pushes records straight into the next
// one's Output, so a map after a source costs one virtual call per record, not a queue hop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "weft/core/clock.hpp"
#include "weft/core/codec_io.hpp"
#include "weft/core/result.hpp"
#include "weft/stream/types.hpp"

namespace weft::stream {

/// Where an operator sends what it produces. Records carry their event time.
template <class T>
class Output {
 public:
  virtual ~Output() = default;
  virtual void emit(T&& value, Timestamp ts) = 0;
  void emit(const T& value, Timestamp ts) { emit(T(value), ts); }
  /// Event time has reached `wm`: no record with ts <= wm follows.
  virtual void watermark(Timestamp wm) = 0;
  /// The input has ended: flush what is buffered (windows fire as at the end of time).
  virtual void finish() = 0;
};

class OperatorContext;
namespace detail {
class Waker;
}

/// The lifecycle and checkpoint hooks every operator instance has.
class OperatorBase {
 public:
  virtual ~OperatorBase() = default;
  virtual void open(OperatorContext& ctx) { ctx_ = &ctx; }
  /// Operators with state write it here when a checkpoint barrier passes them.
  [[nodiscard]] virtual bool has_state() const { return false; }
  virtual Result<void> snapshot(CheckpointId, Writer&) { return {}; }
  /// The blobs written by every instance of this operator in the checkpoint being restored,
  /// indexed by the old subtask: keyed operators take the key groups they own now, others
  /// take their own index.
  virtual Result<void> restore(std::span<const std::vector<std::byte>> blobs) {
    (void)blobs;
    return {};
  }
  /// The checkpoint has completed everywhere: transactional sinks commit here.
  virtual void notify_checkpoint_complete(CheckpointId) {}
  /// Called on every operator of a chain before any of them snapshots: an operator with work
  /// in flight (async map) finishes it here, so the snapshots downstream include its output.
  virtual void prepare_snapshot(CheckpointId) {}
  /// False while the operator cannot take more input (an acknowledged sink with its limit of
  /// messages out): the task then stops reading input, and the operator wakes `task` later.
  [[nodiscard]] virtual bool ready(detail::Waker& task) {
    (void)task;
    return true;
  }
  /// Processing time advanced (the task wakes operators that asked for it).
  virtual void on_processing_time(TimePoint) {}
  virtual void close() {}

 protected:
  [[nodiscard]] OperatorContext& ctx() const { return *ctx_; }

 private:
  OperatorContext* ctx_ = nullptr;
};

/// What an operator instance knows about where it runs.
class OperatorContext {
 public:
  virtual ~OperatorContext() = default;
  [[nodiscard]] virtual const std::string& name() const = 0;
  [[nodiscard]] virtual std::uint32_t subtask() const = 0;
  [[nodiscard]] virtual std::uint32_t parallelism() const = 0;
  [[nodiscard]] virtual std::uint32_t max_parallelism() const = 0;
  [[nodiscard]] virtual const Clock& clock() const = 0;
  /// Routes a record that could not be processed to the job's dead letters (counted); a job
  /// configured with fail_on_dead_letter fails instead.
  virtual void dead_letter(DeadLetter letter) = 0;
  /// Counts (and routes to the late side output) a record that came after its window closed.
  virtual void count_late(std::uint64_t n = 1) = 0;
  /// Asks for on_processing_time() to be called at or after `at`.
  virtual void request_wakeup(TimePoint at) = 0;

  /// Whether this instance owns `key_group` (keyed operators filter restored state with it).
  [[nodiscard]] bool owns_key_group(std::uint32_t key_group) const {
    return subtask_of_key_group(key_group, parallelism(), max_parallelism()) == subtask();
  }
};

}  // namespace weft::stream
