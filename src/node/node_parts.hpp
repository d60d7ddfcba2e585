// The node's input parts: the MQTT ingest and the machine simulator. Private to src/node.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "node_impl.hpp"
#include "weft/io/mqtt_client.hpp"

namespace weft::node::detail {

/// The reject reason of a reading's parse error: the field it names ("temperature", ...) or
/// "item".
[[nodiscard]] std::string_view reject_reason(std::string_view error);

/// Subscribes `<prefix>/+/telemetry` at QoS 1 and acknowledges each message to the broker only
/// once its reading is durable; publishes alarms and aggregates to `<prefix>/<device>/alarm`
/// and `.../aggregate` at QoS 1.
class MqttIngest {
 public:
  static Result<std::unique_ptr<MqttIngest>> start(Node::Impl& node);
  ~MqttIngest();
  void publish_out(const std::string& device, std::string_view kind, const std::string& json);
  /// Stops taking messages, sends the acknowledgements already given, disconnects.
  void stop();
  [[nodiscard]] io::MqttStats stats() const;

 private:
  explicit MqttIngest(Node::Impl& node);
  void on_message(io::MqttMessage&& msg);

  Node::Impl& node_;
  std::unique_ptr<io::MqttClient> client_;
  std::string prefix_;
};

/// Simulated machines: every 1/rate seconds each one takes a reading, sent as one batch
/// straight into the ingest, or published to `<prefix>/<id>/telemetry` when simulating over
/// MQTT. Deterministic per seed; a few readings arrive out of order and a rare one late.
class Simulator {
 public:
  static Result<std::unique_ptr<Simulator>> start(Node::Impl& node);
  ~Simulator();
  void stop();

 private:
  struct State;
  explicit Simulator(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace weft::node::detail
