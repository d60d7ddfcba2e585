// `weft-bench nexmark`: measures the generator, dumps events, and runs a query
// (run_nexmark_query, in query_runner.cpp, which the stream engine's runner replaces).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "generator.hpp"
#include "weft/core/result.hpp"

namespace weft::nexmark {

struct NexmarkOptions {
  std::string query = "generator";  // "generator" or q0, q1, q2, q3, q4, q5, q7, q8, q11
  std::uint64_t events = 10'000'000;
  unsigned parallelism = 1;
  std::optional<std::string> output;  // result (or dump) JSON lines go here; none: discarded
  std::chrono::milliseconds checkpoint_interval{10'000};
  /// Watermark alignment of the generator's subtasks (docs/nexmark.md); 0 ("off"): none.
  std::chrono::milliseconds max_drift{2'000};
  std::optional<std::uint64_t> dump;  // write the first N events as JSON lines and stop
  /// --scaling N: N rounds of the generator alone and the query, each at parallelism 1 and
  /// `parallelism` (2 unless given), back to back; then the median ratios.
  unsigned scaling_rounds = 0;
  GeneratorConfig generator;  // max_events is set from `events`
};

/// The queries `--query` accepts besides "generator".
inline constexpr std::string_view nexmark_queries[] = {"q0", "q1", "q2", "q3", "q4",
                                                       "q5", "q7", "q8", "q11"};

/// Parses the arguments after `nexmark`; the error names the flag and the bad value.
[[nodiscard]] Result<NexmarkOptions> parse_nexmark_options(std::span<const char* const> args);

/// Writes each line and a newline to `path` (a query's --output); the error names the file.
[[nodiscard]] Result<void> write_lines(const std::string& path, std::span<const std::string> lines);

/// `weft-bench nexmark ...` with argv[0] == "nexmark": prints one JSON line (or the dump) and
/// returns the process exit code (2 for bad arguments).
int run_nexmark_command(int argc, const char* const* argv);

/// Runs `options.query` (a q* name) over `options.events` generated events, prints one JSON
/// line {"suite":"nexmark","query":...,"events":...,"parallelism":...,"events_per_s":...}
/// and writes the result rows to `options.output`. Returns the exit code; `seconds`, if given,
/// receives the run's duration.
int run_nexmark_query(const NexmarkOptions& options, double* seconds = nullptr);

}  // namespace weft::nexmark
