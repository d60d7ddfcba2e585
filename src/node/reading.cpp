// Reading parsers on the ingest hot path: simdjson On Demand over a padded copy of the body.
// Numbers are taken as raw tokens and checked here (strict JSON grammar, then std::from_chars),
// so that a float `ts`, an int64 overflow or a double that overflows to infinity (1e999) is a
// rejected item with a reason, not a parser error that would fail the whole batch.
#include "weft/node/reading.hpp"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <system_error>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace weft::node {

namespace od = simdjson::ondemand;

namespace {

// --- Small helpers ---------------------------------------------------------------------------

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  return s;
}

/// A value as an error message shows it: the raw token, shortened.
std::string shown(std::string_view raw) {
  constexpr std::size_t kMax = 40;
  raw = trim(raw);
  if (raw.size() <= kMax) return std::string(raw);
  return std::string(raw.substr(0, kMax)) + "...";
}

/// JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? ; simdjson's stage 1
/// does not check the numbers it is not asked to parse.
bool json_number(std::string_view s, bool& integral) {
  std::size_t i = 0;
  const auto digits = [&] {
    const std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  integral = true;
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    integral = false;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    integral = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

std::string got(od::json_type type, std::string_view raw) {
  switch (type) {
    case od::json_type::object:
      return "an object";
    case od::json_type::array:
      return "an array";
    default:
      return shown(raw);
  }
}

std::string_view raw_token(od::value& v) {
  return v.raw_json_token();
}

// --- Fields ----------------------------------------------------------------------------------

/// The fields an item may have; others are ignored.
enum Field : unsigned { kDevice = 1, kTs = 2, kTemperature = 4, kVibration = 8 };

/// Reads a number field as a finite double, or says why not.
bool finite_number(od::value& v, std::string_view name, double& out, std::string& error) {
  od::json_type type{};
  const std::string_view raw = trim(raw_token(v));
  if (v.type().get(type)) {
    error = fmt::format("{}: expected a finite number, got {}", name, shown(raw));
    return false;
  }
  bool integral = false;
  if (type != od::json_type::number || !json_number(raw, integral)) {
    error = fmt::format("{}: expected a finite number, got {}", name, got(type, raw));
    return false;
  }
  const auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), out);
  if (ec == std::errc::result_out_of_range) {
    // from_chars also says out of range for underflow (1e-999): that one is a fine zero-ish
    // value, but an overflow is not finite.
    bool overflow = true;
    const auto e = raw.find_first_of("eE");
    if (e != std::string_view::npos && e + 1 < raw.size() && raw[e + 1] == '-') overflow = false;
    if (!overflow) {
      out = 0;
      return true;
    }
    error = fmt::format("{}: expected a finite number, got {} (too large)", name, shown(raw));
    return false;
  }
  if (ec != std::errc{} || end != raw.data() + raw.size() || !std::isfinite(out)) {
    error = fmt::format("{}: expected a finite number, got {}", name, shown(raw));
    return false;
  }
  return true;
}

bool integer_ms(od::value& v, std::int64_t& out, std::string& error) {
  od::json_type type{};
  const std::string_view raw = trim(raw_token(v));
  if (v.type().get(type)) {
    error =
        fmt::format("ts: expected an integer (milliseconds since the epoch), got {}", shown(raw));
    return false;
  }
  bool integral = false;
  if (type != od::json_type::number || !json_number(raw, integral) || !integral) {
    error = fmt::format("ts: expected an integer (milliseconds since the epoch), got {}",
                        got(type, raw));
    return false;
  }
  const auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), out);
  if (ec == std::errc::result_out_of_range) {
    error = fmt::format("ts: {} is out of the 64-bit integer range", shown(raw));
    return false;
  }
  if (ec != std::errc{} || end != raw.data() + raw.size()) {
    error = fmt::format("ts: expected an integer, got {}", shown(raw));
    return false;
  }
  return true;
}

bool device_id(od::value& v, std::string& out, std::string& error) {
  od::json_type type{};
  if (v.type().get(type)) {
    error = fmt::format("device: expected a string, got {}", shown(raw_token(v)));
    return false;
  }
  if (type != od::json_type::string) {
    error = fmt::format("device: expected a string, got {}", got(type, raw_token(v)));
    return false;
  }
  std::string_view s;
  if (v.get_string().get(s)) {
    error = fmt::format("device: not a valid JSON string: {}", shown(raw_token(v)));
    return false;
  }
  if (!valid_device_id(s)) {
    error = s.empty()
                ? std::string("device: must not be empty")
                : fmt::format("device: \"{}\" is not 1-128 characters of [A-Za-z0-9._-]", shown(s));
    return false;
  }
  out.assign(s);
  return true;
}

