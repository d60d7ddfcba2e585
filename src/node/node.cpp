// The node: opens the data dir, wires the device actors, the window job, the ingest paths and
// the HTTP API together, and takes them down in order (docs/node.md).
#include "weft/node/node.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <unordered_map>

#include "node_impl.hpp"
#include "node_parts.hpp"
#include "weft/core/memory.hpp"
#include "weft/persistence/key_store.hpp"

namespace weft::node {
namespace detail {

// --- Directory ------------------------------------------------------------------------------

void Directory::update(const std::string& device, const DeviceState& s) {
  std::lock_guard lock(mutex_);
  devices_[device] =
      DeviceSummary{s.readings, s.last_ts, s.last_temperature, s.alarms, s.open_alarm.has_value()};
}

void Directory::remove(const std::string& device) {
  std::lock_guard lock(mutex_);
  devices_.erase(device);
}

bool Directory::contains(const std::string& device) const {
  std::lock_guard lock(mutex_);
  return devices_.contains(device);
}

std::vector<std::pair<std::string, DeviceSummary>> Directory::list() const {
  std::lock_guard lock(mutex_);
  return {devices_.begin(), devices_.end()};
}

std::size_t Directory::size() const {
  std::lock_guard lock(mutex_);
  return devices_.size();
}

// --- EventHub -------------------------------------------------------------------------------

void EventHub::add(io::EventStream stream) {
  std::lock_guard lock(mutex_);
  streams_.push_back(std::move(stream));
}

void EventHub::publish(std::string_view name, std::string_view data) {
  std::lock_guard lock(mutex_);
  std::erase_if(streams_, [&](io::EventStream& s) { return !s.send(name, data); });
}

void EventHub::note_reading(const std::string& device, const ReadingRecorded& r) {
  std::lock_guard lock(mutex_);
  if (streams_.empty()) return;
  readings_[device] = r;
}

void EventHub::flush_readings() {
  std::string data;
  {
    std::lock_guard lock(mutex_);
    if (readings_.empty()) return;
    data.reserve(64 * readings_.size() + 16);
    data += "{\"readings\":[";
    bool first = true;
    for (const auto& [device, r] : readings_) {
      if (!first) data += ',';
      first = false;
      data +=
          fmt::format(R"({{"device":"{}","ts":{},"temperature":{})", device, r.ts, r.temperature);
      if (r.vibration) {
        data += fmt::format(R"(,"vibration":{}}})", *r.vibration);
      } else {
        data += R"(,"vibration":null})";
      }
    }
    data += "]}";
    readings_.clear();
  }
  publish("readings", data);
}

void EventHub::close_all() {
  std::lock_guard lock(mutex_);
  for (auto& s : streams_) s.close();
  streams_.clear();
}

std::size_t EventHub::streams() const {
  std::lock_guard lock(mutex_);
  return streams_.size();
}

// --- WorkQueue ------------------------------------------------------------------------------

WorkQueue::WorkQueue() : thread_([this] { run(); }) {}

WorkQueue::~WorkQueue() {
  stop();
}

void WorkQueue::post(std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;  // the job (and any responder it holds) is dropped: 500 or nothing
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void WorkQueue::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WorkQueue::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      job();
    } catch (const std::exception& e) {
      spdlog::error("node: a query failed: {}", e.what());
    }
  }
}

// --- Metrics --------------------------------------------------------------------------------

NodeMetrics::NodeMetrics(MetricsRegistry& r)
    : readings_http(r.counter("weft_ingest_readings_total", "Readings accepted (durable)",
                              {{"source", "http"}})),
      readings_mqtt(r.counter("weft_ingest_readings_total", "Readings accepted (durable)",
                              {{"source", "mqtt"}})),
      readings_simulator(r.counter("weft_ingest_readings_total", "Readings accepted (durable)",
                                   {{"source", "simulator"}})),
      events_persisted(r.counter("weft_device_events_total", "Events persisted by device actors")),
      alarms(r.counter("weft_alarms_total", "Alarms triggered")),
      aggregates(r.counter("weft_window_aggregates_total", "Window aggregates recorded")),
      persist_latency_us(r.histogram("weft_ingest_persist_latency_seconds",
                                     "From a batch's arrival to all its readings being durable", {},
                                     1e-6)),
      registry_(r) {}

