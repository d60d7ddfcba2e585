// Process-wide logging setup for the weft binary: human-readable lines on a terminal, or one JSON
// object per line (for log shippers) with `--log-format json`.
#pragma once

#include <string_view>

#include "weft/core/result.hpp"

namespace weft {

enum class LogStyle : unsigned char { text, json };

/// Sets the default logger's format and level ("trace", "debug", "info", "warn", "error",
/// "off"). JSON lines look like
/// `{"ts":"2026-11-26T04:25:43.123Z","level":"info","logger":"weft","msg":"..."}`, the message
/// escaped as a JSON string. Fails (Errc::invalid_argument) on an unknown level.
Result<void> configure_logging(LogStyle style, std::string_view level = "info");

}  // namespace weft