/// Outcome of reading one item: either a reading, or an item-level error, or a body-level
/// (structural) error that ends the parse.
enum class ItemStatus : std::uint8_t { ok, rejected, broken };

ItemStatus read_object(od::object obj, Reading& r, std::string& error) {
  unsigned seen = 0;
  bool bad = false;
  for (auto field_result : obj) {
    od::field field;
    if (auto e = std::move(field_result).get(field)) {
      error = simdjson::error_message(e);
      return ItemStatus::broken;
    }
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) {
      error = simdjson::error_message(e);
      return ItemStatus::broken;
    }
    Field which{};
    if (key == "device") {
      which = kDevice;
    } else if (key == "ts") {
      which = kTs;
    } else if (key == "temperature") {
      which = kTemperature;
    } else if (key == "vibration") {
      which = kVibration;
    } else {
      continue;  // unknown fields are ignored (skipped unread)
    }
    if (bad) continue;  // the first reason is the one reported; keep walking the structure
    if (seen & which) {
      error = fmt::format("{}: appears twice", key);
      bad = true;
      continue;
    }
    seen |= which;
    od::value v = field.value();
    bool ok = true;
    switch (which) {
      case kDevice:
        ok = device_id(v, r.device, error);
        break;
      case kTs:
        ok = integer_ms(v, r.ts, error);
        break;
      case kTemperature:
        ok = finite_number(v, "temperature", r.temperature, error);
        break;
      case kVibration: {
        double vib = 0;
        od::json_type type{};
        if (!v.type().get(type) && type == od::json_type::null) break;  // same as absent
        ok = finite_number(v, "vibration", vib, error);
        if (ok) r.vibration = vib;
        break;
      }
    }
    bad = !ok;
  }
  if (bad) return ItemStatus::rejected;
  if (!(seen & kTs)) {
    error = "ts: missing";
    return ItemStatus::rejected;
  }
  if (!(seen & kTemperature)) {
    error = "temperature: missing";
    return ItemStatus::rejected;
  }
  if (!(seen & kDevice)) r.device.clear();  // the caller decides (default device or error)
  return ItemStatus::ok;
}

std::string_view type_name(od::json_type t) {
  switch (t) {
    case od::json_type::array:
      return "an array";
    case od::json_type::object:
      return "an object";
    case od::json_type::number:
      return "a number";
    case od::json_type::string:
      return "a string";
    case od::json_type::boolean:
      return "a boolean";
    case od::json_type::null:
      return "null";
  }
  return "a value";
}

/// One value that should be a reading object.
ItemStatus read_item(od::value item, Reading& r, std::string& error) {
  od::json_type type{};
  if (auto e = item.type().get(type)) {
    error = simdjson::error_message(e);
    return ItemStatus::broken;
  }
  if (type != od::json_type::object) {
    error = fmt::format("expected a reading object, got {}", type_name(type));
    return ItemStatus::rejected;
  }
  od::object obj;
  if (auto e = item.get_object().get(obj)) {
    error = simdjson::error_message(e);
    return ItemStatus::broken;
  }
  return read_object(obj, r, error);
}

// --- Buffers ---------------------------------------------------------------------------------

/// Per thread: the parser keeps its buffers between calls (allocating them per body would cost
/// more than parsing a 1,000-reading batch), and the body is copied once into padded memory.
struct ThreadParser {
  od::parser parser;
  std::vector<char> padded;

  /// The body followed by SIMDJSON_PADDING bytes.
  std::string_view pad(std::string_view body) {
    padded.resize(body.size() + simdjson::SIMDJSON_PADDING);
    if (!body.empty()) std::memcpy(padded.data(), body.data(), body.size());
    std::memset(padded.data() + body.size(), 0, simdjson::SIMDJSON_PADDING);
    return {padded.data(), body.size()};
  }
};

ThreadParser& thread_parser() {
  thread_local ThreadParser p;
  return p;
}

