#include "nexmark/nexmark_command.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "nexmark/json.hpp"
#include "nexmark/reference.hpp"
#include "temp_dir.hpp"

namespace weft::nexmark {
namespace {

Result<NexmarkOptions> parse(std::vector<const char*> args) {
  return parse_nexmark_options(args);
}

std::string parse_error(std::vector<const char*> args) {
  auto o = parse(std::move(args));
  return o ? std::string() : o.error().message();
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

int run(std::vector<const char*> args) {
  args.insert(args.begin(), "nexmark");
  return run_nexmark_command(static_cast<int>(args.size()), args.data());
}

TEST(NexmarkCommand, DefaultsAndFlags) {
  auto o = parse({});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->query, "generator");
  EXPECT_EQ(o->events, 10'000'000u);
  EXPECT_EQ(o->parallelism, 1u);
  EXPECT_EQ(o->checkpoint_interval, std::chrono::seconds(10));
  EXPECT_FALSE(o->output);
  EXPECT_FALSE(o->dump);

  o = parse({"--query", "q11", "--events", "500", "--parallelism", "2", "--output", "/tmp/x",
             "--checkpoint-interval", "250ms", "--rate", "1000", "--out-of-order-group", "7"});
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->query, "q11");
  EXPECT_EQ(o->events, 500u);
  EXPECT_EQ(o->generator.max_events, 500u);
  EXPECT_EQ(o->parallelism, 2u);
  EXPECT_EQ(*o->output, "/tmp/x");
  EXPECT_EQ(o->checkpoint_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(o->generator.first_event_rate, 1000.0);
  EXPECT_EQ(o->generator.out_of_order_group_size, 7u);
  EXPECT_EQ(parse({"--checkpoint-interval", "3"})->checkpoint_interval, std::chrono::seconds(3));
}

TEST(NexmarkCommand, BadArgumentsAreNamed) {
  EXPECT_NE(parse_error({"--query", "q6"}).find("unknown --query 'q6'"), std::string::npos);
  EXPECT_NE(parse_error({"--events", "12x"}).find("--events"), std::string::npos);
  EXPECT_NE(parse_error({"--events", "-5"}).find("'-5'"), std::string::npos);
  EXPECT_NE(parse_error({"--events", "0"}).find("--events"), std::string::npos);
  EXPECT_NE(parse_error({"--events", "99999999999999999999999"}).find("--events"),
            std::string::npos);
  EXPECT_NE(parse_error({"--parallelism", "0"}).find("--parallelism"), std::string::npos);
  EXPECT_NE(parse_error({"--checkpoint-interval", "0s"}).find("--checkpoint-interval"),
            std::string::npos);
  EXPECT_NE(parse_error({"--checkpoint-interval", "fast"}).find("'fast'"), std::string::npos);
  EXPECT_NE(parse_error({"--bogus", "1"}).find("'--bogus'"), std::string::npos);
  EXPECT_NE(parse_error({"--events"}).find("'--events'"), std::string::npos);
  EXPECT_NE(parse_error({"--rate", "0"}).find("--rate"), std::string::npos);
  EXPECT_NE(parse_error({"--scaling", "0"}).find("--scaling"), std::string::npos);
  EXPECT_NE(parse_error({"--scaling", "many"}).find("'many'"), std::string::npos);
  EXPECT_EQ(run({"--query", "q6"}), 2);
}

TEST(NexmarkCommand, DumpWritesTheFirstEventsAsJsonLines) {
  test::TempDir dir("nexmark-dump");
  const std::string path = dir.sub("events.jsonl");
  ASSERT_EQ(run({"--dump", "120", "--output", path.c_str()}), 0);
  const auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 120u);
  Generator g(GeneratorConfig{});
  Event e;
  for (const auto& line : lines) {
    ASSERT_TRUE(g.next(e));
    EXPECT_EQ(line, to_json(e));
    EXPECT_TRUE(nlohmann::json::accept(line)) << line;
  }
  EXPECT_NE(lines[0].find(R"({"person":{"id":1000,)"), std::string::npos) << lines[0];
  EXPECT_EQ(run({"--dump", "1", "--output", "/nonexistent-dir/x.jsonl"}), 1);
  ASSERT_EQ(run({"--dump", "0", "--output", path.c_str()}), 0);
  EXPECT_TRUE(read_lines(path).empty());
}

TEST(NexmarkCommand, GeneratorPrintsOneJsonLine) {
  testing::internal::CaptureStdout();
  ASSERT_EQ(run({"--query", "generator", "--events", "20000", "--parallelism", "2"}), 0);
  const std::string out = testing::internal::GetCapturedStdout();
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j.at("suite"), "nexmark");
  EXPECT_EQ(j.at("query"), "generator");
  EXPECT_EQ(j.at("events"), 20000);
  EXPECT_EQ(j.at("parallelism"), 2);
  EXPECT_GT(j.at("events_per_s").get<double>(), 0);
}

