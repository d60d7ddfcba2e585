#include "weft/node/config.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <span>
#include <sstream>
#include <tuple>
#include <vector>

namespace weft::node {

namespace {

constexpr std::int64_t max_toml_int = std::numeric_limits<std::int64_t>::max();

// ---------------------------------------------------------------------------------------------
// Scalars: durations, sizes, the broker URL.

struct Unit {
  std::string_view suffix;
  std::int64_t nanos;
};
// Largest first: format_duration takes the first unit that divides exactly.
constexpr std::array<Unit, 7> duration_units{{{"d", 86'400'000'000'000},
                                              {"h", 3'600'000'000'000},
                                              {"m", 60'000'000'000},
                                              {"s", 1'000'000'000},
                                              {"ms", 1'000'000},
                                              {"us", 1'000},
                                              {"ns", 1}}};

struct SizeUnit {
  std::string_view suffix;
  std::uint64_t bytes;
};
constexpr std::array<SizeUnit, 4> size_units{
    {{"GiB", 1ULL << 30}, {"MiB", 1ULL << 20}, {"KiB", 1ULL << 10}, {"B", 1}}};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Splits "123unit" into its digits and the rest; fails on a sign or a missing number.
struct NumberAndUnit {
  std::uint64_t number = 0;
  std::string_view unit;
};
Result<NumberAndUnit> split_number(std::string_view text, std::string_view what) {
  if (text.empty()) return fail(Errc::invalid_argument, fmt::format("empty {}", what));
  if (text.front() == '-') {
    return fail(Errc::invalid_argument, fmt::format("a {} cannot be negative", what));
  }
  std::size_t i = 0;
  NumberAndUnit out;
  while (i < text.size() && is_digit(text[i])) {
    const auto digit = static_cast<std::uint64_t>(text[i] - '0');
    if (out.number > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
      return fail(Errc::invalid_argument, fmt::format("{} too large", what));
    }
    out.number = out.number * 10 + digit;
    ++i;
  }
  if (i == 0) {
    return fail(Errc::invalid_argument, fmt::format("a {} starts with a whole number", what));
  }
  if (i < text.size() && text[i] == '.') {
    return fail(Errc::invalid_argument,
                fmt::format("a {} is a whole number of a unit (write 1500ms, not 1.5s)", what));
  }
  out.unit = text.substr(i);
  return out;
}

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04X}", c);
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

using HostPort = MqttAddress;

Result<HostPort> mqtt_url(std::string_view url) {
  const auto bad = [&](std::string_view why) {
    return fail(Errc::invalid_argument,
                fmt::format("expected a URL like \"mqtt://127.0.0.1:1883\", got {}: {}",
                            toml_string(url), why));
  };
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return bad("no scheme (write mqtt://host:port)");
  const auto scheme = url.substr(0, scheme_end);
  if (scheme != "mqtt") {
    return bad(fmt::format("unsupported scheme {} (only mqtt is supported)", toml_string(scheme)));
  }
  std::string_view rest = url.substr(scheme_end + 3);
  HostPort out;
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return bad("unclosed \"[\" around an IPv6 host");
    out.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad("expected \":port\" after the IPv6 host");
      port_text = rest.substr(1);
      if (port_text.empty()) return bad("empty port");
    }
  } else {
    const auto colon = rest.find(':');
    if (colon != std::string_view::npos && rest.find(':', colon + 1) != std::string_view::npos) {
      return bad("an IPv6 host goes in brackets, as in mqtt://[::1]:1883");
    }
    out.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = rest.substr(colon + 1);
      if (port_text.empty()) return bad("empty port");
    }
  }
  if (out.host.empty()) return bad("no host");
  for (const char c : out.host) {
    if (c == '/' || c == '@' || c == '?' || c == '#' || c == '[' || c == ']' ||
        static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return bad(
          fmt::format("unexpected {} in the host (user names, paths and queries are "
                      "not supported)",
                      toml_string(std::string_view(&c, 1))));
    }
  }
  if (!port_text.empty()) {
    std::uint32_t port = 0;
    for (const char c : port_text) {
      if (!is_digit(c)) return bad(fmt::format("port {} is not a number", toml_string(port_text)));
      port = port * 10 + static_cast<std::uint32_t>(c - '0');
      if (port > 65535) break;
    }
    if (port == 0 || port > 65535) return bad("port must be between 1 and 65535");
    out.port = static_cast<std::uint16_t>(port);
  }
  return out;
}

std::string format_size(std::uint64_t bytes) {
  for (const auto& u : size_units) {
    if (u.bytes > 1 && bytes != 0 && bytes % u.bytes == 0) {
      return toml_string(fmt::format("{}{}", bytes / u.bytes, u.suffix));
    }
  }
  return fmt::format("{}", bytes);
}

std::string format_double(double v) {
  std::string s = fmt::format("{}", v);
  // fmt writes the shortest text that reads back exactly; TOML needs a '.' or an exponent to
  // make it a float (an integer would still be accepted, but the file should say what it is).
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

// ---------------------------------------------------------------------------------------------
// The reader: walks the document against the schema, collecting every error.

std::string_view type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}