/// Where a structural error is: simdjson knows the position of most of them; an unclosed
/// object or array is at the end of the text; else the start of the root value.
std::size_t error_offset(od::document& doc, std::string_view text, simdjson::error_code e,
                         std::size_t fallback) {
  if (e == simdjson::INCOMPLETE_ARRAY_OR_OBJECT || e == simdjson::UNCLOSED_STRING) {
    return text.size();
  }
  const char* at = nullptr;
  if (doc.current_location().get(at) || at < text.data() || at >= text.data() + text.size()) {
    return fallback;
  }
  return static_cast<std::size_t>(at - text.data());
}

std::unexpected<Error> not_json(std::string_view prefix, std::string_view why, std::size_t offset) {
  return fail(Errc::malformed, fmt::format("{}not JSON ({}) at byte {}", prefix, why, offset));
}

/// The first byte that is not whitespace, from `from`.
std::size_t skip_ws(std::string_view s, std::size_t from) {
  while (from < s.size() &&
         (s[from] == ' ' || s[from] == '\t' || s[from] == '\n' || s[from] == '\r')) {
    ++from;
  }
  return from;
}

/// On Demand reads no further than the root value: anything but whitespace after it means the
/// text is not one JSON value. Returns the offset of such content, or npos.
std::size_t trailing_content(od::document& doc, std::string_view text) {
  const char* end = nullptr;
  if (doc.current_location().get(end) || end < text.data() || end >= text.data() + text.size()) {
    return std::string_view::npos;
  }
  const std::size_t at = skip_ws(text, static_cast<std::size_t>(end - text.data()));
  return at < text.size() ? at : std::string_view::npos;
}

/// The start of a root value that is not what was expected, for the message.
std::string starts_with(std::string_view text, std::size_t first) {
  return shown(text.substr(first, 20));
}

Result<ParsedReadings> parse_array(std::string_view body) {
  constexpr std::string_view kBody = "body: ";
  auto& tp = thread_parser();
  const std::string_view text = tp.pad(body);
  const std::size_t first = skip_ws(text, 0);
  if (first == text.size()) {
    return fail(Errc::malformed, "body: empty, expected a JSON array of readings");
  }
  od::document doc;
  if (auto e = tp.parser.iterate(text.data(), text.size(), tp.padded.size()).get(doc)) {
    return not_json(kBody, simdjson::error_message(e), first);
  }
  od::json_type type{};
  if (auto e = doc.type().get(type)) return not_json(kBody, simdjson::error_message(e), first);
  ParsedReadings out;
  std::string error;
  if (type == od::json_type::object) {
    // A single object is a batch of one.
    od::object obj;
    if (auto e = doc.get_object().get(obj)) {
      return not_json(kBody, simdjson::error_message(e), error_offset(doc, text, e, first));
    }
    Reading r;
    const auto status = read_object(obj, r, error);
    if (status == ItemStatus::broken)
      return not_json(kBody, error, error_offset(doc, text, {}, first));
    if (status == ItemStatus::ok && r.device.empty()) error = "device: missing";
    if (status == ItemStatus::ok && error.empty()) {
      out.readings.push_back(std::move(r));
    } else {
      out.rejected.push_back({0, std::move(error)});
    }
  } else if (type == od::json_type::array) {
    od::array arr;
    if (auto e = doc.get_array().get(arr)) {
      return not_json(kBody, simdjson::error_message(e), error_offset(doc, text, e, first));
    }
    std::size_t index = 0;
    for (auto item_result : arr) {
      od::value item;
      if (auto e = std::move(item_result).get(item)) {
        return not_json(kBody, fmt::format("{}, in item {}", simdjson::error_message(e), index),
                        error_offset(doc, text, e, first));
      }
      Reading r;
      error.clear();
      const auto status = read_item(item, r, error);
      if (status == ItemStatus::broken) {
        return not_json(kBody, fmt::format("{}, in item {}", error, index),
                        error_offset(doc, text, {}, first));
      }
      if (status == ItemStatus::ok && r.device.empty()) {
        error = "device: missing";
      } else if (status == ItemStatus::ok) {
        out.readings.push_back(std::move(r));
        ++index;
        continue;
      }
      out.rejected.push_back({index, std::move(error)});
      ++index;
    }
  } else {
    return fail(Errc::malformed,
                fmt::format("body: expected a JSON array of readings, got {} at byte {}",
                            starts_with(text, first), first));
  }
  if (const auto at = trailing_content(doc, text); at != std::string_view::npos) {
    return fail(Errc::malformed,
                fmt::format("body: unexpected content after the JSON value at byte {}", at));
  }
  return out;
}

