// Schedulers run actor cells that have work: a work-stealing pool of worker threads, or a
// seeded single-threaded one for reproducible tests.
#pragma once

#include <cstdint>
#include <memory>

namespace weft::detail {

class ActorCellBase;

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  /// Queues a cell (the caller gave it a reference for the scheduler to hold).
  virtual void schedule(ActorCellBase* cell) = 0;
  /// Stops the workers after their current turn and joins them; queued cells are abandoned
  /// (ActorCellBase::abandon), as are cells scheduled after it.
  virtual void shutdown() = 0;
  [[nodiscard]] virtual unsigned workers() const noexcept = 0;
};

std::unique_ptr<Scheduler> make_work_stealing_scheduler(unsigned workers);

/// Runs cells only when asked to, on the calling thread, picking the next runnable cell with a
/// seeded RNG: the same seed and the same inputs give the same interleaving.
class DeterministicScheduler final : public Scheduler {
 public:
  explicit DeterministicScheduler(std::uint64_t seed);
  ~DeterministicScheduler() override;
  void schedule(ActorCellBase* cell) override;
  void shutdown() override;
  [[nodiscard]] unsigned workers() const noexcept override { return 1; }

  /// Runs one turn of one runnable cell; false when none is runnable.
  bool run_one();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Runs a cell's turn and either requeues it or drops the scheduler's reference.
/// Returns true if the cell must be queued again.
bool run_cell_turn(ActorCellBase* cell);

}  // namespace weft::detail
