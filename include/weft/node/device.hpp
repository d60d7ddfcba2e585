// The smart factory's device: one event-sourced actor per device id (docs/node.md).
// Commands record readings (rule 1: a reading hotter than the threshold triggers an alarm at
// once) and window aggregates from the stream job (rule 2: a window average hotter than the
// threshold triggers an alarm). Every event is persisted before the command is answered.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "weft/core/codec.hpp"
#include "weft/core/result.hpp"
#include "weft/node/reading.hpp"
#include "weft/persistence/event_sourced.hpp"
#include "weft/persistence/persistent_entities.hpp"
#include "weft/stream/bridges.hpp"

namespace weft::node {

/// Persistence id of a device: "device-<id>".
[[nodiscard]] std::string device_pid(std::string_view device);
/// The device id of a persistence id made by device_pid; empty for any other.
[[nodiscard]] std::string_view device_of_pid(std::string_view pid) noexcept;
/// ReadingRecorded and ReadingsRecorded events carry this tag: the window job reads them by it.
inline constexpr std::string_view kReadingTag = "reading";

// --- Events (stored in the journal: their codecs are the on-disk schema) --------------------

struct ReadingRecorded {
  std::int64_t ts = 0;  // event time, ms since the epoch
  double temperature = 0;
  std::optional<double> vibration;
  friend bool operator==(const ReadingRecorded&, const ReadingRecorded&) = default;
};
WEFT_CODEC(ReadingRecorded, "weft.node.ReadingRecorded", 1, ts, temperature, vibration);

/// Two or more readings of one device recorded by one command (one ingest batch), in arrival
/// order: one journal event instead of one per reading. Each reading costs the journal's
/// per-event work (record, MAC, seal, tag index, the window job's read) once per batch instead of
/// once per reading, which is most of the ingest cost (docs/node.md). A single reading is still
/// a ReadingRecorded.
struct ReadingsRecorded {
  std::vector<ReadingRecorded> readings;
  friend bool operator==(const ReadingsRecorded&, const ReadingsRecorded&) = default;
};
WEFT_CODEC(ReadingsRecorded, "weft.node.ReadingsRecorded", 1, readings);

/// One closed tumbling window of a device: [window_start, window_end), milliseconds.
struct Aggregate {
  std::string device;
  std::int64_t window_start = 0;
  std::int64_t window_end = 0;
  std::uint64_t count = 0;
  double avg = 0;
  double min = 0;
  double max = 0;
  friend bool operator==(const Aggregate&, const Aggregate&) = default;
};
WEFT_CODEC(Aggregate, "weft.node.Aggregate", 1, device, window_start, window_end, count, avg, min,
           max);

struct AggregateRecorded {
  std::int64_t window_start = 0;
  std::int64_t window_end = 0;
  std::uint64_t count = 0;
  double avg = 0;
  double min = 0;
  double max = 0;
  stream::DedupId source;  // the window job's record id (exactly-once across job restarts)
  friend bool operator==(const AggregateRecorded&, const AggregateRecorded&) = default;
};
WEFT_CODEC(AggregateRecorded, "weft.node.AggregateRecorded", 1, window_start, window_end, count,
           avg, min, max, source);

enum class AlarmRule : std::uint8_t {
  temperature = 1,     // rule 1: one reading above the threshold
  window_average = 2,  // rule 2: a window's average above the threshold
};

struct AlarmTriggered {
  std::int64_t ts = 0;  // event time of the reading, or the window's end
  AlarmRule rule = AlarmRule::temperature;
  double value = 0;      // the temperature or the window average
  double threshold = 0;  // what it exceeded
  friend bool operator==(const AlarmTriggered&, const AlarmTriggered&) = default;
};
WEFT_CODEC(AlarmTriggered, "weft.node.AlarmTriggered", 1, ts, rule, value, threshold);

using DeviceEvent =
    std::variant<ReadingRecorded, AggregateRecorded, AlarmTriggered, ReadingsRecorded>;
/// The events as stored before ReadingsRecorded existed (a different variant manifest):
/// device_upcasters() reads them.
using DeviceEventV1 = std::variant<ReadingRecorded, AggregateRecorded, AlarmTriggered>;

/// Decodes a stored device event of this or an older schema (the actor, the API and the
/// window job read through it).
[[nodiscard]] const persistence::Upcasters<DeviceEvent>& device_upcasters();

/// Calls `f(const ReadingRecorded&)` for each reading an event records (none for the others).
template <class F>
void for_each_reading(const DeviceEvent& e, F&& f) {
  if (const auto* r = std::get_if<ReadingRecorded>(&e)) {
    f(*r);
  } else if (const auto* rs = std::get_if<ReadingsRecorded>(&e)) {
    for (const auto& one : rs->readings) f(one);
  }
}

/// "ReadingRecorded", "ReadingsRecorded", "AggregateRecorded" or "AlarmTriggered".
[[nodiscard]] std::string_view event_type(const DeviceEvent& e) noexcept;
/// The event's fields as a JSON object (no type, no seq): the API's "payload".
[[nodiscard]] std::string event_json(const DeviceEvent& e);
/// "temperature" or "window_average".
[[nodiscard]] std::string_view to_string(AlarmRule rule) noexcept;

// --- State ---------------------------------------------------------------------------------

struct DeviceState {
  /// Sequence number of the last event applied (apply_event counts them): the journal's seq.
  std::uint64_t seq = 0;
  std::uint64_t readings = 0;
  std::int64_t last_ts = 0;  // of the newest reading by event time; 0 before any
  double last_temperature = 0;
  std::optional<double> last_vibration;
  std::uint64_t alarms = 0;
  /// The latest alarm while the device is still hot: set by an alarm, cleared by a reading at
  /// or below the threshold that is newer (by event time) than the alarm.
  std::optional<AlarmTriggered> open_alarm;
  std::uint64_t aggregates = 0;
  /// End of the newest recorded window: a window starting before it is already recorded.
  std::int64_t last_window_end = std::numeric_limits<std::int64_t>::min();
  stream::DedupState dedup;
  friend bool operator==(const DeviceState&, const DeviceState&) = default;
};
WEFT_CODEC(DeviceState, "weft.node.DeviceState", 1, seq, readings, last_ts, last_temperature,
           last_vibration, alarms, open_alarm, aggregates, last_window_end, dedup);

/// The event handler: pure, also used to replay a device's state up to a time (time travel).
/// `threshold` is the alarm threshold (for clearing open_alarm).
[[nodiscard]] DeviceState apply_event(DeviceState state, const DeviceEvent& event,
                                      double threshold);

// --- Commands -------------------------------------------------------------------------------

/// A completion that runs exactly once, whatever happens to the command that carries it: with
/// the result, or — when its last copy is destroyed uncalled, because the command was dropped
/// (the actor failed on a persist, or stopped with the command still queued) — with
/// Errc::actor_stopped. So an ingest request never waits forever. Copies share one call.
class ReadingsDone {
 public:
  using Fn = std::function<void(Result<std::size_t>)>;
  ReadingsDone() = default;
  template <class F>
  requires(!std::is_same_v<std::decay_t<F>, ReadingsDone> &&
           std::is_invocable_v<F&, Result<std::size_t>>)
      ReadingsDone(
          F f)  // NOLINT(google-explicit-constructor): `RecordReadings{rs, [](auto) {...}}`
      : state_(std::make_shared<State>(Fn(std::move(f)))) {}