/// One ndjson line or MQTT payload: a single reading object. `capacity` bytes are readable from
/// text.data() (at least SIMDJSON_PADDING past the text).
Result<Reading> parse_one(od::parser& parser, std::string_view text, std::size_t capacity,
                          std::string_view default_device) {
  const std::size_t first = skip_ws(text, 0);
  if (first == text.size()) return fail(Errc::malformed, "empty, expected a JSON object");
  od::document doc;
  if (auto e = parser.iterate(text.data(), text.size(), capacity).get(doc)) {
    return not_json({}, simdjson::error_message(e), first);
  }
  od::json_type type{};
  if (auto e = doc.type().get(type)) return not_json({}, simdjson::error_message(e), first);
  if (type != od::json_type::object) {
    return fail(Errc::invalid_argument,
                fmt::format("expected a reading object, got {}", starts_with(text, first)));
  }
  od::object obj;
  if (auto e = doc.get_object().get(obj)) {
    return not_json({}, simdjson::error_message(e), error_offset(doc, text, e, first));
  }
  Reading r;
  std::string error;
  const auto status = read_object(obj, r, error);
  if (status == ItemStatus::broken) return not_json({}, error, error_offset(doc, text, {}, first));
  if (const auto at = trailing_content(doc, text); at != std::string_view::npos) {
    return fail(Errc::malformed,
                fmt::format("unexpected content after the JSON object at byte {}", at));
  }
  if (status == ItemStatus::rejected) return fail(Errc::invalid_argument, std::move(error));
  if (r.device.empty()) {
    if (default_device.empty()) return fail(Errc::invalid_argument, "device: missing");
    r.device.assign(default_device);
  } else if (!default_device.empty() && r.device != default_device) {
    return fail(Errc::invalid_argument,
                fmt::format("device: \"{}\" differs from the device in the topic, \"{}\"", r.device,
                            shown(default_device)));
  }
  return r;
}

Result<ParsedReadings> parse_ndjson(std::string_view body) {
  auto& tp = thread_parser();
  const std::string_view text = tp.pad(body);
  ParsedReadings out;
  std::size_t index = 0;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    ++line_no;
    const char* nl =
        static_cast<const char*>(std::memchr(text.data() + pos, '\n', text.size() - pos));
    const std::size_t end = nl ? static_cast<std::size_t>(nl - text.data()) : text.size();
    std::string_view line = text.substr(pos, end - pos);
    const std::size_t line_start = pos;
    pos = end + 1;
    if (skip_ws(line, 0) == line.size()) continue;  // blank lines are skipped
    auto r = parse_one(tp.parser, line, tp.padded.size() - line_start, {});
    if (r) {
      out.readings.push_back(std::move(*r));
    } else {
      out.rejected.push_back({index, fmt::format("line {}: {}", line_no, r.error().message())});
    }
    ++index;
  }
  return out;
}

}  // namespace

bool valid_device_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128) return false;
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<ParsedReadings> parse_readings(std::string_view body, BodyFormat format) {
  return format == BodyFormat::ndjson ? parse_ndjson(body) : parse_array(body);
}

Result<Reading> parse_reading(std::string_view json, std::string_view default_device) {
  if (!default_device.empty() && !valid_device_id(default_device)) {
    return fail(Errc::invalid_argument,
                fmt::format("device: \"{}\" (from the topic) is not 1-128 characters of "
                            "[A-Za-z0-9._-]",
                            shown(default_device)));
  }
  auto& tp = thread_parser();
  const std::string_view text = tp.pad(json);
  return parse_one(tp.parser, text, tp.padded.size(), default_device);
}

std::string to_json(const Reading& r) {
  // A checked device id needs no escaping; the shortest round-trip form of a finite double is
  // valid JSON.
  const std::string device =
      valid_device_id(r.device)
          ? '"' + r.device + '"'
          : nlohmann::json(r.device).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out =
      fmt::format(R"({{"device":{},"ts":{},"temperature":{})", device, r.ts, r.temperature);
  if (r.vibration) out += fmt::format(R"(,"vibration":{})", *r.vibration);
  out += '}';
  return out;
}

}  // namespace weft::node
