// `weft node --config FILE`: the smart-factory node configured from a TOML file (docs/config.md).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "weft/node/config.hpp"
#include "weft/node/node.hpp"

namespace weft::app {

struct NodeCliOptions {
  std::string config_file;  // empty: the defaults
  std::string log_format;   // overrides [node] log_format when set
  bool parsed = false;
};

void add_node_command(CLI::App& app, NodeCliOptions& options);
int run_node_command(const NodeCliOptions& options);

/// The node's runtime options from a configuration.
[[nodiscard]] node::NodeOptions node_options(const node::NodeConfig& config);

/// Runs `options` until SIGINT/SIGTERM (or `duration_s` > 0 seconds), then stops it cleanly.
/// Prints the URL; `label` starts the lines it prints. Returns the exit code.
int serve(const node::NodeOptions& options, double duration_s, const std::string& label);

}  // namespace weft::app
