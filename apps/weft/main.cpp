// The weft binary: `weft demo` runs the smart-factory node on embedded defaults, `weft journal`
// inspects and maintains a journal.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <string>

#include "config_cmd.hpp"
#include "demo.hpp"
#include "journal_cmd.hpp"
#include "node_cmd.hpp"

int main(int argc, char** argv) {
  CLI::App app{"weft: persistent actors and event-time streams for the edge"};
  app.require_subcommand(1);

  weft::app::DemoOptions demo;
  auto* demo_cmd = app.add_subcommand(
      "demo",
      "Run the smart factory on embedded defaults: simulated machines, the API and the "
      "dashboard");
  demo_cmd->add_option("--devices", demo.devices, "Simulated machines")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  demo_cmd->add_option("--rate", demo.rate_hz, "Readings per second per machine")
      ->check(CLI::Range(0.01, 1000.0))
      ->capture_default_str();
  demo_cmd->add_option("--port", demo.port, "HTTP port (0: any free port)")->capture_default_str();
  demo_cmd->add_option("--data", demo.data_dir, "Data directory")->capture_default_str();
  demo_cmd->add_option("--duration", demo.duration_s, "Seconds to run (0: until Ctrl-C)")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  demo_cmd->add_option("--mqtt", demo.mqtt_url,
                       "mqtt://HOST[:PORT]: the machines publish through this broker");
  demo_cmd->add_option("--seed", demo.seed, "Simulation seed")->capture_default_str();
  demo_cmd->add_option("--workers", demo.workers, "Worker threads (0: one per core)")
      ->capture_default_str();
  demo_cmd->add_option("--log-format", demo.log_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();

  weft::app::JournalCliOptions journal;
  weft::app::add_journal_command(app, journal);
  weft::app::ConfigCliOptions config;
  weft::app::add_config_command(app, config);
  weft::app::NodeCliOptions node;
  weft::app::add_node_command(app, node);

  CLI11_PARSE(app, argc, argv);
  if (demo_cmd->parsed()) return weft::app::run_demo(demo);
  if (journal.command != weft::app::JournalCommand::none) {
    return weft::app::run_journal_command(journal);
  }
  if (node.parsed) return weft::app::run_node_command(node);
  if (config.command != weft::app::ConfigCommand::none) {
    return weft::app::run_config_command(config);
  }
  return 2;
}