  void error(const toml::source_region& where, std::string message) {
    errors_.push_back({where.begin.line, where.begin.column, errors_.size(), std::move(message)});
  }
  // An error about the value of the key being read.
  void bad_value(const toml::node& n, std::string_view message) {
    error(n.source(), fmt::format("{}: {}", key_, message));
  }
  void set_key(std::string key) { key_ = std::move(key); }

  [[nodiscard]] bool ok() const { return errors_.empty(); }

  /// Every error, one per line, in file order (toml++ keeps a table's keys sorted by name).
  [[nodiscard]] std::string report() {
    // std::sort with the insertion order as the tie-break: libstdc++ 12's stable_sort trips
    // clang's deprecation warning (get_temporary_buffer) in C++23.
    std::sort(errors_.begin(), errors_.end(), [](const Problem& a, const Problem& b) {
      return std::tuple{a.line, a.column, a.order} < std::tuple{b.line, b.column, b.order};
    });
    std::string out;
    for (const auto& e : errors_) {
      out += fmt::format("{}{}:{}:{}: {}", out.empty() ? "" : "\n", source_, e.line, e.column,
                         e.message);
    }
    return out;
  }

  bool expect(const toml::node& n, toml::node_type t) {
    if (n.type() == t) return true;
    bad_value(n, fmt::format("expected {}, got {}", type_name(t), type_name(n.type())));
    return false;
  }

  void boolean(const toml::node& n, bool& out) {
    if (expect(n, toml::node_type::boolean)) out = n.as_boolean()->get();
  }

  // A string without NUL (it becomes a path, a topic or a host); `allow_empty` for optional ones.
  void string(const toml::node& n, std::string& out, bool allow_empty = false) {
    if (!expect(n, toml::node_type::string)) return;
    const std::string& s = n.as_string()->get();
    if (s.empty() && !allow_empty) return bad_value(n, "must not be empty");
    if (s.find('\0') != std::string::npos) return bad_value(n, "must not contain NUL");
    out = s;
  }

  template <class Int>
  void integer(const toml::node& n, Int& out, std::int64_t min, std::int64_t max) {
    if (!expect(n, toml::node_type::integer)) return;
    const std::int64_t v = n.as_integer()->get();
    if (v < min || v > max) {
      return bad_value(n, max == max_toml_int
                              ? fmt::format("must be at least {}, got {}", min, v)
                              : fmt::format("must be between {} and {}, got {}", min, max, v));
    }
    out = static_cast<Int>(v);
  }

  // A float; an integer is taken as the same number.
  bool number(const toml::node& n, double& out) {
    double v = 0;
    if (n.type() == toml::node_type::floating_point) {
      v = n.as_floating_point()->get();
    } else if (n.type() == toml::node_type::integer) {
      v = static_cast<double>(n.as_integer()->get());
    } else {
      bad_value(n, fmt::format("expected a number, got {}", type_name(n.type())));
      return false;
    }
    if (!std::isfinite(v)) {
      bad_value(n, fmt::format("must be a finite number, got {}", v));
      return false;
    }
    out = v;
    return true;
  }

