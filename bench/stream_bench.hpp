// weft-bench stream: a keyed 1 s tumbling-window pipeline — its maximum rate beside a naive
// single-threaded loop doing the same aggregation, and its latency at half that rate.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace weft::bench {

/// Runs the stream scenarios (throughput, latency; or only `scenario`) and hands one JSON line
/// per figure to `print`. Sizes are multiplied by `scale`. False for an unknown scenario.
bool run_stream_suite(double scale, unsigned threads, const std::optional<std::string>& scenario,
                      const std::function<void(const std::string&)>& print);

}  // namespace weft::bench
