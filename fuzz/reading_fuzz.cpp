// Feeds arbitrary bytes to the reading parsers (a JSON array body, an ndjson body, one MQTT
// payload with and without a topic device). They must never crash, and whatever they accept
// must satisfy the reading rules and survive a round trip through to_json.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "weft/node/reading.hpp"

namespace {

void check(const weft::node::Reading& r) {
  if (!weft::node::valid_device_id(r.device)) std::abort();
  if (!std::isfinite(r.temperature)) std::abort();
  if (r.vibration && !std::isfinite(*r.vibration)) std::abort();
  auto back = weft::node::parse_reading(weft::node::to_json(r));
  if (!back || !(*back == r)) std::abort();
}

void check(const weft::Result<weft::node::ParsedReadings>& parsed) {
  if (!parsed) {
    if (parsed.error().message().empty()) std::abort();
    return;
  }
  std::size_t last = 0;
  bool first = true;
  for (const auto& rej : parsed->rejected) {
    if (!first && rej.index <= last) std::abort();  // by position, each once
    if (rej.error.empty()) std::abort();
    last = rej.index;
    first = false;
  }
  for (const auto& r : parsed->readings) check(r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check(weft::node::parse_readings(input, weft::node::BodyFormat::json_array));
  check(weft::node::parse_readings(input, weft::node::BodyFormat::ndjson));
  for (std::string_view topic_device : {std::string_view{}, std::string_view{"m-01"}}) {
    auto r = weft::node::parse_reading(input, topic_device);
    if (r) {
      check(*r);
      if (!topic_device.empty() && r->device != topic_device) std::abort();
    } else if (r.error().message().empty()) {
      std::abort();
    }
  }
  return 0;
}
