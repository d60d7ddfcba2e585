// Decodes arbitrary bytes as a stream of MQTT 3.1.1 packets. Decoding must never crash; every
// packet that decodes must re-encode to exactly its bytes (one encoding per packet) and every
// shorter prefix of it must read as incomplete, never as an error or another packet.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "io/mqtt_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace weft::io::mqtt;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const Limits limits{4096};
  while (!in.empty()) {
    auto d = decode(in, limits);
    if (!d || !d->has_value()) break;
    const std::string_view wire = in.substr(0, (*d)->size);
    std::string again;
    if (!encode((*d)->packet, again) || again != wire) std::abort();
    for (std::size_t n = 0; n < wire.size(); ++n) {
      auto prefix = decode(wire.substr(0, n), limits);
      if (!prefix || prefix->has_value()) std::abort();
    }
    in.remove_prefix((*d)->size);
  }
  return 0;
}
