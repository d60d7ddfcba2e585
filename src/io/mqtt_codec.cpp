#include "io/mqtt_codec.hpp"

#include <fmt/format.h>

#include <array>
#include <type_traits>
#include <utility>

#include "weft/io/mqtt_topic.hpp"

namespace weft::io::mqtt {

std::string_view to_string(PacketType type) noexcept {
  static constexpr std::array<std::string_view, 15> names = {
      "RESERVED",    "CONNECT",  "CONNACK", "PUBLISH",   "PUBACK",
      "PUBREC",      "PUBREL",   "PUBCOMP", "SUBSCRIBE", "SUBACK",
      "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP",  "DISCONNECT"};
  const auto i = static_cast<std::size_t>(type);
  return i < names.size() ? names[i] : "RESERVED";
}

std::string_view connack_reason(std::uint8_t return_code) noexcept {
  switch (return_code) {
    case 0:
      return "accepted";
    case 1:
      return "unacceptable protocol version";
    case 2:
      return "client identifier rejected";
    case 3:
      return "server unavailable";
    case 4:
      return "bad user name or password";
    case 5:
      return "not authorized";
    default:
      return "unknown return code";
  }
}

namespace {

constexpr std::string_view protocol_name = "MQTT";
constexpr std::uint8_t protocol_level = 4;  // 3.1.1

// Connect flags (3.1.2.3).
constexpr std::uint8_t flag_username = 0x80;
constexpr std::uint8_t flag_password = 0x40;
constexpr std::uint8_t flag_will_retain = 0x20;
constexpr std::uint8_t flag_will_qos = 0x18;
constexpr std::uint8_t flag_will = 0x04;
constexpr std::uint8_t flag_clean_session = 0x02;
constexpr std::uint8_t flag_reserved = 0x01;

// The flags nibble every type but PUBLISH must carry (2.2.2).
constexpr std::uint8_t required_flags(PacketType t) noexcept {
  return t == PacketType::pubrel || t == PacketType::subscribe || t == PacketType::unsubscribe
             ? 0x2
             : 0x0;
}

// ---- encoding ------------------------------------------------------------------------------

Result<void> check_binary(std::string_view s, std::string_view what) {
  if (s.size() > 65535) {
    return fail(Errc::invalid_argument,
                fmt::format("{} is {} bytes, MQTT allows at most 65535", what, s.size()));
  }
  return {};
}

Result<void> check_packet_id(std::uint16_t id, PacketType t) {
  if (id == 0) {
    return fail(Errc::invalid_argument, fmt::format("{} needs a nonzero packet id", to_string(t)));
  }
  return {};
}

Result<void> check_qos(std::uint8_t qos, std::string_view what) {
  if (qos > 2) return fail(Errc::invalid_argument, fmt::format("{} QoS {} is over 2", what, qos));
  return {};
}

#define WEFT_TRY(expr)                    \
  do {                                    \
    if (auto r_ = (expr); !r_) return r_; \
  } while (false)

Result<void> check(const Connect& c) {
  WEFT_TRY(validate_mqtt_string(c.client_id, "CONNECT client id"));
  if (c.will) {
    WEFT_TRY(validate_mqtt_topic(c.will->topic));
    WEFT_TRY(check_binary(c.will->payload, "CONNECT will payload"));
    WEFT_TRY(check_qos(c.will->qos, "CONNECT will"));
  }
  if (c.username) WEFT_TRY(validate_mqtt_string(*c.username, "CONNECT user name"));
  if (c.password) {
    if (!c.username) {
      return fail(Errc::invalid_argument, "CONNECT with a password needs a user name (3.1.2.9)");
    }
    WEFT_TRY(check_binary(*c.password, "CONNECT password"));
  }
  return {};
}

Result<void> check(const Connack& c) {
  if (c.return_code > 5) {
    return fail(Errc::invalid_argument,
                fmt::format("CONNACK return code {} over 5", c.return_code));
  }
  if (c.session_present && c.return_code != 0) {
    return fail(Errc::invalid_argument, "CONNACK refusing a connection cannot have a session");
  }
  return {};
}

Result<void> check(const Publish& p) {
  WEFT_TRY(validate_mqtt_topic(p.topic));
  WEFT_TRY(check_qos(p.qos, "PUBLISH"));
  if (p.qos == 0) {
    if (p.packet_id != 0) return fail(Errc::invalid_argument, "PUBLISH at QoS 0 has no packet id");
    if (p.dup) return fail(Errc::invalid_argument, "PUBLISH at QoS 0 cannot be a DUP (3.3.1-2)");
    return {};
  }
  return check_packet_id(p.packet_id, PacketType::publish);
}

Result<void> check(const Subscribe& s) {
  WEFT_TRY(check_packet_id(s.packet_id, PacketType::subscribe));
  if (s.topics.empty()) return fail(Errc::invalid_argument, "SUBSCRIBE needs at least one topic");
  for (const auto& t : s.topics) {
    WEFT_TRY(validate_mqtt_filter(t.filter));
    WEFT_TRY(check_qos(t.qos, "SUBSCRIBE"));
  }
  return {};
}

Result<void> check(const Suback& s) {
  WEFT_TRY(check_packet_id(s.packet_id, PacketType::suback));
  if (s.return_codes.empty()) {
    return fail(Errc::invalid_argument, "SUBACK needs at least one return code");
  }
  for (const auto rc : s.return_codes) {
    if (rc > 2 && rc != suback_failure) {
      return fail(Errc::invalid_argument, fmt::format("SUBACK return code 0x{:02x} invalid", rc));
    }
  }
  return {};
}

Result<void> check(const Unsubscribe& u) {
  WEFT_TRY(check_packet_id(u.packet_id, PacketType::unsubscribe));
  if (u.filters.empty()) return fail(Errc::invalid_argument, "UNSUBSCRIBE needs a topic filter");
  for (const auto& f : u.filters) WEFT_TRY(validate_mqtt_filter(f));
  return {};
}

template <class T, std::size_t I = 0>
constexpr PacketType type_for() {
  if constexpr (std::is_same_v<T, std::variant_alternative_t<I, Packet>>) {
    return static_cast<PacketType>(I + 1);
  } else {
    return type_for<T, I + 1>();
  }
}

template <class T>
requires requires(const T& t) {
  t.packet_id;
}
Result<void> check(const T& t) {
  return check_packet_id(t.packet_id, type_for<T>());
}

Result<void> check(const Pingreq&) {
  return {};
}
Result<void> check(const Pingresp&) {
  return {};
}
Result<void> check(const Disconnect&) {
  return {};
}

std::size_t str_size(std::string_view s) {
  return 2 + s.size();
}

std::size_t body_size(const Connect& c) {
  std::size_t n = str_size(protocol_name) + 1 + 1 + 2 + str_size(c.client_id);
  if (c.will) n += str_size(c.will->topic) + str_size(c.will->payload);
  if (c.username) n += str_size(*c.username);
  if (c.password) n += str_size(*c.password);
  return n;
}
std::size_t body_size(const Connack&) {
  return 2;
}
std::size_t body_size(const Publish& p) {
  return str_size(p.topic) + (p.qos > 0 ? 2 : 0) + p.payload.size();
}
std::size_t body_size(const Subscribe& s) {
  std::size_t n = 2;
  for (const auto& t : s.topics) n += str_size(t.filter) + 1;
  return n;
}
std::size_t body_size(const Suback& s) {
  return 2 + s.return_codes.size();
}
std::size_t body_size(const Unsubscribe& u) {
  std::size_t n = 2;
  for (const auto& f : u.filters) n += str_size(f);
  return n;
}
std::size_t body_size(const Pingreq&) {
  return 0;
}
std::size_t body_size(const Pingresp&) {
  return 0;
}
std::size_t body_size(const Disconnect&) {
  return 0;
}
template <class T>
requires requires(const T& t) {
  t.packet_id;
}
std::size_t body_size(const T&) {
  return 2;
}

void put_u8(std::string& out, std::uint8_t v) {
  out.push_back(static_cast<char>(v));
}
void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}
void put_str(std::string& out, std::string_view s) {
  put_u16(out, static_cast<std::uint16_t>(s.size()));
  out.append(s);
}

std::uint8_t flags_of(const Packet& p) {
  if (const auto* pub = std::get_if<Publish>(&p)) {
    return static_cast<std::uint8_t>((pub->dup ? 0x08 : 0) | (pub->qos << 1) |
                                     (pub->retain ? 0x01 : 0));
  }
  return required_flags(type_of(p));
}

void write_body(const Connect& c, std::string& out) {
  put_str(out, protocol_name);
  put_u8(out, protocol_level);
  std::uint8_t flags = c.clean_session ? flag_clean_session : 0;
  if (c.will) {
    flags |= flag_will | static_cast<std::uint8_t>(c.will->qos << 3);
    if (c.will->retain) flags |= flag_will_retain;
  }
  if (c.username) flags |= flag_username;
  if (c.password) flags |= flag_password;
  put_u8(out, flags);
  put_u16(out, c.keep_alive_s);
  put_str(out, c.client_id);
  if (c.will) {
    put_str(out, c.will->topic);
    put_str(out, c.will->payload);
  }
  if (c.username) put_str(out, *c.username);
  if (c.password) put_str(out, *c.password);
}
void write_body(const Connack& c, std::string& out) {
  put_u8(out, c.session_present ? 1 : 0);
  put_u8(out, c.return_code);
}
void write_body(const Publish& p, std::string& out) {
  put_str(out, p.topic);
  if (p.qos > 0) put_u16(out, p.packet_id);
  out.append(p.payload);
}
void write_body(const Subscribe& s, std::string& out) {
  put_u16(out, s.packet_id);
  for (const auto& t : s.topics) {
    put_str(out, t.filter);
    put_u8(out, t.qos);
  }
}
void write_body(const Suback& s, std::string& out) {
  put_u16(out, s.packet_id);
  for (const auto rc : s.return_codes) put_u8(out, rc);
}
void write_body(const Unsubscribe& u, std::string& out) {
  put_u16(out, u.packet_id);
  for (const auto& f : u.filters) put_str(out, f);
}
void write_body(const Pingreq&, std::string&) {}
void write_body(const Pingresp&, std::string&) {}
void write_body(const Disconnect&, std::string&) {}
template <class T>
requires requires(const T& t) {
  t.packet_id;
}
void write_body(const T& t, std::string& out) {
  put_u16(out, t.packet_id);
}

// ---- decoding ------------------------------------------------------------------------------

// Reads a packet body; offsets in errors count from the packet's first byte.
class Cursor {
 public:
  Cursor(std::string_view body, std::size_t header_size, PacketType type)
      : body_(body), header_size_(header_size), type_(type) {}

