// The node's TOML configuration: defaults, every kind of error with its position, the scalar
// formats, the round trip through to_toml, and the example file and docs kept in step.
#include "weft/node/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "temp_dir.hpp"

namespace weft::node {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::string repo_root() {
  // tests/data, from ctest's environment (or the source tree when run by hand from the root).
  const char* dir = std::getenv("WEFT_TEST_DATA_DIR");
  return std::string(dir ? dir : "tests/data") + "/../..";
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string error_of(std::string_view text) {
  auto c = parse_config(text, "weft.toml");
  if (c) return "(parsed)";
  return c.error().message();
}

TEST(Config, EmptyFileIsTheDefaults) {
  auto c = parse_config("", "weft.toml");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(*c, NodeConfig{});
}

TEST(Config, DefaultsAreTheIssues) {
  const NodeConfig c;
  EXPECT_EQ(c.node.data_dir, "data");
  EXPECT_EQ(c.node.log_format, LogFormat::text);
  EXPECT_EQ(c.node.log_level, LogLevel::info);
  EXPECT_TRUE(c.http.enabled);
  EXPECT_EQ(c.http.address, "127.0.0.1");
  EXPECT_EQ(c.http.port, 8080);
  EXPECT_EQ(c.http.max_body_bytes, 8u << 20);
  EXPECT_FALSE(c.mqtt.enabled);
  EXPECT_EQ(c.mqtt.url(), "mqtt://127.0.0.1:1883");
  EXPECT_EQ(c.mqtt.prefix, "factory");
  EXPECT_EQ(c.mqtt.client_id, "weft-node");
  EXPECT_EQ(c.mqtt.keep_alive, 30s);
  EXPECT_EQ(c.windows.size, 5s);
  EXPECT_EQ(c.windows.out_of_orderness, 2s);
  EXPECT_EQ(c.windows.idle_timeout, 10s);
  EXPECT_EQ(c.rules.temperature_threshold, 80.0);
  EXPECT_EQ(c.rules.window_average_threshold, 80.0);
  EXPECT_TRUE(c.rules.temperature_alarm);
  EXPECT_TRUE(c.rules.window_alarm);
  EXPECT_EQ(c.devices.passivate_after, 2min);
  EXPECT_EQ(c.devices.snapshot_every, 1000u);
  EXPECT_EQ(c.devices.max_recovering, 64u);
  EXPECT_EQ(c.checkpoints.interval, 10s);
  EXPECT_EQ(c.checkpoints.retained, 2u);
  EXPECT_FALSE(c.retention.max_event_age);
  EXPECT_EQ(c.retention.keep_snapshots, 2u);
  EXPECT_EQ(c.retention.interval, 1h);
  EXPECT_TRUE(c.keys.integrity);
  EXPECT_EQ(c.keys.master_key_file, "");
  EXPECT_EQ(c.simulator.devices, 100u);
  EXPECT_EQ(c.simulator.rate_hz, 10.0);
  EXPECT_EQ(c.simulator.seed, 1u);
  EXPECT_EQ(c.simulator.hot_fraction, 0.1);
}

TEST(Config, ReadsEveryKindOfValue) {
  auto c = parse_config(R"(
[node]
data_dir = "/var/lib/weft"
log_format = "json"
log_level = "debug"

[http]
enabled = false
address = "0.0.0.0"
port = 0
max_body_bytes = "512KiB"

[mqtt]
enabled = true
url = "mqtt://[::1]:18830"
prefix = "plant/7"
keep_alive = "0s"

[windows]
size = "250ms"
out_of_orderness = "0s"

[rules]
temperature_threshold = 75       # an integer is a number too
window_average_threshold = -3.5

[retention]
max_event_age = "30d"

[simulator]
rate_hz = 0.5
hot_fraction = 1
seed = 9223372036854775807
)",
                        "weft.toml");
  ASSERT_TRUE(c) << c.error().message();
  NodeConfig want;
  want.node = {"/var/lib/weft", LogFormat::json, LogLevel::debug};
  want.http = {false, "0.0.0.0", 0, 512 * 1024};
  want.mqtt.enabled = true;
  want.mqtt.host = "::1";
  want.mqtt.port = 18830;
  want.mqtt.prefix = "plant/7";
  want.mqtt.keep_alive = 0s;
  want.windows.size = 250ms;
  want.windows.out_of_orderness = 0s;
  want.rules.temperature_threshold = 75.0;
  want.rules.window_average_threshold = -3.5;
  want.retention.max_event_age = std::chrono::days(30);
  want.simulator.rate_hz = 0.5;
  want.simulator.hot_fraction = 1.0;
  want.simulator.seed = 9223372036854775807u;
  EXPECT_EQ(*c, want);
  EXPECT_EQ(c->mqtt.url(), "mqtt://[::1]:18830");
}

TEST(Config, MqttUrlWithoutPortUsesTheMqttPort) {
  auto c = parse_config("mqtt.url = \"mqtt://broker.local\"", "weft.toml");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->mqtt.host, "broker.local");
  EXPECT_EQ(c->mqtt.port, 1883);
}

