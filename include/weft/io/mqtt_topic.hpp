// MQTT topic names and filters (MQTT 3.1.1 section 4.7): validation and matching.
#pragma once

#include <string_view>

#include "weft/core/result.hpp"

namespace weft::io {

/// Checks a string as MQTT allows it on the wire: at most 65,535 bytes of well-formed UTF-8
/// without U+0000 or UTF-16 surrogates. `what` names the field in the error ("topic").
[[nodiscard]] Result<void> validate_mqtt_string(std::string_view s, std::string_view what);

/// A topic name as PUBLISH carries it: a valid MQTT string, not empty, no '+' or '#'.
[[nodiscard]] Result<void> validate_mqtt_topic(std::string_view topic);

/// A topic filter as SUBSCRIBE carries it: a valid MQTT string, not empty, '+' only as a whole
/// level, '#' only as the whole last level.
[[nodiscard]] Result<void> validate_mqtt_filter(std::string_view filter);

/// Whether a valid `filter` matches a valid `topic`. Topics that start with '$' are not matched
/// by a filter whose first level is a wildcard, as the spec requires.
[[nodiscard]] bool mqtt_topic_matches(std::string_view filter, std::string_view topic) noexcept;

}  // namespace weft::io
