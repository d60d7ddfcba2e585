// The runtime state of one job: its tasks, channels, runners and checkpoint coordinator.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "weft/actor/actor_ref.hpp"
#include "weft/stream/detail/graph.hpp"
#include "weft/stream/job.hpp"

namespace weft {
class ActorSystem;
}

namespace weft::stream::detail {

/// A turn for a task's runner actor.
struct Turn {};

class JobState final : public JobRuntime {
 public:
  JobState(ActorSystem& system, JobOptions options);
  ~JobState() override;

  // JobRuntime
  void schedule(TaskBase& task) override;
  [[nodiscard]] const Clock& clock() const override;
  [[nodiscard]] std::uint32_t max_parallelism() const override { return options_.max_parallelism; }
  void persist(TaskBase& task, CheckpointId id,
               std::vector<std::pair<std::string, std::vector<std::byte>>> blobs,
               Result<void> snapshotted) override;
  void dead_letter(DeadLetter letter) override;
  void count_late(std::uint64_t n) override { late_.fetch_add(n, std::memory_order_relaxed); }
  void count_records_in(std::uint64_t n) override {
    records_in_.fetch_add(n, std::memory_order_relaxed);
  }
  bool align_source(TaskBase& task, std::optional<Timestamp> watermark,
                    Timestamp max_drift_ms) override;
  void task_finished(TaskBase& task) override;
  void task_failed(TaskBase& task, Error error) override;

  /// Plans the graph into tasks, restores state, spawns the runners and starts the tasks.
  Result<void> start(Graph& graph, const std::shared_ptr<JobState>& self);

  Result<void> wait_for(std::optional<Duration> timeout);
  [[nodiscard]] bool is_done() const;
  void cancel();
  [[nodiscard]] bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  Result<CheckpointId> trigger_checkpoint();
  Result<std::filesystem::path> savepoint(const std::string& name, Duration timeout);
  [[nodiscard]] JobMetrics metrics() const;
  [[nodiscard]] std::vector<DeadLetter> dead_letters() const;
  [[nodiscard]] TaskBase& task(std::size_t slot) { return *tasks_[slot]; }

 private:
  struct Pending {
    CheckpointId id = 0;
    TimePoint started;
    std::size_t acks = 0;
    std::optional<Error> error;
  };

  /// A task's state for a checkpoint, waiting for the writer thread.
  struct StateWrite {
    TaskBase* task = nullptr;
    CheckpointId id = 0;
    std::vector<std::pair<std::string, std::vector<std::byte>>> blobs;
    Result<void> snapshotted;
  };

  Result<void> plan(Graph& graph);
  /// The writer thread: writes each task's blobs, then acknowledges the task.
  void write_states();
  /// Stops the writer thread (what it has not written yet never completes its checkpoint).
  void stop_writer();
  Result<void> write_state(const StateWrite& write);
  void acknowledge(CheckpointId id, Result<void> written);
  Result<void> restore_state();
  void complete(Pending& pending);
  [[nodiscard]] std::filesystem::path checkpoint_path(CheckpointId id) const;
  void finish(std::optional<Error> error);

  ActorSystem& system_;
  JobOptions options_;
  std::vector<std::shared_ptr<void>> channels_;
  std::vector<std::unique_ptr<TaskBase>> tasks_;
  std::vector<ActorRef<Turn>> runners_;
  std::vector<std::pair<std::string, std::uint32_t>> stateful_;  // uid, parallelism
  ActorRef<Turn> coordinator_;

  /// A source task under watermark alignment: its last reported watermark, its drift, and
  /// whether it waits for the lowest watermark to come within half the drift.
  struct AlignedSource {
    TaskBase* task = nullptr;
    std::optional<Timestamp> watermark;
    Timestamp max_drift_ms = 0;
    bool waiting = false;
  };
  [[nodiscard]] std::optional<Timestamp> lowest_aligned() const;  // under align_mutex_

  std::atomic<bool> cancelled_{false};
  std::atomic<std::uint64_t> records_in_{0};
  std::atomic<std::uint64_t> late_{0};
  std::atomic<std::uint64_t> dead_count_{0};

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t finished_tasks_ = 0;
  bool done_ = false;
  std::optional<Error> error_;
  std::deque<DeadLetter> dead_letters_;
  CheckpointId last_id_ = 0;
  std::optional<Pending> pending_;
  std::uint64_t completed_count_ = 0;
  std::uint64_t failed_count_ = 0;
  std::optional<CheckpointId> last_completed_;
  Duration last_duration_{0};
  std::optional<CheckpointId> restored_from_;
  std::deque<CheckpointId> retained_;

  // Apart from mutex_: sources report here every polled batch, beside checkpoint I/O.
  std::mutex align_mutex_;
  std::vector<AlignedSource> aligned_;

  // The checkpoint writer: one thread per job that checkpoints, started with the first state.
  std::mutex write_mutex_;
  std::condition_variable write_ready_;
  std::deque<StateWrite> writes_;
  bool stop_writing_ = false;
  std::thread writer_;
};

}  // namespace weft::stream::detail
