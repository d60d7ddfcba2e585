// The node's configuration: `weft node --config weft.toml` (docs/config.md lists every key).
// A file states only what differs from the defaults; every key it names must be known and every
// value valid, and a bad file yields all of its errors at once, each naming file, line, column
// and key, so a user fixes them in one go.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "weft/core/clock.hpp"
#include "weft/core/result.hpp"

namespace weft::node {

enum class LogFormat : std::uint8_t { text, json };
enum class LogLevel : std::uint8_t { trace, debug, info, warn, error, off };

[[nodiscard]] std::string_view to_string(LogFormat format) noexcept;
[[nodiscard]] std::string_view to_string(LogLevel level) noexcept;

/// [node]
struct NodeSection {
  std::string data_dir = "data";  // journal, snapshots, checkpoints and keys live below it
  LogFormat log_format = LogFormat::text;
  LogLevel log_level = LogLevel::info;
  friend bool operator==(const NodeSection&, const NodeSection&) = default;
};

/// [http]: the ingest and query API and the dashboard.
struct HttpSection {
  bool enabled = true;
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;                       // 0: an ephemeral port
  std::uint64_t max_body_bytes = 8 * 1024 * 1024;  // larger request bodies get 413
  friend bool operator==(const HttpSection&, const HttpSection&) = default;
};

/// [mqtt]: the broker is written as `url = "mqtt://host:port"` and kept parsed.
struct MqttSection {
  bool enabled = false;
  std::string host = "127.0.0.1";
  std::uint16_t port = 1883;
  std::string prefix = "factory";  // subscribes <prefix>/+/telemetry
  std::string client_id = "weft-node";
  Duration keep_alive = std::chrono::seconds(30);  // whole seconds; 0 turns keep-alive off
  /// "mqtt://host:port" (an IPv6 host in brackets).
  [[nodiscard]] std::string url() const;
  friend bool operator==(const MqttSection&, const MqttSection&) = default;
};

/// [windows]: rule 2's tumbling event-time windows, per device.
struct WindowsSection {
  Duration size = std::chrono::seconds(5);
  Duration out_of_orderness = std::chrono::seconds(2);
  /// Processing time without a reading from a device before its windows close.
  Duration idle_timeout = std::chrono::seconds(10);
  friend bool operator==(const WindowsSection&, const WindowsSection&) = default;
};

/// [rules]
struct RulesSection {
  double temperature_threshold = 80.0;     // rule 1: a reading above it is an alarm
  double window_average_threshold = 80.0;  // rule 2: a window average above it is an alarm
  bool temperature_alarm = true;
  bool window_alarm = true;
  friend bool operator==(const RulesSection&, const RulesSection&) = default;
};

/// [devices]: the device actors.
struct DevicesSection {
  Duration passivate_after = std::chrono::minutes(2);  // idle time before an actor is stopped
  std::uint64_t snapshot_every = 1000;                 // events between snapshots; 0: never
  std::uint32_t max_recovering = 64;                   // actors replaying their journal at once
  friend bool operator==(const DevicesSection&, const DevicesSection&) = default;
};

/// [checkpoints]: the stream job's.
struct CheckpointsSection {
  Duration interval = std::chrono::seconds(10);
  std::uint32_t retained = 2;
  friend bool operator==(const CheckpointsSection&, const CheckpointsSection&) = default;
};

/// [retention]: what the journal keeps.
struct RetentionSection {
  std::optional<Duration> max_event_age;  // none: keep events forever
  std::uint32_t keep_snapshots = 2;
  Duration interval = std::chrono::hours(1);  // how often retention runs
  friend bool operator==(const RetentionSection&, const RetentionSection&) = default;
};

/// [keys]
struct KeysSection {
  bool integrity = true;  // hash-chain and encrypt events per device (tamper evidence, forget)
  std::string master_key_file;  // empty: no key file (WEFT_MASTER_KEY may still supply one)
  friend bool operator==(const KeysSection&, const KeysSection&) = default;
};

/// [simulator]: the simulated machines of `weft demo`.
struct SimulatorSection {
  std::uint32_t devices = 100;
  double rate_hz = 10.0;      // readings per second per device
  std::uint64_t seed = 1;     // at most 2^63-1 (a TOML integer)
  double hot_fraction = 0.1;  // share of devices running hot, in [0, 1]
  friend bool operator==(const SimulatorSection&, const SimulatorSection&) = default;
};

struct NodeConfig {
  NodeSection node;
  HttpSection http;
  MqttSection mqtt;
  WindowsSection windows;
  RulesSection rules;
  DevicesSection devices;
  CheckpointsSection checkpoints;
  RetentionSection retention;
  KeysSection keys;
  SimulatorSection simulator;
  friend bool operator==(const NodeConfig&, const NodeConfig&) = default;
};

/// Parses a TOML document over the defaults. `source_name` starts every error line
/// ("weft.toml:12:8: windows.size: ..."); the error (Errc::malformed for TOML syntax,
/// Errc::invalid_argument otherwise) holds every problem found, one per line.
[[nodiscard]] Result<NodeConfig> parse_config(std::string_view text, std::string_view source_name);
/// Reads and parses a file; errors name it as given.
[[nodiscard]] Result<NodeConfig> load_config(const std::filesystem::path& path);
/// The configuration as TOML, every key written: parse_config(to_toml(c)) == c for any
/// configuration parse_config can return.
[[nodiscard]] std::string to_toml(const NodeConfig& config);

/// A broker address.
struct MqttAddress {
  std::string host;
  std::uint16_t port = 1883;
};
/// "mqtt://host[:port]" (an IPv6 host in brackets); errors say what is wrong with it.
[[nodiscard]] Result<MqttAddress> parse_mqtt_url(std::string_view url);

/// "250ms", "5s", "2m", "1h", "30d" (also "ns", "us"): a non-negative whole number and a unit.
[[nodiscard]] Result<Duration> parse_duration(std::string_view text);
/// The shortest exact form in the largest unit: 120s -> "2m", 1500ms -> "1500ms".
[[nodiscard]] std::string format_duration(Duration d);
/// "512KiB", "8MiB", "1GiB" or a number of bytes ("1024", "1024B").
[[nodiscard]] Result<std::uint64_t> parse_size(std::string_view text);

}  // namespace weft::node
