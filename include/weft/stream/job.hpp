// A running stream job: its tasks run on an actor system's scheduler; a coordinator injects
// checkpoint barriers at the sources and completes a checkpoint once every task has written
// its state (asynchronous barrier snapshotting, as in Flink).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "weft/core/clock.hpp"
#include "weft/core/result.hpp"
#include "weft/stream/types.hpp"

namespace weft {
class ActorSystem;
}

namespace weft::stream {

struct JobOptions {
  std::string name = "job";
  /// Parallelism of operators that do not set their own.
  std::uint32_t parallelism = 1;
  /// Key groups: the most instances a keyed operator can ever be rescaled to.
  std::uint32_t max_parallelism = default_max_parallelism;
  /// Periodic checkpoints; empty: only on request (Job::checkpoint, Job::savepoint).
  std::optional<Duration> checkpoint_interval;
  /// Where checkpoints go (chk-<id>/ per checkpoint); required for checkpoints.
  std::filesystem::path checkpoint_dir;
  /// Completed checkpoints kept; older ones are deleted.
  std::size_t retained_checkpoints = 2;
  /// Resume from the latest completed checkpoint in checkpoint_dir, if there is one.
  bool resume = true;
  /// Restore from this checkpoint or savepoint directory instead (an error if unreadable).
  std::optional<std::filesystem::path> restore_from;
  /// Records per chunk between tasks, and chunks a channel holds before it back-pressures.
  std::size_t chunk_records = 512;
  std::size_t channel_chunks = 8;
  /// A bad record (parse failure, a user function that threw) fails the job instead of going
  /// to the dead letters.
  bool fail_on_dead_letter = false;
  /// Called (on a task's thread) for every dead letter.
  std::function<void(const DeadLetter&)> on_dead_letter;
  /// The most recent dead letters Job::dead_letters() keeps.
  std::size_t dead_letters_kept = 1000;
};

struct JobMetrics {
  std::uint64_t records_in = 0;  // records the sources emitted
  std::uint64_t dead_letters = 0;
  std::uint64_t late_records = 0;
  std::uint64_t checkpoints_completed = 0;
  std::uint64_t checkpoints_failed = 0;
  std::optional<CheckpointId> last_checkpoint;
  Duration last_checkpoint_duration{0};
  /// The checkpoint the job was restored from, if any.
  std::optional<CheckpointId> restored_from;
};

namespace detail {
class JobState;
}

class Job {
 public:
  explicit Job(std::shared_ptr<detail::JobState> state);
  /// Cancels the job if it is still running.
  ~Job();
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  /// Blocks until every task has finished (bounded input) or the job failed or was cancelled.
  Result<void> wait();
  /// As wait(), but gives up after `timeout` (returns Errc::timeout).
  Result<void> wait_for(Duration timeout);
  [[nodiscard]] bool is_done() const;
  void cancel();

  /// Starts a checkpoint now; returns its id. Completion shows in metrics().
  Result<CheckpointId> checkpoint();
  /// Takes a checkpoint and keeps it under checkpoint_dir/savepoints/<name> (never deleted by
  /// retention); blocks until it completed or failed, up to `timeout`.
  Result<std::filesystem::path> savepoint(const std::string& name, Duration timeout);

  [[nodiscard]] JobMetrics metrics() const;
  [[nodiscard]] std::vector<DeadLetter> dead_letters() const;

 private:
  std::shared_ptr<detail::JobState> state_;
};

}  // namespace weft::stream
