#include "weft/node/reading.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace weft::node {
namespace {

Reading parse_ok(std::string_view json, std::string_view default_device = {}) {
  auto r = parse_reading(json, default_device);
  EXPECT_TRUE(r.has_value()) << json << " -> " << (r ? "" : r.error().describe());
  return r ? *r : Reading{};
}

std::string parse_error(std::string_view json, std::string_view default_device = {}) {
  auto r = parse_reading(json, default_device);
  EXPECT_FALSE(r.has_value()) << json << " was accepted";
  return r ? std::string{} : r.error().message();
}

TEST(Reading, ParsesAllFields) {
  const auto r = parse_ok(
      R"({"device": "m-01", "ts": 1764000000123, "temperature": 71.5, "vibration": 0.02})");
  EXPECT_EQ(r.device, "m-01");
  EXPECT_EQ(r.ts, 1764000000123);
  EXPECT_DOUBLE_EQ(r.temperature, 71.5);
  ASSERT_TRUE(r.vibration.has_value());
  EXPECT_DOUBLE_EQ(*r.vibration, 0.02);
}

TEST(Reading, VibrationOptionalUnknownFieldsIgnoredAndOrderFree) {
  const auto r = parse_ok(
      R"({"extra": {"deep": [1, 2, {"x": null}]}, "temperature": -3, "ts": -5, "device": "A_b.9"})");
  EXPECT_EQ(r.device, "A_b.9");
  EXPECT_EQ(r.ts, -5);
  EXPECT_DOUBLE_EQ(r.temperature, -3);
  EXPECT_FALSE(r.vibration.has_value());
  EXPECT_FALSE(
      parse_ok(R"({"device":"d","ts":1,"temperature":1,"vibration":null})").vibration.has_value());
}

struct BadCase {
  const char* json;
  const char* error;  // the exact message
};

TEST(Reading, RejectsBadFieldsWithReasons) {
  const BadCase cases[] = {
      {R"({"device":"d","ts":1,"temperature":"hot"})",
       R"(temperature: expected a finite number, got "hot")"},
      {R"({"device":"d","ts":1,"temperature":1e999})",
       "temperature: expected a finite number, got 1e999 (too large)"},
      {R"({"device":"d","ts":1,"temperature":-1e999})",
       "temperature: expected a finite number, got -1e999 (too large)"},
      {R"({"device":"d","ts":1,"temperature":NaN})",
       "temperature: expected a finite number, got NaN"},
      {R"({"device":"d","ts":1,"temperature":null})",
       "temperature: expected a finite number, got null"},
      {R"({"device":"d","ts":1,"temperature":[1]})",
       "temperature: expected a finite number, got an array"},
      {R"({"device":"d","ts":1,"temperature":01})",
       "temperature: expected a finite number, got 01"},
      {R"({"device":"d","ts":1})", "temperature: missing"},
      {R"({"device":"d","temperature":1})", "ts: missing"},
      {R"({"device":"d","ts":1.5,"temperature":1})",
       "ts: expected an integer (milliseconds since the epoch), got 1.5"},
      {R"({"device":"d","ts":1e3,"temperature":1})",
       "ts: expected an integer (milliseconds since the epoch), got 1e3"},
      {R"({"device":"d","ts":"1","temperature":1})",
       R"(ts: expected an integer (milliseconds since the epoch), got "1")"},
      {R"({"device":"d","ts":9223372036854775808,"temperature":1})",
       "ts: 9223372036854775808 is out of the 64-bit integer range"},
      {R"({"device":"d","ts":-9223372036854775809,"temperature":1})",
       "ts: -9223372036854775809 is out of the 64-bit integer range"},
      {R"({"device":"d","ts":1,"temperature":1,"vibration":"x"})",
       R"(vibration: expected a finite number, got "x")"},
      {R"({"device":"","ts":1,"temperature":1})", "device: must not be empty"},
      {R"({"device":"a b","ts":1,"temperature":1})",
       R"(device: "a b" is not 1-128 characters of [A-Za-z0-9._-])"},
      {R"({"device":7,"ts":1,"temperature":1})", "device: expected a string, got 7"},
      {R"({"ts":1,"temperature":1})", "device: missing"},
      {R"({"device":"d","ts":1,"ts":2,"temperature":1})", "ts: appears twice"},
      {R"([1])", "expected a reading object, got [1]"},
      {R"("x")", R"(expected a reading object, got "x")"},
      {R"({"device":"d","ts":1,"temperature":1} x)",
       "not JSON (JSON document ended early in the middle of an object or array.) at byte 39"},
      {"", "empty, expected a JSON object"},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_error(c.json), c.error) << c.json;
}

TEST(Reading, DeviceIdRules) {
  EXPECT_TRUE(valid_device_id("m-01"));
  EXPECT_TRUE(valid_device_id(std::string(128, 'a')));
  EXPECT_FALSE(valid_device_id(std::string(129, 'a')));
  EXPECT_FALSE(valid_device_id(""));
  EXPECT_FALSE(valid_device_id("a/b"));
  EXPECT_FALSE(valid_device_id("é"));
  EXPECT_FALSE(valid_device_id(std::string_view("a\0b", 3)));
}

TEST(Reading, DefaultDeviceFromTheTopic) {
  EXPECT_EQ(parse_ok(R"({"ts":1,"temperature":2})", "m-7").device, "m-7");
  EXPECT_EQ(parse_ok(R"({"device":"m-7","ts":1,"temperature":2})", "m-7").device, "m-7");
  EXPECT_EQ(parse_error(R"({"device":"m-8","ts":1,"temperature":2})", "m-7"),
            R"(device: "m-8" differs from the device in the topic, "m-7")");
  EXPECT_EQ(parse_error(R"({"ts":1,"temperature":2})", "bad/id"),
            R"(device: "bad/id" (from the topic) is not 1-128 characters of [A-Za-z0-9._-])");
}

TEST(Readings, ArrayKeepsValidItemsAndRejectsOthersByIndex) {
  const auto body = R"([
    {"device":"a","ts":1,"temperature":10},
    {"device":"a","ts":2,"temperature":"hot"},
    42,
    {"device":"b","ts":3,"temperature":30,"vibration":0.5},
    {"device":"b","ts":4.5,"temperature":30}
  ])";
  auto parsed = parse_readings(body, BodyFormat::json_array);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().describe();
  ASSERT_EQ(parsed->readings.size(), 2u);
  EXPECT_EQ(parsed->readings[0], (Reading{"a", 1, 10, std::nullopt}));
  EXPECT_EQ(parsed->readings[1], (Reading{"b", 3, 30, 0.5}));
  ASSERT_EQ(parsed->rejected.size(), 3u);
  EXPECT_EQ(parsed->rejected[0].index, 1u);
  EXPECT_EQ(parsed->rejected[0].error, R"(temperature: expected a finite number, got "hot")");
  EXPECT_EQ(parsed->rejected[1].index, 2u);
  EXPECT_EQ(parsed->rejected[1].error, "expected a reading object, got a number");
  EXPECT_EQ(parsed->rejected[2].index, 4u);
}

