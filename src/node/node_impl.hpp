// The node's parts and how they meet; private to src/node.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "weft/actor.hpp"
#include "weft/core/metrics.hpp"
#include "weft/core/progress.hpp"
#include "weft/io/http_router.hpp"
#include "weft/io/http_server.hpp"
#include "weft/node/device.hpp"
#include "weft/node/node.hpp"
#include "weft/node/reading.hpp"
#include "weft/node/windows.hpp"
#include "weft/persistence/integrity_journal.hpp"
#include "weft/persistence/recovery_permits.hpp"
#include "weft/persistence/retention.hpp"
#include "weft/persistence/rocksdb_journal.hpp"

namespace weft::node::detail {

/// What the API lists for each device, kept current by the device actors' events (so listing
/// all devices does not wake every actor).
struct DeviceSummary {
  std::uint64_t readings = 0;
  std::int64_t last_ts = 0;
  double last_temperature = 0;
  std::uint64_t alarms = 0;
  bool alarm_open = false;
};

class Directory {
 public:
  void update(const std::string& device, const DeviceState& state);
  void remove(const std::string& device);
  [[nodiscard]] bool contains(const std::string& device) const;
  [[nodiscard]] std::vector<std::pair<std::string, DeviceSummary>> list() const;
  [[nodiscard]] std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, DeviceSummary> devices_;
};

/// The server-sent event streams of /api/v1/stream. Alarms and aggregates go out at once;
/// readings are coalesced (the newest per device) and flushed a few times a second, so a fast
/// ingest does not flood a browser.
class EventHub {
 public:
  void add(io::EventStream stream);
  void publish(std::string_view name, std::string_view data);
  void note_reading(const std::string& device, const ReadingRecorded& r);
  /// Sends the coalesced readings (if any) as one `readings` event.
  void flush_readings();
  void close_all();
  [[nodiscard]] std::size_t streams() const;

 private:
  mutable std::mutex mutex_;
  std::vector<io::EventStream> streams_;
  std::map<std::string, ReadingRecorded> readings_;
};

/// One background thread for work that may block (journal reads for the query API), so the
/// HTTP I/O thread never waits on the disk.
class WorkQueue {
 public:
  WorkQueue();
  ~WorkQueue();
  void post(std::function<void()> job);
  void stop();

 private:
  void run();
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

struct NodeMetrics {
  explicit NodeMetrics(MetricsRegistry& r);
  Counter& readings_http;
  Counter& readings_mqtt;
  Counter& readings_simulator;
  Counter& events_persisted;
  Counter& alarms;
  Counter& aggregates;
  Histogram& persist_latency_us;  // exported in seconds
  /// Rejects by reason ("device", "ts", "temperature", "vibration", "item", "body",
  /// "shutting_down", "persist").
  Counter& rejected(std::string_view reason);

 private:
  MetricsRegistry& registry_;
  std::mutex mutex_;
  std::map<std::string, Counter*, std::less<>> rejected_;
};

class Simulator;
class MqttIngest;

}  // namespace weft::node::detail

namespace weft::node {

enum class IngestSource : std::uint8_t { http, mqtt, simulator };

struct Node::Impl {
  NodeOptions options;
  std::unique_ptr<ActorSystem> system;
  std::shared_ptr<persistence::RocksDbJournal> raw_journal;
  std::shared_ptr<persistence::IntegrityJournal> integrity;
  std::shared_ptr<persistence::Journal> journal;  // integrity, or the raw journal
  std::shared_ptr<persistence::SnapshotStore> snapshots;
  std::shared_ptr<persistence::RecoveryPermits> permits;
  ActorRef<DevicesMsg> devices;
  std::shared_ptr<LateCounts> late = std::make_shared<LateCounts>();
  std::unique_ptr<stream::Job> window_job;
  std::unique_ptr<persistence::Retention> retention;
  std::unique_ptr<detail::NodeMetrics> metrics;
  detail::Directory directory;
  detail::EventHub hub;
  io::Router router;
  std::unique_ptr<io::HttpServer> http;
  std::unique_ptr<detail::WorkQueue> work;
  std::unique_ptr<detail::MqttIngest> mqtt;
  std::unique_ptr<detail::Simulator> simulator;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  std::atomic<bool> accepting{true};
  std::atomic<std::int64_t> actors_active{0};
  std::atomic<std::int64_t> newest_window_end{0};
  std::atomic<std::uint64_t> journal_bytes{0};
  std::atomic<double> ingest_per_s{0};

  // Recovery of the devices known at start: progress while it runs, then a log line, and the
  // memory it freed goes back to the system.
  std::mutex startup_mutex;
  std::unique_ptr<Progress> startup_progress;
  std::size_t startup_total = 0;
  std::size_t startup_done = 0;
  std::atomic<bool> recovered{false};
  void device_recovered_at_start();

  // Batches whose readings are not durable yet; stop() waits for them.
  std::mutex flight_mutex;
  std::condition_variable flight_cv;
  std::int64_t in_flight = 0;

  // The ticker: flushes coalesced readings, publishes stats, samples the journal's size.
  std::thread ticker;
  std::mutex ticker_mutex;
  std::condition_variable ticker_cv;
  bool ticker_stop = false;

  bool stopped = false;
  std::mutex stop_mutex;

  // Devices erased on request (DELETE): their ids are refused from then on.
  persistence::KeyStore* keys = nullptr;  // owned by `integrity`
  mutable std::mutex forgotten_mutex;
  std::set<std::string, std::less<>> forgotten;
  [[nodiscard]] bool is_forgotten(std::string_view device) const {
    std::lock_guard lock(forgotten_mutex);
    return forgotten.contains(device);
  }

  ~Impl();

  /// Records `readings` (any devices, in order per device); `done` runs once all are durable
  /// (with how many), or with the first error. Refused while shutting down.
  void ingest(std::vector<Reading> readings, IngestSource source,
              std::function<void(Result<std::size_t>)> done);
  /// Called by every device actor for each persisted event.
  void on_event(const std::string& device, std::uint64_t seq, const DeviceEvent& e,
                const DeviceState& state);
  /// The /api/v1/stats object.
  [[nodiscard]] std::string stats_json() const;
  [[nodiscard]] NodeStats stats() const;
  void run_ticker();
  Result<void> stop();
};

/// Installs every route of the HTTP API on `node.router` (api.cpp).
void install_routes(Node::Impl& node);

}  // namespace weft::node
