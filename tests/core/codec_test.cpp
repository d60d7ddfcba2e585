#include "weft/core/codec.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace factory {

struct Reading {
  std::string device;
  std::int64_t ts = 0;
  double temperature = 0;
  std::optional<double> vibration;

  friend bool operator==(const Reading&, const Reading&) = default;
};
WEFT_CODEC(Reading, "factory.Reading", 1, device, ts, temperature, vibration);

struct Batch {
  std::uint32_t line = 0;
  std::vector<Reading> readings;

  friend bool operator==(const Batch&, const Batch&) = default;
};
WEFT_CODEC(Batch, "factory.Batch", 3, line, readings);

enum class Mode : std::uint8_t { idle = 0, running = 1, fault = 200 };

}  // namespace factory

// A struct in the global namespace, with more fields than most macros of this kind allow.
struct Wide {
  int f01 = 0, f02 = 0, f03 = 0, f04 = 0, f05 = 0, f06 = 0, f07 = 0, f08 = 0, f09 = 0, f10 = 0;
  int f11 = 0, f12 = 0, f13 = 0, f14 = 0, f15 = 0, f16 = 0, f17 = 0, f18 = 0, f19 = 0, f20 = 0;
  friend bool operator==(const Wide&, const Wide&) = default;
};
WEFT_CODEC(Wide, "test.Wide", 2, f01, f02, f03, f04, f05, f06, f07, f08, f09, f10, f11, f12, f13,
           f14, f15, f16, f17, f18, f19, f20);

namespace tree {

// Self-referential through a vector: only such types can nest as deep as the input says.
struct Node {
  int value = 0;
  std::vector<Node> children;
  friend bool operator==(const Node&, const Node&) = default;
};
WEFT_CODEC(Node, "test.Node", 1, value, children);

}  // namespace tree

