#include "demo.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "node_cmd.hpp"
#include "weft/core/logging.hpp"
#include "weft/node/config.hpp"
#include "weft/node/node.hpp"

namespace weft::app {

int run_demo(const DemoOptions& d) {
  node::NodeOptions o;
  o.data_dir = d.data_dir;
  o.http_port = d.port;
  o.workers = d.workers;
  o.simulate = true;
  o.simulator.devices = d.devices;
  o.simulator.rate_hz = d.rate_hz;
  o.simulator.seed = d.seed;
  if (!d.mqtt_url.empty()) {
    auto url = node::parse_mqtt_url(d.mqtt_url);
    if (!url) {
      fmt::print(stderr, "weft demo: --mqtt: {}\n", url.error().message());
      return 2;
    }
    o.mqtt_enabled = true;
    o.simulate_over_mqtt = true;
    o.mqtt_host = url->host;
    o.mqtt_port = url->port;
  }
  if (auto r = configure_logging(d.log_format == "json" ? LogStyle::json : LogStyle::text); !r) {
    fmt::print(stderr, "weft demo: {}\n", r.error().message());
    return 2;
  }
  fmt::print("weft demo: {} simulated machines at {} Hz{}\n", d.devices, d.rate_hz,
             d.mqtt_url.empty() ? "" : " publishing through " + d.mqtt_url);
  return serve(o, d.duration_s, "weft demo");
}

}  // namespace weft::app
