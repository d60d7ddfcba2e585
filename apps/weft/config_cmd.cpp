#include "config_cmd.hpp"

#include <fmt/format.h>

#include "weft/node/config.hpp"

namespace weft::app {

namespace {

// Errors go to stderr as they are: each line already names the file, line and key.
int report(const Error& e) {
  if (e.code() == Errc::invalid_argument || e.code() == Errc::malformed) {
    fmt::print(stderr, "{}\n", e.message());
  } else {
    fmt::print(stderr, "weft config: {}\n", e.message());
  }
  return 1;
}

}  // namespace

void add_config_command(CLI::App& app, ConfigCliOptions& o) {
  auto* config = app.add_subcommand("config", "Validate or print a node configuration (TOML)");
  config->require_subcommand(1);
  auto* check = config->add_subcommand("check", "Validate a configuration file without starting");
  check->add_option("file", o.file, "The configuration file")->required();
  auto* defaults =
      config->add_subcommand("defaults", "Print the default configuration, every key, as TOML");
  auto* show = config->add_subcommand(
      "show", "Print the configuration a file amounts to (the file over the defaults) as TOML");
  show->add_option("file", o.file, "The configuration file")->required();

  for (auto [sub, cmd] : std::initializer_list<std::pair<CLI::App*, ConfigCommand>>{
           {check, ConfigCommand::check},
           {defaults, ConfigCommand::defaults},
           {show, ConfigCommand::show}}) {
    sub->callback([&o, cmd = cmd] { o.command = cmd; });
  }
}

int run_config_command(const ConfigCliOptions& o) {
  switch (o.command) {
    case ConfigCommand::check: {
      auto c = node::load_config(o.file);
      if (!c) return report(c.error());
      fmt::print("{}: ok\n", o.file);
      return 0;
    }
    case ConfigCommand::defaults:
      fmt::print("{}", node::to_toml(node::NodeConfig{}));
      return 0;
    case ConfigCommand::show: {
      auto c = node::load_config(o.file);
      if (!c) return report(c.error());
      fmt::print("{}", node::to_toml(*c));
      return 0;
    }
    case ConfigCommand::none:
      break;
  }
  return 2;
}

}  // namespace weft::app