  void duration(const toml::node& n, Duration& out, Duration min) {
    if (n.type() != toml::node_type::string) {
      return bad_value(n, fmt::format("expected a duration like \"5s\" or \"250ms\", got {}",
                                      type_name(n.type())));
    }
    const std::string& s = n.as_string()->get();
    auto d = parse_duration(s);
    if (!d) {
      return bad_value(n, fmt::format("expected a duration like \"5s\" or \"250ms\", got {}: {}",
                                      toml_string(s), d.error().message()));
    }
    if (*d < min) return bad_value(n, fmt::format("must be above 0s, got {}", toml_string(s)));
    out = *d;
  }

  void size(const toml::node& n, std::uint64_t& out) {
    std::uint64_t v = 0;
    if (n.type() == toml::node_type::integer) {
      const std::int64_t i = n.as_integer()->get();
      if (i < 0) return bad_value(n, fmt::format("a size cannot be negative, got {}", i));
      v = static_cast<std::uint64_t>(i);
    } else if (n.type() == toml::node_type::string) {
      const std::string& s = n.as_string()->get();
      auto parsed = parse_size(s);
      if (!parsed) {
        return bad_value(n, fmt::format("expected a size like \"8MiB\" or 1024, got {}: {}",
                                        toml_string(s), parsed.error().message()));
      }
      v = *parsed;
    } else {
      return bad_value(
          n, fmt::format("expected a size like \"8MiB\" or 1024, got {}", type_name(n.type())));
    }
    if (v == 0) return bad_value(n, "must be at least 1 byte");
    if (v > static_cast<std::uint64_t>(max_toml_int)) {
      return bad_value(n, "must be below 8EiB");
    }
    out = v;
  }

  template <class E, std::size_t N>
  void choice(const toml::node& n, E& out, const std::array<E, N>& options) {
    if (!expect(n, toml::node_type::string)) return;
    const std::string& s = n.as_string()->get();
    std::string names;
    for (const E e : options) {
      if (to_string(e) == s) {
        out = e;
        return;
      }
      names += fmt::format("{}{}", names.empty() ? "" : ", ", toml_string(to_string(e)));
    }
    bad_value(n, fmt::format("expected one of {}, got {}", names, toml_string(s)));
  }

 private:
  std::string_view source_;
  struct Problem {
    toml::source_index line;
    toml::source_index column;
    std::size_t order;
    std::string message;
  };
  std::string key_;
  std::vector<Problem> errors_;
};

// ---------------------------------------------------------------------------------------------
// The schema: one entry per key, in the order to_toml writes them.

using ReadFn = void (*)(Reader&, const toml::node&, NodeConfig&);
struct Field {
  std::string_view name;
  ReadFn read;
};
struct Section {
  std::string_view name;
  std::span<const Field> fields;
};

constexpr Duration zero{0};
constexpr Duration positive{1};

constexpr Field node_fields[] = {
    {"data_dir",
     [](Reader& r, const toml::node& n, NodeConfig& c) { r.string(n, c.node.data_dir); }},
    {"log_format",
     [](Reader& r, const toml::node& n, NodeConfig& c) {
       r.choice(n, c.node.log_format, std::array{LogFormat::text, LogFormat::json});
     }},
    {"log_level",
     [](Reader& r, const toml::node& n, NodeConfig& c) {
       r.choice(n, c.node.log_level,
                std::array{LogLevel::trace, LogLevel::debug, LogLevel::info, LogLevel::warn,
                           LogLevel::error, LogLevel::off});
     }},
};

void read_address(Reader& r, const toml::node& n, NodeConfig& c) {
  std::string s;
  r.string(n, s);
  if (s.empty()) return;
  if (std::any_of(s.begin(), s.end(),
                  [](char ch) { return static_cast<unsigned char>(ch) <= ' '; })) {
    return r.bad_value(
        n, fmt::format("expected an address like \"127.0.0.1\", got {}", toml_string(s)));
  }
  c.http.address = std::move(s);
}

