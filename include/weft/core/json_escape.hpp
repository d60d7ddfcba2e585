// Escaping text for a JSON string: the HTTP API's error bodies and the JSON log lines.
#pragma once

#include <string>
#include <string_view>

namespace weft {

/// Appends `s` to `out` as the contents of a JSON string (quotes not included): escapes `"`,
/// `\` and control characters; other bytes pass through unchanged.
void append_json_escaped(std::string& out, std::string_view s);

/// The same as a new string.
[[nodiscard]] std::string json_escape(std::string_view s);

}  // namespace weft
