// The Nexmark queries as weft stream jobs: the generator as a parallel source with checkpointed
// offsets, event time from the events, and checkpoints while they run.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "nexmark_command.hpp"
#include "weft/core/result.hpp"

namespace weft {
class ActorSystem;
}

namespace weft::nexmark {

struct StreamQueryRun {
  std::uint64_t results = 0;  // rows the query emitted (q4: updates)
  double seconds = 0;
  std::uint64_t checkpoints = 0;
  /// The result rows as JSON lines, sorted (only when asked for; q4 keeps the final row per
  /// category, as an upsert sink would).
  std::vector<std::string> lines;
};

/// Runs `options.query` over `options.events` generated events with `options.parallelism`;
/// checkpoints go under `checkpoint_dir`.
Result<StreamQueryRun> run_stream_query(ActorSystem& system, const NexmarkOptions& options,
                                        const std::filesystem::path& checkpoint_dir,
                                        bool keep_lines);

}  // namespace weft::nexmark
