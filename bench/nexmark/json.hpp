// Nexmark events and query results as JSON lines, field names as in Beam's and Flink's Nexmark
// (camelCase). Times are integers: milliseconds since the Unix epoch (docs/nexmark.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "model.hpp"

namespace weft::nexmark {

/// Appends one JSON object, without a newline: {"person": {...}}, {"auction": {...}} or
/// {"bid": {...}} after the event's kind.
void append_json(std::string& out, const Event& e);
[[nodiscard]] std::string to_json(const Event& e);

/// Writes the fields of one flat JSON object: `JsonObject(out).field("a", 1).field("b", "x")`
/// appends {"a":1,"b":"x"} (closed by `close()` or the destructor).
class JsonObject {
 public:
  explicit JsonObject(std::string& out);
  JsonObject(const JsonObject&) = delete;
  JsonObject& operator=(const JsonObject&) = delete;
  ~JsonObject() { close(); }

  JsonObject& field(std::string_view name, std::int64_t value);
  JsonObject& field(std::string_view name, double value);
  JsonObject& field(std::string_view name, std::string_view value);
  /// Opens a nested object; the caller writes its fields and closes it before the next field.
  JsonObject& key(std::string_view name);
  void close();

 private:
  void next_key(std::string_view name);

  std::string& out_;
  bool first_ = true;
  bool open_ = true;
};

/// Appends `s` as a quoted JSON string, escaping quotes, backslashes and control characters.
void append_json_string(std::string& out, std::string_view s);

}  // namespace weft::nexmark