  [[nodiscard]] Error error(std::size_t at, std::string_view detail) const {
    return Error(Errc::malformed, fmt::format("MQTT {} at byte {}: {}", to_string(type_),
                                              header_size_ + at, detail));
  }
  [[nodiscard]] Error error(std::string_view detail) const { return error(pos_, detail); }

  [[nodiscard]] std::size_t remaining() const { return body_.size() - pos_; }
  [[nodiscard]] bool done() const { return pos_ == body_.size(); }

  Result<std::uint8_t> u8(std::string_view what) {
    if (remaining() < 1) return std::unexpected(error(fmt::format("{} missing", what)));
    return static_cast<std::uint8_t>(body_[pos_++]);
  }
  Result<std::uint16_t> u16(std::string_view what) {
    if (remaining() < 2) {
      return std::unexpected(
          error(fmt::format("{} needs 2 bytes, {} left in the packet", what, remaining())));
    }
    const auto hi = static_cast<std::uint8_t>(body_[pos_]);
    const auto lo = static_cast<std::uint8_t>(body_[pos_ + 1]);
    pos_ += 2;
    return static_cast<std::uint16_t>((hi << 8) | lo);
  }
  Result<std::uint16_t> packet_id() {
    const std::size_t at = pos_;
    auto id = u16("packet id");
    if (id && *id == 0) return std::unexpected(error(at, "packet id 0 is not allowed"));
    return id;
  }
  // A length-prefixed field; binary data is not checked further.
  Result<std::string_view> binary(std::string_view what) {
    auto n = u16(fmt::format("{} length", what));
    if (!n) return std::unexpected(n.error());
    if (remaining() < *n) {
      return std::unexpected(error(
          pos_ - 2,
          fmt::format("{} of {} bytes runs past the packet end ({} left)", what, *n, remaining())));
    }
    const std::string_view s = body_.substr(pos_, *n);
    pos_ += *n;
    return s;
  }
  // A length-prefixed UTF-8 string, validated by `check` (one of the mqtt_topic validators).
  template <class Check>
  Result<std::string> string(std::string_view what, Check check) {
    const std::size_t at = pos_;
    auto s = binary(what);
    if (!s) return std::unexpected(s.error());
    if (auto ok = check(*s); !ok) return std::unexpected(error(at, ok.error().message()));
    return std::string(*s);
  }
  Result<std::string> string(std::string_view what) {
    return string(what, [what](std::string_view s) { return validate_mqtt_string(s, what); });
  }
  std::string_view rest() {
    const std::string_view s = body_.substr(pos_);
    pos_ = body_.size();
    return s;
  }

