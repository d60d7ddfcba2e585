#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "weft/core/codec.hpp"

namespace prop {

struct Reading {
  std::string device;
  std::int64_t ts = 0;
  double temperature = 0;
  std::optional<double> vibration;
  std::vector<std::uint16_t> flags;
  std::variant<std::monostate, std::int32_t, std::string> note;
};
WEFT_CODEC(Reading, "prop.Reading", 4, device, ts, temperature, vibration, flags, note);

}  // namespace prop

namespace rc {

template <class T>
struct Arbitrary<std::optional<T>> {
  static Gen<std::optional<T>> arbitrary() {
    return gen::oneOf(gen::just(std::optional<T>()), gen::map(gen::arbitrary<T>(), [](T v) {
                        return std::optional<T>(std::move(v));
                      }));
  }
};

template <class... Ts>
struct Arbitrary<std::variant<Ts...>> {
  static Gen<std::variant<Ts...>> arbitrary() {
    return gen::oneOf(
        gen::map(gen::arbitrary<Ts>(), [](Ts v) { return std::variant<Ts...>(std::move(v)); })...);
  }
};

template <>
struct Arbitrary<std::monostate> {
  static Gen<std::monostate> arbitrary() { return gen::just(std::monostate{}); }
};

template <>
struct Arbitrary<prop::Reading> {
  static Gen<prop::Reading> arbitrary() {
    // Doubles from raw bits, so NaN payloads, infinities and denormals all occur.
    auto any_double = gen::map(gen::arbitrary<std::uint64_t>(),
                               [](std::uint64_t b) { return std::bit_cast<double>(b); });
    return gen::build<prop::Reading>(
        gen::set(&prop::Reading::device), gen::set(&prop::Reading::ts),
        gen::set(&prop::Reading::temperature, any_double), gen::set(&prop::Reading::vibration),
        gen::set(&prop::Reading::flags), gen::set(&prop::Reading::note));
  }
};

}  // namespace rc

