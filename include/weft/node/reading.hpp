// A sensor reading as devices send it, and the parsers that check it (docs/node.md):
//   {"device": "m-01", "ts": 1764000000123, "temperature": 71.5, "vibration": 0.02}
// `device` is 1-128 characters of [A-Za-z0-9._-], `ts` integer milliseconds since the epoch,
// `temperature` a finite number, `vibration` optional and finite. Unknown fields are ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "weft/core/codec.hpp"
#include "weft/core/result.hpp"

namespace weft::node {

struct Reading {
  std::string device;
  std::int64_t ts = 0;  // milliseconds since the epoch (event time)
  double temperature = 0;
  std::optional<double> vibration;
  friend bool operator==(const Reading&, const Reading&) = default;
};
WEFT_CODEC(Reading, "weft.node.Reading", 1, device, ts, temperature, vibration);

/// An item of a batch that was not accepted, by its 0-based position in the batch.
struct RejectedItem {
  std::size_t index = 0;
  std::string error;  // e.g. "temperature: not a finite number"
};

/// A batch after checking: the valid readings in batch order, and a reason for each other item.
struct ParsedReadings {
  std::vector<Reading> readings;
  std::vector<RejectedItem> rejected;
};

enum class BodyFormat : std::uint8_t {
  json_array,  // [ {...}, {...} ]  (a single object is taken as a batch of one)
  ndjson,      // one object per line (application/x-ndjson); blank lines are skipped
};

/// Whether `id` is 1-128 characters of [A-Za-z0-9._-].
[[nodiscard]] bool valid_device_id(std::string_view id) noexcept;

/// Parses a request body. Fails (Errc::malformed, with the byte offset) only when the body as a
/// whole is not JSON of the expected shape (not an array; for ndjson, never: a bad line is a
/// rejected item). Items that are JSON but not valid readings are rejected one by one; the valid
/// ones are kept.
[[nodiscard]] Result<ParsedReadings> parse_readings(std::string_view body, BodyFormat format);

/// Parses one reading (an MQTT payload). When the payload has no "device", `default_device`
/// (the device in the topic) is used; when it has one that differs from a non-empty
/// `default_device`, that is an error.
[[nodiscard]] Result<Reading> parse_reading(std::string_view json,
                                            std::string_view default_device = {});

/// `{"device":...,"ts":...,"temperature":...[,"vibration":...]}`.
[[nodiscard]] std::string to_json(const Reading& r);

}  // namespace weft::node
