// `weft demo`: the smart factory on embedded defaults, with no external server.
#pragma once

#include <cstdint>
#include <string>

namespace weft::app {

struct DemoOptions {
  std::size_t devices = 100;
  double rate_hz = 10;
  std::uint16_t port = 8080;
  std::string data_dir = "weft-demo-data";
  double duration_s = 0;  // 0: until Ctrl-C
  std::string mqtt_url;   // empty: the machines call the node directly
  std::uint64_t seed = 1;
  unsigned workers = 0;
  std::string log_format = "text";
};

int run_demo(const DemoOptions& options);

}  // namespace weft::app