constexpr Field http_fields[] = {
    {"enabled",
     [](Reader& r, const toml::node& n, NodeConfig& c) { r.boolean(n, c.http.enabled); }},
    {"address", read_address},
    {"port",
     [](Reader& r, const toml::node& n, NodeConfig& c) { r.integer(n, c.http.port, 0, 65535); }},
    {"max_body_bytes",
     [](Reader& r, const toml::node& n, NodeConfig& c) { r.size(n, c.http.max_body_bytes); }},
};

void read_url(Reader& r, const toml::node& n, NodeConfig& c) {
  std::string s;
  r.string(n, s);
  if (s.empty()) return;
  auto hp = mqtt_url(s);
  if (!hp) return r.bad_value(n, hp.error().message());
  c.mqtt.host = std::move(hp->host);
  c.mqtt.port = hp->port;
}

void read_prefix(Reader& r, const toml::node& n, NodeConfig& c) {
  std::string s;
  r.string(n, s);
  if (s.empty()) return;
  // The prefix starts topic filters (<prefix>/+/telemetry), so it must be a plain topic level.
  if (s.find_first_of("+#") != std::string::npos) {
    return r.bad_value(
        n, fmt::format("must not contain MQTT wildcards (+ or #), got {}", toml_string(s)));
  }
  if (s.back() == '/')
    return r.bad_value(n, fmt::format("must not end in \"/\", got {}", toml_string(s)));
  c.mqtt.prefix = std::move(s);
}

void read_keep_alive(Reader& r, const toml::node& n, NodeConfig& c) {
  Duration d{-1};
  r.duration(n, d, zero);
  if (d < zero) return;
  // MQTT sends keep-alive as a 16-bit number of seconds.
  if (d % std::chrono::seconds(1) != zero || d > std::chrono::seconds(65535)) {
    return r.bad_value(n, fmt::format("must be whole seconds up to 65535s, got {}",
                                      toml_string(format_duration(d))));
  }
  c.mqtt.keep_alive = d;
}

constexpr Field mqtt_fields[] = {
    {"enabled",
     [](Reader& r, const toml::node& n, NodeConfig& c) { r.boolean(n, c.mqtt.enabled); }},
    {"url", read_url},
    {"prefix", read_prefix},
    {"client_id",
     [](Reader& r, const toml::node& n, NodeConfig& c) { r.string(n, c.mqtt.client_id); }},
    {"keep_alive", read_keep_alive},
};

constexpr Field windows_fields[] = {
    {"size", [](Reader& r, const toml::node& n,
                NodeConfig& c) { r.duration(n, c.windows.size, positive); }},
    {"out_of_orderness", [](Reader& r, const toml::node& n,
                            NodeConfig& c) { r.duration(n, c.windows.out_of_orderness, zero); }},
    {"idle_timeout", [](Reader& r, const toml::node& n,
                        NodeConfig& c) { r.duration(n, c.windows.idle_timeout, positive); }},
};

constexpr Field rules_fields[] = {
    {"temperature_threshold", [](Reader& r, const toml::node& n,
                                 NodeConfig& c) { r.number(n, c.rules.temperature_threshold); }},
    {"window_average_threshold",
     [](Reader& r, const toml::node& n, NodeConfig& c) {
       r.number(n, c.rules.window_average_threshold);
     }},
    {"temperature_alarm", [](Reader& r, const toml::node& n,
                             NodeConfig& c) { r.boolean(n, c.rules.temperature_alarm); }},
    {"window_alarm",
     [](Reader& r, const toml::node& n, NodeConfig& c) { r.boolean(n, c.rules.window_alarm); }},
};

constexpr std::int64_t max_u32 = std::numeric_limits<std::uint32_t>::max();

