#include "journal_bench.hpp"
#include "process_stats.hpp"
#include "temp_dir.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "weft/core/metrics.hpp"
#include "weft/persistence/rocksdb_journal.hpp"

namespace weft::bench {
namespace {

using persistence::AppendBatch;
using persistence::EventRecord;
using persistence::JournalOptions;
using persistence::RocksDbJournal;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kPids = 10'000;
constexpr std::size_t kPayloadBytes = 100;

std::uint64_t sized(double base, double scale) {
  return std::max<std::uint64_t>(1000, static_cast<std::uint64_t>(base * scale));
}

std::string pid_name(std::size_t i) {
  return "device-" + std::to_string(i);
}

// Payloads as an edge gateway receives them over MQTT: a telemetry reading in JSON, padded to
// kPayloadBytes, e.g. {"ts":1700000042000,"temp":21.37,"hum":40.1,"volt":3.301,"rpm":1234,...}.
// Readings come from a table of 65,536 drawn at random (the table keeps encoding them off the
// appending threads); the timestamp is written per event and follows the sequence number. Until
// session 16 the payload was the bytes seq * 7 + i, a pid's consecutive events the same bytes
// shifted by 7: LZ4 made a fold's table file 7.6 times smaller with them, 3.9 times with these.
class Telemetry {
 public:
  Telemetry() : table_(kReadings * kPayloadBytes, ' ') {
    std::uint64_t x = 0x2545F4914F6CDD1D;
    auto next = [&x](std::uint64_t range) {  // splitmix64
      x += 0x9E3779B97F4A7C15;
      std::uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
      return (z ^ (z >> 31)) % range;
    };
    for (std::size_t i = 0; i < kReadings; ++i) {
      const auto temp = 1500 + next(2000);  // centi-degrees
      const auto hum = 200 + next(600);     // tenths of a percent
      const auto volt = next(600);          // 3.000-3.599 V
      const auto rpm = next(5000);
      const bool warn = next(50) == 0;
      const std::string json = fmt::format(
          R"({{"ts":{},"temp":{}.{:02},"hum":{}.{},"volt":3.{:03},"rpm":{},"st":"{}","fw":"2.4.1"}})",
          kTimestampBase, temp / 100, temp % 100, hum / 10, hum % 10, volt, rpm,
          warn ? "warn" : "ok");
      if (json.size() > kPayloadBytes) throw std::logic_error("telemetry reading too long");
      json.copy(table_.data() + i * kPayloadBytes, json.size());
    }
  }

  void fill(std::vector<std::byte>& out, std::size_t pid, std::uint64_t seq) const {
    out.resize(kPayloadBytes);
    const std::size_t i = (pid * 0x9E3779B1 + seq * 0x85EBCA77) % kReadings;
    std::memcpy(out.data(), table_.data() + i * kPayloadBytes, kPayloadBytes);
    // The 13 digits after {"ts": -- a reading a second.
    std::uint64_t ts = kTimestampBase + seq * 1000;
    for (std::size_t d = 0; d < 13; ++d, ts /= 10) {
      out[kTsAt + 12 - d] = static_cast<std::byte>('0' + ts % 10);
    }
  }

