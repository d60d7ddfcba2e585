#include "demo.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <csignal>
#include <cstdio>

#include "wait_for_signal.hpp"
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
  block_stop_signals();
  auto node = node::Node::start(o);
  if (!node) {
    fmt::print(stderr, "weft demo: {}\n", node.error().message());
    return 1;
  }
  fmt::print("weft demo: {} machines at {} Hz{}; data in {}\n", d.devices, d.rate_hz,
             d.mqtt_url.empty() ? "" : " over " + d.mqtt_url, d.data_dir);
  fmt::print("dashboard: {}\n", (*node)->url());
  std::fflush(stdout);
  const int sig = wait_for_stop_signal(d.duration_s);
  if (sig != 0) spdlog::info("weft: signal {}: stopping", sig);
  const auto stats = (*node)->stats();
  auto stopped = (*node)->stop();
  fmt::print("weft demo: {} readings, {} aggregates, {} alarms, {} late, {} devices\n",
             stats.readings_accepted, stats.aggregates, stats.alarms, stats.late, stats.devices);
  if (!stopped) {
    fmt::print(stderr, "weft demo: stop: {}\n", stopped.error().message());
    return 1;
  }
  return 0;
}

}  // namespace weft::app