  /// Calls the function if it has not been called yet (from any thread).
  void operator()(Result<std::size_t> result) const;
  [[nodiscard]] explicit operator bool() const noexcept { return state_ && state_->fn; }

 private:
  struct State {
    explicit State(Fn f) : fn(std::move(f)) {}
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State();
    Fn fn;
    std::atomic<bool> called{false};
  };
  std::shared_ptr<State> state_;
};

/// Readings of this device (one ingest batch, in arrival order). `done` runs once all their
/// events are durable (with the number of readings recorded), or with the error.
struct RecordReadings {
  std::vector<Reading> readings;
  ReadingsDone done;
};

/// A closed window from the window job (to_persistent_actor). Acknowledged when recorded, or at
/// once when already recorded (a replay of the job).
struct RecordAggregate {
  Aggregate aggregate;
  stream::DedupId id;
  ActorRef<stream::Ack> reply_to;
};

struct GetDeviceState {
  std::function<void(const DeviceState&)> reply;
};

using DeviceCommand = std::variant<RecordReadings, RecordAggregate, GetDeviceState>;
using DevicesMsg = persistence::EntitiesMsg<DeviceCommand>;

// --- The actor -------------------------------------------------------------------------------

struct DeviceOptions {
  double alarm_threshold = 80.0;           // rule 1: a reading above it raises an alarm
  double window_average_threshold = 80.0;  // rule 2: a window average above it raises one
  bool temperature_alarm = true;           // rule 1 on
  bool window_alarm = true;                // rule 2 on
  std::shared_ptr<persistence::Journal> journal;
  std::shared_ptr<persistence::SnapshotStore> snapshots;  // null: no snapshots
  std::uint64_t snapshot_every = 1000;
  Duration passivate_after = std::chrono::minutes(2);
  std::shared_ptr<persistence::RecoveryPermits> recovery_permits;
  /// Called after each event is durable and applied, on the actor's thread (must not block):
  /// device id, sequence number, the event, the new state. Feeds SSE, MQTT out and metrics.
  std::function<void(const std::string&, std::uint64_t, const DeviceEvent&, const DeviceState&)>
      on_event;
  /// Called with +1 when a device actor starts (its PreStart, again after a restart) and -1
  /// when it stops (passivated, stopped, failed) or a restart replaces it: the node's count of
  /// active actors.
  std::function<void(int)> on_active;
};

using DeviceSpec = persistence::EventSourcedSpec<DeviceCommand, DeviceEvent, DeviceState>;

/// The spec every device actor shares (one per node, not per device): device `id` persists as
/// device_pid(id), the spec's persistence_id being the prefix.
[[nodiscard]] std::shared_ptr<const DeviceSpec> device_spec(DeviceOptions options);

/// The entity manager of all devices (spawn it once): send
/// `persistence::EntityEnvelope<DeviceCommand>{id, cmd}`.
[[nodiscard]] Behavior<DevicesMsg> devices_behavior(DeviceOptions options);

}  // namespace weft::node