constexpr Field devices_fields[] = {
    {"passivate_after", [](Reader& r, const toml::node& n,
                           NodeConfig& c) { r.duration(n, c.devices.passivate_after, positive); }},
    {"snapshot_every",
     [](Reader& r, const toml::node& n, NodeConfig& c) {
       r.integer(n, c.devices.snapshot_every, 0, max_toml_int);
     }},
    {"max_recovering", [](Reader& r, const toml::node& n,
                          NodeConfig& c) { r.integer(n, c.devices.max_recovering, 1, max_u32); }},
};

constexpr Field checkpoints_fields[] = {
    {"interval", [](Reader& r, const toml::node& n,
                    NodeConfig& c) { r.duration(n, c.checkpoints.interval, positive); }},
    {"retained", [](Reader& r, const toml::node& n,
                    NodeConfig& c) { r.integer(n, c.checkpoints.retained, 1, max_u32); }},
};

void read_max_event_age(Reader& r, const toml::node& n, NodeConfig& c) {
  if (n.type() == toml::node_type::string && n.as_string()->get().empty()) {
    c.retention.max_event_age.reset();
    return;
  }
  Duration d{-1};
  r.duration(n, d, positive);
  if (d >= positive) c.retention.max_event_age = d;
}

constexpr Field retention_fields[] = {
    {"max_event_age", read_max_event_age},
    {"keep_snapshots", [](Reader& r, const toml::node& n,
                          NodeConfig& c) { r.integer(n, c.retention.keep_snapshots, 1, max_u32); }},
    {"interval", [](Reader& r, const toml::node& n,
                    NodeConfig& c) { r.duration(n, c.retention.interval, positive); }},
};

constexpr Field keys_fields[] = {
    {"integrity",
     [](Reader& r, const toml::node& n, NodeConfig& c) { r.boolean(n, c.keys.integrity); }},
    {"master_key_file",
     [](Reader& r, const toml::node& n, NodeConfig& c) {
       r.string(n, c.keys.master_key_file, /*allow_empty=*/true);
     }},
};

void read_rate(Reader& r, const toml::node& n, NodeConfig& c) {
  double v = 0;
  if (!r.number(n, v)) return;
  if (v <= 0) return r.bad_value(n, fmt::format("must be above 0, got {}", v));
  c.simulator.rate_hz = v;
}

void read_hot_fraction(Reader& r, const toml::node& n, NodeConfig& c) {
  double v = 0;
  if (!r.number(n, v)) return;
  if (v < 0 || v > 1) return r.bad_value(n, fmt::format("must be between 0 and 1, got {}", v));
  c.simulator.hot_fraction = v;
}

constexpr Field simulator_fields[] = {
    {"devices", [](Reader& r, const toml::node& n,
                   NodeConfig& c) { r.integer(n, c.simulator.devices, 1, max_u32); }},
    {"rate_hz", read_rate},
    {"seed", [](Reader& r, const toml::node& n,
                NodeConfig& c) { r.integer(n, c.simulator.seed, 0, max_toml_int); }},
    {"hot_fraction", read_hot_fraction},
};

constexpr Section schema[] = {
    {"node", node_fields},
    {"http", http_fields},
    {"mqtt", mqtt_fields},
    {"windows", windows_fields},
    {"rules", rules_fields},
    {"devices", devices_fields},
    {"checkpoints", checkpoints_fields},
    {"retention", retention_fields},
    {"keys", keys_fields},
    {"simulator", simulator_fields},
};

// Suggestions for a misspelt key: the nearest names at the same level, or, for a key written
// outside its section, the sections that have it.
std::string suggestion(std::string_view name, std::span<const std::string> same_level,
                       std::string_view prefix) {
  const bool top_level = prefix.empty();
  std::vector<std::string> hits;
  const std::size_t limit = std::max<std::size_t>(1, name.size() / 3);
  std::size_t best = limit + 1;
  for (const auto& candidate : same_level) {
    const std::size_t d = edit_distance(name, candidate);
    if (d < best) {
      best = d;
      hits = {candidate};
    } else if (d == best) {
      hits.push_back(candidate);
    }
  }
  if (hits.empty() && top_level) {
    for (const auto& section : schema) {
      for (const auto& f : section.fields) {
        if (f.name == name) hits.push_back(fmt::format("{}.{}", section.name, f.name));
      }
    }
  }
  if (hits.empty()) return "";
  std::string out = " (did you mean ";
  for (std::size_t i = 0; i < hits.size(); ++i) {
    if (i > 0) out += " or ";
    out += toml_string(fmt::format("{}{}", prefix, hits[i]));
  }
  return out + "?)";
}