Counter& NodeMetrics::rejected(std::string_view reason) {
  std::lock_guard lock(mutex_);
  auto it = rejected_.find(reason);
  if (it != rejected_.end()) return *it->second;
  auto& c = registry_.counter("weft_ingest_rejected_total", "Readings or requests rejected",
                              {{"reason", std::string(reason)}});
  rejected_.emplace(std::string(reason), &c);
  return c;
}

/// The reject reason of a parse error: the field it names, else "item".
std::string_view reject_reason(std::string_view error) {
  for (std::string_view field : {"device", "ts", "temperature", "vibration"}) {
    if (error.starts_with(field) && error.size() > field.size() && error[field.size()] == ':') {
      return field;
    }
  }
  return "item";
}

namespace {

std::uint64_t directory_bytes(const std::filesystem::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto n = it->file_size(size_ec);
      if (!size_ec) total += n;
    }
  }
  return total;
}

/// The master key: the configured file, $WEFT_MASTER_KEY, or `<data_dir>/master.key` (made on
/// first start).
Result<persistence::Key> load_or_create_master_key(const NodeOptions& o) {
  if (!o.master_key_file.empty()) return persistence::Key::load_file(o.master_key_file);
  if (const char* env = std::getenv("WEFT_MASTER_KEY"); env != nullptr && *env != '\0') {
    return persistence::Key::from_env("WEFT_MASTER_KEY");
  }
  const auto path = o.data_dir / "master.key";
  if (std::filesystem::exists(path)) return persistence::Key::load_file(path.string());
  auto key = persistence::Key::random();
  if (!key) return key;
  std::string hex;
  for (auto b : key->bytes()) hex += fmt::format("{:02x}", static_cast<unsigned>(b));
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return fail(Errc::io, "cannot write the master key file '" + tmp + "'");
    out << hex << '\n';
    if (!out.flush()) return fail(Errc::io, "cannot write the master key file '" + tmp + "'");
  }
  ::chmod(tmp.c_str(), 0600);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return fail(Errc::io, "cannot create '" + path.string() + "': " + ec.message());
  spdlog::info("node: created a master key in {} (keep it: without it the data is unreadable)",
               path.string());
  return persistence::Key::load_file(path.string());
}

}  // namespace
}  // namespace detail

// --- Node::Impl -----------------------------------------------------------------------------

Node::Impl::~Impl() {
  (void)stop();
}

void Node::Impl::ingest(std::vector<Reading> readings, IngestSource source,
                        std::function<void(Result<std::size_t>)> done) {
  if (!accepting.load(std::memory_order_acquire)) {
    done(fail(Errc::shutting_down, "the node is shutting down"));
    return;
  }
  if (readings.empty()) {
    done(std::size_t{0});
    return;
  }
  // One command per device, in the order its readings came.
  std::vector<std::pair<std::string, std::vector<Reading>>> groups;
  {
    // Keyed by a copy: the readings' own strings move into the groups below.
    std::unordered_map<std::string, std::size_t> index;
    for (auto& r : readings) {
      auto [it, fresh] = index.try_emplace(r.device, groups.size());
      if (fresh) groups.emplace_back(r.device, std::vector<Reading>{});
      groups[it->second].second.push_back(std::move(r));
    }
  }
  // Alarms first: the devices with a reading above the threshold (rule 1) get their commands
  // before the rest of the batch, so their alarms ride the first journal commit instead of
  // waiting behind the other devices' writes. A device's own readings keep their order.
  // (Not std::stable_partition: its buffer comes from get_temporary_buffer, deprecated.)
  if (options.temperature_alarm) {
    const double threshold = options.temperature_threshold;
    std::vector<bool> hot(groups.size());
    bool reorder = false;
    for (std::size_t i = 0; i < groups.size(); ++i) {
      hot[i] = std::ranges::any_of(
          groups[i].second, [threshold](const Reading& r) { return r.temperature > threshold; });
      reorder = reorder || (hot[i] && i > 0 && !hot[i - 1]);
    }
    if (reorder) {
      std::vector<std::pair<std::string, std::vector<Reading>>> ordered;
      ordered.reserve(groups.size());
      for (const bool first_pass : {true, false}) {
        for (std::size_t i = 0; i < groups.size(); ++i) {
          if (hot[i] == first_pass) ordered.push_back(std::move(groups[i]));
        }
      }
      groups = std::move(ordered);
    }
  }
  struct Batch {
    std::mutex mutex;
    std::size_t remaining = 0;
    std::size_t recorded = 0;
    std::optional<Error> error;
    std::function<void(Result<std::size_t>)> done;
    std::chrono::steady_clock::time_point began = std::chrono::steady_clock::now();
  };
  auto batch = std::make_shared<Batch>();
  batch->remaining = groups.size();
  batch->done = std::move(done);
  {
    std::lock_guard lock(flight_mutex);
    ++in_flight;
  }
  for (auto& [device, rs] : groups) {
    RecordReadings cmd{std::move(rs), [this, batch, source](Result<std::size_t> r) {
                         std::unique_lock lock(batch->mutex);
                         if (r) {
                           batch->recorded += *r;
                         } else if (!batch->error) {
                           batch->error = r.error();
                         }
                         if (--batch->remaining != 0) return;
                         lock.unlock();
                         const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                                             std::chrono::steady_clock::now() - batch->began)
                                             .count();
                         metrics->persist_latency_us.record(static_cast<std::uint64_t>(us));
                         if (batch->error) {
                           metrics->rejected("persist").inc(batch->recorded);
                           batch->done(std::unexpected(*batch->error));
                         } else {
                           switch (source) {
                             case IngestSource::http:
                               metrics->readings_http.inc(batch->recorded);
                               break;
                             case IngestSource::mqtt:
                               metrics->readings_mqtt.inc(batch->recorded);
                               break;
                             case IngestSource::simulator:
                               metrics->readings_simulator.inc(batch->recorded);
                               break;
                           }
                           batch->done(batch->recorded);
                         }
                         std::lock_guard flight(flight_mutex);
                         if (--in_flight == 0) flight_cv.notify_all();
                       }};
    devices.tell(persistence::EntityEnvelope<DeviceCommand>{device, std::move(cmd)});
  }
}