 private:
  static constexpr std::size_t kReadings = 65'536;
  static constexpr std::uint64_t kTimestampBase = 1'700'000'000'000;
  static constexpr std::size_t kTsAt = 6;  // after {"ts":
  std::string table_;
};

const Telemetry& telemetry() {
  static const Telemetry t;
  return t;
}

EventRecord make_event(const std::string& pid, std::size_t pid_index, std::uint64_t seq) {
  EventRecord e;
  e.persistence_id = pid;
  e.sequence_nr = seq;
  e.manifest = "bench.Event";
  e.timestamp_ms = 1'700'000'000'000;
  telemetry().fill(e.payload, pid_index, seq);
  return e;
}

// For exploring the fold's cost: WEFT_BENCH_FOLD_BYTES overrides the fold threshold.
std::size_t open_fold_bytes() {
  if (const char* f = std::getenv("WEFT_BENCH_FOLD_BYTES")) return std::strtoull(f, nullptr, 10);
  return JournalOptions{}.fold_bytes;
}

std::unique_ptr<RocksDbJournal> open_journal(const std::string& dir,
                                             MetricsRegistry* metrics = nullptr) {
  JournalOptions o;
  o.directory = dir;
  o.metrics = metrics;
  o.preallocate_log = true;  // as a service would run it
  o.fold_bytes = open_fold_bytes();
  // For comparing: WEFT_BENCH_COMPRESS_FOLDS=1 turns on JournalOptions::compress_folds.
  o.compress_folds = std::getenv("WEFT_BENCH_COMPRESS_FOLDS") != nullptr;
  auto j = RocksDbJournal::open(o);
  if (!j) throw std::runtime_error(j.error().describe());
  return std::move(*j);
}

// Waits (up to 60 s, polling) until less than one fold's worth of log waits to be folded.
void settle(RocksDbJournal& j, std::size_t fold_bytes) {
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    auto st = j.stats();
    if (!st) throw std::runtime_error(st.error().describe());
    if (st->log_bytes < fold_bytes) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("the journal did not fold its backlog within 60 s");
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The naive journal: default options, one synced WriteBatch of 1,000 events per call.
double baseline(double scale) {
  TempDir dir("weft-bench-journal");
  rocksdb::Options o;
  o.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(o, dir.path() + "/db", &raw);
  if (!s.ok()) throw std::runtime_error(s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  std::vector<std::uint64_t> next(kPids, 1);
  std::vector<std::byte> value;  // the journal's payloads (as it would store them)
  std::uint64_t written = 0;
  auto write = [&](std::uint64_t n) {
    for (const std::uint64_t end = written + n; written < end;) {
      rocksdb::WriteBatch batch;
      for (int i = 0; i < 1000; ++i, ++written) {
        const std::size_t p = written % kPids;
        std::string key = pid_name(p);
        key.push_back('\0');
        for (int b = 7; b >= 0; --b) key.push_back(static_cast<char>(next[p] >> (8 * b)));
        telemetry().fill(value, p, next[p]);
        ++next[p];
        batch.Put(key, rocksdb::Slice(reinterpret_cast<const char*>(value.data()), value.size()));
      }
      s = db->Write(wo, &batch);
      if (!s.ok()) throw std::runtime_error(s.ToString());
    }
  };
  // Warmed up as the journal is (see persist): memtables and their flushes under way.
  write(sized(1e6, scale));
  const std::uint64_t n = sized(1e6, scale);
  const auto start = Clock::now();
  write(n);
  const double secs = seconds_since(start);
  db->Close().PermitUncheckedError();
  return static_cast<double>(n) / secs;
}

struct Appenders {
  unsigned threads = 2;
  std::size_t window = 4000;  // appends in flight per thread
};

// Closed loop: every thread keeps `window` appends in flight over its share of the pids,
// each append one 100-byte event. Returns durable events per second.
double persist_max(RocksDbJournal& j, std::uint64_t events, const Appenders& a,
                   std::vector<std::uint64_t>& next) {
  std::vector<std::thread> threads;
  std::atomic<bool> failed{false};
  const auto start = Clock::now();
  for (unsigned t = 0; t < a.threads; ++t) {
    threads.emplace_back([&, t] {
      std::deque<Future<std::uint64_t>> in_flight;
      const std::uint64_t mine = events / a.threads;
      std::size_t p = t;
      for (std::uint64_t i = 0; i < mine; ++i) {
        const auto pid = pid_name(p);
        AppendBatch b{pid, next[p], 0, {make_event(pid, p, next[p])}};
        ++next[p];
        in_flight.push_back(j.append(std::move(b)));
        if (in_flight.size() >= a.window) {
          if (!in_flight.front().get()) failed = true;
          in_flight.pop_front();
        }
        p += a.threads;
        if (p >= kPids) p = t;
      }
      for (auto& f : in_flight) {
        if (!f.get()) failed = true;
      }
    });
  }
  for (auto& th : threads) th.join();
  const double secs = seconds_since(start);
  if (failed) throw std::runtime_error("an append failed in the persist benchmark");
  return static_cast<double>(events / a.threads * a.threads) / secs;
}

// The latency phases' length: 3 s at full scale.
double phase_seconds(double scale) {
  return std::max(0.5, 3.0 * std::min(1.0, scale));
}

struct Latency {
  double p50_us = 0;
  double p99_us = 0;
  double achieved_per_s = 0;
};

// Open loop at `rate` events/s over `nthreads` pacing threads, each issuing on a fixed
// schedule. `issue(p, latency_us, done)` appends an event of pid index p; its acknowledgement
// writes the microseconds from the call in `latency_us` (UINT32_MAX if it failed) and then
// increments `done`.
template <class Issue>
Latency paced(double rate, double seconds, unsigned nthreads, Issue issue) {
  const auto per_thread = static_cast<std::uint64_t>(rate * seconds / nthreads);
  std::vector<std::vector<std::uint32_t>> lat(nthreads, std::vector<std::uint32_t>(per_thread));
  std::atomic<std::uint64_t> done{0};
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  const double interval_ns = 1e9 * nthreads / rate;
  for (unsigned t = 0; t < nthreads; ++t) {
    threads.emplace_back([&, t] {
      std::size_t p = t;
      auto& mine = lat[t];
      for (std::uint64_t i = 0; i < per_thread; ++i) {
        const auto due =
            start + std::chrono::nanoseconds(static_cast<std::int64_t>(i * interval_ns));
        // Sleep, not spin: spinning pacers would take the cores the writer needs. And only when
        // ahead by kPacerSlack, so appends go out in small bursts (up to kPacerSlack early; the
        // rate over any millisecond unchanged) and the journal's groups are fewer and larger:
        // the process's cores at half load 1.23-1.34 -> 1.10-1.23 in 5 of 5 alternating runs,
        // sleeps over the scenario 32.9k -> 24.6k. Latency counts from each append's own call.
        constexpr auto kPacerSlack = std::chrono::microseconds(100);
        if (Clock::now() + kPacerSlack < due) std::this_thread::sleep_until(due);
        issue(p, mine[i], done);
        p += nthreads;
        if (p >= kPids) p = t;
      }
    });
  }
  for (auto& th : threads) th.join();
  while (done.load(std::memory_order_acquire) < per_thread * nthreads) std::this_thread::yield();
  const double secs = seconds_since(start);
  std::vector<std::uint32_t> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  if (std::count(all.begin(), all.end(), UINT32_MAX) > 0) {
    throw std::runtime_error("an append failed in the persist latency benchmark");
  }
  std::sort(all.begin(), all.end());
  Latency l;
  l.p50_us = all[all.size() / 2];
  l.p99_us = all[all.size() * 99 / 100];
  l.achieved_per_s = static_cast<double>(all.size()) / secs;
  return l;
}

std::uint32_t micros_since(Clock::time_point t) {
  return static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count());
}

// The latency peer: group commit at its most naive. Appends copy their pid, sequence number
// and payload into one buffer under a mutex; a writer thread takes the buffer, writes it at
// the end of a file (written full once and then overwritten in place, as the journal's log
// files are), fdatasyncs it and acknowledges the group. No index, no checksums, no fold, no
// database: what it cannot do at a given rate on this machine, the journal cannot either.
class NaiveGroupCommit {
 public:
  explicit NaiveGroupCommit(const std::string& path)
      : path_(path), fd_(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644)) {
    if (fd_ < 0) throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
    const std::string zeros(1 << 20, '\0');
    bool ok = true;
    for (off_t at = 0; ok && at < kFileBytes; at += static_cast<off_t>(zeros.size())) {
      ok = write_at(zeros, at);
    }
    if (!ok || ::fsync(fd_) != 0) {
      const int e = errno;
      ::close(fd_);
      throw std::runtime_error("cannot fill " + path_ + ": " + std::strerror(e));
    }
    writer_ = std::thread([this] { run(); });
  }
  ~NaiveGroupCommit() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    writer_.join();
    ::close(fd_);
  }
  NaiveGroupCommit(const NaiveGroupCommit&) = delete;
  NaiveGroupCommit& operator=(const NaiveGroupCommit&) = delete;

