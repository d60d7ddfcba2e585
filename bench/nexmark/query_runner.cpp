// run_nexmark_query for the REFERENCE engine: generates the events, runs the brute-force batch
// query over all of them and reports it as "engine":"reference". The stream engine's runner
// replaces this file. The reference keeps every event in memory (about 0.6 KB each).
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "nexmark_command.hpp"
#include "queries.hpp"
#include "reference.hpp"

namespace weft::nexmark {

namespace {

template <class Row>
std::function<std::vector<std::string>(std::span<const Event>)> lines_of(
    std::vector<Row> (*query)(std::span<const Event>)) {
  return [query](std::span<const Event> events) {
    std::vector<std::string> lines;
    for (const Row& row : query(events)) lines.push_back(to_json(row));
    return lines;
  };
}

std::function<std::vector<std::string>(std::span<const Event>)> reference_query(
    std::string_view name) {
  if (name == "q0") return lines_of(&reference::q0);
  if (name == "q1") return lines_of(&reference::q1);
  if (name == "q2") return lines_of(&reference::q2);
  if (name == "q3") return lines_of(&reference::q3);
  if (name == "q4") return lines_of(&reference::q4);
  if (name == "q5") return lines_of(&reference::q5);
  if (name == "q7") return lines_of(&reference::q7);
  if (name == "q8") return lines_of(&reference::q8);
  if (name == "q11") return lines_of(&reference::q11);
  return nullptr;
}

}  // namespace

int run_nexmark_query(const NexmarkOptions& o) {
  const auto query = reference_query(o.query);
  if (!query) {
    std::fprintf(stderr, "weft-bench nexmark: unknown query '%s'\n", o.query.c_str());
    return 2;
  }
  if (o.events > 2'000'000) {
    std::fprintf(stderr,
                 "weft-bench nexmark: the reference engine keeps all %llu events in memory "
                 "(about 0.6 KB each)\n",
                 static_cast<unsigned long long>(o.events));
  }
  GeneratorConfig config = o.generator;
  config.max_events = o.events;
  Generator g(config);
  std::vector<Event> events;
  events.reserve(o.events);
  for (Event e; g.next(e);) events.push_back(stored_copy(e));

  const auto start = std::chrono::steady_clock::now();
  const std::vector<std::string> lines = query(events);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (o.output) {
    if (auto ok = write_lines(*o.output, lines); !ok) {
      std::fprintf(stderr, "weft-bench nexmark: %s\n", ok.error().message().c_str());
      return 1;
    }
  }
  std::puts(fmt::format(R"({{"suite":"nexmark","query":"{}","events":{},"parallelism":1,)"
                        R"("engine":"reference","results":{},"seconds":{:.4f},)"
                        R"("events_per_s":{:.0f}}})",
                        o.query, o.events, lines.size(), seconds,
                        static_cast<double>(o.events) / seconds)
                .c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace weft::nexmark