void Node::Impl::on_event(const std::string& device, std::uint64_t, const DeviceEvent& e,
                          const DeviceState& state) {
  metrics->events_persisted.inc();
  directory.update(device, state);
  if (const auto* r = std::get_if<ReadingRecorded>(&e)) {
    hub.note_reading(device, *r);
    return;
  }
  if (const auto* rs = std::get_if<ReadingsRecorded>(&e)) {
    // The stream shows each device's latest reading: the batch's last (arrival order).
    if (!rs->readings.empty()) hub.note_reading(device, rs->readings.back());
    return;
  }
  if (const auto* a = std::get_if<AlarmTriggered>(&e)) {
    metrics->alarms.inc();
    const auto data =
        fmt::format(R"({{"device":"{}","ts":{},"rule":"{}","value":{},"threshold":{}}})", device,
                    a->ts, to_string(a->rule), a->value, a->threshold);
    hub.publish("alarm", data);
    if (mqtt) mqtt->publish_out(device, "alarm", data);
    return;
  }
  if (const auto* g = std::get_if<AggregateRecorded>(&e)) {
    metrics->aggregates.inc();
    auto seen = newest_window_end.load(std::memory_order_relaxed);
    while (g->window_end > seen && !newest_window_end.compare_exchange_weak(seen, g->window_end)) {
    }
    const auto data = fmt::format(
        R"({{"device":"{}","window_start":{},"window_end":{},"count":{},"avg":{},"min":{},"max":{}}})",
        device, g->window_start, g->window_end, g->count, g->avg, g->min, g->max);
    hub.publish("aggregate", data);
    if (mqtt) mqtt->publish_out(device, "aggregate", data);
  }
}

NodeStats Node::Impl::stats() const {
  NodeStats s;
  s.readings_accepted = metrics->readings_http.value() + metrics->readings_mqtt.value() +
                        metrics->readings_simulator.value();
  s.events_persisted = metrics->events_persisted.value();
  s.alarms = metrics->alarms.value();
  s.aggregates = metrics->aggregates.value();
  s.late = late->total();
  s.devices = directory.size();
  s.actors_active = actors_active.load();
  s.recovered = recovered.load(std::memory_order_acquire);
  return s;
}

std::string Node::Impl::stats_json() const {
  const auto s = stats();
  const auto p99 = metrics->persist_latency_us.snapshot().quantile(0.99);
  const auto uptime =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return fmt::format(
      R"({{"ingest_per_s":{:.1f},"persist_p99_us":{},"journal_bytes":{},"actors_active":{},"devices":{},"alarms_total":{},"late_total":{},"aggregates_total":{},"readings_total":{},"uptime_s":{:.1f}}})",
      ingest_per_s.load(), std::isfinite(p99) ? static_cast<std::int64_t>(p99) : 0,
      journal_bytes.load(), s.actors_active, s.devices, s.alarms, s.late, s.aggregates,
      s.readings_accepted, uptime);
}