 private:
  std::string_view body_;
  std::size_t pos_ = 0;
  std::size_t header_size_;
  PacketType type_;
};

#define WEFT_GET(var, expr)                                         \
  auto var##_r = (expr);                                            \
  if (!var##_r) return std::unexpected(std::move(var##_r).error()); \
  auto var = std::move(*var##_r)

Result<Packet> decode_connect(Cursor& c) {
  const std::size_t name_at = 0;
  WEFT_GET(name, c.binary("protocol name"));
  if (name != protocol_name) {
    return std::unexpected(c.error(name_at, "protocol name is not \"MQTT\""));
  }
  WEFT_GET(level, c.u8("protocol level"));
  if (level != protocol_level) {
    return std::unexpected(
        Error(Errc::unsupported_version,
              fmt::format("MQTT CONNECT: protocol level {} is not 4 (MQTT 3.1.1)", level)));
  }
  const std::size_t flags_at = 9;
  WEFT_GET(flags, c.u8("connect flags"));
  if (flags & flag_reserved) return std::unexpected(c.error(flags_at, "reserved flag is set"));
  Connect out;
  out.clean_session = (flags & flag_clean_session) != 0;
  const bool will = (flags & flag_will) != 0;
  const auto will_qos = static_cast<std::uint8_t>((flags & flag_will_qos) >> 3);
  const bool will_retain = (flags & flag_will_retain) != 0;
  if (!will && (will_qos != 0 || will_retain)) {
    return std::unexpected(c.error(flags_at, "will QoS or retain set without a will"));
  }
  if (will_qos > 2) return std::unexpected(c.error(flags_at, "will QoS 3"));
  if ((flags & flag_password) && !(flags & flag_username)) {
    return std::unexpected(c.error(flags_at, "password flag without user name flag"));
  }
  WEFT_GET(keep_alive, c.u16("keep alive"));
  out.keep_alive_s = keep_alive;
  WEFT_GET(client_id, c.string("client id"));
  out.client_id = std::move(client_id);
  if (will) {
    WEFT_GET(topic, c.string("will topic", validate_mqtt_topic));
    WEFT_GET(payload, c.binary("will payload"));
    out.will = Will{std::move(topic), std::string(payload), will_qos, will_retain};
  }
  if (flags & flag_username) {
    WEFT_GET(user, c.string("user name"));
    out.username = std::move(user);
  }
  if (flags & flag_password) {
    WEFT_GET(password, c.binary("password"));
    out.password = std::string(password);
  }
  return out;
}

Result<Packet> decode_connack(Cursor& c) {
  WEFT_GET(ack_flags, c.u8("acknowledge flags"));
  if (ack_flags > 1) return std::unexpected(c.error(0, "reserved acknowledge flags are set"));
  WEFT_GET(rc, c.u8("return code"));
  if (rc > 5) return std::unexpected(c.error(1, fmt::format("return code {} over 5", rc)));
  if (ack_flags == 1 && rc != 0) {
    return std::unexpected(c.error(0, "session present on a refused connection"));
  }
  return Connack{ack_flags == 1, rc};
}

Result<Packet> decode_publish(Cursor& c, std::uint8_t flags) {
  Publish p;
  p.dup = (flags & 0x08) != 0;
  p.qos = static_cast<std::uint8_t>((flags >> 1) & 0x3);
  p.retain = (flags & 0x01) != 0;
  WEFT_GET(topic, c.string("topic", validate_mqtt_topic));
  p.topic = std::move(topic);
  if (p.qos > 0) {
    WEFT_GET(id, c.packet_id());
    p.packet_id = id;
  }
  p.payload = std::string(c.rest());
  return p;
}

Result<Packet> decode_subscribe(Cursor& c) {
  Subscribe s;
  WEFT_GET(id, c.packet_id());
  s.packet_id = id;
  if (c.done()) return std::unexpected(c.error("no topic filter"));
  while (!c.done()) {
    WEFT_GET(filter, c.string("topic filter", validate_mqtt_filter));
    WEFT_GET(qos, c.u8("requested QoS"));
    if (qos > 2) return std::unexpected(c.error(fmt::format("requested QoS byte 0x{:02x}", qos)));
    s.topics.push_back(TopicRequest{std::move(filter), qos});
  }
  return s;
}

Result<Packet> decode_suback(Cursor& c) {
  Suback s;
  WEFT_GET(id, c.packet_id());
  s.packet_id = id;
  if (c.done()) return std::unexpected(c.error("no return code"));
  while (!c.done()) {
    WEFT_GET(rc, c.u8("return code"));
    if (rc > 2 && rc != suback_failure) {
      return std::unexpected(c.error(fmt::format("return code 0x{:02x} invalid", rc)));
    }
    s.return_codes.push_back(rc);
  }
  return s;
}

Result<Packet> decode_unsubscribe(Cursor& c) {
  Unsubscribe u;
  WEFT_GET(id, c.packet_id());
  u.packet_id = id;
  if (c.done()) return std::unexpected(c.error("no topic filter"));
  while (!c.done()) {
    WEFT_GET(filter, c.string("topic filter", validate_mqtt_filter));
    u.filters.push_back(std::move(filter));
  }
  return u;
}

template <class T>
Result<Packet> decode_id_only(Cursor& c) {
  WEFT_GET(id, c.packet_id());
  return T{id};
}

Result<Packet> decode_body(Cursor& c, PacketType type, std::uint8_t flags) {
  switch (type) {
    case PacketType::connect:
      return decode_connect(c);
    case PacketType::connack:
      return decode_connack(c);
    case PacketType::publish:
      return decode_publish(c, flags);
    case PacketType::puback:
      return decode_id_only<Puback>(c);
    case PacketType::pubrec:
      return decode_id_only<Pubrec>(c);
    case PacketType::pubrel:
      return decode_id_only<Pubrel>(c);
    case PacketType::pubcomp:
      return decode_id_only<Pubcomp>(c);
    case PacketType::subscribe:
      return decode_subscribe(c);
    case PacketType::suback:
      return decode_suback(c);
    case PacketType::unsubscribe:
      return decode_unsubscribe(c);
    case PacketType::unsuback:
      return decode_id_only<Unsuback>(c);
    case PacketType::pingreq:
      return Pingreq{};
    case PacketType::pingresp:
      return Pingresp{};
    case PacketType::disconnect:
      return Disconnect{};
  }
  return std::unexpected(c.error(0, "unknown packet type"));
}

Error header_error(std::string_view detail) {
  return Error(Errc::malformed, fmt::format("MQTT fixed header: {}", detail));
}

}  // namespace

Result<void> encode(const Packet& packet, std::string& out) {
  auto valid = std::visit([](const auto& p) { return check(p); }, packet);
  if (!valid) {
    return fail(
        valid.error().code(),
        fmt::format("cannot encode {}: {}", to_string(type_of(packet)), valid.error().message()));
  }
  const std::size_t body = std::visit([](const auto& p) { return body_size(p); }, packet);
  if (body > max_remaining_length) {
    return fail(Errc::invalid_argument,
                fmt::format("cannot encode {}: {} bytes exceed the largest Remaining Length {}",
                            to_string(type_of(packet)), body, max_remaining_length));
  }
  out.reserve(out.size() + 5 + body);
  put_u8(out, static_cast<std::uint8_t>((static_cast<std::uint8_t>(type_of(packet)) << 4) |
                                        flags_of(packet)));
  std::size_t n = body;
  do {
    auto byte = static_cast<std::uint8_t>(n & 0x7F);
    n >>= 7;
    if (n > 0) byte |= 0x80;
    put_u8(out, byte);
  } while (n > 0);
  std::visit([&out](const auto& p) { write_body(p, out); }, packet);
  return {};
}

Result<std::optional<FixedHeader>> decode_fixed_header(std::string_view bytes) {
  if (bytes.empty()) return std::nullopt;
  const auto first = static_cast<std::uint8_t>(bytes[0]);
  const auto type_bits = static_cast<std::uint8_t>(first >> 4);
  const auto flags = static_cast<std::uint8_t>(first & 0x0F);
  if (type_bits == 0 || type_bits == 15) {
    return std::unexpected(header_error(fmt::format("reserved packet type {}", type_bits)));
  }
  const auto type = static_cast<PacketType>(type_bits);
  if (type == PacketType::publish) {
    const auto qos = (flags >> 1) & 0x3;
    if (qos == 3) return std::unexpected(header_error("PUBLISH with QoS 3"));
    if (qos == 0 && (flags & 0x08)) {
      return std::unexpected(header_error("PUBLISH at QoS 0 with the DUP flag (3.3.1-2)"));
    }
  } else if (flags != required_flags(type)) {
    return std::unexpected(header_error(fmt::format("{} with flags 0x{:x}, must be 0x{:x}",
                                                    to_string(type), flags, required_flags(type))));
  }

  std::size_t remaining = 0;
  std::size_t header = 1;
  for (std::size_t shift = 0;; shift += 7) {
    if (header == 5) {
      return std::unexpected(
          header_error(fmt::format("{} Remaining Length longer than 4 bytes", to_string(type))));
    }
    if (bytes.size() <= header) return std::nullopt;
    const auto b = static_cast<std::uint8_t>(bytes[header++]);
    remaining |= static_cast<std::size_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) {
      // Minimal encoding only, so that every packet has exactly one encoding.
      if (b == 0 && header > 2) {
        return std::unexpected(header_error(
            fmt::format("{} Remaining Length not minimally encoded", to_string(type))));
      }
      break;
    }
  }
  return FixedHeader{type, flags, header, remaining};
}

Result<std::optional<Decoded>> decode(std::string_view bytes, const Limits& limits) {
  auto fixed = decode_fixed_header(bytes);
  if (!fixed) return std::unexpected(std::move(fixed).error());
  if (!fixed->has_value()) return std::nullopt;
  const auto [type, flags, header, remaining] = **fixed;
  if (header + remaining > limits.max_packet_size) {
    return std::unexpected(
        Error(Errc::invalid_argument,
              fmt::format("MQTT {} of {} bytes exceeds the limit of {} bytes", to_string(type),
                          header + remaining, limits.max_packet_size)));
  }
  if (bytes.size() < header + remaining) return std::nullopt;

  Cursor cursor(bytes.substr(header, remaining), header, type);
  auto packet = decode_body(cursor, type, flags);
  if (!packet) return std::unexpected(std::move(packet).error());
  if (!cursor.done()) {
    return std::unexpected(
        cursor.error(fmt::format("{} unexpected trailing bytes", cursor.remaining())));
  }
  return Decoded{std::move(*packet), header + remaining};
}

}  // namespace weft::io::mqtt
