// `weft journal`: inspect and maintain a journal directory (ls, events, verify, stats, forget,
// compact). Opens the journal like the node does, so a directory in use by a running node is
// refused with a clear error (its RocksDB LOCK is held).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <limits>
#include <string>

namespace weft::app {

enum class JournalCommand { none, ls, events, verify, stats, forget, compact };

struct JournalCliOptions {
  JournalCommand command = JournalCommand::none;
  std::string directory;
  std::string key_file;
  std::string key_env = "WEFT_MASTER_KEY";
  std::string keys_directory;
  bool json = false;
  std::string persistence_id;
  std::uint64_t from = 1;
  std::uint64_t to = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t limit = std::numeric_limits<std::uint64_t>::max();
};

void add_journal_command(CLI::App& app, JournalCliOptions& options);
/// Runs the parsed command; returns the process exit code (0 ok, 1 error, 3 damage found).
int run_journal_command(const JournalCliOptions& options);

}  // namespace weft::app