TEST(Readings, SingleObjectIsABatchOfOne) {
  auto ok = parse_readings(R"({"device":"a","ts":1,"temperature":10})", BodyFormat::json_array);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->readings.size(), 1u);
  auto bad = parse_readings(R"({"device":"a","ts":1})", BodyFormat::json_array);
  ASSERT_TRUE(bad.has_value());
  ASSERT_EQ(bad->rejected.size(), 1u);
  EXPECT_EQ(bad->rejected[0].error, "temperature: missing");
  auto empty = parse_readings("[]", BodyFormat::json_array);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->readings.empty());
}

TEST(Readings, BodyErrorsNameTheByteOffset) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "body: empty, expected a JSON array of readings"},
      {"   ", "body: empty, expected a JSON array of readings"},
      {"  42", "body: expected a JSON array of readings, got 42 at byte 2"},
      {R"("x")", R"(body: expected a JSON array of readings, got "x" at byte 0)"},
      {"[1] [2]", "body: unexpected content after the JSON value at byte 4"},
  };
  for (const auto& [body, error] : cases) {
    auto r = parse_readings(body, BodyFormat::json_array);
    ASSERT_FALSE(r.has_value()) << body;
    EXPECT_EQ(r.error().code(), Errc::malformed);
    EXPECT_EQ(r.error().message(), error) << body;
  }
  for (const char* body : {"not json", "[{\"device\":\"a\"", "[1,,2]", "[{\"a\" 1}]", "{", "[",
                           "[\"\xff\"]", "[{\"device\":\"a\",\"ts\":1,\"temperature\":2}"}) {
    auto r = parse_readings(body, BodyFormat::json_array);
    ASSERT_FALSE(r.has_value()) << body;
    EXPECT_EQ(r.error().code(), Errc::malformed);
    EXPECT_NE(r.error().message().find("at byte"), std::string::npos) << r.error().message();
  }
}