  void append(const EventRecord& e, std::uint32_t& latency_us, std::atomic<std::uint64_t>& done) {
    const auto issued = Clock::now();
    bool was_empty = false;
    {
      std::lock_guard lock(mutex_);
      was_empty = waiting_.empty();
      buffer_ += e.persistence_id;
      buffer_.append(reinterpret_cast<const char*>(&e.sequence_nr), sizeof e.sequence_nr);
      buffer_.append(reinterpret_cast<const char*>(e.payload.data()), e.payload.size());
      waiting_.push_back({&latency_us, &done, issued});
    }
    if (was_empty) wake_.notify_one();
  }

 private:
  static constexpr off_t kFileBytes = 64 << 20;
  struct Waiting {
    std::uint32_t* latency_us;
    std::atomic<std::uint64_t>* done;
    Clock::time_point issued;
  };

  bool write_at(const std::string& bytes, off_t at) {
    return ::pwrite(fd_, bytes.data(), bytes.size(), at) == static_cast<ssize_t>(bytes.size());
  }

  void run() {
    std::string bytes;
    std::vector<Waiting> group;
    off_t at = 0;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return !waiting_.empty() || stopping_; });
        if (waiting_.empty()) return;
        bytes.swap(buffer_);
        group.swap(waiting_);
      }
      if (at + static_cast<off_t>(bytes.size()) > kFileBytes) at = 0;
      // A failed write or sync fails the group's appends, and so the scenario.
      const bool synced = write_at(bytes, at) && ::fdatasync(fd_) == 0;
      at += static_cast<off_t>(bytes.size());
      for (const auto& w : group) {
        *w.latency_us = synced ? micros_since(w.issued) : UINT32_MAX;
        w.done->fetch_add(1, std::memory_order_release);
      }
      bytes.clear();
      group.clear();
    }
  }

  std::string path_;
  int fd_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::string buffer_;
  std::vector<Waiting> waiting_;
  bool stopping_ = false;
  std::thread writer_;
};

