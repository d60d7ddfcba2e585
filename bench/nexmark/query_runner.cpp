// run_nexmark_query: the query as a weft stream job (stream_queries.cpp) over generated events,
// with checkpoints every --checkpoint-interval into a temporary directory.
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "nexmark_command.hpp"
#include "stream_queries.hpp"
#include "weft/actor/actor_system.hpp"

namespace weft::nexmark {

int run_nexmark_query(const NexmarkOptions& o, double* seconds) {
  namespace fs = std::filesystem;
  std::string pattern = (fs::temp_directory_path() / "weft-nexmark-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::fprintf(stderr, "weft-bench nexmark: cannot create a checkpoint directory\n");
    return 1;
  }
  const fs::path dir(pattern);
  ActorSystemConfig config;
  config.workers = o.parallelism;
  Result<StreamQueryRun> run = fail(Errc::internal, "not run");
  {
    ActorSystem system(config);
    run = run_stream_query(system, o, dir, o.output.has_value());
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!run) {
    std::fprintf(stderr, "weft-bench nexmark: %s\n", run.error().describe().c_str());
    return run.error().code() == Errc::invalid_argument ? 2 : 1;
  }
  if (o.output) {
    if (auto ok = write_lines(*o.output, run->lines); !ok) {
      std::fprintf(stderr, "weft-bench nexmark: %s\n", ok.error().message().c_str());
      return 1;
    }
  }
  std::puts(fmt::format(R"({{"suite":"nexmark","query":"{}","events":{},"parallelism":{},)"
                        R"("engine":"weft","results":{},"checkpoints":{},"seconds":{:.3f},)"
                        R"("events_per_s":{:.0f}}})",
                        o.query, o.events, o.parallelism, run->results, run->checkpoints,
                        run->seconds, static_cast<double>(o.events) / run->seconds)
                .c_str());
  std::fflush(stdout);
  if (seconds != nullptr) *seconds = run->seconds;
  return 0;
}

}  // namespace weft::nexmark
