// An MQTT 3.1.1 client whose QoS 1 acknowledgements are sent when the application says so.
//
// Brokers forget a QoS 1 message once its PUBACK arrives, so the PUBACK must wait until the
// message's data is durable; durability completes later, on another thread, in batches (group
// commit). libmosquitto 2.0 acknowledges on receipt and Paho's asynchronous client when the
// arrival callback returns; this client lets `MqttMessage::ack()` send it, from any thread, in
// any order (the wire order stays the arrival order, as the spec requires). docs/mqtt.md
// explains the choice and the measurements.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "weft/core/clock.hpp"
#include "weft/core/result.hpp"

namespace weft::io {

namespace detail {
struct MqttInbox;
}

enum class MqttConnectionState : std::uint8_t {
  connecting,    // a TCP connect or CONNECT is under way
  connected,     // CONNACK accepted
  disconnected,  // lost or refused; a reconnect follows after a backoff delay
  stopped,       // stop() finished
};

[[nodiscard]] std::string_view to_string(MqttConnectionState state) noexcept;

struct MqttOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 1883;
  /// Fixed across restarts, so that a persistent session (clean_session = false) finds the
  /// broker's stored QoS 1 messages again.
  std::string client_id;
  bool clean_session = false;
  std::chrono::seconds keep_alive{30};
  std::optional<std::string> username;
  std::optional<std::string> password;
  /// Reconnect delays double from min to max, each with jitter in [delay/2, delay].
  Duration reconnect_min = std::chrono::milliseconds(100);
  Duration reconnect_max = std::chrono::seconds(10);
  /// For the TCP connect and the CONNACK together.
  Duration connect_timeout = std::chrono::seconds(5);
  /// Outgoing QoS 1 publishes sent and awaiting their PUBACK; more wait in the queue.
  std::size_t max_inflight_out = 1024;
  /// Publishes waiting to be sent (during an outage, say); publish() fails beyond this.
  std::size_t max_queued_out = 100'000;
  /// Largest incoming packet. A larger PUBLISH is acknowledged and skipped (counted in
  /// MqttStats::oversized); any other larger packet drops the connection.
  std::size_t max_packet_size = 1 << 20;
  /// After a turn that read from the broker, the client's thread waits this long before it
  /// polls again, so the packets arriving meanwhile take one wake-up, one read and one write
  /// instead of one each. A lone packet is still handled at once; only the next turn waits, so
  /// acks and publishes given meanwhile leave up to this much later. Zero: no wait.
  /// docs/mqtt.md ("Coalescing") has the measurements behind the default.
  Duration coalesce = std::chrono::milliseconds(1);
  /// Deadlines (keep-alive, backoff, connect timeout). Null means the system clock.
  std::shared_ptr<Clock> clock;
  /// Called on the client's thread at every state change, with a reason for disconnects.
  std::function<void(MqttConnectionState, std::string_view detail)> on_state;
};

/// One received application message. Move-only: its acknowledgement is sent at most once.
class MqttMessage {
 public:
  MqttMessage() = default;
  MqttMessage(MqttMessage&&) noexcept = default;
  MqttMessage& operator=(MqttMessage&&) noexcept = default;
  MqttMessage(const MqttMessage&) = delete;
  MqttMessage& operator=(const MqttMessage&) = delete;

  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  bool dup = false;             // the broker may have delivered it before
  std::uint16_t packet_id = 0;  // 0 at QoS 0

  /// Tells the broker the message is taken care of: for QoS 1, queues its PUBACK. Call once
  /// its data is durable, from any thread; later calls, QoS 0 and calls after the client is
  /// gone do nothing. A message never acknowledged is redelivered after a reconnect.
  void ack();
  /// Whether ack() still has something to do.
  [[nodiscard]] bool needs_ack() const noexcept { return inbox_ != nullptr; }

 private:
  friend class MqttClient;
  std::shared_ptr<detail::MqttInbox> inbox_;  // shared with the client: acks may outlive it
  std::uint64_t generation_ = 0;              // connection it arrived on
};

