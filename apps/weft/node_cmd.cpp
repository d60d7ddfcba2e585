#include "node_cmd.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "wait_for_signal.hpp"
#include "weft/core/logging.hpp"

namespace weft::app {

node::NodeOptions node_options(const node::NodeConfig& c) {
  node::NodeOptions o;
  o.data_dir = c.node.data_dir;
  o.http_enabled = c.http.enabled;
  o.http_address = c.http.address;
  o.http_port = c.http.port;
  o.max_body_bytes = c.http.max_body_bytes;
  o.mqtt_enabled = c.mqtt.enabled;
  o.mqtt_host = c.mqtt.host;
  o.mqtt_port = c.mqtt.port;
  o.mqtt_prefix = c.mqtt.prefix;
  o.mqtt_client_id = c.mqtt.client_id;
  o.mqtt_keep_alive = c.mqtt.keep_alive;
  o.windows.size_ms = std::chrono::duration_cast<std::chrono::milliseconds>(c.windows.size).count();
  o.windows.out_of_orderness_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(c.windows.out_of_orderness).count();
  o.windows.idle_timeout = c.windows.idle_timeout;
  o.temperature_threshold = c.rules.temperature_threshold;
  o.window_average_threshold = c.rules.window_average_threshold;
  o.temperature_alarm = c.rules.temperature_alarm;
  o.window_alarm = c.rules.window_alarm;
  o.passivate_after = c.devices.passivate_after;
  o.snapshot_every = c.devices.snapshot_every;
  o.max_recovering = c.devices.max_recovering;
  o.max_event_age = c.retention.max_event_age;
  o.keep_snapshots = c.retention.keep_snapshots;
  o.retention_interval = c.retention.interval;
  o.checkpoint_interval = c.checkpoints.interval;
  o.retained_checkpoints = c.checkpoints.retained;
  o.integrity = c.keys.integrity;
  o.master_key_file = c.keys.master_key_file;
  o.simulator.devices = c.simulator.devices;
  o.simulator.rate_hz = c.simulator.rate_hz;
  o.simulator.seed = c.simulator.seed;
  o.simulator.hot_fraction = c.simulator.hot_fraction;
  return o;
}

int serve(const node::NodeOptions& options, double duration_s, const std::string& label) {
  // Before any thread starts, so that only the waiting thread takes the signals.
  block_stop_signals();
  auto node = node::Node::start(options);
  if (!node) {
    fmt::print(stderr, "{}: {}\n", label, node.error().message());
    return 1;
  }
  fmt::print("{}: serving on {} (data in {})\n", label, (*node)->url(), options.data_dir.string());
  std::fflush(stdout);
  const int sig = wait_for_stop_signal(duration_s);
  if (sig != 0) spdlog::info("{}: signal {}: stopping", label, sig);
  const auto stats = (*node)->stats();
  auto stopped = (*node)->stop();
  fmt::print("{}: {} readings, {} aggregates, {} alarms, {} late, {} devices\n", label,
             stats.readings_accepted, stats.aggregates, stats.alarms, stats.late, stats.devices);
  if (!stopped) {
    fmt::print(stderr, "{}: stop: {}\n", label, stopped.error().message());
    return 1;
  }
  return 0;
}

void add_node_command(CLI::App& app, NodeCliOptions& o) {
  auto* cmd = app.add_subcommand("node", "Run the smart-factory node from a TOML configuration");
  cmd->add_option("--config", o.config_file, "Configuration file (docs/config.md)");
  cmd->add_option("--log-format", o.log_format, "text or json (overrides [node] log_format)")
      ->check(CLI::IsMember({"text", "json"}));
  cmd->callback([&o] { o.parsed = true; });
}

int run_node_command(const NodeCliOptions& o) {
  node::NodeConfig config;
  if (!o.config_file.empty()) {
    auto loaded = node::load_config(o.config_file);
    if (!loaded) {
      fmt::print(stderr, "{}\n", loaded.error().message());
      return 1;
    }
    config = std::move(*loaded);
  }
  const bool json = o.log_format.empty() ? config.node.log_format == node::LogFormat::json
                                         : o.log_format == "json";
  if (auto r = configure_logging(json ? LogStyle::json : LogStyle::text,
                                 node::to_string(config.node.log_level));
      !r) {
    fmt::print(stderr, "weft node: {}\n", r.error().message());
    return 1;
  }
  return serve(node_options(config), 0, "weft node");
}

}  // namespace weft::app