void Node::Impl::run_ticker() {
  using namespace std::chrono_literals;
  std::uint64_t tick = 0;
  std::uint64_t last_readings = 0;
  auto last_time = std::chrono::steady_clock::now();
  for (;;) {
    {
      std::unique_lock lock(ticker_mutex);
      if (ticker_cv.wait_for(lock, 250ms, [&] { return ticker_stop; })) return;
    }
    ++tick;
    hub.flush_readings();
    if (tick % 4 == 0) {
      const auto now = std::chrono::steady_clock::now();
      const auto readings = stats().readings_accepted;
      const double secs = std::chrono::duration<double>(now - last_time).count();
      if (secs > 0) ingest_per_s.store(static_cast<double>(readings - last_readings) / secs);
      last_readings = readings;
      last_time = now;
      hub.publish("stats", stats_json());
    }
    if (tick % 20 == 1) journal_bytes.store(detail::directory_bytes(options.data_dir / "journal"));
  }
}

void Node::Impl::device_recovered_at_start() {
  std::lock_guard lock(startup_mutex);
  ++startup_done;
  if (startup_progress) startup_progress->update(startup_done);
  if (startup_done < startup_total) return;
  if (startup_progress) startup_progress->finish();
  startup_progress.reset();
  spdlog::info("node: {} devices recovered in {:.2f} s", startup_total,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  // Recovery read every device's events and snapshot and freed them again: give the pages back
  // now rather than after the allocator's decay, so the node's resident size is its state.
  release_free_memory();
  recovered.store(true, std::memory_order_release);
}

Result<void> Node::Impl::stop() {
  std::lock_guard stop_lock(stop_mutex);
  if (stopped) return {};
  stopped = true;
  using namespace std::chrono_literals;
  Result<void> result;
  // 1. No new input: HTTP answers 503, the simulator and MQTT stop feeding.
  accepting.store(false, std::memory_order_release);
  if (http) http->begin_shutdown();
  if (simulator) simulator->stop();
  // 2. What was taken becomes durable (bounded: a wedged disk must not hang the exit).
  {
    std::unique_lock lock(flight_mutex);
    if (!flight_cv.wait_for(lock, 3s, [&] { return in_flight == 0; })) {
      spdlog::warn("node: {} ingest batches still not durable at shutdown", in_flight);
    }
  }
  if (mqtt) mqtt->stop();  // sends the acknowledgements already given
  // 3. A final checkpoint of the window job, so a restart resumes exactly here. A periodic
  // checkpoint still in flight completes first (the job takes one at a time); then the final
  // one starts, and counts once the job reports it (or a later one) completed.
  if (window_job) {
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    std::optional<stream::CheckpointId> final_id;
    while (std::chrono::steady_clock::now() < deadline) {
      auto id = window_job->checkpoint();
      if (id) {
        final_id = *id;
        break;
      }
      if (id.error().code() != Errc::conflict) {
        spdlog::warn("node: final checkpoint: {}", id.error().describe());
        break;
      }
      std::this_thread::sleep_for(5ms);  // bounded poll: the one in flight is finishing
    }
    if (final_id) {
      auto done = [&] {
        const auto last = window_job->metrics().last_checkpoint;
        return last && *last >= *final_id;
      };
      while (!done() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);  // bounded poll of the job's own progress
      }
      if (!done()) spdlog::warn("node: the final checkpoint did not complete in time");
    } else if (std::chrono::steady_clock::now() >= deadline) {
      spdlog::warn("node: final checkpoint: an earlier checkpoint did not finish in time");
    }
    window_job->cancel();
    (void)window_job->wait_for(3s);
  }
  {
    std::lock_guard lock(ticker_mutex);
    ticker_stop = true;
  }
  ticker_cv.notify_all();
  if (ticker.joinable()) ticker.join();
  hub.close_all();
  if (http) http->stop();
  if (work) work->stop();
  window_job.reset();
  if (retention) retention->stop();
  retention.reset();
  if (system) {
    system->terminate();
  }
  mqtt.reset();
  simulator.reset();
  snapshots.reset();
  integrity.reset();
  journal.reset();
  raw_journal.reset();  // completes pending appends and folds the log
  system.reset();
  return result;
}

// --- Node -----------------------------------------------------------------------------------

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Node::~Node() {
  (void)stop();
}

std::uint16_t Node::http_port() const noexcept {
  return impl_->http ? impl_->http->port() : 0;
}

