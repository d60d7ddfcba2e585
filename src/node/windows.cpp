// Rule 2: per-device tumbling windows with a watermark per device, as a keyed process function
// over the journal's ReadingRecorded / ReadingsRecorded events; closed windows go to the device
// actors exactly once.
#include "weft/node/windows.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <utility>

#include "weft/stream/bridges.hpp"
#include "weft/stream/process.hpp"
#include "weft/stream/stream.hpp"

namespace weft::node {

namespace {

constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

/// Saturating a + b and a - b: timestamps are any int64 a device sent.
std::int64_t add_sat(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? kMax : kMin;
  return r;
}
std::int64_t sub_sat(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r)) return b > 0 ? kMin : kMax;
  return r;
}

/// The start of the window holding `ts`: the multiple of size at or below it.
std::int64_t window_start(std::int64_t ts, std::int64_t size) {
  const std::int64_t rem = ts % size;
  return rem < 0 ? sub_sat(ts - rem, size) : ts - rem;
}

Aggregate to_aggregate(std::string_view device, std::int64_t start, std::int64_t size,
                       const WindowAcc& acc) {
  Aggregate a;
  a.device.assign(device);
  a.window_start = start;
  a.window_end = add_sat(start, size);
  a.count = acc.count;
  a.avg = acc.count ? acc.sum / static_cast<double>(acc.count) : 0.0;
  a.min = acc.min;
  a.max = acc.max;
  return a;
}

/// The window operator's state per device: its windows, and when it last sent (wall-clock ms,
/// comparable after a restore in another process, unlike the monotonic clock) for the idle
/// timer, of which at most one is armed per device.
struct WindowKeyState {
  DeviceWindows windows;
  std::int64_t last_arrival_ms = 0;
  bool timer_armed = false;
};
WEFT_CODEC(WindowKeyState, "weft.node.WindowKeyState", 1, windows, last_arrival_ms, timer_armed);

}  // namespace

// --- DeviceWindows -----------------------------------------------------------------------------

bool DeviceWindows::add(const WindowRules& rules, std::string_view device, std::int64_t ts,
                        double temperature, std::vector<Aggregate>& closed) {
  const std::int64_t size = std::max<std::int64_t>(rules.size_ms, 1);
  size_ms = size;
  if (ts < closed_until) {
    ++late;
    return false;
  }
  auto& acc = open[window_start(ts, size)];
  if (acc.count == 0) {
    acc.min = acc.max = temperature;
  } else {
    acc.min = std::min(acc.min, temperature);
    acc.max = std::max(acc.max, temperature);
  }
  ++acc.count;
  acc.sum += temperature;
  max_ts = std::max(max_ts, ts);
  // The device's watermark: every window ending at or before it is complete.
  const std::int64_t watermark =
      sub_sat(max_ts, std::max<std::int64_t>(rules.out_of_orderness_ms, 0));
  if (watermark == kMin) return true;
  const std::int64_t boundary = window_start(watermark, size);  // windows ending <= watermark
  while (!open.empty() && add_sat(open.begin()->first, size) <= watermark) {
    closed.push_back(to_aggregate(device, open.begin()->first, size, open.begin()->second));
    open.erase(open.begin());
  }
  closed_until = std::max(closed_until, boundary);
  return true;
}

void DeviceWindows::close_all(std::string_view device, std::vector<Aggregate>& closed) {
  const std::int64_t size = std::max<std::int64_t>(size_ms, 1);
  for (const auto& [start, acc] : open) {
    closed.push_back(to_aggregate(device, start, size, acc));
    // A reading for a window closed here is late, as after a watermark close.
    closed_until = std::max(closed_until, add_sat(start, size));
  }
  open.clear();
}

// --- LateCounts --------------------------------------------------------------------------------

void LateCounts::set(const std::string& device, std::uint64_t late) {
  std::lock_guard lock(mutex_);
  auto& slot = late_[device];
  total_ = total_ - slot + late;
  slot = late;
}

std::vector<std::pair<std::string, std::uint64_t>> LateCounts::snapshot() const {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  {
    std::lock_guard lock(mutex_);
    out.assign(late_.begin(), late_.end());
  }
  std::ranges::sort(out);
  return out;
}

std::uint64_t LateCounts::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

// --- The job -----------------------------------------------------------------------------------

namespace {

/// The readings a tagged event records (one, or a batch of one device's).
Result<std::vector<Reading>> decode_readings(const persistence::EventRecord& e) {
  const std::string_view device = device_of_pid(e.persistence_id);
  if (device.empty()) {
    return fail(Errc::invalid_argument,
                "'" + e.persistence_id + "' is not a device's persistence id (device-<id>)");
  }
  auto event = device_upcasters().decode(e.manifest, e.version, e.payload);
  if (!event) return std::unexpected(event.error());
  if (!std::holds_alternative<ReadingRecorded>(*event) &&
      !std::holds_alternative<ReadingsRecorded>(*event)) {
    return fail(Errc::invalid_argument,
                std::string("tagged reading is a ") + std::string(event_type(*event)));
  }
  std::vector<Reading> out;
  for_each_reading(*event, [&](const ReadingRecorded& r) {
    out.push_back(Reading{std::string(device), r.ts, r.temperature, r.vibration});
  });
  return out;
}

}  // namespace