namespace weft {
namespace {

// Encoding of the decoded value must equal the original encoding: a comparison that also
// holds for NaNs, where operator== would not.
template <class T>
void check_round_trip(const T& value) {
  const auto encoded = encode(value);
  auto back = decode<T>(encoded);
  RC_ASSERT(back.has_value());
  RC_ASSERT(encode(*back) == encoded);
}

template <class T>
void check_exact_round_trip(const T& value) {
  check_round_trip(value);
  RC_ASSERT(*decode<T>(encode(value)) == value);
}

RC_GTEST_PROP(CodecProperty, I8, (std::int8_t v)) {
  check_exact_round_trip(v);
}
RC_GTEST_PROP(CodecProperty, I16, (std::int16_t v)) {
  check_exact_round_trip(v);
}
RC_GTEST_PROP(CodecProperty, I32, (std::int32_t v)) {
  check_exact_round_trip(v);
}
RC_GTEST_PROP(CodecProperty, I64, (std::int64_t v)) {
  check_exact_round_trip(v);
}
RC_GTEST_PROP(CodecProperty, U8, (std::uint8_t v)) {
  check_exact_round_trip(v);
}
RC_GTEST_PROP(CodecProperty, U16, (std::uint16_t v)) {
  check_exact_round_trip(v);
}
RC_GTEST_PROP(CodecProperty, U32, (std::uint32_t v)) {
  check_exact_round_trip(v);
}
RC_GTEST_PROP(CodecProperty, U64, (std::uint64_t v)) {
  check_exact_round_trip(v);
}

RC_GTEST_PROP(CodecProperty, VarintLengthIsSevenBitsPerByte, ()) {
  const auto v = *rc::gen::map(rc::gen::inRange(0, 64), [](int bits) {
    return bits == 0 ? std::uint64_t{0} : (std::uint64_t{1} << (bits - 1));
  });
  const std::size_t bits = static_cast<std::size_t>(std::bit_width(v));
  RC_ASSERT(encode(v).size() == (bits == 0 ? 1 : (bits + 6) / 7));
}

RC_GTEST_PROP(CodecProperty, SmallNegativesStayShort, ()) {
  const auto v = *rc::gen::inRange<std::int64_t>(-64, 64);
  RC_ASSERT(encode(v).size() == 1u);
}

RC_GTEST_PROP(CodecProperty, DoubleBitsSurvive, (std::uint64_t bits)) {
  auto back = decode<double>(encode(std::bit_cast<double>(bits)));
  RC_ASSERT(back.has_value());
  RC_ASSERT(std::bit_cast<std::uint64_t>(*back) == bits);
}

RC_GTEST_PROP(CodecProperty, FloatBitsSurvive, (std::uint32_t bits)) {
  auto back = decode<float>(encode(std::bit_cast<float>(bits)));
  RC_ASSERT(back.has_value());
  RC_ASSERT(std::bit_cast<std::uint32_t>(*back) == bits);
}

RC_GTEST_PROP(CodecProperty, SpecialDoubles, ()) {
  const double v = *rc::gen::element(
      std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
      std::numeric_limits<double>::quiet_NaN(), -std::numeric_limits<double>::quiet_NaN(),
      std::numeric_limits<double>::signaling_NaN(), std::numeric_limits<double>::denorm_min(),
      -0.0);
  auto back = decode<double>(encode(v));
  RC_ASSERT(back.has_value());
  RC_ASSERT(std::bit_cast<std::uint64_t>(*back) == std::bit_cast<std::uint64_t>(v));
}

RC_GTEST_PROP(CodecProperty, Strings, (const std::string& s)) {
  check_exact_round_trip(s);
}

RC_GTEST_PROP(CodecProperty, NestedContainers,
              (const std::vector<
                  std::optional<std::variant<std::int32_t, std::string, std::vector<bool>>>>& v)) {
  check_exact_round_trip(v);
}

RC_GTEST_PROP(CodecProperty, MapsOfVectors,
              (const std::map<std::string, std::vector<std::optional<std::int64_t>>>& m)) {
  check_exact_round_trip(m);
}

RC_GTEST_PROP(CodecProperty, DescribedStruct, (const prop::Reading& r)) {
  check_round_trip(r);
  check_round_trip(std::vector<prop::Reading>{r, r});
  auto back = decode<prop::Reading>(encode(r));
  RC_ASSERT(back->device == r.device);
  RC_ASSERT(back->ts == r.ts);
  RC_ASSERT(std::bit_cast<std::uint64_t>(back->temperature) ==
            std::bit_cast<std::uint64_t>(r.temperature));
  RC_ASSERT(back->flags == r.flags);
  RC_ASSERT(back->note == r.note);
}

RC_GTEST_PROP(CodecProperty, EveryStrictPrefixIsTruncated, (const prop::Reading& r)) {
  const auto encoded = encode(r);
  const auto len = *rc::gen::inRange<std::size_t>(0, encoded.size());
  auto back = decode<prop::Reading>(std::span<const std::byte>(encoded.data(), len));
  RC_ASSERT(!back.has_value());
  RC_ASSERT(back.error().code() == Errc::truncated);
}

RC_GTEST_PROP(CodecProperty, EnvelopesRoundTrip, (const prop::Reading& r)) {
  std::vector<std::byte> buf;
  Writer w(buf);
  encode_enveloped(r, w);
  RC_ASSERT(buf == encode(make_envelope(r)));
  auto envelope = decode<Envelope>(buf);
  RC_ASSERT(envelope.has_value());
  auto opened = open_envelope<prop::Reading>(*envelope);
  RC_ASSERT(opened.has_value());
  RC_ASSERT(encode(*opened) == encode(r));
}

// Decoding arbitrary bytes either fails or yields a value whose encoding is exactly those
// bytes: every value has one encoding.
RC_GTEST_PROP(CodecProperty, RandomBytesDecodeCanonicallyOrFail,
              (const std::vector<std::uint8_t>& raw)) {
  std::vector<std::byte> input(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) input[i] = static_cast<std::byte>(raw[i]);
  auto back = decode<std::vector<std::variant<std::uint8_t, std::optional<std::string>>>>(input);
  if (back.has_value()) RC_ASSERT(encode(*back) == input);
}

}  // namespace
}  // namespace weft
