// MQTT 3.1.1 control packets (OASIS standard, 2014): strict encoding and decoding of all 14
// packet types. Private to the io layer; MqttClient speaks to brokers through it. The wire
// format and the limits are described in docs/mqtt.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "weft/core/result.hpp"

namespace weft::io::mqtt {

enum class PacketType : std::uint8_t {
  connect = 1,
  connack,
  publish,
  puback,
  pubrec,
  pubrel,
  pubcomp,
  subscribe,
  suback,
  unsubscribe,
  unsuback,
  pingreq,
  pingresp,
  disconnect,
};

[[nodiscard]] std::string_view to_string(PacketType type) noexcept;

/// The largest Remaining Length the four-byte varint can carry.
inline constexpr std::size_t max_remaining_length = 268'435'455;

struct Will {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  friend bool operator==(const Will&, const Will&) = default;
};

struct Connect {
  std::string client_id;
  bool clean_session = true;
  std::uint16_t keep_alive_s = 0;
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<std::string> password;  // only with a username (3.1.1 forbids it alone)
  friend bool operator==(const Connect&, const Connect&) = default;
};

struct Connack {
  bool session_present = false;
  std::uint8_t return_code = 0;  // 0 accepted, 1..5 refused (see connack_reason)
  friend bool operator==(const Connack&, const Connack&) = default;
};

struct Publish {
  std::string topic;
  std::string payload;
  std::uint16_t packet_id = 0;  // nonzero exactly when qos > 0
  std::uint8_t qos = 0;
  bool dup = false;
  bool retain = false;
  friend bool operator==(const Publish&, const Publish&) = default;
};

struct Puback {
  std::uint16_t packet_id = 0;
  friend bool operator==(const Puback&, const Puback&) = default;
};
struct Pubrec {
  std::uint16_t packet_id = 0;
  friend bool operator==(const Pubrec&, const Pubrec&) = default;
};
struct Pubrel {
  std::uint16_t packet_id = 0;
  friend bool operator==(const Pubrel&, const Pubrel&) = default;
};
struct Pubcomp {
  std::uint16_t packet_id = 0;
  friend bool operator==(const Pubcomp&, const Pubcomp&) = default;
};

struct TopicRequest {
  std::string filter;
  std::uint8_t qos = 0;
  friend bool operator==(const TopicRequest&, const TopicRequest&) = default;
};

struct Subscribe {
  std::uint16_t packet_id = 0;
  std::vector<TopicRequest> topics;  // at least one
  friend bool operator==(const Subscribe&, const Subscribe&) = default;
};

/// SUBACK return code for a refused subscription.
inline constexpr std::uint8_t suback_failure = 0x80;

struct Suback {
  std::uint16_t packet_id = 0;
  std::vector<std::uint8_t> return_codes;  // granted QoS 0..2 or suback_failure, one per topic
  friend bool operator==(const Suback&, const Suback&) = default;
};

struct Unsubscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters;  // at least one
  friend bool operator==(const Unsubscribe&, const Unsubscribe&) = default;
};

struct Unsuback {
  std::uint16_t packet_id = 0;
  friend bool operator==(const Unsuback&, const Unsuback&) = default;
};

struct Pingreq {
  friend bool operator==(const Pingreq&, const Pingreq&) = default;
};
struct Pingresp {
  friend bool operator==(const Pingresp&, const Pingresp&) = default;
};
struct Disconnect {
  friend bool operator==(const Disconnect&, const Disconnect&) = default;
};

/// Alternative i holds the packet of type i + 1.
using Packet = std::variant<Connect, Connack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe,
                            Suback, Unsubscribe, Unsuback, Pingreq, Pingresp, Disconnect>;

[[nodiscard]] inline PacketType type_of(const Packet& p) noexcept {
  return static_cast<PacketType>(p.index() + 1);
}

/// Why a broker refused a CONNECT, for error messages.
[[nodiscard]] std::string_view connack_reason(std::uint8_t return_code) noexcept;

struct Limits {
  /// Whole packet (fixed header included). Larger packets fail as soon as their header is
  /// read, before their body is buffered.
  std::size_t max_packet_size = 1 << 20;
};

/// Appends the packet's bytes to `out`. Fails (and leaves `out` as it was) when the packet
/// breaks a rule of the spec: a string over 65,535 bytes or not UTF-8, a wildcard in a
/// PUBLISH topic, a missing or stray packet id, a QoS over 2, an empty SUBSCRIBE, a packet over
/// the largest Remaining Length.
[[nodiscard]] Result<void> encode(const Packet& packet, std::string& out);

struct FixedHeader {
  PacketType type = PacketType::connect;
  std::uint8_t flags = 0;
  std::size_t header_size = 0;  // the type byte and the Remaining Length varint
  std::size_t remaining = 0;
  [[nodiscard]] std::size_t packet_size() const noexcept { return header_size + remaining; }
};

/// Reads the fixed header at the front of `bytes`, checking everything decode() checks there
/// except the size limit. Returns nullopt while the header is incomplete.
[[nodiscard]] Result<std::optional<FixedHeader>> decode_fixed_header(std::string_view bytes);

struct Decoded {
  Packet packet;
  std::size_t size = 0;  // bytes consumed from the front of the input
};

/// Decodes the packet at the front of `bytes`. Returns nullopt while the packet is
/// incomplete; fails at once on bytes that can never become a valid packet (a reserved type,
/// wrong fixed-header flags, a Remaining Length that is over five bytes, not minimally encoded
/// or over the limit), and on a complete packet whose body breaks the spec. Errors name the
/// packet type and the byte offset within the packet.
[[nodiscard]] Result<std::optional<Decoded>> decode(std::string_view bytes,
                                                    const Limits& limits = {});

}  // namespace weft::io::mqtt
