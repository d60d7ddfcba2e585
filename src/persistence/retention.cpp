#include "weft/persistence/retention.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace weft::persistence {

Retention::Retention(std::shared_ptr<Journal> journal, std::shared_ptr<SnapshotStore> snapshots,
                     RetentionOptions options, const Clock& clock)
    : journal_(std::move(journal)),
      snapshots_(std::move(snapshots)),
      options_(options),
      clock_(clock) {}

Retention::~Retention() {
  stop();
}

Result<std::uint64_t> Retention::retain_events(const std::string& pid, std::uint64_t covered) {
  if (covered == 0 || (!options_.max_event_age && !options_.keep_events)) return 0;
  std::uint64_t to = 0;
  if (options_.keep_events) {
    auto highest = journal_->highest_sequence_nr(pid).get();
    if (!highest) return std::unexpected(highest.error());
    if (*highest > *options_.keep_events) to = *highest - *options_.keep_events;
  }
  if (options_.max_event_age) {
    // Events are stamped in sequence order: walk from the oldest kept one to the first that is
    // young enough (never past what a snapshot covers).
    const std::int64_t cutoff = clock_.wall_ms() - options_.max_event_age->count();
    for (std::uint64_t from = 1; from <= covered;) {
      auto page = journal_->read(pid, from, covered, options_.page).get();
      if (!page) return std::unexpected(page.error());
      if (page->empty()) break;
      bool young = false;
      for (const auto& e : *page) {
        if (e.timestamp_ms >= cutoff) {
          young = true;
          break;
        }
        to = std::max(to, e.sequence_nr);
      }
      if (young || page->size() < options_.page) break;
      from = page->back().sequence_nr + 1;
    }
  }
  to = std::min(to, covered);
  if (to == 0) return 0;
  return journal_->delete_to(pid, to).get();
}

Result<std::uint64_t> Retention::retain_snapshots(const std::string& pid,
                                                  const std::optional<SnapshotRecord>& newest) {
  if (!newest) return 0;
  std::uint64_t deleted = 0;
  if (options_.keep_snapshots > 0) {
    auto n = snapshots_->delete_older(pid, options_.keep_snapshots).get();
    if (!n) return std::unexpected(n.error());
    deleted += *n;
  }
  if (options_.max_snapshot_age) {
    // Snapshots are saved in sequence order: the newest one older than the cut-off and every
    // one before it go, except the newest of all.
    const std::int64_t cutoff = clock_.wall_ms() - options_.max_snapshot_age->count();
    std::uint64_t below = newest->meta.sequence_nr;
    while (below > 0) {
      auto older = snapshots_->load_latest(pid, SnapshotSelection{below - 1}).get();
      if (!older) return std::unexpected(older.error());
      if (!*older) break;
      if ((*older)->meta.timestamp_ms < cutoff) {
        auto n = snapshots_->delete_to(pid, (*older)->meta.sequence_nr).get();
        if (!n) return std::unexpected(n.error());
        deleted += *n;
        break;
      }
      below = (*older)->meta.sequence_nr;
    }
  }
  return deleted;
}

Result<RetentionReport> Retention::run_once(
    const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  auto ids = journal_->persistence_ids().get();
  if (!ids) return std::unexpected(ids.error());
  RetentionReport report;
  for (const auto& pid : *ids) {
    ++report.persistence_ids;
    auto newest = snapshots_->load_latest(pid).get();
    if (!newest) {
      // A damaged newest snapshot covers nothing we could rely on: leave the events alone.
      report.errors.push_back(newest.error().with_context("retention of '" + pid + "'"));
    } else {
      const std::uint64_t covered = *newest ? (*newest)->meta.sequence_nr : 0;
      if (auto n = retain_events(pid, covered); n) {
        report.events_deleted += *n;
      } else {
        report.errors.push_back(n.error().with_context("retention of '" + pid + "'"));
      }
      if (auto n = retain_snapshots(pid, *newest); n) {
        report.snapshots_deleted += *n;
      } else {
        report.errors.push_back(n.error().with_context("retention of '" + pid + "'"));
      }
    }
    if (progress) progress(report.persistence_ids, ids->size());
  }
  return report;
}

void Retention::start(std::function<void(const Result<RetentionReport>&)> on_pass) {
  stop();
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  thread_ = std::thread([this, on_pass = std::move(on_pass)] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      auto r = run_once();
      if (!r) {
        spdlog::warn("retention pass failed: {}", r.error().describe());
      } else if (r->events_deleted + r->snapshots_deleted > 0 || !r->errors.empty()) {
        spdlog::info("retention: {} events and {} snapshots deleted over {} ids ({} errors)",
                     r->events_deleted, r->snapshots_deleted, r->persistence_ids, r->errors.size());
      }
      if (on_pass) on_pass(r);
      lock.lock();
      wake_.wait_for(lock, options_.interval, [&] { return stopping_; });
    }
  });
}

void Retention::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace weft::persistence