// The naive group commit (NaiveGroupCommit) at `rate`, as the journal's latency phase runs.
std::string naive_at(double rate, double scale, const std::string& path,
                     std::vector<std::uint64_t>& next) {
  NaiveGroupCommit naive(path);
  StallWatch watch;
  const auto lat = paced(rate, phase_seconds(scale), 2,
                         [&](std::size_t p, std::uint32_t& latency_us, auto& done) {
                           const auto pid = pid_name(p);
                           naive.append(make_event(pid, p, next[p]++), latency_us, done);
                         });
  const auto stalls = watch.stop();
  return fmt::format(
      R"({{"suite":"journal","scenario":"persist_naive","load_events_per_s":{:.0f},"p50_us":{:.0f},"p99_us":{:.0f},"load_stalls":{},"load_stall_ms":{:.0f}}})",
      lat.achieved_per_s, lat.p50_us, lat.p99_us, stalls.count, stalls.total_ms);
}

// The persist line, then the naive peer's at the same half-load rate.
void persist(double scale, std::optional<double> baseline_per_s,
             const std::function<void(const std::string&)>& print) {
  TempDir dir("weft-bench-journal");
  MetricsRegistry metrics;
  auto j = open_journal(dir.path() + "/db", &metrics);
  std::vector<std::uint64_t> next(kPids, 1);
  const Appenders a;
  // Warm up until the journal works in the memory it keeps: the log of the generation being
  // filled and of the one being folded, ~128 MiB each (JournalOptions::fold_bytes), ~2M events
  // here. A journal just opened faults all of it in as it fills its first two generations
  // (first-touch page faults were ~10% of the samples, and the first 2M events run ~25% slower,
  // printed as warmup_events_per_s); a node that has run for a while does not.
  const std::uint64_t warmup_events = sized(2e6, scale);
  const double warmup_rate = persist_max(*j, warmup_events, a, next);
  const double max_rate = [&] {
    const ProfiledPhase profiled;
    return persist_max(*j, sized(3e6, scale), a, next);
  }();
  const double target = max_rate / 2;
  // The burst above leaves up to a few folds' worth of log behind it (appends only wait for
  // the fold beyond four thresholds); the latency phase starts once that backlog is folded, so
  // it measures half load, not the burst's aftermath. Its own folds still run during it.
  settle(*j, open_fold_bytes());
  // How busy the process kept the cores at that load, and how long the host took them away
  // meanwhile: steal time where the host reports it, and load_stalls where it does not (how
  // often a thread sleeping 2 ms woke over 3 ms late: StallWatch). A stall holds up every append
  // in flight; the naive peer below, at the same rate, shows what remains of p99 without weft.
  const double steal_before = steal_seconds();
  const auto cpu_before = std::clock();
  const auto wall_before = Clock::now();
  StallWatch watch;
  const auto lat = paced(
      target, phase_seconds(scale), 2, [&](std::size_t p, std::uint32_t& latency_us, auto& done) {
        const auto pid = pid_name(p);
        AppendBatch b{pid, next[p], 0, {make_event(pid, p, next[p])}};
        ++next[p];
        const auto issued = Clock::now();
        j->append(std::move(b))
            .on_complete([&latency_us, issued, &done](const Result<std::uint64_t>& r) {
              latency_us = r ? micros_since(issued) : UINT32_MAX;
              done.fetch_add(1, std::memory_order_release);
            });
      });
  const auto stalls = watch.stop();
  const double load_cores =
      static_cast<double>(std::clock() - cpu_before) / CLOCKS_PER_SEC / seconds_since(wall_before);
  const double steal_ms = (steal_seconds() - steal_before) * 1e3;
  std::string line = fmt::format(
      R"({{"suite":"journal","scenario":"persist","pids":{},"payload_bytes":{},"events_per_s":{:.0f},"load_events_per_s":{:.0f},"p50_us":{:.0f},"p99_us":{:.0f},"load_cpu_cores":{:.2f},"load_steal_ms":{:.0f},"load_stalls":{},"load_stall_ms":{:.0f},"warmup_events":{},"warmup_events_per_s":{:.0f})",
      kPids, kPayloadBytes, max_rate, lat.achieved_per_s, lat.p50_us, lat.p99_us, load_cores,
      steal_ms, stalls.count, stalls.total_ms, warmup_events, warmup_rate);
  if (baseline_per_s) line += fmt::format(R"(,"vs_baseline":{:.2f})", max_rate / *baseline_per_s);
  // WEFT_BENCH_DEBUG=1 shows the journal's own metrics (group sizes, fsync and fold times).
  if (std::getenv("WEFT_BENCH_DEBUG") != nullptr)
    std::fputs(metrics.prometheus_text().c_str(), stderr);
  print(line + "}");
  j.reset();
  print(naive_at(target, scale, dir.path() + "/naive.log", next));
}

