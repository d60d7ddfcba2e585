#include "weft/persistence/snapshot_store.hpp"

#include <map>
#include <mutex>

#include "persistence/snapshot_format.hpp"

namespace weft::persistence {

struct MemorySnapshotStore::State {
  explicit State(const SnapshotOptions& options) : codec(options) {}
  SnapshotCodec codec;
  std::mutex mutex;
  std::map<std::string, std::map<std::uint64_t, std::string>> snapshots;  // pid -> seq -> bytes
};

MemorySnapshotStore::MemorySnapshotStore(SnapshotOptions options)
    : state_(std::make_unique<State>(options)) {}
MemorySnapshotStore::~MemorySnapshotStore() = default;

Future<std::monostate> MemorySnapshotStore::save(SnapshotRecord record) {
  auto bytes = state_->codec.encode(record);
  if (!bytes) return make_ready_future<std::monostate>(std::unexpected(bytes.error()));
  std::lock_guard lock(state_->mutex);
  state_->snapshots[record.meta.persistence_id][record.meta.sequence_nr] = std::move(*bytes);
  return make_ready_future<std::monostate>(std::monostate{});
}

Future<std::optional<SnapshotRecord>> MemorySnapshotStore::load_latest(
    std::string persistence_id, SnapshotSelection selection) {
  using R = std::optional<SnapshotRecord>;
  std::string bytes;
  std::uint64_t seq = 0;
  {
    std::lock_guard lock(state_->mutex);
    auto it = state_->snapshots.find(persistence_id);
    if (it == state_->snapshots.end()) return make_ready_future<R>(R{});
    auto s = it->second.upper_bound(selection.max_sequence_nr);
    if (s == it->second.begin()) return make_ready_future<R>(R{});
    --s;
    seq = s->first;
    bytes = s->second;
  }
  auto rec = state_->codec.decode(bytes, persistence_id, seq);
  if (!rec) return make_ready_future<R>(std::unexpected(rec.error()));
  return make_ready_future<R>(R{std::move(*rec)});
}

Future<std::size_t> MemorySnapshotStore::delete_older(std::string persistence_id,
                                                      std::size_t keep_last) {
  std::lock_guard lock(state_->mutex);
  auto it = state_->snapshots.find(persistence_id);
  if (it == state_->snapshots.end() || it->second.size() <= keep_last) {
    return make_ready_future<std::size_t>(0);
  }
  std::size_t n = it->second.size() - keep_last;
  it->second.erase(it->second.begin(),
                   std::next(it->second.begin(), static_cast<std::ptrdiff_t>(n)));
  if (it->second.empty()) state_->snapshots.erase(it);
  return make_ready_future<std::size_t>(n);
}

Future<std::size_t> MemorySnapshotStore::delete_to(std::string persistence_id,
                                                   std::uint64_t max_sequence_nr) {
  std::lock_guard lock(state_->mutex);
  auto it = state_->snapshots.find(persistence_id);
  if (it == state_->snapshots.end()) return make_ready_future<std::size_t>(0);
  auto end = it->second.upper_bound(max_sequence_nr);
  auto n = static_cast<std::size_t>(std::distance(it->second.begin(), end));
  it->second.erase(it->second.begin(), end);
  if (it->second.empty()) state_->snapshots.erase(it);
  return make_ready_future<std::size_t>(n);
}

std::string* MemorySnapshotStore::stored_bytes(const std::string& persistence_id,
                                               std::uint64_t sequence_nr) {
  std::lock_guard lock(state_->mutex);
  auto it = state_->snapshots.find(persistence_id);
  if (it == state_->snapshots.end()) return nullptr;
  auto s = it->second.find(sequence_nr);
  return s == it->second.end() ? nullptr : &s->second;
}

}  // namespace weft::persistence
