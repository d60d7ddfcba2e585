#include "weft/stream/detail/task.hpp"

#include <utility>

namespace weft::stream::detail {

class TaskBase::Context final : public OperatorContext {
 public:
  Context(TaskBase& task, std::string name) : task_(task), name_(std::move(name)) {}
  [[nodiscard]] const std::string& name() const override { return name_; }
  [[nodiscard]] std::uint32_t subtask() const override { return task_.subtask_; }
  [[nodiscard]] std::uint32_t parallelism() const override { return task_.parallelism_; }
  [[nodiscard]] std::uint32_t max_parallelism() const override {
    return task_.job_.max_parallelism();
  }
  [[nodiscard]] const Clock& clock() const override { return task_.job_.clock(); }
  void dead_letter(DeadLetter letter) override {
    if (letter.operator_name.empty()) letter.operator_name = name_;
    task_.job_.dead_letter(std::move(letter));
  }
  void count_late(std::uint64_t n) override { task_.job_.count_late(n); }
  void request_wakeup(TimePoint at) override { task_.wakeup_at(at); }

 private:
  TaskBase& task_;
  std::string name_;
};

TaskBase::TaskBase(JobRuntime& job, std::string name, std::uint32_t subtask,
                   std::uint32_t parallelism)
    : job_(job), name_(std::move(name)), subtask_(subtask), parallelism_(parallelism) {}

TaskBase::~TaskBase() {
  close_operators();
}

void TaskBase::close_operators() {
  if (std::exchange(closed_, true)) return;
  for (auto& m : members_) m.op->close();
}

void TaskBase::wake() {
  if (!scheduled_.exchange(true, std::memory_order_acq_rel)) job_.schedule(*this);
}

TaskBase::Step TaskBase::run_turn(std::optional<TimePoint>& next_wakeup) {
  // Cleared before looking at any input, so a wake() during the turn schedules another.
  scheduled_.store(false, std::memory_order_release);
  if (failed_ || finished_) return Step::finished;
  std::vector<CheckpointId> completed;
  {
    std::lock_guard lock(signal_mutex_);
    completed.swap(completed_);
  }
  for (const auto id : completed) {
    for (auto& m : members_) m.op->notify_checkpoint_complete(id);
  }
  if (wakeup_ && job_.clock().now() >= *wakeup_) {
    wakeup_.reset();
    const TimePoint now = job_.clock().now();
    for (auto& m : members_) m.op->on_processing_time(now);
  }
  Step step = Step::finished;
  try {
    step = run_work(4096);
  } catch (const std::exception& e) {
    fail(Error(Errc::internal, "task " + name_ + " failed: " + e.what()));
    return Step::finished;
  }
  if (failed_) return Step::finished;
  if (step == Step::finished) {
    finished_ = true;
    job_.task_finished(*this);
  }
  next_wakeup = wakeup_;
  return step;
}

void TaskBase::add_operator(std::unique_ptr<OperatorBase> op, std::string uid) {
  auto ctx = std::make_unique<Context>(*this, uid);
  op->open(*ctx);
  members_.push_back(Member{std::move(op), std::move(uid), std::move(ctx)});
}

void TaskBase::add_exchange(std::unique_ptr<ExchangeBase> exchange) {
  exchanges_.push_back(std::move(exchange));
}

Result<void> TaskBase::restore(
    const std::function<std::vector<std::vector<std::byte>>(const std::string& uid)>& blobs) {
  for (auto& m : members_) {
    if (!m.op->has_state()) continue;
    const auto found = blobs(m.uid);
    if (found.empty()) continue;  // an operator new in this build starts empty
    if (auto r = m.op->restore(found); !r) {
      return std::unexpected(
          r.error().with_context("restoring " + m.uid + "[" + std::to_string(subtask_) + "]"));
    }
  }
  return {};
}

void TaskBase::request_checkpoint(CheckpointId id) {
  {
    std::lock_guard lock(signal_mutex_);
    requested_ = id;
  }
  wake();
}

void TaskBase::notify_checkpoint_complete(CheckpointId id) {
  {
    std::lock_guard lock(signal_mutex_);
    completed_.push_back(id);
  }
  wake();
}

std::optional<CheckpointId> TaskBase::take_checkpoint_request() {
  std::lock_guard lock(signal_mutex_);
  return std::exchange(requested_, std::nullopt);
}

void TaskBase::checkpoint(CheckpointId id) {
  for (auto& m : members_) m.op->prepare_snapshot(id);
  Result<void> snapshotted;
  std::vector<std::pair<std::string, std::vector<std::byte>>> blobs;
  for (auto& m : members_) {
    if (!m.op->has_state()) continue;
    std::vector<std::byte> blob;
    Writer w(blob);
    if (auto r = m.op->snapshot(id, w); !r) {
      snapshotted = std::unexpected(r.error().with_context("snapshot of " + m.uid));
      break;
    }
    blobs.emplace_back(m.uid, std::move(blob));
  }
  // The barrier goes on even when this task's state could not be taken: the coordinator
  // aborts the checkpoint, and downstream tasks must not stay blocked on it.
  for (auto& e : exchanges_) e->barrier(id);
  // Written and fsynced off the task's worker: a synchronous fsync per stateful task (4-8 ms
  // here) blocked a worker at every checkpoint, a parallel job's more than a serial one's.
  job_.persist(*this, id, std::move(blobs), std::move(snapshotted));
}

bool TaskBase::outputs_writable() {
  bool all = true;
  for (auto& e : exchanges_) all = e->writable() && all;
  for (auto& m : members_) all = m.op->ready(*this) && all;
  return all;
}

void TaskBase::flush_outputs() {
  for (auto& e : exchanges_) e->flush();
}

void TaskBase::end_outputs() {
  for (auto& e : exchanges_) e->end();
}

void TaskBase::idle_outputs(bool is_idle) {
  for (auto& e : exchanges_) e->idle(is_idle);
}

void TaskBase::wakeup_at(TimePoint at) {
  if (!wakeup_ || at < *wakeup_) wakeup_ = at;
}

void TaskBase::fail(Error error) {
  failed_ = true;
  job_.task_failed(*this, std::move(error));
}

}  // namespace weft::stream::detail