struct MqttStats {
  std::uint64_t received = 0;         // application messages delivered to handlers
  std::uint64_t redelivered = 0;      // of those, with the DUP flag
  std::uint64_t acked = 0;            // PUBACKs sent for received QoS 1 messages
  std::uint64_t unrouted = 0;         // received but matching no subscription (acked at once)
  std::uint64_t published = 0;        // PUBLISH packets sent first time
  std::uint64_t publish_acked = 0;    // PUBACKs received for our QoS 1 publishes
  std::uint64_t resent = 0;           // QoS 1 publishes sent again (DUP) after a reconnect
  std::uint64_t connects = 0;         // accepted CONNACKs
  std::uint64_t disconnects = 0;      // connections lost or refused
  std::uint64_t protocol_errors = 0;  // malformed or unexpected packets from the broker
  std::uint64_t oversized = 0;        // publishes over max_packet_size: acked and discarded unread
  std::uint64_t read_turns = 0;       // wake-ups that read bytes from the broker (see coalesce)
};

/// Connects, subscribes and publishes on its own thread; reconnects until stopped. Handlers
/// and completion callbacks run on that thread and must not block; hand work off instead.
class MqttClient {
 public:
  explicit MqttClient(MqttOptions options);
  ~MqttClient();  // stop()
  MqttClient(const MqttClient&) = delete;
  MqttClient& operator=(const MqttClient&) = delete;

  /// Starts the client's thread, which connects in the background. Fails on bad options (an
  /// empty client id with clean_session = false, a keep-alive over 65535 s) or if started.
  [[nodiscard]] Result<void> start();

  /// Sends the acknowledgements already given, DISCONNECT, closes and joins. Publishes not yet
  /// acknowledged by the broker complete with Errc::shutting_down. Idempotent.
  void stop();

  using MessageHandler = std::function<void(MqttMessage&&)>;
  /// Granted QoS per SUBACK (after each connect), or the broker's refusal.
  using SubscribeDone = std::function<void(Result<std::uint8_t>)>;

  /// Subscribes at QoS 0 or 1, now and after every reconnect. A message goes to the first
  /// subscription (in subscribe order) whose filter matches its topic. Before or after start().
  [[nodiscard]] Result<void> subscribe(std::string filter, std::uint8_t qos, MessageHandler handler,
                                       SubscribeDone on_suback = {});

  /// Completion of a publish: at QoS 1 when the broker's PUBACK arrives, at QoS 0 when the
  /// packet is handed to the connection.
  using PublishDone = std::function<void(Result<void>)>;

  /// Queues a publish (QoS 0 or 1) from any thread. QoS 1 publishes survive reconnects and
  /// are sent again with DUP until acknowledged. Fails at once on a bad topic or QoS, a full
  /// queue or a stopped client.
  [[nodiscard]] Result<void> publish(std::string topic, std::string payload, std::uint8_t qos,
                                     bool retain = false, PublishDone done = {});

  /// Acknowledges a received QoS 1 message by packet id, as MqttMessage::ack() does. Ids not
  /// awaiting an acknowledgement are ignored.
  void ack(std::uint16_t packet_id);
  /// Drops the connection and connects again after the shortest backoff. The broker then
  /// redelivers every QoS 1 message not yet acknowledged: the way out when the application
  /// cannot take one (a failed persist), since acknowledgements go out in arrival order and
  /// one never given would hold back every later one. Does nothing unless connected. Asked
  /// again within `reconnect_max` of the last request, the delay doubles (up to that maximum).
  void reconnect(std::string reason);

  [[nodiscard]] MqttStats stats() const;
  [[nodiscard]] bool connected() const noexcept;

 private:
  class Loop;
  MqttOptions options_;
  std::shared_ptr<detail::MqttInbox> inbox_;
  std::unique_ptr<Loop> loop_;
};

/// The delay before reconnect attempt `attempt` (0 for the first retry): min * 2^attempt capped
/// at max, scaled into [delay/2, delay] by `jitter` in [0, 1].
[[nodiscard]] Duration mqtt_reconnect_delay(unsigned attempt, Duration min, Duration max,
                                            double jitter) noexcept;

}  // namespace weft::io
