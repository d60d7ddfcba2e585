// The node's input parts: the MQTT ingest and the machine simulator. Private to src/node.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

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
  /// Readings that arrived while earlier ones were being persisted, with their messages.
  struct Pending {
    std::vector<Reading> readings;
    std::vector<io::MqttMessage> messages;  // acknowledged together once all are durable
  };
  /// Shared with the ingest callbacks, which may finish after this object is gone.
  struct Flow {
    Node::Impl& node;
    // Held while a batch is taken and handed to the node, so batches reach the device actors
    // in the order they were formed (a device's readings stay in arrival order). Recursive:
    // a refused batch completes inside the hand-over, and its callback pumps again.
    std::recursive_mutex submit;
    std::mutex mutex;  // guards the rest
    Pending pending;
    unsigned in_flight = 0;
    // Set once before the client starts. A batch that is not recorded asks it to reconnect:
    // its messages must come again, and their missing acknowledgements would hold back every
    // later one (acknowledgements go out in arrival order).
    std::weak_ptr<io::MqttClient> client;
  };

  explicit MqttIngest(Node::Impl& node);
  void on_message(io::MqttMessage&& msg);
  /// Persists what is pending if fewer than kMaxInFlight batches are being persisted.
  static void pump(const std::shared_ptr<Flow>& flow);

  // One QoS 1 message per reading: persisting each on its own costs a journal round trip per
  // message. Messages arriving while a batch is persisted join the next one, so batches grow
  // with the load and a lone message still goes at once. Up to 8 batches overlap, so the journal
  // commits several in one group (mqtt_ingest, mean of 9-12 runs: 18.6k readings/s with 2 in
  // flight, 19.7k with 8).
  static constexpr unsigned kMaxInFlight = 8;

  Node::Impl& node_;
  std::shared_ptr<Flow> flow_;
  std::shared_ptr<io::MqttClient> client_;
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
