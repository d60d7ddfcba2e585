// Tasks: one per parallel instance of a chain of fused operators. A task runs in turns on the
// actor system's scheduler; between turns it waits for input, for space downstream, or for a
// processing-time wakeup. Checkpoint barriers are aligned here.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "weft/core/clock.hpp"
#include "weft/core/result.hpp"
#include "weft/stream/detail/channel.hpp"
#include "weft/stream/operator.hpp"

namespace weft::stream::detail {

class TaskBase;

/// The job as its tasks see it (implemented in src/stream/job.cpp).
class JobRuntime {
 public:
  virtual ~JobRuntime() = default;
  virtual void schedule(TaskBase& task) = 0;
  [[nodiscard]] virtual const Clock& clock() const = 0;
  [[nodiscard]] virtual std::uint32_t max_parallelism() const = 0;
  /// Writes a task's state blobs (uid, blob) for checkpoint `id` into the checkpoint, in the
  /// background, then counts the task as acknowledged (`snapshotted` failed, or a write did:
  /// the checkpoint is aborted). The task goes on meanwhile: its barrier is already forwarded.
  virtual void persist(TaskBase& task, CheckpointId id,
                       std::vector<std::pair<std::string, std::vector<std::byte>>> blobs,
                       Result<void> snapshotted) = 0;
  virtual void dead_letter(DeadLetter letter) = 0;
  virtual void count_late(std::uint64_t n) = 0;
  virtual void count_records_in(std::uint64_t n) = 0;
  /// Watermark alignment of the sources that ask for it. Records `task`'s watermark (nullopt:
  /// the task holds no one back — idle, finished, or no watermark yet) and says whether the
  /// task is more than `max_drift_ms` ahead of the lowest one: then it must stop polling, and
  /// it is woken once the lowest watermark moves.
  virtual bool align_source(TaskBase& task, std::optional<Timestamp> watermark,
                            Timestamp max_drift_ms) = 0;
  virtual void task_finished(TaskBase& task) = 0;
  virtual void task_failed(TaskBase& task, Error error) = 0;
};

/// The outgoing side of a chain toward other tasks: buffers records per channel.
class ExchangeBase {
 public:
  virtual ~ExchangeBase() = default;
  /// Whether every channel has room for more (registers for a wakeup if not).
  [[nodiscard]] virtual bool writable() = 0;
  /// Sends partially filled chunks (end of a turn: keeps latency low).
  virtual void flush() = 0;
  virtual void barrier(CheckpointId id) = 0;
  virtual void end() = 0;
  virtual void idle(bool is_idle) = 0;
};

class TaskBase : public Waker {
 public:
  enum class Step : std::uint8_t { more, waiting, finished };

  TaskBase(JobRuntime& job, std::string name, std::uint32_t subtask, std::uint32_t parallelism);
  ~TaskBase() override;

  /// Schedules a turn unless one is already pending (any thread).
  void wake() final;
  /// One turn (on the scheduler). Returns when to be woken for processing time, if ever.
  Step run_turn(std::optional<TimePoint>& next_wakeup);

  /// Adds a chain member; the task owns it and opens it with this task's context.
  void add_operator(std::unique_ptr<OperatorBase> op, std::string uid);
  void add_exchange(std::unique_ptr<ExchangeBase> exchange);
  /// Restores every stateful operator of the chain from the checkpoint's blobs.
  Result<void> restore(
      const std::function<std::vector<std::vector<std::byte>>(const std::string& uid)>& blobs);

  /// Sources only: inject a barrier for checkpoint `id` at the next opportunity.
  void request_checkpoint(CheckpointId id);
  void notify_checkpoint_complete(CheckpointId id);
  /// Closes every operator of the chain (once). The job closes all tasks before it destroys
  /// any: a close unhooks callbacks (a queue's waker) that other threads may still call into
  /// this task, which must then still be whole.
  void close_operators();

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] std::uint32_t subtask() const { return subtask_; }
  [[nodiscard]] virtual bool is_source() const { return false; }
  [[nodiscard]] JobRuntime& job() const { return job_; }
  /// The job's index of this task (its runner).
  [[nodiscard]] std::size_t slot() const { return slot_; }
  void set_slot(std::size_t slot) { slot_ = slot; }

 protected:
  /// The work of a turn: process up to `budget` records.
  virtual Step run_work(std::size_t budget) = 0;

  [[nodiscard]] std::optional<CheckpointId> take_checkpoint_request();
  /// Snapshots every operator, forwards the barrier, hands the blobs to the job to persist.
  void checkpoint(CheckpointId id);
  [[nodiscard]] bool outputs_writable();
  void flush_outputs();
  void end_outputs();
  void idle_outputs(bool is_idle);
  /// Asks for a turn at or after `at` (idleness, processing-time timers).
  void wakeup_at(TimePoint at);
  void fail(Error error);

 private:
  class Context;
  struct Member {
    std::unique_ptr<OperatorBase> op;
    std::string uid;
    std::unique_ptr<Context> ctx;
  };

  JobRuntime& job_;
  std::string name_;
  std::uint32_t subtask_;
  std::uint32_t parallelism_;
  std::atomic<bool> scheduled_{false};
  std::vector<Member> members_;
  std::vector<std::unique_ptr<ExchangeBase>> exchanges_;
  std::optional<TimePoint> wakeup_;
  std::mutex signal_mutex_;
  std::optional<CheckpointId> requested_;
  std::vector<CheckpointId> completed_;
  std::size_t slot_ = 0;
  bool failed_ = false;
  bool finished_ = false;
  bool closed_ = false;
};

}  // namespace weft::stream::detail
