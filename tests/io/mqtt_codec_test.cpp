#include "io/mqtt_codec.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string>
#include <vector>

#include "weft/io/mqtt_topic.hpp"

namespace weft::io::mqtt {
namespace {

std::string bytes(std::initializer_list<int> list) {
  std::string s;
  for (int b : list) s.push_back(static_cast<char>(b));
  return s;
}

std::string encoded(const Packet& p) {
  std::string out;
  auto ok = encode(p, out);
  EXPECT_TRUE(ok) << ok.error().describe();
  return out;
}

// Known encodings, byte for byte, taken from the layouts in the spec's section 3.
struct WireCase {
  const char* name;
  Packet packet;
  std::string wire;
};

std::vector<WireCase> wire_cases() {
  return {
      {"connect_minimal", Connect{"c", true, 60, std::nullopt, std::nullopt, std::nullopt},
       bytes({0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'c'})},
      {"connect_full", Connect{"id", false, 0x0102, Will{"w/t", "bye", 1, true}, "u", "pw"},
       bytes({0x10, 31,  0,   4,   'M', 'Q', 'T', 'T', 4,   0xEC, 0x01, 0x02, 0, 2, 'i', 'd', 0,
              3,    'w', '/', 't', 0,   3,   'b', 'y', 'e', 0,    1,    'u',  0, 2, 'p', 'w'})},
      {"connack", Connack{true, 0}, bytes({0x20, 2, 1, 0})},
      {"connack_refused", Connack{false, 5}, bytes({0x20, 2, 0, 5})},
      {"publish_qos0", Publish{"a/b", "hi", 0, 0, false, true},
       bytes({0x31, 7, 0, 3, 'a', '/', 'b', 'h', 'i'})},
      {"publish_qos1_dup", Publish{"t", "", 0x1234, 1, true, false},
       bytes({0x3A, 5, 0, 1, 't', 0x12, 0x34})},
      {"puback", Puback{7}, bytes({0x40, 2, 0, 7})},
      {"pubrec", Pubrec{0xFFFF}, bytes({0x50, 2, 0xFF, 0xFF})},
      {"pubrel", Pubrel{1}, bytes({0x62, 2, 0, 1})},
      {"pubcomp", Pubcomp{2}, bytes({0x70, 2, 0, 2})},
      {"subscribe", Subscribe{10, {{"a/+", 1}, {"#", 0}}},
       bytes({0x82, 12, 0, 10, 0, 3, 'a', '/', '+', 1, 0, 1, '#', 0})},
      {"suback", Suback{10, {1, 0x80}}, bytes({0x90, 4, 0, 10, 1, 0x80})},
      {"unsubscribe", Unsubscribe{11, {"a/#"}}, bytes({0xA2, 7, 0, 11, 0, 3, 'a', '/', '#'})},
      {"unsuback", Unsuback{11}, bytes({0xB0, 2, 0, 11})},
      {"pingreq", Pingreq{}, bytes({0xC0, 0})},
      {"pingresp", Pingresp{}, bytes({0xD0, 0})},
      {"disconnect", Disconnect{}, bytes({0xE0, 0})},
  };
}

TEST(MqttCodec, EncodesAndDecodesKnownPackets) {
  for (const auto& c : wire_cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(encoded(c.packet), c.wire);
    auto d = decode(c.wire);
    ASSERT_TRUE(d) << d.error().describe();
    ASSERT_TRUE(d->has_value());
    EXPECT_EQ((*d)->packet, c.packet);
    EXPECT_EQ((*d)->size, c.wire.size());
  }
}

TEST(MqttCodec, EveryPrefixOfAPacketIsIncompleteNotAnError) {
  for (const auto& c : wire_cases()) {
    for (std::size_t n = 0; n < c.wire.size(); ++n) {
      auto d = decode(std::string_view(c.wire).substr(0, n));
      ASSERT_TRUE(d) << c.name << " prefix " << n << ": " << d.error().describe();
      EXPECT_FALSE(d->has_value()) << c.name << " prefix " << n;
    }
  }
}

TEST(MqttCodec, SplitFeedingDecodesAStreamOfPackets) {
  std::string stream;
  for (const auto& c : wire_cases()) stream += c.wire;
  // Feed the stream in chunks of every size from 1 to 17 bytes, as a socket would.
  for (std::size_t chunk = 1; chunk <= 17; ++chunk) {
    std::string buffer;
    std::vector<Packet> got;
    for (std::size_t pos = 0; pos < stream.size(); pos += chunk) {
      buffer += stream.substr(pos, chunk);
      while (true) {
        auto d = decode(buffer);
        ASSERT_TRUE(d) << d.error().describe();
        if (!d->has_value()) break;
        got.push_back(std::move((*d)->packet));
        buffer.erase(0, (*d)->size);
      }
    }
    EXPECT_TRUE(buffer.empty());
    const auto cases = wire_cases();
    ASSERT_EQ(got.size(), cases.size()) << "chunk " << chunk;
    for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], cases[i].packet);
  }
}