// One bad key per case: the whole error, position included (the value's line:column, or the
// key's for unknown keys).
struct BadCase {
  std::string text;
  std::string error;
};

TEST(Config, EveryErrorNamesFileLineColumnAndKey) {
  const std::vector<BadCase> cases = {
      {"[windows]\nsize = \"five\"",
       "weft.toml:2:8: windows.size: expected a duration like \"5s\" or \"250ms\", got \"five\": "
       "a duration starts with a whole number"},
      {"[windows]\nsize = \"5\"",
       "weft.toml:2:8: windows.size: expected a duration like \"5s\" or \"250ms\", got \"5\": no "
       "unit (one of ns, us, ms, s, m, h, d)"},
      {"[windows]\n\n  idle_timeout = \"5 s\"",
       "weft.toml:3:18: windows.idle_timeout: expected a duration like \"5s\" or \"250ms\", got "
       "\"5 s\": unknown unit \" s\" (one of ns, us, ms, s, m, h, d)"},
      {"[windows]\nsize = \"-5s\"",
       "weft.toml:2:8: windows.size: expected a duration like \"5s\" or \"250ms\", got \"-5s\": "
       "a duration cannot be negative"},
      {"[windows]\nsize = \"1.5s\"",
       "weft.toml:2:8: windows.size: expected a duration like \"5s\" or \"250ms\", got \"1.5s\": "
       "a duration is a whole number of a unit (write 1500ms, not 1.5s)"},
      {"[windows]\nsize = \"106752d\"",
       "weft.toml:2:8: windows.size: expected a duration like \"5s\" or \"250ms\", got "
       "\"106752d\": too large (at most 106751d)"},
      {"[windows]\nsize = \"99999999999999999999999s\"",
       "weft.toml:2:8: windows.size: expected a duration like \"5s\" or \"250ms\", got "
       "\"99999999999999999999999s\": duration too large"},
      {"[windows]\nsize = 5",
       "weft.toml:2:8: windows.size: expected a duration like \"5s\" or \"250ms\", got an "
       "integer"},
      {"[windows]\nsize = \"0s\"", "weft.toml:2:8: windows.size: must be above 0s, got \"0s\""},
      {"[retention]\nmax_event_age = \"0d\"",
       "weft.toml:2:17: retention.max_event_age: must be above 0s, got \"0d\""},
      {"[http]\naddress = \"x\"\nadress = \"127.0.0.1\"",
       "weft.toml:3:1: unknown key \"http.adress\" (did you mean \"http.address\"?)"},
      {"[htp]\nport = 1", "weft.toml:1:2: unknown key \"htp\" (did you mean \"http\"?)"},
      {"port = 80", "weft.toml:1:1: unknown key \"port\" (did you mean \"http.port\"?)"},
      {"interval = \"1s\"",
       "weft.toml:1:1: unknown key \"interval\" (did you mean \"checkpoints.interval\" or "
       "\"retention.interval\"?)"},
      {"[mqtt]\nzzz = 1", "weft.toml:2:1: unknown key \"mqtt.zzz\""},
      {"http = 5", "weft.toml:1:8: http: expected a table, got an integer"},
      {"[[http]]\nport = 1", "weft.toml:1:1: http: expected a table, got an array"},
      {"[http]\nport = \"8080\"", "weft.toml:2:8: http.port: expected an integer, got a string"},
      {"[http]\nport = 70000", "weft.toml:2:8: http.port: must be between 0 and 65535, got 70000"},
      {"[http]\nport = -1", "weft.toml:2:8: http.port: must be between 0 and 65535, got -1"},
      {"[http]\nenabled = \"yes\"",
       "weft.toml:2:11: http.enabled: expected a boolean, got a string"},
      {"[http]\nmax_body_bytes = 0",
       "weft.toml:2:18: http.max_body_bytes: must be at least 1 byte"},
      {"[http]\nmax_body_bytes = \"8MB\"",
       "weft.toml:2:18: http.max_body_bytes: expected a size like \"8MiB\" or 1024, got \"8MB\": "
       "unknown unit \"MB\" (one of B, KiB, MiB, GiB)"},
      {"[http]\nmax_body_bytes = \"17179869184GiB\"",
       "weft.toml:2:18: http.max_body_bytes: expected a size like \"8MiB\" or 1024, got "
       "\"17179869184GiB\": size too large"},
      {"[http]\nmax_body_bytes = 1.5",
       "weft.toml:2:18: http.max_body_bytes: expected a size like \"8MiB\" or 1024, got a "
       "floating-point number"},
      {"[http]\naddress = \"\"", "weft.toml:2:11: http.address: must not be empty"},
      {"[http]\naddress = \"1.2.3.4 \"",
       "weft.toml:2:11: http.address: expected an address like \"127.0.0.1\", got \"1.2.3.4 \""},
      {"[rules]\ntemperature_threshold = \"hot\"",
       "weft.toml:2:25: rules.temperature_threshold: expected a number, got a string"},
      {"[rules]\ntemperature_threshold = nan",
       "weft.toml:2:25: rules.temperature_threshold: must be a finite number, got nan"},
      {"[rules]\nwindow_average_threshold = -inf",
       "weft.toml:2:28: rules.window_average_threshold: must be a finite number, got -inf"},
      {"[simulator]\nrate_hz = 0", "weft.toml:2:11: simulator.rate_hz: must be above 0, got 0"},
      {"[simulator]\nrate_hz = -2.5",
       "weft.toml:2:11: simulator.rate_hz: must be above 0, got -2.5"},
      {"[simulator]\nhot_fraction = 1.5",
       "weft.toml:2:16: simulator.hot_fraction: must be between 0 and 1, got 1.5"},
      {"[simulator]\ndevices = 0",
       "weft.toml:2:11: simulator.devices: must be between 1 and 4294967295, got 0"},
      {"[simulator]\nseed = -1", "weft.toml:2:8: simulator.seed: must be at least 0, got -1"},
      {"[devices]\nsnapshot_every = -1",
       "weft.toml:2:18: devices.snapshot_every: must be at least 0, got -1"},
      {"[checkpoints]\nretained = 0",
       "weft.toml:2:12: checkpoints.retained: must be between 1 and 4294967295, got 0"},
      {"[node]\nlog_level = \"loud\"",
       "weft.toml:2:13: node.log_level: expected one of \"trace\", \"debug\", \"info\", \"warn\", "
       "\"error\", \"off\", got \"loud\""},
      {"[node]\nlog_format = \"xml\"",
       "weft.toml:2:14: node.log_format: expected one of \"text\", \"json\", got \"xml\""},
      {"[node]\ndata_dir = \"a\\u0000b\"", "weft.toml:2:12: node.data_dir: must not contain NUL"},
      {"[mqtt]\nurl = \"tcp://127.0.0.1:1883\"",
       "weft.toml:2:7: mqtt.url: expected a URL like \"mqtt://127.0.0.1:1883\", got "
       "\"tcp://127.0.0.1:1883\": unsupported scheme \"tcp\" (only mqtt is supported)"},
      {"[mqtt]\nurl = \"localhost:1883\"",
       "weft.toml:2:7: mqtt.url: expected a URL like \"mqtt://127.0.0.1:1883\", got "
       "\"localhost:1883\": no scheme (write mqtt://host:port)"},
      {"[mqtt]\nurl = \"mqtt://h:0\"",
       "weft.toml:2:7: mqtt.url: expected a URL like \"mqtt://127.0.0.1:1883\", got "
       "\"mqtt://h:0\": port must be between 1 and 65535"},
      {"[mqtt]\nurl = \"mqtt://h:99999\"",
       "weft.toml:2:7: mqtt.url: expected a URL like \"mqtt://127.0.0.1:1883\", got "
       "\"mqtt://h:99999\": port must be between 1 and 65535"},
      {"[mqtt]\nurl = \"mqtt://h:x\"",
       "weft.toml:2:7: mqtt.url: expected a URL like \"mqtt://127.0.0.1:1883\", got "
       "\"mqtt://h:x\": port \"x\" is not a number"},
      {"[mqtt]\nurl = \"mqtt://h:1883/t\"",
       "weft.toml:2:7: mqtt.url: expected a URL like \"mqtt://127.0.0.1:1883\", got "
       "\"mqtt://h:1883/t\": port \"1883/t\" is not a number"},
      {"[mqtt]\nurl = \"mqtt://u@h\"",
       "weft.toml:2:7: mqtt.url: expected a URL like \"mqtt://127.0.0.1:1883\", got "
       "\"mqtt://u@h\": unexpected \"@\" in the host (user names, paths and queries are not "
       "supported)"},
      {"[mqtt]\nurl = \"mqtt://::1:1883\"",
       "weft.toml:2:7: mqtt.url: expected a URL like \"mqtt://127.0.0.1:1883\", got "
       "\"mqtt://::1:1883\": an IPv6 host goes in brackets, as in mqtt://[::1]:1883"},
      {"[mqtt]\nurl = \"mqtt://:1883\"",
       "weft.toml:2:7: mqtt.url: expected a URL like \"mqtt://127.0.0.1:1883\", got "
       "\"mqtt://:1883\": no host"},
      {"[mqtt]\nprefix = \"a/+\"",
       "weft.toml:2:10: mqtt.prefix: must not contain MQTT wildcards (+ or #), got \"a/+\""},
      {"[mqtt]\nprefix = \"a/\"", "weft.toml:2:10: mqtt.prefix: must not end in \"/\", got \"a/\""},
      {"[mqtt]\nkeep_alive = \"1500ms\"",
       "weft.toml:2:14: mqtt.keep_alive: must be whole seconds up to 65535s, got \"1500ms\""},
      {"[mqtt]\nkeep_alive = \"1d\"",
       "weft.toml:2:14: mqtt.keep_alive: must be whole seconds up to 65535s, got \"1d\""},
  };
  for (const auto& bad : cases) {
    auto c = parse_config(bad.text, "weft.toml");
    ASSERT_FALSE(c) << bad.text;
    EXPECT_EQ(c.error().code(), Errc::invalid_argument) << bad.text;
    EXPECT_EQ(c.error().message(), bad.error) << bad.text;
  }
}

