// weft-bench journal: the RocksDB journal's durable throughput, latency at half load and
// replay speed, beside a naive RocksDB journal measured in the same run.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace weft::bench {

/// Runs the journal scenarios (baseline, persist, replay; or only `scenario`) in fresh
/// directories under /tmp and hands one JSON line per scenario to `print`. Problem sizes are
/// multiplied by `scale`. Returns false for an unknown scenario.
bool run_journal_suite(double scale, const std::optional<std::string>& scenario,
                       const std::function<void(const std::string&)>& print);

/// The `recover` scenario (bench/recover_bench.cpp): 100,000 event-sourced actors (times
/// `scale`) recovering from a snapshot plus 100 events each; one JSON line.
std::string recover_benchmark(double scale);

}  // namespace weft::bench