TEST(NexmarkCommand, ScalingRunsBothParallelismsPerRoundThenTheMedians) {
  EXPECT_EQ(parse({"--scaling", "3"})->scaling_rounds, 3u);
  testing::internal::CaptureStdout();
  ASSERT_EQ(run({"--query", "q5", "--events", "100000", "--scaling", "2"}), 0);
  std::vector<nlohmann::json> lines;
  std::istringstream out(testing::internal::GetCapturedStdout());
  for (std::string line; std::getline(out, line);) lines.push_back(nlohmann::json::parse(line));
  // Per round: the generator and the query at parallelism 1, then both at 2; then the summary.
  ASSERT_EQ(lines.size(), 9u);
  for (std::size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(lines[i].at("query"), i % 2 == 0 ? "generator" : "q5") << i;
    EXPECT_EQ(lines[i].at("parallelism"), i % 4 < 2 ? 1 : 2) << i;
  }
  const auto& summary = lines[8];
  EXPECT_EQ(summary.at("scaling"), "p2/p1");
  EXPECT_EQ(summary.at("rounds"), 2);
  ASSERT_EQ(summary.at("speedups").size(), 2u);
  ASSERT_EQ(summary.at("generator_speedups").size(), 2u);
  // Each round's speed-up is its p1 seconds over its p2 seconds (as printed: to the ms).
  for (std::size_t r = 0; r < 2; ++r) {
    const double p1 = lines[4 * r + 1].at("seconds").get<double>();
    const double p2 = lines[4 * r + 3].at("seconds").get<double>();
    const double got = summary.at("speedups")[r].get<double>();
    EXPECT_GE(got, (p1 - 0.0005) / (p2 + 0.0005) - 0.005) << r;
    EXPECT_LE(got, (p1 + 0.0005) / std::max(p2 - 0.0005, 1e-9) + 0.005) << r;
  }
  const auto s = summary.at("speedups");
  EXPECT_NEAR(summary.at("speedup_median").get<double>(),
              (s[0].get<double>() + s[1].get<double>()) / 2, 0.01);
}

TEST(NexmarkCommand, QueryWritesTheSameRowsAsTheReference) {
  test::TempDir dir("nexmark-query");
  const std::string path = dir.sub("q7.jsonl");
  testing::internal::CaptureStdout();
  ASSERT_EQ(run({"--query", "q7", "--events", "30000", "--output", path.c_str()}), 0);
  const auto j = nlohmann::json::parse(testing::internal::GetCapturedStdout());
  EXPECT_EQ(j.at("query"), "q7");
  EXPECT_EQ(j.at("engine"), "weft");

  GeneratorConfig c;
  c.max_events = 30000;
  Generator g(c);
  std::vector<Event> events;
  for (Event e; g.next(e);) events.push_back(stored_copy(e));
  std::vector<std::string> want;
  for (const auto& row : reference::q7(events)) want.push_back(to_json(row));
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(read_lines(path), want);
  EXPECT_EQ(j.at("results"), want.size());
}

}  // namespace
}  // namespace weft::nexmark
