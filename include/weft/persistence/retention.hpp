// Retention: old events and snapshots removed in the background, by age or by count. Events
// are only ever deleted up to the newest snapshot, so recovery never loses state: what no
// snapshot covers stays.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "weft/core/clock.hpp"
#include "weft/core/result.hpp"
#include "weft/persistence/journal.hpp"
#include "weft/persistence/snapshot_store.hpp"

namespace weft::persistence {

struct RetentionOptions {
  /// Events stamped longer ago than this are deleted (if a snapshot covers them).
  std::optional<std::chrono::milliseconds> max_event_age;
  /// Only the newest N events of each persistence id are kept (if a snapshot covers the rest).
  std::optional<std::uint64_t> keep_events;
  /// Snapshots saved longer ago than this are deleted; the newest one always stays.
  std::optional<std::chrono::milliseconds> max_snapshot_age;
  /// Only the newest K snapshots of each persistence id are kept (0: no limit).
  std::size_t keep_snapshots = 0;
  /// How often the background pass runs (start()).
  std::chrono::milliseconds interval = std::chrono::minutes(10);
  /// Events read per page while looking for the age boundary.
  std::size_t page = 1024;
};

struct RetentionReport {
  std::uint64_t persistence_ids = 0;
  std::uint64_t events_deleted = 0;
  std::uint64_t snapshots_deleted = 0;
  /// Failures of single persistence ids (the pass goes on with the others).
  std::vector<Error> errors;
};

class Retention {
 public:
  /// The journal and store must outlive this object; `clock` stamps the age cut-off.
  Retention(std::shared_ptr<Journal> journal, std::shared_ptr<SnapshotStore> snapshots,
            RetentionOptions options, const Clock& clock);
  ~Retention();
  Retention(const Retention&) = delete;
  Retention& operator=(const Retention&) = delete;

  /// One pass over every persistence id, on the calling thread. `progress(done, total)` is
  /// called after each id. Fails only when the ids cannot be listed.
  [[nodiscard]] Result<RetentionReport> run_once(
      const std::function<void(std::uint64_t, std::uint64_t)>& progress = {});

  /// Runs a pass every `interval` on a thread of its own until stop() (or destruction).
  /// `on_pass` (optional) sees each pass's result.
  void start(std::function<void(const Result<RetentionReport>&)> on_pass = {});
  void stop();

 private:
  Result<std::uint64_t> retain_events(const std::string& pid, std::uint64_t covered);
  Result<std::uint64_t> retain_snapshots(const std::string& pid,
                                         const std::optional<SnapshotRecord>& newest);

  std::shared_ptr<Journal> journal_;
  std::shared_ptr<SnapshotStore> snapshots_;
  RetentionOptions options_;
  const Clock& clock_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace weft::persistence
