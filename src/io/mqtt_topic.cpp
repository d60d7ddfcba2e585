#include "weft/io/mqtt_topic.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

namespace weft::io {
namespace {

// Returns the offset of the first byte that is not well-formed UTF-8 (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF) or is U+0000, or npos when all is well.
std::size_t first_bad_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c == 0) return i;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return i;
    }
    if (n - i < len) return i;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

}  // namespace

Result<void> validate_mqtt_string(std::string_view s, std::string_view what) {
  if (s.size() > 65535) {
    return fail(Errc::invalid_argument,
                fmt::format("{} is {} bytes, MQTT strings hold at most 65535", what, s.size()));
  }
  if (const std::size_t bad = first_bad_utf8(s); bad != std::string_view::npos) {
    return fail(Errc::invalid_argument,
                fmt::format("{} is not valid MQTT UTF-8 at byte {} (0x{:02x})", what, bad,
                            static_cast<unsigned char>(s[bad])));
  }
  return {};
}

Result<void> validate_mqtt_topic(std::string_view topic) {
  if (topic.empty()) return fail(Errc::invalid_argument, "topic is empty");
  if (auto ok = validate_mqtt_string(topic, "topic"); !ok) return ok;
  if (const auto w = topic.find_first_of("+#"); w != std::string_view::npos) {
    return fail(Errc::invalid_argument,
                fmt::format("topic '{}' has wildcard '{}' at byte {}; only filters may", topic,
                            topic[w], w));
  }
  return {};
}

Result<void> validate_mqtt_filter(std::string_view filter) {
  if (filter.empty()) return fail(Errc::invalid_argument, "topic filter is empty");
  if (auto ok = validate_mqtt_string(filter, "topic filter"); !ok) return ok;
  for (std::size_t i = 0; i < filter.size(); ++i) {
    const char c = filter[i];
    if (c != '+' && c != '#') continue;
    const bool starts_level = i == 0 || filter[i - 1] == '/';
    const bool ends_level = i + 1 == filter.size() || filter[i + 1] == '/';
    if (!starts_level || !ends_level) {
      return fail(
          Errc::invalid_argument,
          fmt::format("topic filter '{}': '{}' at byte {} must fill a whole level", filter, c, i));
    }
    if (c == '#' && i + 1 != filter.size()) {
      return fail(
          Errc::invalid_argument,
          fmt::format("topic filter '{}': '#' at byte {} must be the last level", filter, i));
    }
  }
  return {};
}

bool mqtt_topic_matches(std::string_view filter, std::string_view topic) noexcept {
  if (!topic.empty() && topic.front() == '$' && !filter.empty() &&
      (filter.front() == '+' || filter.front() == '#')) {
    return false;
  }
  std::size_t f = 0;
  std::size_t t = 0;
  while (true) {
    const std::size_t f_end = std::min(filter.find('/', f), filter.size());
    const std::string_view level = filter.substr(f, f_end - f);
    if (level == "#") return true;  // also matches the parent level: "a/#" matches "a"
    const std::size_t t_end = std::min(topic.find('/', t), topic.size());
    if (level != "+" && level != topic.substr(t, t_end - t)) return false;
    const bool filter_done = f_end == filter.size();
    const bool topic_done = t_end == topic.size();
    if (filter_done || topic_done) {
      if (filter_done && topic_done) return true;
      // "a/#" matches "a": the filter's remaining level must be exactly "#".
      return topic_done && filter.substr(f_end) == "/#";
    }
    f = f_end + 1;
    t = t_end + 1;
  }
}

}  // namespace weft::io
