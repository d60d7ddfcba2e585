// Every streaming query equals the brute-force batch reference on the same generated events,
// at parallelism 1 and 2, with checkpoints taken while it runs.
#include <gtest/gtest.h>

#include <algorithm>

#include <string>
#include <vector>

#include "nexmark/generator.hpp"
#include "nexmark/queries.hpp"
#include "nexmark/reference.hpp"
#include "nexmark/stream_queries.hpp"
#include "temp_dir.hpp"
#include "weft/actor/actor_system.hpp"

namespace weft::nexmark {
namespace {

template <class Row>
std::vector<std::string> lines(const std::vector<Row>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(to_json(r));
  std::ranges::sort(out);
  return out;
}

std::vector<std::string> reference_lines(const std::string& q, std::span<const Event> events) {
  if (q == "q0") return lines(reference::q0(events));
  if (q == "q1") return lines(reference::q1(events));
  if (q == "q2") return lines(reference::q2(events));
  if (q == "q3") return lines(reference::q3(events));
  if (q == "q4") return lines(reference::q4(events));
  if (q == "q5") return lines(reference::q5(events));
  if (q == "q7") return lines(reference::q7(events));
  if (q == "q8") return lines(reference::q8(events));
  return lines(reference::q11(events));
}

class StreamQuery : public ::testing::TestWithParam<std::tuple<std::string, unsigned>> {};

TEST_P(StreamQuery, EqualsTheBatchReference) {
  const auto& [query, parallelism] = GetParam();
  NexmarkOptions o;
  o.query = query;
  o.events = 60'000;  // 6 s of event time at 10k/s: several windows of every kind
  o.parallelism = parallelism;
  o.checkpoint_interval = std::chrono::milliseconds(5);
  GeneratorConfig config = o.generator;
  config.max_events = o.events;
  Generator g(config);
  std::vector<Event> events;
  for (Event e; g.next(e);) events.push_back(stored_copy(e));
  const auto expected = reference_lines(query, events);
  ASSERT_FALSE(expected.empty());

  weft::test::TempDir dir;
  ActorSystemConfig sc;
  sc.workers = 2;
  ActorSystem system(sc);
  auto run = run_stream_query(system, o, dir.path(), true);
  ASSERT_TRUE(run) << run.error().describe();
  EXPECT_EQ(run->lines, expected);
}

INSTANTIATE_TEST_SUITE_P(Nexmark, StreamQuery,
                         ::testing::Combine(::testing::Values("q0", "q1", "q2", "q3", "q4", "q5",
                                                              "q7", "q8", "q11"),
                                            ::testing::Values(1u, 2u)),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_p" +
                                  std::to_string(std::get<1>(info.param));
                         });

TEST(StreamQuery, UnknownQueryIsAnError) {
  NexmarkOptions o;
  o.query = "q99";
  weft::test::TempDir dir;
  ActorSystem system;
  auto run = run_stream_query(system, o, dir.path(), false);
  ASSERT_FALSE(run);
  EXPECT_NE(run.error().message().find("q99"), std::string::npos);
}

}  // namespace
}  // namespace weft::nexmark
