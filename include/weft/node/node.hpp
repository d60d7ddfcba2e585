// The weft node: the smart-factory service in one process (docs/node.md). Devices report over
// HTTP or MQTT (or a built-in simulator calls in directly); each reading is persisted by its
// device actor before it is acknowledged; the window job turns readings into window aggregates
// and alarms; the HTTP API, the server-sent event stream and the dashboard show it all.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "weft/core/clock.hpp"
#include "weft/core/result.hpp"
#include "weft/node/windows.hpp"

namespace weft::node {

/// Simulated machines: a sensor each that drifts around a set point; some run hot.
struct SimulatorOptions {
  std::size_t devices = 100;
  double rate_hz = 10.0;  // readings per second per device
  std::uint64_t seed = 1;
  double hot_fraction = 0.1;  // machines that run near the alarm threshold
};

struct NodeOptions {
  std::filesystem::path data_dir = "data";
  unsigned workers = 0;  // actor system threads; 0: one per core

  // HTTP: the API, the event stream and the dashboard.
  bool http_enabled = true;
  std::string http_address = "127.0.0.1";
  std::uint16_t http_port = 8080;  // 0: an ephemeral port (Node::http_port tells which)
  std::size_t max_body_bytes = 8u << 20;

  // MQTT ingest (and alarms/aggregates out).
  bool mqtt_enabled = false;
  std::string mqtt_host = "127.0.0.1";
  std::uint16_t mqtt_port = 1883;
  std::string mqtt_prefix = "factory";
  std::string mqtt_client_id = "weft-node";
  Duration mqtt_keep_alive = std::chrono::seconds(30);

  // The rules.
  WindowRules windows;
  double temperature_threshold = 80.0;
  double window_average_threshold = 80.0;
  bool temperature_alarm = true;
  bool window_alarm = true;

  // Devices.
  Duration passivate_after = std::chrono::minutes(2);
  std::uint64_t snapshot_every = 1000;
  std::size_t max_recovering = 64;

  // Retention: events older than this are deleted once a snapshot covers them (none: kept).
  std::optional<Duration> max_event_age;
  std::size_t keep_snapshots = 2;  // per device (0: no limit)
  Duration retention_interval = std::chrono::hours(1);

  // The window job's checkpoints.
  Duration checkpoint_interval = std::chrono::seconds(10);
  std::size_t retained_checkpoints = 2;

  // Keys: integrity (hash chains) and per-device encryption, which DELETE /devices/{id} shreds.
  bool integrity = true;
  /// The master key (hex, mode 0600). Empty: $WEFT_MASTER_KEY if set, else
  /// `<data_dir>/master.key`, created on first start.
  std::string master_key_file;

  /// Runs simulated machines that call the ingest directly (or publish over MQTT when
  /// `simulate_over_mqtt`): what `weft demo` does.
  bool simulate = false;
  bool simulate_over_mqtt = false;
  SimulatorOptions simulator;
};

/// What the node has done since it started (for tests, benchmarks and the stats endpoint).
struct NodeStats {
  std::uint64_t readings_accepted = 0;
  std::uint64_t readings_rejected = 0;
  std::uint64_t events_persisted = 0;
  std::uint64_t alarms = 0;
  std::uint64_t aggregates = 0;
  std::uint64_t late = 0;
  std::uint64_t devices = 0;
  std::int64_t actors_active = 0;
  /// Every device known at start has recovered its state (true at once for a new data dir).
  bool recovered = false;
};

class Node {
 public:
  /// Opens the data dir (journal, keys, checkpoints), recovers, and starts serving. Errors name
  /// what failed (a locked data dir, a port in use, a bad key file).
  [[nodiscard]] static Result<std::unique_ptr<Node>> start(NodeOptions options);
  /// Stops as stop() does.
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  [[nodiscard]] std::uint16_t http_port() const noexcept;
  /// "http://address:port/".
  [[nodiscard]] std::string url() const;
  [[nodiscard]] NodeStats stats() const;

  /// Stops taking input (HTTP answers 503, MQTT stops acknowledging), waits for the readings
  /// in flight to become durable, takes a final checkpoint of the window job, stops the actors
  /// and closes the journal. Idempotent; returns the first error met.
  Result<void> stop();

  /// The parts (src/node/node_impl.hpp): named here so the node's own files can reach them.
  struct Impl;

 private:
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace weft::node
