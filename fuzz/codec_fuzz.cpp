// Decodes arbitrary bytes as several codec types. Decoding must never crash, and whatever
// decodes must re-encode to exactly the input (encodings are canonical) and decode again
// to an equal value.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "weft/core/codec.hpp"

namespace fuzz {

struct Reading {
  std::string device;
  std::int64_t ts = 0;
  double temperature = 0;
  std::optional<double> vibration;
  std::vector<std::uint16_t> flags;
  std::variant<std::monostate, std::int32_t, std::string> note;
};
WEFT_CODEC(Reading, "fuzz.Reading", 1, device, ts, temperature, vibration, flags, note);

struct Node {
  std::int8_t value = 0;
  std::vector<Node> children;
  std::map<std::string, bool> tags;
  friend bool operator==(const Node&, const Node&) = default;
};
WEFT_CODEC(Node, "fuzz.Node", 1, value, children, tags);

enum class Kind : std::uint16_t {};

}  // namespace fuzz

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Values with doubles are compared by their encoding, which holds for NaNs too.
template <class T, bool comparable = true>
void round_trip(std::span<const std::byte> input) {
  auto value = weft::decode<T>(input);
  if (!value) {
    check(!value.error().message().empty());
    return;
  }
  const auto again = weft::encode(*value);
  check(std::equal(again.begin(), again.end(), input.begin(), input.end()));
  auto second = weft::decode<T>(again);
  check(second.has_value());
  if constexpr (comparable) check(*second == *value);
  check(weft::encode(*second) == again);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto input = std::as_bytes(std::span(data + 1, size - 1));
  switch (data[0] % 12) {
    case 0:
      round_trip<std::uint64_t>(input);
      break;
    case 1:
      round_trip<std::int16_t>(input);
      break;
    case 2:
      round_trip<std::string>(input);
      break;
    case 3:
      round_trip<std::vector<std::vector<std::int32_t>>>(input);
      break;
    case 4:
      round_trip<std::optional<std::optional<bool>>>(input);
      break;
    case 5:
      round_trip<std::variant<std::monostate, std::uint8_t, std::string, std::vector<bool>>>(input);
      break;
    case 6:
      round_trip<fuzz::Reading, false>(input);
      break;
    case 7:
      round_trip<std::vector<fuzz::Reading>, false>(input);
      break;
    case 8:
      round_trip<fuzz::Node>(input);
      break;
    case 9:
      round_trip<std::map<std::int64_t, std::vector<std::optional<std::string>>>>(input);
      break;
    case 10:
      round_trip<std::tuple<fuzz::Kind, std::array<float, 2>, std::pair<bool, std::byte>>, false>(
          input);
      break;
    case 11: {
      auto envelope = weft::decode<weft::Envelope>(input);
      if (envelope) {
        round_trip<weft::Envelope>(input);
        auto opened = weft::open_envelope<fuzz::Node>(*envelope);
        if (opened) check(weft::encode(*opened) == envelope->payload);
      }
      break;
    }
  }
  return 0;
}