namespace weft {
namespace {

using factory::Batch;
using factory::Reading;

std::vector<std::byte> bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

template <class T>
void expect_round_trip(const T& value, const std::vector<std::byte>& expected) {
  const auto encoded = encode(value);
  EXPECT_EQ(encoded, expected) << Codec<T>::manifest;
  auto back = decode<T>(encoded);
  ASSERT_TRUE(back.has_value()) << back.error().describe();
  EXPECT_EQ(*back, value);
}

template <class T>
Error decode_error(const std::vector<std::byte>& input) {
  auto r = decode<T>(input);
  EXPECT_FALSE(r.has_value());
  if (r.has_value()) return Error(Errc::internal, "decoded unexpectedly");
  return r.error();
}

Reading sample_reading() {
  return Reading{"press-7", -1700000000123, 21.5, 0.25};
}

// --- scalars ------------------------------------------------------------------------------

TEST(Codec, VarintsAreLeb128) {
  expect_round_trip<std::uint64_t>(0, bytes({0x00}));
  expect_round_trip<std::uint64_t>(127, bytes({0x7f}));
  expect_round_trip<std::uint64_t>(128, bytes({0x80, 0x01}));
  expect_round_trip<std::uint64_t>(300, bytes({0xac, 0x02}));
  expect_round_trip<std::uint64_t>(
      std::numeric_limits<std::uint64_t>::max(),
      bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
}

TEST(Codec, SignedIntegersAreZigzag) {
  expect_round_trip<std::int32_t>(0, bytes({0x00}));
  expect_round_trip<std::int32_t>(-1, bytes({0x01}));
  expect_round_trip<std::int32_t>(1, bytes({0x02}));
  expect_round_trip<std::int32_t>(-2, bytes({0x03}));
  expect_round_trip<std::int64_t>(
      std::numeric_limits<std::int64_t>::min(),
      bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  expect_round_trip<std::int64_t>(
      std::numeric_limits<std::int64_t>::max(),
      bytes({0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
}

template <class T>
void expect_limits_round_trip() {
  for (T v : {std::numeric_limits<T>::min(), std::numeric_limits<T>::max(), T{0}, T{1}}) {
    auto back = decode<T>(encode(v));
    ASSERT_TRUE(back.has_value()) << back.error().describe();
    EXPECT_EQ(*back, v) << Codec<T>::manifest;
  }
}

TEST(Codec, EveryIntegerWidthRoundTripsItsLimits) {
  expect_limits_round_trip<std::int8_t>();
  expect_limits_round_trip<std::int16_t>();
  expect_limits_round_trip<std::int32_t>();
  expect_limits_round_trip<std::int64_t>();
  expect_limits_round_trip<std::uint8_t>();
  expect_limits_round_trip<std::uint16_t>();
  expect_limits_round_trip<std::uint32_t>();
  expect_limits_round_trip<std::uint64_t>();
}

TEST(Codec, IntegersOutsideTheTargetTypeAreMalformed) {
  EXPECT_EQ(decode_error<std::uint8_t>(encode<std::uint64_t>(256)).code(), Errc::malformed);
  EXPECT_EQ(decode_error<std::int8_t>(encode<std::int64_t>(128)).code(), Errc::malformed);
  EXPECT_EQ(decode_error<std::int8_t>(encode<std::int64_t>(-129)).code(), Errc::malformed);
  EXPECT_EQ(decode_error<std::uint32_t>(encode<std::uint64_t>(1ull << 32)).message(),
            "at byte 0: value 4294967296 does not fit in u32");
}

TEST(Codec, MalformedVarints) {
  // Eleven continuation bytes.
  auto too_long = decode_error<std::uint64_t>(
      bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}));
  EXPECT_EQ(too_long.code(), Errc::malformed);
  // Ten bytes whose last carries more than the 64th bit.
  auto overflow = decode_error<std::uint64_t>(
      bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}));
  EXPECT_EQ(overflow.code(), Errc::malformed);
  EXPECT_EQ(overflow.message(), "at byte 0: varint longer than 10 bytes or above 2^64-1");
  // A redundant zero group would give 0 a second encoding.
  EXPECT_EQ(decode_error<std::uint64_t>(bytes({0x80, 0x00})).code(), Errc::malformed);
  auto cut = decode_error<std::uint64_t>(bytes({0x80, 0x80}));
  EXPECT_EQ(cut.code(), Errc::truncated);
  EXPECT_EQ(cut.message(), "at byte 0: varint incomplete, input ends after 2 bytes");
}

TEST(Codec, Bools) {
  expect_round_trip(true, bytes({0x01}));
  expect_round_trip(false, bytes({0x00}));
  auto bad = decode_error<bool>(bytes({0x02}));
  EXPECT_EQ(bad.code(), Errc::malformed);
  EXPECT_EQ(bad.message(), "at byte 0: bool must be 0 or 1, got 2");
}

TEST(Codec, FloatsAreLittleEndianIeee) {
  expect_round_trip(1.0f, bytes({0x00, 0x00, 0x80, 0x3f}));
  expect_round_trip(1.0, bytes({0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f}));
  expect_round_trip(-std::numeric_limits<double>::infinity(),
                    bytes({0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0xff}));
}

TEST(Codec, NanPayloadsSurvive) {
  const auto bits = std::uint64_t{0x7ff4000000abcdefULL};  // a signalling NaN with a payload
  auto back = decode<double>(encode(std::bit_cast<double>(bits)));
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(std::isnan(*back));
  EXPECT_EQ(std::bit_cast<std::uint64_t>(*back), bits);
  const auto fbits = std::uint32_t{0xffc00001};
  auto fback = decode<float>(encode(std::bit_cast<float>(fbits)));
  ASSERT_TRUE(fback.has_value());
  EXPECT_EQ(std::bit_cast<std::uint32_t>(*fback), fbits);
}

TEST(Codec, EnumsUseTheirUnderlyingInteger) {
  expect_round_trip(factory::Mode::running, bytes({0x01}));
  expect_round_trip(factory::Mode::fault, bytes({0xc8, 0x01}));
  EXPECT_EQ(Codec<factory::Mode>::manifest, "u8");
}

TEST(Codec, BytesAreRaw) {
  expect_round_trip(std::byte{0xff}, bytes({0xff}));
  expect_round_trip(bytes({0x00, 0xff, 0x80}), bytes({0x03, 0x00, 0xff, 0x80}));
}

TEST(Codec, Strings) {
  expect_round_trip(std::string("abc"), bytes({0x03, 'a', 'b', 'c'}));
  expect_round_trip(std::string(), bytes({0x00}));
  expect_round_trip(std::string("a\0b", 3), bytes({0x03, 'a', 0x00, 'b'}));
}

// --- containers ---------------------------------------------------------------------------

TEST(Codec, Vectors) {
  expect_round_trip(std::vector<std::int32_t>{1, -1, 300}, bytes({0x03, 0x02, 0x01, 0xd8, 0x04}));
  expect_round_trip(std::vector<std::string>{}, bytes({0x00}));
  expect_round_trip(std::vector<bool>{true, false}, bytes({0x02, 0x01, 0x00}));
  expect_round_trip(std::vector<std::vector<std::uint8_t>>{{1}, {}},
                    bytes({0x02, 0x01, 0x01, 0x00}));
}

TEST(Codec, Optionals) {
  expect_round_trip(std::optional<std::uint32_t>{}, bytes({0x00}));
  expect_round_trip(std::optional<std::uint32_t>{5}, bytes({0x01, 0x05}));
  expect_round_trip(std::optional<std::optional<bool>>{std::optional<bool>{}}, bytes({0x01, 0x00}));
  auto bad = decode_error<std::optional<std::uint32_t>>(bytes({0x02, 0x05}));
  EXPECT_EQ(bad.code(), Errc::malformed);
  EXPECT_EQ(bad.message(), "at byte 0: optional tag must be 0 or 1, got 2");
}

TEST(Codec, Variants) {
  using V = std::variant<std::monostate, std::int32_t, std::string>;
  expect_round_trip(V{}, bytes({0x00}));
  expect_round_trip(V{std::int32_t{-2}}, bytes({0x01, 0x03}));
  expect_round_trip(V{std::string("x")}, bytes({0x02, 0x01, 'x'}));
  // The same type twice: the index, not the type, picks the alternative.
  using Twice = std::variant<int, int>;
  auto back = decode<Twice>(encode(Twice{std::in_place_index<1>, 7}));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->index(), 1u);
  EXPECT_EQ(std::get<1>(*back), 7);
}

TEST(Codec, VariantIndexOutOfRangeIsMalformed) {
  using V = std::variant<std::int32_t, std::string>;
  auto bad = decode_error<V>(bytes({0x02, 0x00}));
  EXPECT_EQ(bad.code(), Errc::malformed);
  EXPECT_EQ(bad.message(), "at byte 0: variant index 2 out of range for variant<i32,string>");
  EXPECT_EQ(decode_error<V>(bytes({0xff, 0xff, 0xff, 0xff, 0x0f})).code(), Errc::malformed);
}

TEST(Codec, PairsTuplesArrays) {
  expect_round_trip(std::pair<std::uint8_t, bool>{7, true}, bytes({0x07, 0x01}));
  expect_round_trip(std::tuple<std::uint8_t, std::string, bool>{1, "a", false},
                    bytes({0x01, 0x01, 'a', 0x00}));
  expect_round_trip(std::array<std::uint16_t, 3>{1, 2, 3}, bytes({0x01, 0x02, 0x03}));
  EXPECT_EQ((decode_error<std::tuple<bool, bool>>(bytes({0x01, 0x07})).code()), Errc::malformed);
}

TEST(Codec, Maps) {
  using M = std::map<std::string, std::int32_t>;
  expect_round_trip(M{{"b", 2}, {"a", -1}}, bytes({0x02, 0x01, 'a', 0x01, 0x01, 'b', 0x04}));
  expect_round_trip(M{}, bytes({0x00}));
}

TEST(Codec, MapsRejectDuplicateOrUnorderedKeys) {
  using M = std::map<std::uint8_t, bool>;
  auto duplicate = decode_error<M>(bytes({0x02, 0x01, 0x01, 0x01, 0x00}));
  EXPECT_EQ(duplicate.code(), Errc::malformed);
  EXPECT_EQ(duplicate.message(), "[1] at byte 3: map key not greater than the previous key");
  EXPECT_EQ(decode_error<M>(bytes({0x02, 0x02, 0x01, 0x01, 0x00})).code(), Errc::malformed);
}

// --- manifests ----------------------------------------------------------------------------

TEST(Codec, ManifestsAreStableNames) {
  EXPECT_EQ(Codec<bool>::manifest, "bool");
  EXPECT_EQ(Codec<std::int16_t>::manifest, "i16");
  EXPECT_EQ(Codec<unsigned long long>::manifest, "u64");
  EXPECT_EQ(Codec<std::vector<double>>::manifest, "vector<f64>");
  EXPECT_EQ((Codec<std::map<std::string, std::optional<float>>>::manifest),
            "map<string,optional<f32>>");
  EXPECT_EQ((Codec<std::variant<std::monostate, Reading, std::array<std::byte, 16>>>::manifest),
            "variant<unit,factory.Reading,array<byte,16>>");
  EXPECT_EQ((Codec<std::tuple<std::uint8_t>>::manifest), "tuple<u8>");
  EXPECT_EQ(Codec<Reading>::manifest, "factory.Reading");
  EXPECT_EQ(Codec<Reading>::version, 1u);
  EXPECT_EQ(Codec<Batch>::version, 3u);
  EXPECT_EQ(Codec<Reading>::min_size, 1u + 1 + 8 + 1);
}

// --- described structs --------------------------------------------------------------------

TEST(Codec, DescribedStructIsItsFieldsInOrder) {
  Reading r{"ab", -2, 1.0, std::nullopt};
  expect_round_trip(
      r, bytes({0x02, 'a', 'b', 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, 0x00}));
  expect_round_trip(sample_reading(), encode(sample_reading()));
}

TEST(Codec, SixteenPlusFields) {
  Wide w;
  w.f01 = 1;
  w.f16 = -16;
  w.f20 = 20;
  const auto encoded = encode(w);
  EXPECT_EQ(encoded.size(), 20u);
  auto back = decode<Wide>(encoded);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, w);
}

TEST(Codec, NestedStructs) {
  Batch b{4, {sample_reading(), Reading{"x", 1, -0.0, std::nullopt}}};
  auto back = decode<Batch>(encode(b));
  ASSERT_TRUE(back.has_value()) << back.error().describe();
  EXPECT_EQ(*back, b);
}

TEST(Codec, ErrorsNameFieldAndOffset) {
  Reading r{"abc", 5, 20.0, std::nullopt};
  auto encoded = encode(r);  // 1+3 device, 1 ts, 8 temperature at byte 5, 1 vibration
  encoded.resize(8);
  auto err = decode_error<Reading>(encoded);
  EXPECT_EQ(err.code(), Errc::truncated);
  EXPECT_EQ(err.message(), "Reading.temperature at byte 5: needed 8 bytes, 3 left");
}

TEST(Codec, ErrorsNameTheNestedPath) {
  Batch b{1, {Reading{"a", 1, 2.0, 3.0}, Reading{"b", 1, 2.0, std::nullopt}}};
  auto encoded = encode(b);
  encoded.back() = std::byte{0x07};  // second reading's vibration tag
  auto err = decode_error<Batch>(encoded);
  EXPECT_EQ(err.code(), Errc::malformed);
  EXPECT_EQ(err.message(), "Batch.readings[1].vibration at byte " +
                               std::to_string(encoded.size() - 1) +
                               ": optional tag must be 0 or 1, got 7");
}

// --- hostile input ------------------------------------------------------------------------

template <class T>
void expect_every_truncation_fails(const T& value) {
  const auto full = encode(value);
  for (std::size_t len = 0; len < full.size(); ++len) {
    auto r = decode<T>(std::span<const std::byte>(full.data(), len));
    ASSERT_FALSE(r.has_value()) << Codec<T>::manifest << " decoded from " << len << " of "
                                << full.size() << " bytes";
    EXPECT_EQ(r.error().code(), Errc::truncated) << r.error().describe();
  }
  EXPECT_TRUE(decode<T>(full).has_value());
}

TEST(Codec, TruncationAtEveryByteIsAnError) {
  expect_every_truncation_fails(sample_reading());
  expect_every_truncation_fails(
      Batch{300, {sample_reading(), Reading{"y", 1ll << 40, 1e300, std::nullopt}}});
  expect_every_truncation_fails(std::map<std::string, std::vector<std::optional<std::int64_t>>>{
      {"k", {1, std::nullopt, -1ll << 50}}, {"m", {}}});
  expect_every_truncation_fails(std::variant<bool, std::string>{std::string(200, 'z')});
  expect_every_truncation_fails(std::numeric_limits<std::uint64_t>::max());
}

TEST(Codec, HostileLengthsDoNotAllocate) {
  // 2^62 as a length, followed by three bytes: allocating it would abort under ASan.
  const auto huge = bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 'a', 'b', 'c'});
  auto s = decode_error<std::string>(huge);
  EXPECT_EQ(s.code(), Errc::truncated);
  EXPECT_EQ(s.message(),
            "at byte 0: length 4611686018427387904 needs at least 1 bytes per "
            "element, 3 left");
  EXPECT_EQ(decode_error<std::vector<Reading>>(huge).code(), Errc::truncated);
  EXPECT_EQ(decode_error<std::vector<std::byte>>(huge).code(), Errc::truncated);
  EXPECT_EQ((decode_error<std::map<std::int32_t, double>>(huge).code()), Errc::truncated);
  // Three doubles cannot fit in 16 bytes, even though 3 < 16.
  auto doubles = bytes({0x03});
  doubles.resize(17);
  EXPECT_EQ(decode_error<std::vector<double>>(doubles).code(), Errc::truncated);
}