TEST(Config, SyntaxErrorsCarryTomlsPosition) {
  auto c = parse_config("[http]\nport = 8080\nport = 8081\n", "weft.toml");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Errc::malformed);
  EXPECT_THAT(c.error().message(), HasSubstr("weft.toml:3:"));
  EXPECT_THAT(c.error().message(), HasSubstr("port"));

  c = parse_config("[windows]\nsize = \"5s\n", "weft.toml");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Errc::malformed);
  EXPECT_THAT(c.error().message(), HasSubstr("weft.toml:2:"));
}

TEST(Config, CollectsEveryErrorInFileOrder) {
  // toml++ keeps a table's keys sorted by name; the errors come back in the file's order.
  const std::string message = error_of(R"([windows]
size = "five"
idle_timeout = "0s"
[http]
port = 99999
adress = "x"
[rules]
temperature_threshold = "hot"
)");
  EXPECT_EQ(message,
            "weft.toml:2:8: windows.size: expected a duration like \"5s\" or \"250ms\", got "
            "\"five\": a duration starts with a whole number\n"
            "weft.toml:3:16: windows.idle_timeout: must be above 0s, got \"0s\"\n"
            "weft.toml:5:8: http.port: must be between 0 and 65535, got 99999\n"
            "weft.toml:6:1: unknown key \"http.adress\" (did you mean \"http.address\"?)\n"
            "weft.toml:8:25: rules.temperature_threshold: expected a number, got a string");
}