void read_section(Reader& r, const Section& section, const toml::table& table, NodeConfig& c) {
  std::vector<std::string> known;
  for (const auto& f : section.fields) known.emplace_back(f.name);
  const std::string prefix = fmt::format("{}.", section.name);
  for (auto&& [key, value] : table) {
    const auto it = std::find_if(section.fields.begin(), section.fields.end(),
                                 [&](const Field& f) { return f.name == key.str(); });
    const std::string full = fmt::format("{}.{}", section.name, key.str());
    if (it == section.fields.end()) {
      r.error(key.source(), fmt::format("unknown key {}{}", toml_string(full),
                                        suggestion(key.str(), known, prefix)));
      continue;
    }
    r.set_key(full);
    it->read(r, value, c);
  }
}

void read_document(Reader& r, const toml::table& root, NodeConfig& c) {
  std::vector<std::string> sections;
  for (const auto& s : schema) sections.emplace_back(s.name);
  for (auto&& [key, value] : root) {
    const auto it = std::find_if(std::begin(schema), std::end(schema),
                                 [&](const Section& s) { return s.name == key.str(); });
    if (it == std::end(schema)) {
      r.error(key.source(), fmt::format("unknown key {}{}", toml_string(key.str()),
                                        suggestion(key.str(), sections, "")));
      continue;
    }
    r.set_key(std::string(key.str()));
    if (!r.expect(value, toml::node_type::table)) continue;
    read_section(r, *it, *value.as_table(), c);
  }
}

}  // namespace

std::string_view to_string(LogFormat format) noexcept {
  switch (format) {
    case LogFormat::text:
      return "text";
    case LogFormat::json:
      return "json";
  }
  return "?";
}

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::trace:
      return "trace";
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    case LogLevel::error:
      return "error";
    case LogLevel::off:
      return "off";
  }
  return "?";
}

std::string MqttSection::url() const {
  if (host.find(':') != std::string::npos) return fmt::format("mqtt://[{}]:{}", host, port);
  return fmt::format("mqtt://{}:{}", host, port);
}

Result<MqttAddress> parse_mqtt_url(std::string_view url) {
  return mqtt_url(url);
}

Result<Duration> parse_duration(std::string_view text) {
  auto parts = split_number(text, "duration");
  if (!parts) return std::unexpected(parts.error());
  if (parts->unit.empty()) {
    return fail(Errc::invalid_argument, "no unit (one of ns, us, ms, s, m, h, d)");
  }
  const auto unit = std::find_if(duration_units.begin(), duration_units.end(),
                                 [&](const Unit& u) { return u.suffix == parts->unit; });
  if (unit == duration_units.end()) {
    return fail(
        Errc::invalid_argument,
        fmt::format("unknown unit {} (one of ns, us, ms, s, m, h, d)", toml_string(parts->unit)));
  }
  const auto limit = static_cast<std::uint64_t>(max_toml_int / unit->nanos);
  if (parts->number > limit) {
    return fail(Errc::invalid_argument,
                fmt::format("too large (at most {}{})", limit, unit->suffix));
  }
  return Duration(static_cast<std::int64_t>(parts->number) * unit->nanos);
}

std::string format_duration(Duration d) {
  const std::int64_t n = d.count();
  if (n == 0) return "0s";
  for (const auto& u : duration_units) {
    if (n % u.nanos == 0) return fmt::format("{}{}", n / u.nanos, u.suffix);
  }
  return fmt::format("{}ns", n);
}