TEST(Readings, NdjsonLinesAreItemsAndErrorsNameTheLine) {
  const auto body =
      "{\"device\":\"a\",\"ts\":1,\"temperature\":10}\n"
      "\n"
      "   \r\n"
      "{\"device\":\"a\",\"ts\":2,\"temperature\":NaN}\n"
      "not json at all\n"
      "{\"device\":\"b\",\"ts\":3,\"temperature\":11}";
  auto parsed = parse_readings(body, BodyFormat::ndjson);
  ASSERT_TRUE(parsed.has_value());
  ASSERT_EQ(parsed->readings.size(), 2u);
  EXPECT_EQ(parsed->readings[1].device, "b");
  ASSERT_EQ(parsed->rejected.size(), 2u);
  EXPECT_EQ(parsed->rejected[0].index, 1u);
  EXPECT_EQ(parsed->rejected[0].error.rfind("line 4: ", 0), 0u) << parsed->rejected[0].error;
  EXPECT_EQ(parsed->rejected[1].index, 2u);
  EXPECT_EQ(parsed->rejected[1].error.rfind("line 5: ", 0), 0u) << parsed->rejected[1].error;
  auto crlf =
      parse_readings("{\"device\":\"a\",\"ts\":1,\"temperature\":10}\r\n", BodyFormat::ndjson);
  ASSERT_TRUE(crlf.has_value());
  EXPECT_EQ(crlf->readings.size(), 1u);
  EXPECT_TRUE(crlf->rejected.empty());
}

TEST(Readings, ToJsonRoundTrips) {
  rc::check("to_json then parse_reading gives the reading back", [] {
    Reading r;
    r.device = *rc::gen::nonEmpty(
        rc::gen::container<std::string>(rc::gen::elementOf(std::string("abcXYZ019._-"))));
    if (r.device.size() > 128) r.device.resize(128);
    r.ts = *rc::gen::arbitrary<std::int64_t>();
    r.temperature = *rc::gen::map(rc::gen::arbitrary<std::int64_t>(),
                                  [](std::int64_t v) { return static_cast<double>(v) / 1024.0; });
    if (*rc::gen::arbitrary<bool>()) r.vibration = *rc::gen::inRange(-1000, 1000) / 7.0;
    auto back = parse_reading(to_json(r));
    RC_ASSERT(back.has_value());
    RC_ASSERT(*back == r);
  });
}

// The ingest hot path: 1,000-reading batches (run in release for a real figure; this checks
// that the rate is not absurdly low even under the sanitizers).
TEST(Readings, ParseThroughput) {
  std::string body = "[";
  for (int i = 0; i < 1000; ++i) {
    if (i) body += ',';
    char item[160];
    std::snprintf(item, sizeof item,
                  R"({"device":"m-%03d","ts":%lld,"temperature":%.2f,"vibration":0.0%d})", i % 100,
                  1764000000000LL + i * 100, 60.0 + (i % 300) / 10.0, i % 10);
    body += item;
  }
  body += ']';
  const int rounds = 200;
  std::size_t total = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) {
    auto r = parse_readings(body, BodyFormat::json_array);
    ASSERT_TRUE(r.has_value());
    total += r->readings.size();
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(total, 1000u * rounds);
  RecordProperty("readings_per_s", std::to_string(static_cast<long long>(total / secs)));
  std::printf("parse_readings: %.0f readings/s (%zu bytes per batch)\n", total / secs, body.size());
}

}  // namespace
}  // namespace weft::node
