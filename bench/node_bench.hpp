// weft-bench node: ingest throughput over HTTP and MQTT, alarm latency, memory (issue 5 §8).
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace weft::bench {

using Print = std::function<void(const std::string&)>;

/// Runs the node scenarios (idle, http_ingest, alarm_latency, mqtt_ingest, actors_100k), or
/// only `scenario`; false when no scenario has that name.
bool run_node_suite(double scale, const std::optional<std::string>& scenario, const Print& print);

}  // namespace weft::bench