TEST(Codec, TrailingBytesAreMalformed) {
  auto encoded = encode(sample_reading());
  encoded.push_back(std::byte{0});
  encoded.push_back(std::byte{0});
  auto err = decode_error<Reading>(encoded);
  EXPECT_EQ(err.code(), Errc::malformed);
  EXPECT_EQ(err.message(), "at byte " + std::to_string(encoded.size() - 2) +
                               ": 2 trailing bytes after a complete factory.Reading");
}

tree::Node chain(int depth) {
  tree::Node root{0, {}};
  tree::Node* at = &root;
  for (int i = 1; i < depth; ++i) {
    at->children.push_back(tree::Node{i, {}});
    at = &at->children.back();
  }
  return root;
}

TEST(Codec, NestingDepthIsBounded) {
  // Each Node level opens two scopes (the struct and its children vector).
  auto ok = decode<tree::Node>(encode(chain(Reader::max_depth / 2)));
  ASSERT_TRUE(ok.has_value()) << ok.error().describe();
  EXPECT_EQ(*ok, chain(Reader::max_depth / 2));
  auto deep = decode_error<tree::Node>(encode(chain(Reader::max_depth / 2 + 1)));
  EXPECT_EQ(deep.code(), Errc::malformed);
  EXPECT_NE(deep.message().find("nesting deeper than 64 levels"), std::string::npos)
      << deep.message();
  // A hostile input: 100000 levels of "value 0, one child".
  std::vector<std::byte> hostile;
  for (int i = 0; i < 100000; ++i) {
    hostile.push_back(std::byte{0});
    hostile.push_back(std::byte{1});
  }
  EXPECT_EQ(decode_error<tree::Node>(hostile).code(), Errc::malformed);
}