TEST(MqttCodec, RemainingLengthVarintBoundaries) {
  // 127 -> 1 byte, 128 -> 2 bytes, 16383 -> 2, 16384 -> 3 (spec table 2.4).
  for (const std::size_t payload_len : {122u, 123u, 16378u, 16379u, 2'097'146u}) {
    Publish p{"t", std::string(payload_len, 'x'), 0, 0, false, false};
    const std::string wire = encoded(p);
    const std::size_t remaining = 3 + payload_len;
    const std::size_t varint = remaining < 128       ? 1
                               : remaining < 16384   ? 2
                               : remaining < 2097152 ? 3
                                                     : 4;
    EXPECT_EQ(wire.size(), 1 + varint + remaining) << payload_len;
    auto d = decode(wire, Limits{4 << 20});
    ASSERT_TRUE(d && d->has_value());
    EXPECT_EQ(std::get<Publish>((*d)->packet).payload.size(), payload_len);
  }
}

struct BadCase {
  const char* name;
  std::string wire;
  Errc code;
  const char* message_part;
};

TEST(MqttCodec, RejectsMalformedInputWithAClearError) {
  const std::vector<BadCase> cases = {
      {"reserved type 0", bytes({0x00, 0}), Errc::malformed, "reserved packet type 0"},
      {"reserved type 15", bytes({0xF0, 0}), Errc::malformed, "reserved packet type 15"},
      {"publish qos 3", bytes({0x36, 3, 0, 1, 't'}), Errc::malformed, "QoS 3"},
      {"publish qos0 dup", bytes({0x38, 3, 0, 1, 't'}), Errc::malformed, "DUP"},
      {"subscribe flags", bytes({0x80, 6, 0, 1, 0, 1, 'a', 0}), Errc::malformed,
       "SUBSCRIBE with flags 0x0"},
      {"puback flags", bytes({0x41, 2, 0, 1}), Errc::malformed, "PUBACK with flags 0x1"},
      {"varint 5 bytes", bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), Errc::malformed,
       "longer than 4 bytes"},
      {"varint not minimal", bytes({0xC0, 0x80, 0x00}), Errc::malformed, "minimally"},
      {"topic past end", bytes({0x30, 3, 0, 9, 't'}), Errc::malformed,
       "topic of 9 bytes runs past the packet end"},
      {"topic wildcard", bytes({0x30, 4, 0, 2, 'a', '#'}), Errc::malformed, "wildcard"},
      {"topic empty", bytes({0x30, 2, 0, 0}), Errc::malformed, "topic is empty"},
      {"topic bad utf8", bytes({0x30, 4, 0, 2, 0xC0, 0x80}), Errc::malformed, "UTF-8"},
      {"topic nul", bytes({0x30, 4, 0, 2, 'a', 0}), Errc::malformed, "UTF-8 at byte 1"},
      {"topic surrogate", bytes({0x30, 5, 0, 3, 0xED, 0xA0, 0x80}), Errc::malformed, "UTF-8"},
      {"publish id 0", bytes({0x32, 5, 0, 1, 't', 0, 0}), Errc::malformed, "packet id 0"},
      {"puback short", bytes({0x40, 1, 7}), Errc::malformed, "packet id needs 2 bytes"},
      {"puback long", bytes({0x40, 3, 0, 7, 0}), Errc::malformed, "1 unexpected trailing"},
      {"pingreq body", bytes({0xC0, 1, 0}), Errc::malformed, "trailing"},
      {"connack reserved", bytes({0x20, 2, 2, 0}), Errc::malformed, "reserved acknowledge"},
      {"connack code", bytes({0x20, 2, 0, 6}), Errc::malformed, "return code 6"},
      {"connack session refused", bytes({0x20, 2, 1, 3}), Errc::malformed, "session present"},
      {"suback code", bytes({0x90, 3, 0, 1, 3}), Errc::malformed, "0x03 invalid"},
      {"suback empty", bytes({0x90, 2, 0, 1}), Errc::malformed, "no return code"},
      {"subscribe empty", bytes({0x82, 2, 0, 1}), Errc::malformed, "no topic filter"},
      {"subscribe bad filter", bytes({0x82, 7, 0, 1, 0, 2, 'a', '#', 0}), Errc::malformed,
       "whole level"},
      {"subscribe qos 3", bytes({0x82, 6, 0, 1, 0, 1, 'a', 3}), Errc::malformed, "requested QoS"},
      {"connect bad name", bytes({0x10, 12, 0, 4, 'M', 'Q', 'T', 'X', 4, 2, 0, 0, 0, 0}),
       Errc::malformed, "protocol name"},
      {"connect level 3", bytes({0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 3, 2, 0, 0, 0, 0}),
       Errc::unsupported_version, "protocol level 3"},
      {"connect reserved flag", bytes({0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 3, 0, 0, 0, 0}),
       Errc::malformed, "at byte 11: reserved flag"},
      {"connect password alone", bytes({0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x42, 0, 0, 0, 0}),
       Errc::malformed, "password flag without user name"},
      {"connect will qos without will",
       bytes({0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x0A, 0, 0, 0, 0}), Errc::malformed,
       "without a will"},
  };
  for (const auto& c : cases) {
    auto d = decode(c.wire);
    ASSERT_FALSE(d) << c.name << " decoded";
    EXPECT_EQ(d.error().code(), c.code) << c.name;
    EXPECT_NE(d.error().message().find(c.message_part), std::string::npos)
        << c.name << ": " << d.error().message();
  }
}

