#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

#include "stream/job_state.hpp"
#include "weft/actor/actor_system.hpp"
#include "weft/stream/stream.hpp"

namespace weft::stream {
namespace detail {
namespace {

namespace fs = std::filesystem;
using namespace weft::behaviors;

Error io_error(const std::string& what, const fs::path& path, int err) {
  return Error(Errc::io, what + " " + path.string() + ": " + std::strerror(err));
}

Result<void> write_file_synced(const fs::path& path, std::span<const std::byte> bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return std::unexpected(io_error("cannot create", path, errno));
  const auto* p = reinterpret_cast<const char*>(bytes.data());
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return std::unexpected(io_error("cannot write", path, err));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return std::unexpected(io_error("cannot sync", path, err));
  }
  ::close(fd);
  return {};
}

void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

Result<std::vector<std::byte>> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected(io_error("cannot read", path, errno));
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

constexpr std::string_view metadata_magic = "weft-checkpoint 1";

struct Metadata {
  std::string job;
  CheckpointId id = 0;
  std::map<std::string, std::uint32_t> operators;  // uid -> parallelism
};

Result<Metadata> read_metadata(const fs::path& dir) {
  const auto path = dir / "_metadata";
  std::ifstream in(path);
  if (!in) return fail(Errc::not_found, "no completed checkpoint at " + dir.string());
  Metadata m;
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    std::istringstream words(line);
    std::string key;
    words >> key;
    bool ok = true;
    if (line_no == 1) {
      ok = line == metadata_magic;
    } else if (key == "job") {
      ok = static_cast<bool>(words >> m.job);
    } else if (key == "id") {
      ok = static_cast<bool>(words >> m.id);
    } else if (key == "operator") {
      std::string uid;
      std::uint32_t p = 0;
      ok = static_cast<bool>(words >> uid >> p);
      if (ok) m.operators[uid] = p;
    } else {
      ok = key.empty();
    }
    if (!ok) {
      return fail(Errc::corrupted, path.string() + " line " + std::to_string(line_no) +
                                       ": unexpected '" + line + "'");
    }
  }
  if (line_no == 0) return fail(Errc::corrupted, path.string() + " is empty");
  return m;
}

std::optional<CheckpointId> parse_checkpoint_dir(const fs::path& p) {
  const auto name = p.filename().string();
  if (!name.starts_with("chk-")) return std::nullopt;
  try {
    return std::stoull(name.substr(4));
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace

JobState::JobState(ActorSystem& system, JobOptions options)
    : system_(system), options_(std::move(options)) {}

JobState::~JobState() {
  stop_writer();
  // Every operator closes before any task is destroyed: a close unhooks what other threads
  // call back into (a queue's waker wakes a source task), and those calls may be in flight
  // into a task other than the one being closed.
  for (auto& t : tasks_) t->close_operators();
}

void JobState::schedule(TaskBase& task) {
  if (task.slot() < runners_.size()) runners_[task.slot()].tell(Turn{});
}

const Clock& JobState::clock() const {
  return system_.clock();
}

fs::path JobState::checkpoint_path(CheckpointId id) const {
  return options_.checkpoint_dir / ("chk-" + std::to_string(id));
}

void JobState::persist(TaskBase& task, CheckpointId id,
                       std::vector<std::pair<std::string, std::vector<std::byte>>> blobs,
                       Result<void> snapshotted) {
  {
    std::lock_guard lock(write_mutex_);
    if (stop_writing_) return;
    writes_.push_back(StateWrite{&task, id, std::move(blobs), std::move(snapshotted)});
    if (!writer_.joinable()) writer_ = std::thread([this] { write_states(); });
  }
  write_ready_.notify_one();
}

void JobState::write_states() {
  std::unique_lock lock(write_mutex_);
  while (true) {
    write_ready_.wait(lock, [&] { return stop_writing_ || !writes_.empty(); });
    if (stop_writing_) return;
    StateWrite write = std::move(writes_.front());
    writes_.pop_front();
    lock.unlock();
    acknowledge(write.id, write_state(write));
    lock.lock();
  }
}

Result<void> JobState::write_state(const StateWrite& write) {
  if (!write.snapshotted) return write.snapshotted;
  const auto subtask = std::to_string(write.task->subtask());
  for (const auto& [uid, blob] : write.blobs) {
    const auto path = checkpoint_path(write.id) / (uid + "." + subtask);
    if (auto r = write_file_synced(path, blob); !r) return r;
  }
  return {};
}

void JobState::stop_writer() {
  {
    std::lock_guard lock(write_mutex_);
    stop_writing_ = true;
  }
  write_ready_.notify_all();
  if (writer_.joinable() && writer_.get_id() != std::this_thread::get_id()) writer_.join();
}

void JobState::dead_letter(DeadLetter letter) {
  dead_count_.fetch_add(1, std::memory_order_relaxed);
  if (options_.on_dead_letter) options_.on_dead_letter(letter);
  if (options_.fail_on_dead_letter) {
    finish(Error(Errc::malformed, "dead letter in " + letter.operator_name + ": " + letter.reason +
                                      " (fail_on_dead_letter is set)"));
    cancelled_.store(true, std::memory_order_release);
    return;
  }
  std::lock_guard lock(mutex_);
  dead_letters_.push_back(std::move(letter));
  while (dead_letters_.size() > options_.dead_letters_kept) dead_letters_.pop_front();
}

std::optional<Timestamp> JobState::lowest_aligned() const {
  std::optional<Timestamp> low;
  for (const auto& a : aligned_) {
    if (a.watermark && (!low || *a.watermark < *low)) low = a.watermark;
  }
  return low;
}

bool JobState::align_source(TaskBase& task, std::optional<Timestamp> watermark,
                            Timestamp max_drift_ms) {
  std::vector<TaskBase*> to_wake;
  bool hold = false;
  {
    std::lock_guard lock(align_mutex_);
    auto it = std::ranges::find(aligned_, &task, &AlignedSource::task);
    if (it == aligned_.end()) it = aligned_.insert(aligned_.end(), AlignedSource{&task});
    const auto before = lowest_aligned();
    it->watermark = watermark;
    it->max_drift_ms = max_drift_ms;
    const auto low = lowest_aligned();
    // `low` includes every reported watermark, so a gap is never negative; one too wide for a
    // Timestamp (watermarks near both ends of the range) is certainly past any drift.
    const auto past = [&](const AlignedSource& a, Timestamp limit) {
      Timestamp gap = 0;
      return a.watermark && low &&
             (__builtin_sub_overflow(*a.watermark, *low, &gap) || gap > limit);
    };
    hold = past(*it, max_drift_ms);
    it->waiting = hold;
    if (low != before) {
      // A waiting task resumes once the others are within half its drift, so that it then runs
      // for a while: waking it at every move of the lowest watermark (every polled batch of the
      // slowest source) cost Nexmark q7 at parallelism 2 a sixth of its throughput.
      for (auto& a : aligned_) {
        if (a.waiting && a.task != &task && !past(a, a.max_drift_ms / 2)) {
          a.waiting = false;
          to_wake.push_back(a.task);
        }
      }
    }
  }
  // Outside the lock: a woken task may run at once on another worker and report again.
  for (auto* t : to_wake) t->wake();
  return hold;
}

void JobState::task_finished(TaskBase&) {
  bool all = false;
  {
    std::lock_guard lock(mutex_);
    all = ++finished_tasks_ == tasks_.size();
  }
  if (all) finish(std::nullopt);
}

void JobState::task_failed(TaskBase&, Error error) {
  cancelled_.store(true, std::memory_order_release);
  finish(std::move(error));
}

void JobState::finish(std::optional<Error> error) {
  {
    std::lock_guard lock(mutex_);
    if (done_) return;
    done_ = true;
    error_ = std::move(error);
  }
  changed_.notify_all();
}

Result<void> JobState::plan(Graph& graph) {
  auto& nodes = graph.nodes;
  if (nodes.empty()) return fail(Errc::invalid_argument, "job " + options_.name + " is empty");
  for (auto& n : nodes) {
    if (n.parallelism == 0) n.parallelism = options_.parallelism;
    if (n.parallelism > options_.max_parallelism) {
      return fail(Errc::invalid_argument,
                  "operator " + n.uid + ": parallelism " + std::to_string(n.parallelism) +
                      " exceeds max_parallelism " + std::to_string(options_.max_parallelism));
    }
  }
  // consumers[node][port] = (consumer node, input index)
  std::vector<std::vector<std::vector<std::pair<int, int>>>> consumers(nodes.size());
  for (auto& n : nodes) consumers[static_cast<std::size_t>(n.id)].resize(n.outputs.size());
  for (auto& n : nodes) {
    for (std::size_t i = 0; i < n.inputs.size(); ++i) {
      auto& e = n.inputs[i];
      auto& from = nodes[static_cast<std::size_t>(e.from)];
      if (e.mode == Partitioning::forward && from.parallelism != n.parallelism) {
        e.mode = Partitioning::rebalance;
      }
      consumers[static_cast<std::size_t>(e.from)][static_cast<std::size_t>(e.port)].emplace_back(
          n.id, static_cast<int>(i));
    }
  }
  auto chained = [&](const Node& n, std::size_t input) {
    return n.inputs.size() == 1 && n.inputs[input].mode == Partitioning::forward;
  };

  // Channels of every edge that crosses tasks: [from subtask][to subtask].
  std::map<std::pair<int, int>, std::vector<std::vector<void*>>> edge_channels;
  struct ChannelEnds {
    const PortOps* ops;
    void* channel;
    Waker* producer = nullptr;
    Waker* consumer = nullptr;
  };
  std::map<void*, ChannelEnds> ends;
  for (auto& n : nodes) {
    for (std::size_t i = 0; i < n.inputs.size(); ++i) {
      if (chained(n, i)) continue;
      const auto& e = n.inputs[i];
      const auto& from = nodes[static_cast<std::size_t>(e.from)];
      const auto& ops = *from.outputs[static_cast<std::size_t>(e.port)].second;
      auto& matrix = edge_channels[{n.id, static_cast<int>(i)}];
      matrix.assign(from.parallelism, std::vector<void*>(n.parallelism, nullptr));
      for (std::uint32_t a = 0; a < from.parallelism; ++a) {
        for (std::uint32_t b = 0; b < n.parallelism; ++b) {
          if (e.mode == Partitioning::forward && a != b) continue;
          auto ch = ops.make_channel(options_.channel_chunks);
          matrix[a][b] = ch.get();
          ends[ch.get()] = ChannelEnds{&ops, ch.get()};
          channels_.push_back(std::move(ch));
        }
      }
    }
  }

  struct Building {
    std::vector<std::pair<std::unique_ptr<OperatorBase>, std::string>> ops;
    std::vector<std::unique_ptr<ExchangeBase>> exchanges;
    std::vector<void*> produced;
    OperatorBase* source = nullptr;
    void* source_head = nullptr;
  };
  std::function<void*(int, std::uint32_t, Building&)> build = [&](int id, std::uint32_t s,
                                                                  Building& b) -> void* {
    auto& n = nodes[static_cast<std::size_t>(id)];
    std::vector<void*> outs;
    for (std::size_t p = 0; p < n.outputs.size(); ++p) {
      const auto& ops = *n.outputs[p].second;
      std::vector<void*> items;
      for (const auto& [c, input] : consumers[static_cast<std::size_t>(id)][p]) {
        auto& consumer = nodes[static_cast<std::size_t>(c)];
        if (chained(consumer, static_cast<std::size_t>(input))) {
          items.push_back(build(c, s, b));
          continue;
        }
        const auto& edge = consumer.inputs[static_cast<std::size_t>(input)];
        std::vector<void*> chs;
        for (void* ch : edge_channels[{c, input}][s]) {
          if (ch == nullptr) continue;
          chs.push_back(ch);
          b.produced.push_back(ch);
        }
        auto [ex, in] = ops.make_exchange(std::move(chs), edge, options_.max_parallelism,
                                          options_.chunk_records);
        b.exchanges.push_back(std::move(ex));
        items.push_back(in);
      }
      if (items.empty()) {
        auto d = ops.make_discard();
        items.push_back(d.input);
        b.ops.emplace_back(std::move(d.op), "discard");
      }
      if (items.size() == 1) {
        outs.push_back(items[0]);
      } else {
        auto tee = ops.make_tee(std::move(items));
        outs.push_back(tee.input);
        b.ops.emplace_back(std::move(tee.op), "tee");
      }
    }
    auto inst = n.make(s, outs);
    if (n.make_source_task) {
      b.source = inst.op.get();
      b.source_head = outs.empty() ? nullptr : outs[0];
    }
    if (inst.op->has_state()) {
      if (std::ranges::find(stateful_, std::pair{n.uid, n.parallelism}) == stateful_.end()) {
        stateful_.emplace_back(n.uid, n.parallelism);
      }
    }
    b.ops.emplace_back(std::move(inst.op), n.uid);
    return inst.input;
  };

  for (auto& n : nodes) {
    const bool head = n.make_source_task || !(n.inputs.size() == 1 && chained(n, 0));
    if (!head) continue;
    if (!n.make_source_task && n.inputs.empty()) {
      return fail(Errc::invalid_argument, "operator " + n.uid + " has no input");
    }
    for (std::uint32_t s = 0; s < n.parallelism; ++s) {
      Building b;
      void* head_input = build(n.id, s, b);
      const std::string name = n.uid + "[" + std::to_string(s) + "]";
      std::unique_ptr<TaskBase> task;
      std::vector<void*> consumed;
      if (n.make_source_task) {
        task = n.make_source_task(*this, name, s, n.parallelism, *b.source, b.source_head);
      } else {
        for (std::size_t i = 0; i < n.inputs.size(); ++i) {
          for (const auto& row : edge_channels[{n.id, static_cast<int>(i)}]) {
            if (row[s] != nullptr) consumed.push_back(row[s]);
          }
        }
        task = n.input_ops->make_input_task(*this, name, s, n.parallelism, consumed, head_input);
      }
      for (void* ch : b.produced) ends[ch].producer = task.get();
      for (void* ch : consumed) ends[ch].consumer = task.get();
      for (auto& [op, uid] : b.ops) task->add_operator(std::move(op), uid);
      for (auto& ex : b.exchanges) task->add_exchange(std::move(ex));
      task->set_slot(tasks_.size());
      tasks_.push_back(std::move(task));
    }
  }
  for (auto& [ch, e] : ends) {
    if (e.producer == nullptr || e.consumer == nullptr) {
      return fail(Errc::internal, "job " + options_.name + ": a channel has no end");
    }
    e.ops->connect(ch, e.producer, e.consumer);
  }
  return {};
}

Result<void> JobState::restore_state() {
  std::optional<fs::path> dir;
  if (options_.restore_from) {
    dir = *options_.restore_from;
  } else if (options_.resume && !options_.checkpoint_dir.empty() &&
             fs::exists(options_.checkpoint_dir)) {
    std::optional<CheckpointId> best;
    for (const auto& entry : fs::directory_iterator(options_.checkpoint_dir)) {
      const auto id = parse_checkpoint_dir(entry.path());
      if (!id || !fs::exists(entry.path() / "_metadata")) continue;
      if (!best || *id > *best) best = id;
      retained_.push_back(*id);
    }
    std::ranges::sort(retained_);
    if (best) {
      dir = checkpoint_path(*best);
      last_id_ = *best;
    }
  }
  if (!dir) return {};
  auto meta = read_metadata(*dir);
  if (!meta) return std::unexpected(meta.error());
  last_id_ = std::max(last_id_, meta->id);
  for (auto& task : tasks_) {
    auto r = task->restore([&](const std::string& uid) {
      std::vector<std::vector<std::byte>> blobs;
      const auto it = meta->operators.find(uid);
      if (it == meta->operators.end()) return blobs;
      blobs.resize(it->second);
      for (std::uint32_t i = 0; i < it->second; ++i) {
        const auto path = *dir / (uid + "." + std::to_string(i));
        if (!fs::exists(path)) continue;
        if (auto bytes = read_file(path)) blobs[i] = std::move(*bytes);
      }
      return blobs;
    });
    if (!r)
      return std::unexpected(
          r.error().with_context("restoring job " + options_.name + " from " + dir->string()));
  }
  restored_from_ = meta->id;
  return {};
}

Result<void> JobState::start(Graph& graph, const std::shared_ptr<JobState>& self) {
  if (auto r = plan(graph); !r) return r;
  if (auto r = restore_state(); !r) return r;
  for (std::size_t i = 0; i < tasks_.size(); ++i) {
    std::weak_ptr<JobState> weak = self;
    runners_.push_back(system_.spawn<Turn>(
        receive<Turn>([weak, i](ActorContext<Turn>& ctx, Turn&) -> Behavior<Turn> {
          auto job = weak.lock();
          if (!job || job->cancelled()) return same();
          auto& task = job->task(i);
          std::optional<TimePoint> next;
          if (task.run_turn(next) == TaskBase::Step::more) task.wake();
          if (next) {
            const auto delay = *next - job->clock().now();
            if (delay <= Duration{0}) {
              task.wake();
            } else {
              ctx.timers().start_single_timer("wakeup", Turn{}, delay);
              // A manual clock may have moved past `next` while the timer was being set.
              if (job->clock().now() >= *next) task.wake();
            }
          }
          return same();
        })));
  }
  if (options_.checkpoint_interval) {
    if (options_.checkpoint_dir.empty()) {
      return fail(Errc::invalid_argument,
                  "job " + options_.name + ": checkpoint_interval needs a checkpoint_dir");
    }
    std::weak_ptr<JobState> weak = self;
    const auto interval = *options_.checkpoint_interval;
    coordinator_ = system_.spawn<Turn>(setup<Turn>([weak, interval](ActorContext<Turn>& ctx) {
      ctx.timers().start_periodic_timer("checkpoint", Turn{}, interval);
      return receive<Turn>([weak](ActorContext<Turn>&, Turn&) -> Behavior<Turn> {
        if (auto job = weak.lock(); job && !job->cancelled()) (void)job->trigger_checkpoint();
        return same();
      });
    }));
  }
  for (auto& t : tasks_) t->wake();
  return {};
}

Result<CheckpointId> JobState::trigger_checkpoint() {
  if (options_.checkpoint_dir.empty()) {
    return fail(Errc::invalid_argument, "job " + options_.name + " has no checkpoint_dir");
  }
  CheckpointId id = 0;
  {
    std::lock_guard lock(mutex_);
    if (done_) return fail(Errc::shutting_down, "job " + options_.name + " is not running");
    if (pending_) {
      return fail(Errc::conflict, "checkpoint " + std::to_string(pending_->id) + " of job " +
                                      options_.name + " is still in progress");
    }
    if (finished_tasks_ > 0) {
      return fail(Errc::shutting_down,
                  "job " + options_.name + " is finishing: no more checkpoints");
    }
    id = ++last_id_;
    std::error_code ec;
    fs::create_directories(checkpoint_path(id), ec);
    if (ec) {
      ++failed_count_;
      return fail(Errc::io, "cannot create " + checkpoint_path(id).string() + ": " + ec.message());
    }
    pending_ = Pending{id, clock().now(), 0, std::nullopt};
  }
  for (auto& t : tasks_) {
    if (t->is_source()) t->request_checkpoint(id);
  }
  return id;
}

void JobState::acknowledge(CheckpointId id, Result<void> written) {
  std::unique_lock lock(mutex_);
  if (!pending_ || pending_->id != id) return;
  if (!written && !pending_->error) pending_->error = written.error();
  if (++pending_->acks < tasks_.size()) return;
  Pending done = std::move(*pending_);
  pending_.reset();
  complete(done);
  lock.unlock();
  changed_.notify_all();
  if (!done.error) {
    for (auto& t : tasks_) t->notify_checkpoint_complete(id);
  }
}

void JobState::complete(Pending& p) {
  std::error_code ec;
  const auto dir = checkpoint_path(p.id);
  if (!p.error) {
    std::ostringstream meta;
    meta << metadata_magic << "\njob " << options_.name << "\nid " << p.id << "\n";
    for (const auto& [uid, par] : stateful_) meta << "operator " << uid << " " << par << "\n";
    const auto text = meta.str();
    auto r = write_file_synced(dir / "_metadata.tmp",
                               std::as_bytes(std::span(text.data(), text.size())));
    if (r) {
      fs::rename(dir / "_metadata.tmp", dir / "_metadata", ec);
      if (ec) r = fail(Errc::io, "cannot publish " + (dir / "_metadata").string());
    }
    if (!r) p.error = r.error();
  }
  if (p.error) {
    ++failed_count_;
    fs::remove_all(dir, ec);
    return;
  }
  sync_directory(dir);
  sync_directory(options_.checkpoint_dir);
  ++completed_count_;
  last_completed_ = p.id;
  last_duration_ = clock().now() - p.started;
  retained_.push_back(p.id);
  while (retained_.size() > std::max<std::size_t>(options_.retained_checkpoints, 1)) {
    fs::remove_all(checkpoint_path(retained_.front()), ec);
    retained_.pop_front();
  }
}

Result<void> JobState::wait_for(std::optional<Duration> timeout) {
  std::unique_lock lock(mutex_);
  if (timeout) {
    if (!changed_.wait_for(lock, *timeout, [&] { return done_; })) {
      return fail(Errc::timeout, "job " + options_.name + " still running");
    }
  } else {
    changed_.wait(lock, [&] { return done_; });
  }
  if (error_) return std::unexpected(*error_);
  return {};
}

bool JobState::is_done() const {
  std::lock_guard lock(mutex_);
  return done_;
}

void JobState::cancel() {
  cancelled_.store(true, std::memory_order_release);
  finish(Error(Errc::shutting_down, "job " + options_.name + " was cancelled"));
  // The writer first: an acknowledgement it is making notifies the tasks through their runners.
  stop_writer();
  for (auto& r : runners_) system_.stop(r);
  if (coordinator_) system_.stop(coordinator_);
}

Result<fs::path> JobState::savepoint(const std::string& name, Duration timeout) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    return fail(Errc::invalid_argument, "savepoint name '" + name + "' is not a plain name");
  }
  auto id = trigger_checkpoint();
  if (!id) return std::unexpected(id.error());
  std::unique_lock lock(mutex_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const bool finished =
      changed_.wait_until(lock, deadline, [&] { return !pending_ || pending_->id != *id; });
  if (!finished) return fail(Errc::timeout, "savepoint " + name + " did not complete");
  if (last_completed_ != *id) {
    return fail(Errc::io, "savepoint " + name + ": checkpoint " + std::to_string(*id) + " failed");
  }
  const auto target = options_.checkpoint_dir / "savepoints" / name;
  std::error_code ec;
  fs::remove_all(target, ec);
  fs::create_directories(target.parent_path(), ec);
  fs::copy(checkpoint_path(*id), target, fs::copy_options::recursive, ec);
  if (ec) return fail(Errc::io, "cannot write savepoint " + target.string() + ": " + ec.message());
  return target;
}

JobMetrics JobState::metrics() const {
  JobMetrics m;
  m.records_in = records_in_.load(std::memory_order_relaxed);
  m.dead_letters = dead_count_.load(std::memory_order_relaxed);
  m.late_records = late_.load(std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  m.checkpoints_completed = completed_count_;
  m.checkpoints_failed = failed_count_;
  m.last_checkpoint = last_completed_;
  m.last_checkpoint_duration = last_duration_;
  m.restored_from = restored_from_;
  return m;
}

std::vector<DeadLetter> JobState::dead_letters() const {
  std::lock_guard lock(mutex_);
  return {dead_letters_.begin(), dead_letters_.end()};
}

Result<std::unique_ptr<Job>> start_job(ActorSystem& system, Graph& graph, JobOptions options) {
  auto state = std::make_shared<JobState>(system, std::move(options));
  if (auto r = state->start(graph, state); !r) {
    state->cancel();
    return std::unexpected(r.error());
  }
  return std::make_unique<Job>(state);
}

}  // namespace detail

Job::Job(std::shared_ptr<detail::JobState> state) : state_(std::move(state)) {}
Job::~Job() {
  cancel();
}
Result<void> Job::wait() {
  return state_->wait_for(std::nullopt);
}
Result<void> Job::wait_for(Duration timeout) {
  return state_->wait_for(timeout);
}
bool Job::is_done() const {
  return state_->is_done();
}
void Job::cancel() {
  if (!state_->cancelled()) state_->cancel();
}
Result<CheckpointId> Job::checkpoint() {
  return state_->trigger_checkpoint();
}
Result<std::filesystem::path> Job::savepoint(const std::string& name, Duration timeout) {
  return state_->savepoint(name, timeout);
}
JobMetrics Job::metrics() const {
  return state_->metrics();
}
std::vector<DeadLetter> Job::dead_letters() const {
  return state_->dead_letters();
}

}  // namespace weft::stream
