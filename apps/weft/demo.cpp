#include "demo.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdio>

#include "node_cmd.hpp"
#include "weft/core/logging.hpp"
#include "weft/node/node.hpp"

namespace weft::app {

bool parse_mqtt_url(const std::string& url, MqttUrl& out, std::string& error) {
  constexpr std::string_view scheme = "mqtt://";
  std::string_view rest = url;
  if (!rest.starts_with(scheme)) {
    error = "expected mqtt://HOST[:PORT], got '" + url + "'";
    return false;
  }
  rest.remove_prefix(scheme.size());
  if (rest.ends_with('/')) rest.remove_suffix(1);
  const auto colon = rest.rfind(':');
  out.host = std::string(rest.substr(0, colon));
  if (out.host.empty()) {
    error = "no host in '" + url + "'";
    return false;
  }
  if (colon != std::string_view::npos) {
    const auto port = rest.substr(colon + 1);
    unsigned value = 0;
    const auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || p != port.data() + port.size() || value == 0 || value > 65535) {
      error = "bad port '" + std::string(port) + "' in '" + url + "'";
      return false;
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  return true;
}

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
    MqttUrl url;
    std::string error;
    if (!parse_mqtt_url(d.mqtt_url, url, error)) {
      fmt::print(stderr, "weft demo: --mqtt: {}\n", error);
      return 2;
    }
    o.mqtt_enabled = true;
    o.simulate_over_mqtt = true;
    o.mqtt_host = url.host;
    o.mqtt_port = url.port;
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
