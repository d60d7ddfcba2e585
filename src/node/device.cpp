// The device actor: commands become ReadingRecorded or ReadingsRecorded / AlarmTriggered /
// AggregateRecorded events, persisted in one journal write per command, answered once durable.
#include "weft/node/device.hpp"

#include <limits>

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

namespace weft::node {

namespace {

constexpr std::string_view kPidPrefix = "device-";

using DeviceEffect = persistence::Effect<DeviceEvent, DeviceState>;

/// The events of RecordReadings: one ReadingRecorded, or one ReadingsRecorded for several, then
/// an alarm for each hot reading in their order (rule 1).
std::vector<DeviceEvent> reading_events(const std::vector<Reading>& readings, double threshold) {
  std::vector<DeviceEvent> events;
  events.reserve(2);
  if (readings.size() == 1) {
    const auto& r = readings.front();
    events.emplace_back(ReadingRecorded{r.ts, r.temperature, r.vibration});
  } else {
    ReadingsRecorded all;
    all.readings.reserve(readings.size());
    for (const auto& r : readings) all.readings.push_back({r.ts, r.temperature, r.vibration});
    events.emplace_back(std::move(all));
  }
  for (const auto& r : readings) {
    if (r.temperature > threshold) {
      events.emplace_back(AlarmTriggered{r.ts, AlarmRule::temperature, r.temperature, threshold});
    }
  }
  return events;
}

using Options = std::shared_ptr<const DeviceOptions>;

DeviceEffect record_readings(const Options& options, const RecordReadings& cmd) {
  const std::size_t n = cmd.readings.size();
  auto done = cmd.done;  // shares the once-only call with the command
  if (n == 0) {
    if (done) done(std::size_t{0});
    return persistence::effects::none<DeviceState, DeviceEvent>();
  }
  auto events = reading_events(cmd.readings, options->temperature_alarm
                                                 ? options->alarm_threshold
                                                 : std::numeric_limits<double>::infinity());
  auto effect = persistence::effects::persist_all<DeviceState>(std::move(events));
  // If the persist fails, the effect is dropped unrun and the last copy of `done` answers
  // with an error (ReadingsDone).
  return std::move(effect).then_run([done, n](const DeviceState&) {
    if (done) done(n);
  });
}

DeviceEffect record_aggregate(const Options& options, const DeviceState& state,
                              const RecordAggregate& cmd) {
  const auto& a = cmd.aggregate;
  const std::uint64_t seq = cmd.id.seq;
  // Already recorded: this window or a newer one. A device's windows close in order, so this
  // catches every replay of the job. The id alone is not asked (it is still recorded): after a
  // restore, idle timers (processing time) may close windows in another order than before, so
  // the ids of a replay need not match; a window first recorded during a replay could carry an
  // id at or below one the device saw, and would be lost.
  if (a.window_start < state.last_window_end) {
    if (cmd.reply_to) cmd.reply_to.tell(stream::Ack{seq});
    return persistence::effects::none<DeviceState, DeviceEvent>();
  }
  std::vector<DeviceEvent> events;
  events.emplace_back(
      AggregateRecorded{a.window_start, a.window_end, a.count, a.avg, a.min, a.max, cmd.id});
  if (options->window_alarm && a.avg > options->window_average_threshold) {
    events.emplace_back(AlarmTriggered{a.window_end, AlarmRule::window_average, a.avg,
                                       options->window_average_threshold});
  }
  auto effect = persistence::effects::persist_all<DeviceState>(std::move(events));
  return std::move(effect).then_run([reply_to = cmd.reply_to, seq](const DeviceState&) {
    if (reply_to) reply_to.tell(stream::Ack{seq});
  });
}

std::vector<std::string> tags_of(const DeviceEvent& e) {
  switch (e.index()) {
    case 0:
    case 3:
      return {std::string(kReadingTag)};
    case 1:
      return {"aggregate"};
    default:
      return {"alarm"};
  }
}

/// One reading applied to the state (ReadingRecorded, or each of a ReadingsRecorded).
void apply_reading(DeviceState& state, const ReadingRecorded& r, double threshold) {
  if (state.readings == 0 || r.ts >= state.last_ts) {
    state.last_ts = r.ts;
    state.last_temperature = r.temperature;
    state.last_vibration = r.vibration;
  }
  ++state.readings;
  if (state.open_alarm && r.temperature <= threshold && r.ts > state.open_alarm->ts) {
    state.open_alarm.reset();  // cooled down after the alarm
  }
}

nlohmann::json reading_json(const ReadingRecorded& r) {
  nlohmann::json j = {{"ts", r.ts}, {"temperature", r.temperature}};
  if (r.vibration) j["vibration"] = *r.vibration;
  return j;
}

}  // namespace

// --- ReadingsDone ------------------------------------------------------------------------------

void ReadingsDone::operator()(Result<std::size_t> result) const {
  if (!state_ || state_->called.exchange(true)) return;
  if (state_->fn) state_->fn(std::move(result));
}

ReadingsDone::State::~State() {
  if (!called.load() && fn) {
    fn(fail(Errc::actor_stopped,
            "the device actor stopped before the readings were recorded (a failed persist or a "
            "stop); none of them is acknowledged"));
  }
}

// --- Ids, events -------------------------------------------------------------------------------

std::string device_pid(std::string_view device) {
  std::string pid(kPidPrefix);
  pid += device;
  return pid;
}

std::string_view device_of_pid(std::string_view pid) noexcept {
  if (!pid.starts_with(kPidPrefix)) return {};
  const auto device = pid.substr(kPidPrefix.size());
  return valid_device_id(device) ? device : std::string_view{};
}

std::string_view event_type(const DeviceEvent& e) noexcept {
  switch (e.index()) {
    case 0:
      return "ReadingRecorded";
    case 1:
      return "AggregateRecorded";
    case 3:
      return "ReadingsRecorded";
    default:
      return "AlarmTriggered";
  }
}

const persistence::Upcasters<DeviceEvent>& device_upcasters() {
  static const auto* const upcasters = [] {
    auto* u = new persistence::Upcasters<DeviceEvent>();
    // The first three alternatives kept their places: an old event is the same event now.
    u->add<DeviceEventV1>([](DeviceEventV1 old) {
      return std::visit([](auto&& e) { return DeviceEvent(std::move(e)); }, std::move(old));
    });
    return u;
  }();
  return *upcasters;
}

std::string_view to_string(AlarmRule rule) noexcept {
  return rule == AlarmRule::window_average ? "window_average" : "temperature";
}

std::string event_json(const DeviceEvent& e) {
  nlohmann::json j;
  if (const auto* r = std::get_if<ReadingRecorded>(&e)) {
    j = reading_json(*r);
  } else if (const auto* rs = std::get_if<ReadingsRecorded>(&e)) {
    j = {{"readings", nlohmann::json::array()}};
    for (const auto& one : rs->readings) j["readings"].push_back(reading_json(one));
  } else if (const auto* a = std::get_if<AggregateRecorded>(&e)) {
    j = {{"window_start", a->window_start},
         {"window_end", a->window_end},
         {"count", a->count},
         {"avg", a->avg},
         {"min", a->min},
         {"max", a->max},
         {"source",
          {{"job", a->source.job}, {"subtask", a->source.subtask}, {"seq", a->source.seq}}}};
  } else {
    const auto& alarm = std::get<AlarmTriggered>(e);
    j = {{"ts", alarm.ts},
         {"rule", to_string(alarm.rule)},
         {"value", alarm.value},
         {"threshold", alarm.threshold}};
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// --- State -------------------------------------------------------------------------------------

DeviceState apply_event(DeviceState state, const DeviceEvent& event, double threshold) {
  ++state.seq;
  if (const auto* r = std::get_if<ReadingRecorded>(&event)) {
    apply_reading(state, *r, threshold);
  } else if (const auto* rs = std::get_if<ReadingsRecorded>(&event)) {
    for (const auto& one : rs->readings) apply_reading(state, one, threshold);
  } else if (const auto* a = std::get_if<AggregateRecorded>(&event)) {
    ++state.aggregates;
    state.last_window_end = std::max(state.last_window_end, a->window_end);
    state.dedup.record(a->source);
  } else {
    const auto& alarm = std::get<AlarmTriggered>(event);
    ++state.alarms;
    // Not open if a newer reading already showed the device at or below the threshold (a late
    // hot reading, or a window that cooled since); else the latest alarm by event time.
    const bool cooled_since =
        state.readings > 0 && state.last_ts > alarm.ts && state.last_temperature <= threshold;
    if (!cooled_since && (!state.open_alarm || alarm.ts >= state.open_alarm->ts)) {
      state.open_alarm = alarm;
    }
  }
  return state;
}

// --- The actor ---------------------------------------------------------------------------------

std::shared_ptr<const DeviceSpec> device_spec(DeviceOptions options) {
  auto opts = std::make_shared<const DeviceOptions>(std::move(options));
  auto spec = std::make_shared<DeviceSpec>();
  spec->persistence_id = std::string(kPidPrefix);  // + the device id, per entity
  spec->journal = opts->journal;
  const double threshold = opts->alarm_threshold;
  spec->event_handler = [threshold](DeviceState s, const DeviceEvent& e) {
    return apply_event(std::move(s), e, threshold);
  };
  spec->command_handler = [opts](const DeviceState& s, const DeviceCommand& c) -> DeviceEffect {
    if (const auto* rr = std::get_if<RecordReadings>(&c)) return record_readings(opts, *rr);
    if (const auto* ra = std::get_if<RecordAggregate>(&c)) return record_aggregate(opts, s, *ra);
    const auto& get = std::get<GetDeviceState>(c);
    if (get.reply) get.reply(s);
    return persistence::effects::none<DeviceState, DeviceEvent>();
  };
  spec->tagger = tags_of;
  spec->upcasters = device_upcasters();
  if (opts->on_event) {
    spec->on_event_applied = [opts](const std::string& pid, std::uint64_t seq, const DeviceEvent& e,
                                    const DeviceState& s) {
      opts->on_event(pid.substr(kPidPrefix.size()), seq, e, s);
    };
  }
  if (opts->on_active) {
    // An incarnation is active from its setup until it stops or a restart replaces it.
    spec->signal_handler = [opts](const std::string&, const DeviceState&, const Signal& signal) {
      if (std::holds_alternative<PreStart>(signal)) opts->on_active(+1);
      if (std::holds_alternative<PostStop>(signal) || std::holds_alternative<PreRestart>(signal)) {
        opts->on_active(-1);
      }
    };
  }
  if (opts->snapshots) {
    spec->snapshot_store = opts->snapshots;
    spec->snapshot_every = opts->snapshot_every;
  }
  spec->passivate_after = opts->passivate_after;
  spec->recovery_permits = opts->recovery_permits;
  return spec;
}

Behavior<DevicesMsg> devices_behavior(DeviceOptions options) {
  return persistence::event_sourced_entities(device_spec(std::move(options)));
}

}  // namespace weft::node