TEST(Config, DurationsAndSizes) {
  EXPECT_EQ(parse_duration("250ms"), Duration(250ms));
  EXPECT_EQ(parse_duration("5s"), Duration(5s));
  EXPECT_EQ(parse_duration("2m"), Duration(2min));
  EXPECT_EQ(parse_duration("1h"), Duration(1h));
  EXPECT_EQ(parse_duration("30d"), Duration(std::chrono::days(30)));
  EXPECT_EQ(parse_duration("7us"), Duration(7us));
  EXPECT_EQ(parse_duration("0s"), Duration(0));
  EXPECT_EQ(parse_duration("106751d"), Duration(std::chrono::days(106751)));
  for (const char* bad : {"", "s", "5", "5S", "5 s", " 5s", "+5s", "-1ms", "1.0s", "5sec",
                          "106752d", "9223372036854775808ns"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
  EXPECT_EQ(format_duration(0s), "0s");
  EXPECT_EQ(format_duration(120s), "2m");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(std::chrono::days(30)), "30d");
  EXPECT_EQ(format_duration(Duration(1)), "1ns");

  EXPECT_EQ(parse_size("8MiB"), 8u << 20);
  EXPECT_EQ(parse_size("512KiB"), 512u << 10);
  EXPECT_EQ(parse_size("2GiB"), 2ull << 30);
  EXPECT_EQ(parse_size("1024"), 1024u);
  EXPECT_EQ(parse_size("1024B"), 1024u);
  for (const char* bad : {"", "MiB", "8mib", "8MB", "8 MiB", "-1", "1.5MiB", "17179869184GiB"}) {
    EXPECT_FALSE(parse_size(bad)) << bad;
  }
}

TEST(Config, LoadNamesTheFile) {
  test::TempDir dir("weft-config");
  auto missing = load_config(dir.sub("nope.toml"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Errc::not_found);
  EXPECT_THAT(missing.error().message(), HasSubstr(dir.sub("nope.toml")));

  const std::string path = dir.sub("weft.toml");
  std::ofstream(path) << "[http]\nport = \"x\"\n";
  auto bad = load_config(path);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), path + ":2:8: http.port: expected an integer, got a string");

  std::ofstream(path) << "[http]\nport = 9090\n";
  auto good = load_config(path);
  ASSERT_TRUE(good) << good.error().message();
  EXPECT_EQ(good->http.port, 9090);
}