TEST(MqttCodec, OversizedPacketFailsFromItsHeaderAlone) {
  // Only the fixed header of a 2 MiB PUBLISH: the limit is enforced before the body arrives.
  const std::string header = bytes({0x30, 0x80, 0x80, 0x80, 0x01});
  auto d = decode(header, Limits{1 << 20});
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), Errc::invalid_argument);
  EXPECT_NE(d.error().message().find("exceeds the limit of 1048576"), std::string::npos)
      << d.error().message();
}

TEST(MqttCodec, EncodeRefusesPacketsTheSpecForbids) {
  std::string out = "keep";
  const std::vector<std::pair<Packet, const char*>> cases = {
      {Publish{"a/#", "", 0, 0, false, false}, "wildcard"},
      {Publish{"", "", 0, 0, false, false}, "empty"},
      {Publish{"t", "", 0, 1, false, false}, "nonzero packet id"},
      {Publish{"t", "", 5, 0, false, false}, "no packet id"},
      {Publish{"t", "", 1, 3, false, false}, "QoS 3"},
      {Publish{"t", "", 0, 0, true, false}, "DUP"},
      {Publish{std::string(70000, 'a'), "", 0, 0, false, false}, "65535"},
      {Puback{0}, "nonzero packet id"},
      {Subscribe{1, {}}, "at least one"},
      {Subscribe{1, {{"a+", 0}}}, "whole level"},
      {Connect{"c", true, 0, std::nullopt, std::nullopt, "pw"}, "needs a user name"},
      {Connack{true, 2}, "session"},
      {Suback{1, {7}}, "0x07"},
  };
  for (const auto& [packet, part] : cases) {
    auto ok = encode(packet, out);
    ASSERT_FALSE(ok) << part;
    EXPECT_NE(ok.error().message().find(part), std::string::npos) << ok.error().message();
    EXPECT_EQ(out, "keep");
  }
}

TEST(MqttCodec, PublishRoundTripsAnyPayloadAndTopic) {
  rc::check([](const std::string& payload, std::uint16_t id, bool retain) {
    const std::uint8_t qos = id == 0 ? 0 : 1;
    Publish p{"factory/m-01/telemetry", payload, id, qos, qos == 1 && retain, retain};
    std::string wire;
    RC_ASSERT(encode(p, wire).has_value());
    auto d = decode(wire, Limits{1 << 24});
    RC_ASSERT(d.has_value());
    RC_ASSERT(d->has_value());
    RC_ASSERT((*d)->size == wire.size());
    RC_ASSERT(std::get<Publish>((*d)->packet) == p);
  });
}

TEST(MqttTopic, Matching) {
  struct Case {
    const char* filter;
    const char* topic;
    bool match;
  };
  const Case cases[] = {
      {"factory/+/telemetry", "factory/m-01/telemetry", true},
      {"factory/+/telemetry", "factory/m-01/alarm", false},
      {"factory/+/telemetry", "factory/a/b/telemetry", false},
      {"factory/+/telemetry", "factory//telemetry", true},
      {"a/#", "a", true},
      {"a/#", "a/b/c", true},
      {"a/#", "ab", false},
      {"#", "a/b", true},
      {"+", "a", true},
      {"+", "a/b", false},
      {"+/+", "/a", true},
      {"a/b", "a/b", true},
      {"a/b", "a", false},
      {"a", "a/b", false},
      {"#", "$SYS/broker", false},
      {"+/broker", "$SYS/broker", false},
      {"$SYS/#", "$SYS/broker", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(mqtt_topic_matches(c.filter, c.topic), c.match) << c.filter << " vs " << c.topic;
  }
}

TEST(MqttTopic, FilterValidation) {
  for (const char* ok : {"a", "#", "+", "a/+/b", "a/#", "/", "+/+"}) {
    EXPECT_TRUE(validate_mqtt_filter(ok)) << ok;
  }
  for (const char* bad : {"", "a#", "a/#/b", "a+", "+a/b", "##"}) {
    EXPECT_FALSE(validate_mqtt_filter(bad)) << bad;
  }
}

}  // namespace
}  // namespace weft::io::mqtt
