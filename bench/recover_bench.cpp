// weft-bench journal --scenario recover: event-sourced actors recovering from a snapshot plus
// the events after it. 100,000 (times scale) persistence ids, each with a snapshot at sequence
// 100 and events 101..200 after it, in a RocksDB journal; timed from the first spawn until
// every actor has run on_recovery_completed.
#include <fmt/format.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "journal_bench.hpp"
#include "process_stats.hpp"
#include "temp_dir.hpp"
#include "weft/actor.hpp"
#include "weft/persistence/event_sourced.hpp"
#include "weft/persistence/rocksdb_journal.hpp"
#include "weft/persistence/snapshot_store.hpp"

namespace weft::bench {

struct RecoverReading {
  std::int64_t value = 0;
};
WEFT_CODEC(RecoverReading, "bench.recover.Reading", 1, value);

struct RecoverMeter {
  std::int64_t total = 0;
  std::uint64_t readings = 0;
};
WEFT_CODEC(RecoverMeter, "bench.recover.Meter", 1, total, readings);

namespace {

using persistence::AppendBatch;
using persistence::EventRecord;
using persistence::SnapshotRecord;
using persistence::SnapshotStore;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kSnapshotAt = 100;
constexpr std::uint64_t kEventsAfter = 100;

struct Ping {};  // the actors get no command; recovery is all that is measured

constexpr std::string_view kPidPrefix = "meter-";  // the actors' kind

std::string pid_of(std::size_t i) {
  return std::string(kPidPrefix) + std::to_string(i);
}

RecoverMeter apply(RecoverMeter m, const RecoverReading& r) {
  m.total += r.value;
  ++m.readings;
  return m;
}

/// The journal's own snapshot store (snapshots in the same RocksDB) once it has one; until
/// then snapshots are kept in memory. Checked at compile time so this file needs no change
/// when RocksDbJournal::snapshot_store lands.
template <class J>
std::pair<std::shared_ptr<SnapshotStore>, const char*> snapshot_store_for(J& journal) {
  if constexpr (requires {
                  {
                    journal.snapshot_store(persistence::SnapshotOptions{})
                    } -> std::convertible_to<std::shared_ptr<SnapshotStore>>;
                }) {
    return {journal.snapshot_store(persistence::SnapshotOptions{}), "rocksdb"};
  } else {
    return {std::make_shared<persistence::MemorySnapshotStore>(), "memory"};
  }
}

/// Every id gets events 1..200 (one append each, many in flight) and a snapshot of the state
/// after event 100.
void preload(persistence::Journal& journal, SnapshotStore& store, std::size_t actors) {
  constexpr std::size_t kWindow = 2048;  // appends in flight
  std::mutex mutex;
  std::condition_variable done;
  std::size_t in_flight = 0;
  std::atomic<bool> failed{false};
  for (std::size_t i = 0; i < actors; ++i) {
    const std::string pid = pid_of(i);
    AppendBatch batch;
    batch.persistence_id = pid;
    batch.expected_next_sequence_nr = 1;
    batch.events.reserve(kSnapshotAt + kEventsAfter);
    RecoverMeter at_snapshot;
    for (std::uint64_t seq = 1; seq <= kSnapshotAt + kEventsAfter; ++seq) {
      const RecoverReading reading{static_cast<std::int64_t>(seq % 17)};
      if (seq <= kSnapshotAt) at_snapshot = apply(at_snapshot, reading);
      EventRecord& e = batch.events.emplace_back();
      e.persistence_id = pid;
      e.sequence_nr = seq;
      e.manifest = std::string(Codec<RecoverReading>::manifest);
      e.version = Codec<RecoverReading>::version;
      e.payload = encode(reading);
      e.timestamp_ms = 1'700'000'000'000;
    }
    SnapshotRecord snap;
    snap.meta = {pid, kSnapshotAt, 1'700'000'000'000};
    snap.manifest = std::string(Codec<RecoverMeter>::manifest);
    snap.version = Codec<RecoverMeter>::version;
    snap.payload = encode(at_snapshot);
    {
      std::unique_lock lock(mutex);
      done.wait(lock, [&] { return in_flight < kWindow; });
      in_flight += 2;
    }
    auto finished = [&](bool ok) {
      if (!ok) failed = true;
      std::lock_guard lock(mutex);
      --in_flight;
      done.notify_all();
    };
    store.save(std::move(snap)).on_complete([finished](const Result<std::monostate>& r) {
      finished(r.has_value());
    });
    journal.append(std::move(batch)).on_complete([finished](const Result<std::uint64_t>& r) {
      finished(r.has_value());
    });
  }
  std::unique_lock lock(mutex);
  done.wait(lock, [&] { return in_flight == 0; });
  if (failed) throw std::runtime_error("recover: preloading the journal failed");
}

}  // namespace

std::string recover_benchmark(double scale) {
  const auto actors = std::max<std::size_t>(100, static_cast<std::size_t>(100'000 * scale));
  TempDir dir("weft-bench-recover");
  persistence::JournalOptions options;
  options.directory = dir.path() + "/journal";
  options.durability = persistence::Durability::none;  // the preload is not what is measured
  auto opened = persistence::RocksDbJournal::open(options);
  if (!opened) throw std::runtime_error(opened.error().describe());
  std::shared_ptr<persistence::RocksDbJournal> journal = std::move(*opened);
  auto [store, store_kind] = snapshot_store_for(*journal);
  preload(*journal, *store, actors);
  // As after a restart: the log folded into per-id chunks and nothing left for the journal's
  // background work to compete with recovery for the two cores.
  if (auto compacted = journal->compact(); !compacted) {
    throw std::runtime_error(compacted.error().describe());
  }

  struct Progress {
    std::atomic<std::size_t> remaining;
    std::atomic<std::uint64_t> readings{0};
    std::mutex mutex;
    std::condition_variable all_done;
  } progress{actors};

  persistence::EventSourcedSpec<Ping, RecoverReading, RecoverMeter> base;
  base.journal = journal;
  base.snapshot_store = store;
  base.event_handler = apply;
  base.command_handler = [](const RecoverMeter&, const Ping&) {
    return persistence::effects::none<RecoverMeter, RecoverReading>();
  };
  base.on_recovery_completed = [p = &progress](const RecoverMeter& m) {
    p->readings.fetch_add(m.readings, std::memory_order_relaxed);
    if (p->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard lock(p->mutex);
      p->all_done.notify_all();
    }
  };

  base.persistence_id = kPidPrefix;  // one spec for the kind; each actor adds its number
  const auto shared = std::make_shared<const decltype(base)>(std::move(base));

  double seconds = 0;
  double cpu_seconds = 0;  // all threads: how busy the two cores were
  bool complete = false;
  {
    ActorSystem system(ActorSystemConfig{.name = "recover-bench"});
    {
      const ProfiledPhase profiled;
      const auto cpu_start = std::clock();
      const auto start = Clock::now();
      for (std::size_t i = 0; i < actors; ++i) {
        system.spawn(persistence::event_sourced(shared, std::to_string(i)));
      }
      {
        std::unique_lock lock(progress.mutex);
        complete = progress.all_done.wait_until(lock, start + std::chrono::minutes(5), [&] {
          return progress.remaining.load(std::memory_order_acquire) == 0;
        });
      }
      seconds = std::chrono::duration<double>(Clock::now() - start).count();
      cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
    }
    system.terminate();
  }
  const auto recovered = actors - progress.remaining.load();
  if (!complete) {
    throw std::runtime_error(
        fmt::format("recover: only {} of {} actors recovered within 5 minutes", recovered, actors));
  }
  // Each actor must have ended at event 200 (snapshot state plus 100 replayed events).
  if (progress.readings.load() != actors * (kSnapshotAt + kEventsAfter)) {
    throw std::runtime_error("recover: recovered states do not hold every event");
  }
  return fmt::format(
      R"({{"suite":"journal","scenario":"recover","actors":{},"events_per_actor":{},"snapshot_store":"{}","seconds":{:.3f},"cpu_seconds":{:.3f},"events_per_s":{:.0f}}})",
      actors, kEventsAfter, store_kind, seconds, cpu_seconds,
      static_cast<double>(actors * kEventsAfter) / seconds);
}

}  // namespace weft::bench