std::string Node::url() const {
  return fmt::format("http://{}:{}/", impl_->options.http_address, http_port());
}

NodeStats Node::stats() const {
  return impl_->stats();
}

Result<void> Node::stop() {
  return impl_->stop();
}

Result<std::unique_ptr<Node>> Node::start(NodeOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  auto& o = impl->options;
  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  if (ec) {
    return fail(Errc::io,
                "cannot create the data dir '" + o.data_dir.string() + "': " + ec.message());
  }

  ActorSystemConfig sys;
  sys.name = "weft-node";
  sys.workers = o.workers;
  impl->system = std::make_unique<ActorSystem>(sys);
  impl->metrics = std::make_unique<detail::NodeMetrics>(impl->system->metrics());

  persistence::JournalOptions jo;
  jo.directory = (o.data_dir / "journal").string();
  jo.metrics = &impl->system->metrics();
  jo.fold_bytes = 32u << 20;  // a small gateway: bounded memory and a quick clean close
  // Log files ready before they are needed (each fdatasync then writes data blocks only), and
  // small enough that preparing the first takes a fraction of a second.
  jo.preallocate_log = true;
  jo.log_file_bytes = 16u << 20;
  auto raw = persistence::RocksDbJournal::open(jo);
  if (!raw) return std::unexpected(raw.error().with_context("node: journal"));
  impl->raw_journal = std::shared_ptr<persistence::RocksDbJournal>(std::move(*raw));
  impl->snapshots = impl->raw_journal->snapshot_store();
  impl->journal = impl->raw_journal;
  if (o.integrity) {
    auto master = detail::load_or_create_master_key(o);
    if (!master) return std::unexpected(master.error().with_context("node: master key"));
    auto keys = persistence::RocksDbKeyStore::open((o.data_dir / "keys").string(), *master);
    if (!keys) return std::unexpected(keys.error().with_context("node: key store"));
    persistence::IntegrityOptions io;
    impl->keys = keys->get();
    auto gone = impl->keys->forgotten();
    if (!gone) return std::unexpected(gone.error().with_context("node: key store"));
    for (const auto& pid : *gone) {
      if (const auto d = device_of_pid(pid); !d.empty()) impl->forgotten.emplace(d);
    }
    io.key_store = std::move(*keys);
    auto integrity = persistence::IntegrityJournal::open(impl->raw_journal, *master, std::move(io));
    if (!integrity) return std::unexpected(integrity.error().with_context("node: integrity"));
    impl->integrity = std::shared_ptr<persistence::IntegrityJournal>(std::move(*integrity));
    impl->journal = impl->integrity;
  }
  impl->permits = std::make_shared<persistence::RecoveryPermits>(o.max_recovering);

  DeviceOptions dev;
  dev.alarm_threshold = o.temperature_threshold;
  dev.window_average_threshold = o.window_average_threshold;
  dev.temperature_alarm = o.temperature_alarm;
  dev.window_alarm = o.window_alarm;
  dev.journal = impl->journal;
  dev.snapshots = impl->snapshots;
  dev.snapshot_every = o.snapshot_every;
  dev.passivate_after = o.passivate_after;
  dev.recovery_permits = impl->permits;
  Impl* self = impl.get();
  dev.on_event = [self](const std::string& device, std::uint64_t seq, const DeviceEvent& e,
                        const DeviceState& s) { self->on_event(device, seq, e, s); };
  dev.on_active = [self](int delta) { self->actors_active.fetch_add(delta); };
  impl->devices = impl->system->spawn<DevicesMsg>(devices_behavior(std::move(dev)), "devices");

  // Known devices recover now, so the API lists them before they report again.
  if (auto ids = impl->journal->persistence_ids().get(); ids) {
    std::vector<std::string> known;
    for (const auto& pid : *ids) {
      const auto device = device_of_pid(pid);
      if (!device.empty()) known.emplace_back(device);
    }
    {
      std::lock_guard lock(impl->startup_mutex);
      impl->startup_total = known.size();
      // A bar on a terminal, a log line now and then otherwise; not for a handful.
      if (known.size() >= 1000) {
        impl->startup_progress =
            std::make_unique<Progress>("node: recovering devices", known.size());
      }
    }
    if (known.empty()) impl->recovered.store(true, std::memory_order_release);
    for (auto& device : known) {
      impl->devices.tell(persistence::EntityEnvelope<DeviceCommand>{
          device, GetDeviceState{[self, d = device](const DeviceState& s) {
            self->directory.update(d, s);
            self->device_recovered_at_start();
          }}});
    }
  } else {
    return std::unexpected(ids.error().with_context("node: listing devices"));
  }

  WindowJobSpec wj;
  wj.journal = impl->journal;
  wj.devices = impl->devices;
  wj.rules = o.windows;
  wj.late = impl->late;
  wj.options.name = "windows";
  wj.options.checkpoint_interval = o.checkpoint_interval;
  wj.options.checkpoint_dir = o.data_dir / "checkpoints" / "windows";
  wj.options.retained_checkpoints = o.retained_checkpoints;
  auto job = start_window_job(*impl->system, std::move(wj));
  if (!job) return std::unexpected(job.error().with_context("node: window job"));
  impl->window_job = std::move(*job);

  auto& reg = impl->system->metrics();
  reg.callback_gauge("weft_journal_bytes", "Bytes of the journal's files on disk",
                     [self] { return static_cast<double>(self->journal_bytes.load()); });
  reg.callback_gauge("weft_devices", "Devices known to the node",
                     [self] { return static_cast<double>(self->directory.size()); });
  reg.callback_gauge("weft_actors_active", "Device actors running",
                     [self] { return static_cast<double>(self->actors_active.load()); });
  reg.callback_gauge("weft_actors_recovering", "Device actors recovering their state",
                     [self] { return static_cast<double>(self->permits->in_use()); });
  reg.callback_gauge("weft_late_readings", "Readings that came after their window closed",
                     [self] { return static_cast<double>(self->late->total()); });
  reg.callback_gauge("weft_window_lag_seconds",
                     "Wall clock minus the end of the newest window recorded", [self] {
                       const auto end = self->newest_window_end.load();
                       if (end == 0) return 0.0;
                       const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count();
                       return static_cast<double>(now - end) / 1000.0;
                     });
  reg.callback_gauge(
      "weft_checkpoint_duration_seconds", "Duration of the window job's last checkpoint", [self] {
        if (!self->window_job) return 0.0;
        return std::chrono::duration<double>(self->window_job->metrics().last_checkpoint_duration)
            .count();
      });
  reg.callback_gauge("weft_checkpoints_completed", "Checkpoints the window job completed", [self] {
    if (!self->window_job) return 0.0;
    return static_cast<double>(self->window_job->metrics().checkpoints_completed);
  });

  if (o.max_event_age || o.keep_snapshots != 0) {
    persistence::RetentionOptions ro;
    if (o.max_event_age) {
      ro.max_event_age = std::chrono::duration_cast<std::chrono::milliseconds>(*o.max_event_age);
    }
    ro.keep_snapshots = o.keep_snapshots;
    ro.interval = std::chrono::duration_cast<std::chrono::milliseconds>(o.retention_interval);
    impl->retention = std::make_unique<persistence::Retention>(impl->journal, impl->snapshots, ro,
                                                               impl->system->clock());
    impl->retention->start([](const Result<persistence::RetentionReport>& r) {
      if (!r) {
        spdlog::warn("retention: {}", r.error().message());
      } else if (r->events_deleted + r->snapshots_deleted > 0 || !r->errors.empty()) {
        spdlog::info("retention: {} events and {} snapshots deleted, {} errors", r->events_deleted,
                     r->snapshots_deleted, r->errors.size());
      }
    });
  }

  impl->work = std::make_unique<detail::WorkQueue>();
  if (o.http_enabled) {
    install_routes(*impl);
    io::HttpServerOptions ho;
    ho.address = o.http_address;
    ho.port = o.http_port;
    ho.max_body_bytes = o.max_body_bytes;
    ho.metrics = &impl->system->metrics();
    auto server = io::HttpServer::start(ho, impl->router.handler());
    if (!server) return std::unexpected(server.error().with_context("node: HTTP"));
    impl->http = std::move(*server);
  }
  if (o.mqtt_enabled) {
    auto mqtt = detail::MqttIngest::start(*impl);
    if (!mqtt) return std::unexpected(mqtt.error().with_context("node: MQTT"));
    impl->mqtt = std::move(*mqtt);
  }
  if (o.simulate) {
    auto sim = detail::Simulator::start(*impl);
    if (!sim) return std::unexpected(sim.error().with_context("node: simulator"));
    impl->simulator = std::move(*sim);
  }
  impl->ticker = std::thread([self] { self->run_ticker(); });
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

}  // namespace weft::node