// --- Writer and Reader --------------------------------------------------------------------

TEST(Codec, WriterAppendsToTheCallersBuffer) {
  std::vector<std::byte> buf = bytes({0xaa});
  Writer w(buf);
  encode(std::uint32_t{1}, w);
  encode(std::string("z"), w);
  EXPECT_EQ(buf, bytes({0xaa, 0x01, 0x01, 'z'}));
  EXPECT_EQ(w.size(), 4u);
}

TEST(Codec, ReaderDecodesASequenceOfValues) {
  std::vector<std::byte> buf;
  Writer w(buf);
  encode(sample_reading(), w);
  encode(std::uint8_t{9}, w);
  Reader r(buf);
  auto first = decode<Reading>(r);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, sample_reading());
  EXPECT_EQ(r.offset(), buf.size() - 1);
  EXPECT_EQ(r.remaining(), 1u);
  auto second = decode<std::uint8_t>(r);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*second, 9);
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(decode<std::uint8_t>(r).error().code(), Errc::truncated);
}

// --- envelopes ----------------------------------------------------------------------------

TEST(Envelope, FramesManifestVersionAndPayload) {
  const Envelope e = make_envelope(sample_reading());
  EXPECT_EQ(e.manifest, "factory.Reading");
  EXPECT_EQ(e.version, 1u);
  EXPECT_EQ(e.payload, encode(sample_reading()));
  auto round = decode<Envelope>(encode(e));
  ASSERT_TRUE(round.has_value());
  EXPECT_EQ(*round, e);
  auto opened = open_envelope<Reading>(*round);
  ASSERT_TRUE(opened.has_value()) << opened.error().describe();
  EXPECT_EQ(*opened, sample_reading());
}

