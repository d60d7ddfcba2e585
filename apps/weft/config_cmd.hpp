// `weft config`: validate a node configuration without starting the node (check), print the
// defaults (defaults) or the configuration a file amounts to (show). docs/config.md lists the keys.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace weft::app {

enum class ConfigCommand { none, check, defaults, show };

struct ConfigCliOptions {
  ConfigCommand command = ConfigCommand::none;
  std::string file;
};

void add_config_command(CLI::App& app, ConfigCliOptions& options);
/// Runs the parsed command; returns the process exit code (0 ok, 1 an invalid or unreadable file).
int run_config_command(const ConfigCliOptions& options);

}  // namespace weft::app
