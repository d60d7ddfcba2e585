#include <mutex>
#include <random>
#include <vector>

#include "actor/scheduler.hpp"
#include "weft/actor/detail/actor_cell_base.hpp"

namespace weft::detail {

bool run_cell_turn(ActorCellBase* cell) {
  if (cell->run_turn()) return true;
  cell->release();
  return false;
}

struct DeterministicScheduler::State {
  std::mutex mutex;
  std::vector<ActorCellBase*> runnable;
  std::mt19937_64 rng;
  bool stopped = false;
};

DeterministicScheduler::DeterministicScheduler(std::uint64_t seed)
    : state_(std::make_unique<State>()) {
  state_->rng.seed(seed);
}

DeterministicScheduler::~DeterministicScheduler() {
  shutdown();
}

void DeterministicScheduler::schedule(ActorCellBase* cell) {
  std::unique_lock lock(state_->mutex);
  if (state_->stopped) {
    lock.unlock();
    cell->abandon();
    return;
  }
  state_->runnable.push_back(cell);
}

bool DeterministicScheduler::run_one() {
  ActorCellBase* cell;
  {
    std::lock_guard lock(state_->mutex);
    auto& r = state_->runnable;
    if (r.empty()) return false;
    const auto i = static_cast<std::size_t>(state_->rng() % r.size());
    cell = r[i];
    r[i] = r.back();
    r.pop_back();
  }
  if (run_cell_turn(cell)) schedule(cell);
  return true;
}

void DeterministicScheduler::shutdown() {
  std::vector<ActorCellBase*> left;
  {
    std::lock_guard lock(state_->mutex);
    state_->stopped = true;
    left.swap(state_->runnable);
  }
  for (auto* c : left) c->abandon();
}

}  // namespace weft::detail