TEST(Config, ToTomlOfTheDefaultsParsesToTheDefaults) {
  auto c = parse_config(to_toml(NodeConfig{}), "defaults");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(*c, NodeConfig{});
}

// The lines that are not comments or blank, so the example and to_toml compare key by key.
std::vector<std::string> settings(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.front() == '#') continue;
    out.push_back(line);
  }
  return out;
}

TEST(Config, ExampleFileIsEveryKeyWithItsDefault) {
  const std::string example = read_text(repo_root() + "/weft.example.toml");
  ASSERT_FALSE(example.empty()) << "weft.example.toml not found under " << repo_root();
  auto c = parse_config(example, "weft.example.toml");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(*c, NodeConfig{});
  EXPECT_EQ(settings(example), settings(to_toml(NodeConfig{})));
}

TEST(Config, DocsDescribeEveryKey) {
  const std::string docs = read_text(repo_root() + "/docs/config.md");
  ASSERT_FALSE(docs.empty());
  std::string section;
  for (const auto& line : settings(to_toml(NodeConfig{}))) {
    if (line.front() == '[') {
      section = line.substr(1, line.size() - 2);
      EXPECT_THAT(docs, HasSubstr("## [" + section + "]"));
      continue;
    }
    const std::string key = line.substr(0, line.find(' '));
    EXPECT_THAT(docs, HasSubstr("| `" + key + "` |")) << section << "." << key;
  }
}

// Random valid configurations: strings drawn from pieces that TOML must escape, multi-byte UTF-8
// among them; numbers across their whole ranges.
rc::Gen<std::string> text_gen(std::vector<std::string> pieces, bool allow_empty) {
  return rc::gen::map(
      rc::gen::suchThat(
          rc::gen::container<std::vector<std::string>>(rc::gen::elementOf(std::move(pieces))),
          [allow_empty](const auto& v) { return allow_empty || !v.empty(); }),
      [](const std::vector<std::string>& v) {
        std::string s;
        for (const auto& p : v) s += p;
        return s;
      });
}

const std::vector<std::string> any_text = {"a",  "Z", "0",  " ",  "-",  "_",    ".",    "/", "\\",
                                           "\"", "'", "\t", "\n", "\r", "\x01", "\x7f", "#", "=",
                                           "[",  "]", "é",  "€",  "😀",  "+",    "\b",   "\f"};