TEST(Envelope, EncodeInPlaceMatchesTheStruct) {
  for (std::size_t n : {0u, 100u, 200u, 20000u}) {
    Batch b{1, std::vector<Reading>(n, sample_reading())};
    std::vector<std::byte> buf = bytes({0x42});
    Writer w(buf);
    encode_enveloped(b, w);
    auto expected = bytes({0x42});
    const auto whole = encode(make_envelope(b));
    expected.insert(expected.end(), whole.begin(), whole.end());
    EXPECT_EQ(buf, expected) << n;
  }
}

TEST(Envelope, WrongManifestOrVersionIsReported) {
  Envelope e = make_envelope(sample_reading());
  EXPECT_EQ(open_envelope<Batch>(e).error().code(), Errc::unknown_manifest);
  e.version = 2;
  auto old = open_envelope<Reading>(e);
  EXPECT_EQ(old.error().code(), Errc::unsupported_version);
  EXPECT_EQ(old.error().message(),
            "envelope holds factory.Reading version 2, this build reads version 1");
  e.version = 1;
  e.payload.pop_back();
  auto cut = open_envelope<Reading>(e);
  EXPECT_EQ(cut.error().code(), Errc::truncated);
  EXPECT_EQ(cut.error().message(), "factory.Reading payload: Reading.vibration at byte " +
                                       std::to_string(e.payload.size() - 7) +
                                       ": needed 8 bytes, 7 left");
}

}  // namespace
}  // namespace weft
