// The node's TOML configuration: any bytes give a configuration or an error, never a crash; a
// configuration that parses comes back unchanged through to_toml (the round trip `weft config
// show` relies on).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "weft/node/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)weft::node::parse_duration(text);
  (void)weft::node::parse_size(text);
  auto config = weft::node::parse_config(text, "fuzz.toml");
  if (!config) {
    if (config.error().message().empty()) std::abort();
    return 0;
  }
  auto again = weft::node::parse_config(weft::node::to_toml(*config), "round-trip.toml");
  if (!again || !(*again == *config)) std::abort();
  return 0;
}