rc::Gen<Duration> duration_gen(std::int64_t min_ns) {
  return rc::gen::map(rc::gen::pair(rc::gen::inRange<std::int64_t>(0, 100'000),
                                    rc::gen::elementOf(std::vector<std::int64_t>{
                                        1, 1'000, 1'000'000, 1'000'000'000, 60'000'000'000,
                                        3'600'000'000'000, 86'400'000'000'000})),
                      [min_ns](const std::pair<std::int64_t, std::int64_t>& p) {
                        return Duration(std::max(min_ns, p.first * p.second));
                      });
}

rc::Gen<double> finite_gen() {
  return rc::gen::suchThat(rc::gen::arbitrary<double>(), [](double d) { return std::isfinite(d); });
}

RC_GTEST_PROP(Config, RoundTripsThroughToToml, ()) {
  NodeConfig c;
  c.node.data_dir = *text_gen(any_text, false);
  c.node.log_format = *rc::gen::elementOf(std::vector{LogFormat::text, LogFormat::json});
  c.node.log_level =
      *rc::gen::elementOf(std::vector{LogLevel::trace, LogLevel::debug, LogLevel::info,
                                      LogLevel::warn, LogLevel::error, LogLevel::off});
  c.http.enabled = *rc::gen::arbitrary<bool>();
  c.http.address = *text_gen({"1", "2", ".", ":", "a", "é", "[", "]"}, false);
  c.http.port = *rc::gen::arbitrary<std::uint16_t>();
  c.http.max_body_bytes = *rc::gen::oneOf(rc::gen::inRange<std::uint64_t>(1, 1ULL << 63),
                                          rc::gen::map(rc::gen::inRange<std::uint64_t>(1, 1 << 20),
                                                       [](std::uint64_t n) { return n << 10; }));
  c.mqtt.enabled = *rc::gen::arbitrary<bool>();
  c.mqtt.host = *text_gen({"a", "z", "0", "9", ".", "-", ":", "é"}, false);
  c.mqtt.port = *rc::gen::inRange<std::uint16_t>(1, 65535);
  const std::string prefix = *text_gen(any_text, false);
  RC_PRE(prefix.find_first_of("+#") == std::string::npos && prefix.back() != '/');
  c.mqtt.prefix = prefix;
  c.mqtt.client_id = *text_gen(any_text, false);
  c.mqtt.keep_alive = std::chrono::seconds(*rc::gen::inRange(0, 65536));
  c.windows.size = *duration_gen(1);
  c.windows.out_of_orderness = *duration_gen(0);
  c.windows.idle_timeout = *duration_gen(1);
  c.rules.temperature_threshold = *finite_gen();
  c.rules.window_average_threshold = *finite_gen();
  c.rules.temperature_alarm = *rc::gen::arbitrary<bool>();
  c.rules.window_alarm = *rc::gen::arbitrary<bool>();
  c.devices.passivate_after = *duration_gen(1);
  c.devices.snapshot_every = *rc::gen::inRange<std::uint64_t>(0, 1ULL << 63);
  c.devices.max_recovering = *rc::gen::inRange<std::uint32_t>(1, 0xffffffffu);
  c.checkpoints.interval = *duration_gen(1);
  c.checkpoints.retained = *rc::gen::inRange<std::uint32_t>(1, 0xffffffffu);
  if (*rc::gen::arbitrary<bool>()) c.retention.max_event_age = *duration_gen(1);
  c.retention.keep_snapshots = *rc::gen::inRange<std::uint32_t>(1, 0xffffffffu);
  c.retention.interval = *duration_gen(1);
  c.keys.integrity = *rc::gen::arbitrary<bool>();
  c.keys.master_key_file = *text_gen(any_text, true);
  c.simulator.devices = *rc::gen::inRange<std::uint32_t>(1, 0xffffffffu);
  const double rate = std::abs(*finite_gen());
  RC_PRE(rate > 0.0);
  c.simulator.rate_hz = rate;
  c.simulator.seed = *rc::gen::inRange<std::uint64_t>(0, 1ULL << 63);
  c.simulator.hot_fraction = *rc::gen::inRange(0, 1'000'001) / 1e6;

  const std::string text = to_toml(c);
  auto parsed = parse_config(text, "round-trip.toml");
  RC_ASSERT(parsed.has_value());
  RC_ASSERT(*parsed == c);
}

}  // namespace
}  // namespace weft::node