Result<std::uint64_t> parse_size(std::string_view text) {
  auto parts = split_number(text, "size");
  if (!parts) return std::unexpected(parts.error());
  if (parts->unit.empty()) return parts->number;
  const auto unit = std::find_if(size_units.begin(), size_units.end(),
                                 [&](const SizeUnit& u) { return u.suffix == parts->unit; });
  if (unit == size_units.end()) {
    return fail(Errc::invalid_argument,
                fmt::format("unknown unit {} (one of B, KiB, MiB, GiB)", toml_string(parts->unit)));
  }
  if (parts->number > std::numeric_limits<std::uint64_t>::max() / unit->bytes) {
    return fail(Errc::invalid_argument, "size too large");
  }
  return parts->number * unit->bytes;
}

Result<NodeConfig> parse_config(std::string_view text, std::string_view source_name) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    return fail(Errc::malformed, fmt::format("{}:{}:{}: {}", source_name, e.source().begin.line,
                                             e.source().begin.column, e.description()));
  }
  NodeConfig config;
  Reader reader(source_name);
  read_document(reader, root, config);
  if (reader.ok()) return config;
  return fail(Errc::invalid_argument, reader.report());
}

Result<NodeConfig> load_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return fail(err == ENOENT ? Errc::not_found : Errc::io,
                fmt::format("cannot read {}: {}", path.string(), std::strerror(err)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return fail(Errc::io, fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
  }
  return parse_config(text.str(), path.string());
}

std::string to_toml(const NodeConfig& c) {
  std::string out;
  const auto section = [&](std::string_view name) {
    out += fmt::format("{}[{}]\n", out.empty() ? "" : "\n", name);
  };
  const auto line = [&](std::string_view key, std::string_view value) {
    out += fmt::format("{} = {}\n", key, value);
  };
  const auto boolean = [](bool b) { return std::string(b ? "true" : "false"); };
  const auto duration = [](Duration d) { return toml_string(format_duration(d)); };

  section("node");
  line("data_dir", toml_string(c.node.data_dir));
  line("log_format", toml_string(to_string(c.node.log_format)));
  line("log_level", toml_string(to_string(c.node.log_level)));

  section("http");
  line("enabled", boolean(c.http.enabled));
  line("address", toml_string(c.http.address));
  line("port", fmt::format("{}", c.http.port));
  line("max_body_bytes", format_size(c.http.max_body_bytes));

  section("mqtt");
  line("enabled", boolean(c.mqtt.enabled));
  line("url", toml_string(c.mqtt.url()));
  line("prefix", toml_string(c.mqtt.prefix));
  line("client_id", toml_string(c.mqtt.client_id));
  line("keep_alive", duration(c.mqtt.keep_alive));

  section("windows");
  line("size", duration(c.windows.size));
  line("out_of_orderness", duration(c.windows.out_of_orderness));
  line("idle_timeout", duration(c.windows.idle_timeout));

  section("rules");
  line("temperature_threshold", format_double(c.rules.temperature_threshold));
  line("window_average_threshold", format_double(c.rules.window_average_threshold));
  line("temperature_alarm", boolean(c.rules.temperature_alarm));
  line("window_alarm", boolean(c.rules.window_alarm));

  section("devices");
  line("passivate_after", duration(c.devices.passivate_after));
  line("snapshot_every", fmt::format("{}", c.devices.snapshot_every));
  line("max_recovering", fmt::format("{}", c.devices.max_recovering));

  section("checkpoints");
  line("interval", duration(c.checkpoints.interval));
  line("retained", fmt::format("{}", c.checkpoints.retained));

  section("retention");
  line("max_event_age",
       c.retention.max_event_age ? duration(*c.retention.max_event_age) : toml_string(""));
  line("keep_snapshots", fmt::format("{}", c.retention.keep_snapshots));
  line("interval", duration(c.retention.interval));

  section("keys");
  line("integrity", boolean(c.keys.integrity));
  line("master_key_file", toml_string(c.keys.master_key_file));

  section("simulator");
  line("devices", fmt::format("{}", c.simulator.devices));
  line("rate_hz", format_double(c.simulator.rate_hz));
  line("seed", fmt::format("{}", c.simulator.seed));
  line("hot_fraction", format_double(c.simulator.hot_fraction));
  return out;
}

}  // namespace weft::node