std::string replay(double scale) {
  TempDir dir("weft-bench-journal");
  const std::string db = dir.path() + "/db";
  const std::uint64_t n = sized(1e6, scale);
  const std::string pid = "replayed";
  {
    auto j = open_journal(db);
    std::deque<Future<std::uint64_t>> in_flight;
    for (std::uint64_t seq = 1; seq <= n;) {
      AppendBatch b{pid, seq, 0, {}};
      for (int i = 0; i < 1000 && seq <= n; ++i, ++seq) b.events.push_back(make_event(pid, 0, seq));
      in_flight.push_back(j->append(std::move(b)));
      if (in_flight.size() > 16) {
        if (!in_flight.front().get())
          throw std::runtime_error("append failed while loading replay");
        in_flight.pop_front();
      }
    }
    for (auto& f : in_flight) {
      if (!f.get()) throw std::runtime_error("append failed while loading replay");
    }
  }
  // Reopened: the events come from table files (in the page cache), not the memtable.
  auto j = open_journal(db);
  const ProfiledPhase profiled;
  const auto start = Clock::now();
  std::uint64_t read = 0;
  for (std::uint64_t from = 1;;) {
    auto page = j->read(pid, from, UINT64_MAX, 10'000).get();
    if (!page) throw std::runtime_error(page.error().describe());
    if (page->empty()) break;
    read += page->size();
    from = page->back().sequence_nr + 1;
  }
  const double secs = seconds_since(start);
  if (read != n)
    throw std::runtime_error("replay read " + std::to_string(read) + " of " + std::to_string(n));
  return fmt::format(
      R"({{"suite":"journal","scenario":"replay","events":{},"events_per_s":{:.0f}}})", read,
      static_cast<double>(read) / secs);
}

}  // namespace

bool run_journal_suite(double scale, const std::optional<std::string>& scenario,
                       const std::function<void(const std::string&)>& print) {
  if (scenario && *scenario != "baseline" && *scenario != "persist" && *scenario != "replay" &&
      *scenario != "recover") {
    return false;
  }
  auto wanted = [&](const char* name) { return !scenario || *scenario == name; };
  std::optional<double> base;
  if (wanted("baseline")) {
    base = baseline(scale);
    print(fmt::format(
        R"({{"suite":"journal","scenario":"baseline","batch_events":1000,"payload_bytes":{},"events_per_s":{:.0f}}})",
        kPayloadBytes, *base));
  }
  if (wanted("persist")) persist(scale, base, print);
  if (wanted("replay")) print(replay(scale));
  if (wanted("recover")) print(recover_benchmark(scale));
  return true;
}

}  // namespace weft::bench