Result<std::unique_ptr<stream::Job>> start_window_job(ActorSystem& system, WindowJobSpec spec) {
  using Ctx = stream::KeyedContext<std::string, WindowKeyState, Aggregate>;
  if (!spec.journal) return fail(Errc::invalid_argument, "window job: no journal");
  if (!spec.devices) return fail(Errc::invalid_argument, "window job: no devices actor");
  if (spec.rules.size_ms <= 0) {
    return fail(Errc::invalid_argument, "window job: window size must be positive, got " +
                                            std::to_string(spec.rules.size_ms));
  }
  if (spec.rules.out_of_orderness_ms < 0) {
    return fail(Errc::invalid_argument, "window job: out-of-orderness must not be negative, got " +
                                            std::to_string(spec.rules.out_of_orderness_ms));
  }
  stream::JournalTagSpec<std::vector<Reading>> source;
  source.journal = spec.journal;
  source.tag = std::string(kReadingTag);
  source.decode = decode_readings;
  // A batch's stream timestamp is its first reading's. Nothing keys on it (the job has no
  // watermarks): the windows take each reading's own ts and keep a watermark per device.
  source.event_time = [](const persistence::EventRecord&, const std::vector<Reading>& rs) {
    return rs.empty() ? std::int64_t{0} : rs.front().ts;
  };

  const Clock* clock = &system.clock();  // the job's processing time (it runs on `system`)
  const WindowRules rules = spec.rules;
  const std::int64_t idle_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(rules.idle_timeout).count();
  auto late = spec.late;

  auto on_reading = [clock, rules, late](Ctx& ctx, const Reading& r) {
    auto& st = ctx.state();
    std::vector<Aggregate> closed;
    const bool on_time = st.windows.add(rules, r.device, r.ts, r.temperature, closed);
    if (late && (!on_time || st.windows.late > 0)) late->set(r.device, st.windows.late);
    for (auto& a : closed) ctx.emit(std::move(a));
    st.last_arrival_ms = clock->wall_ms();
    if (!st.timer_armed && rules.idle_timeout.count() > 0) {
      st.timer_armed = true;
      ctx.register_processing_timer(rules.idle_timeout);
    }
  };
  // One timer per device: when it fires early (a reading came since it was set), it is set
  // again for the rest of the idle period from the last reading.
  auto on_timer = [clock, idle_ms](Ctx& ctx, stream::Timestamp, stream::TimeDomain) {
    if (!ctx.has_key_state()) return;
    auto& st = ctx.state();
    const std::int64_t idle_for = clock->wall_ms() - st.last_arrival_ms;
    if (idle_for < idle_ms) {
      ctx.register_processing_timer(std::chrono::milliseconds(idle_ms - idle_for));
      return;
    }
    st.timer_armed = false;
    std::vector<Aggregate> closed;
    st.windows.close_all(ctx.key(), closed);
    for (auto& a : closed) ctx.emit(std::move(a));
  };

  stream::StreamJob job(spec.options);
  // No job-wide watermarks: each device's clock drifts on its own, so the operator keeps a
  // watermark per device; a global one would call device B late because device A is ahead.
  job.from(stream::from_journal_tag(std::move(source)),
           stream::WatermarkStrategy<std::vector<Reading>>::no_watermarks(), "readings", 1)
      .uid("readings")
      .flat_map<Reading>(
          [](std::vector<Reading>&& rs, stream::Collector<Reading>& out) {
            for (auto& r : rs) out.collect(std::move(r));
          },
          "each-reading")
      .key_by([](const Reading& r) { return r.device; })
      .process<WindowKeyState, Aggregate>(on_reading, on_timer, {}, "device-windows")
      .uid("device-windows")
      // Chained to the windows (same parallelism, forward): each sink instance sees one window
      // instance's output in a replayable order, as its dedup ids need.
      .to(stream::to_persistent_actor<Aggregate>(
              spec.devices, spec.job_id,
              [](Aggregate&& a, stream::DedupId id, ActorRef<stream::Ack> reply_to) {
                std::string device = a.device;
                return DevicesMsg{persistence::EntityEnvelope<DeviceCommand>{
                    std::move(device),
                    RecordAggregate{std::move(a), std::move(id), std::move(reply_to)}}};
              }),
          "aggregates-to-devices");
  return job.start(system);
}

}  // namespace weft::node
