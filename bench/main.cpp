// weft-bench: benchmarks that print one JSON line per figure, each measured against its peer
// (CAF 0.17 for actors) in the same run, so the ratio holds on a noisy machine.
//
//   weft-bench actors [--scenario NAME] [--threads N] [--scale F]
//   weft-bench journal [--scenario NAME] [--scale F]
//   weft-bench stream [--scenario throughput|latency] [--threads N] [--scale F]
//   weft-bench node [--scenario idle|http_ingest|alarm_latency|mqtt_ingest|actors_100k]
//   weft-bench all    [--threads N] [--scale F]
//   weft-bench nexmark [--query generator|qN] [--events N] [--parallelism P] [--dump N] ...
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "caf_actors.hpp"
#include "journal_bench.hpp"
#include "nexmark/nexmark_command.hpp"
#include "node_bench.hpp"
#include "stream_bench.hpp"
#include "weft_actors.hpp"

namespace {

using weft::bench::PeerResult;

struct Options {
  std::string suite;
  std::optional<std::string> scenario;
  unsigned threads = 0;
  double scale = 1.0;
};

int usage(const char* why) {
  std::fprintf(
      stderr,
      "weft-bench: %s\n"
      "usage: weft-bench actors [--scenario count|pingpong|fanin|create|memory]\n"
      "                         [--threads N] [--scale F]\n"
      "       weft-bench journal [--scenario baseline|persist|replay|recover] [--scale F]\n"
      "       weft-bench stream [--scenario throughput|latency] [--threads N] [--scale F]\n"
      "       weft-bench node [--scenario idle|http_ingest|alarm_latency|mqtt_ingest|actors_100k]\n"
      "                       [--scale F]\n"
      "       weft-bench all [--threads N] [--scale F]\n"
      "       weft-bench nexmark [--query generator|q0|q1|q2|q3|q4|q5|q7|q8|q11] [--events N]\n"
      "                          [--parallelism P] [--output FILE] [--dump N]  (not in 'all')\n"
      "  --threads N  worker threads for every system (default: hardware threads)\n"
      "  --scale F    multiply every problem size by F (default 1; 0.01 for a smoke run)\n",
      why);
  return 2;
}

std::optional<Options> parse(int argc, char** argv, std::string& error) {
  Options o;
  if (argc < 2) {
    error = "missing suite";
    return std::nullopt;
  }
  o.suite = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    std::optional<std::string> v;
    if (a == "--scenario" && (v = value())) {
      o.scenario = *v;
    } else if (a == "--threads" && (v = value())) {
      o.threads = static_cast<unsigned>(std::strtoul(v->c_str(), nullptr, 10));
      if (o.threads == 0) {
        error = "--threads must be a positive integer, got '" + *v + "'";
        return std::nullopt;
      }
    } else if (a == "--scale" && (v = value())) {
      o.scale = std::strtod(v->c_str(), nullptr);
      if (!(o.scale > 0)) {
        error = "--scale must be a positive number, got '" + *v + "'";
        return std::nullopt;
      }
    } else {
      error = "unknown or incomplete argument '" + std::string(a) + "'";
      return std::nullopt;
    }
  }
  if (o.threads == 0) o.threads = std::max(1u, std::thread::hardware_concurrency());
  return o;
}

void print_line(std::string_view scenario, std::string_view system, unsigned threads,
                const PeerResult& r, bool memory, std::optional<double> vs_peer) {
  std::string line = fmt::format(
      R"({{"suite":"actors","scenario":"{}","system":"{}","threads":{},"n":{},"seconds":{:.4f})",
      scenario, system, threads, r.ops, r.seconds);
  if (memory) {
    line += fmt::format(R"(,"bytes_per_actor":{:.1f})", r.bytes_per_actor);
  } else {
    line += fmt::format(R"(,"ops_per_s":{:.0f})", r.ops_per_s);
  }
  if (vs_peer) line += fmt::format(R"(,"vs_caf":{:.2f})", *vs_peer);
  line += "}";
  std::puts(line.c_str());
  std::fflush(stdout);
}

struct Scenario {
  std::string name;
  bool memory;
  std::function<PeerResult(unsigned, double)> caf;
  std::function<PeerResult(unsigned, double)> weft;
};

std::uint64_t sized(double base, double scale) {
  return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(base * scale));
}

std::vector<Scenario> actor_scenarios() {
  using namespace weft::bench;
  // Memory and creation first: later scenarios leave freed memory that would hide growth.
  return {
      {"memory", true, [](unsigned t, double s) { return caf_memory(t, sized(1e6, s)); },
       [](unsigned t, double s) { return weft_memory(t, sized(1e6, s)); }},
      {"create", false, [](unsigned t, double s) { return caf_create(t, sized(1e6, s)); },
       [](unsigned t, double s) { return weft_create(t, sized(1e6, s)); }},
      {"count", false, [](unsigned t, double s) { return caf_count(t, sized(1e7, s)); },
       [](unsigned t, double s) { return weft_count(t, sized(1e7, s)); }},
      {"pingpong", false, [](unsigned t, double s) { return caf_pingpong(t, sized(1e6, s)); },
       [](unsigned t, double s) { return weft_pingpong(t, sized(1e6, s)); }},
      {"fanin", false, [](unsigned t, double s) { return caf_fanin(t, 4, sized(1e7, s)); },
       [](unsigned t, double s) { return weft_fanin(t, 4, sized(1e7, s)); }},
  };
}

int run_actors(const Options& o) {
  bool any = false;
  for (auto& sc : actor_scenarios()) {
    if (o.scenario && *o.scenario != sc.name) continue;
    any = true;
    const auto peer = sc.caf(o.threads, o.scale);
    print_line(sc.name, "caf", o.threads, peer, sc.memory, std::nullopt);
    const auto ours = sc.weft(o.threads, o.scale);
    const double ratio =
        sc.memory ? peer.bytes_per_actor / ours.bytes_per_actor : ours.ops_per_s / peer.ops_per_s;
    print_line(sc.name, "weft", o.threads, ours, sc.memory, ratio);
  }
  if (!any) {
    std::fprintf(stderr, "weft-bench: unknown actors scenario '%s'\n", o.scenario->c_str());
    return 2;
  }
  return 0;
}

int run_stream(const Options& o) {
  const bool known =
      weft::bench::run_stream_suite(o.scale, o.threads, o.scenario, [](const std::string& line) {
        std::puts(line.c_str());
        std::fflush(stdout);
      });
  if (!known) {
    std::fprintf(stderr, "weft-bench: unknown stream scenario '%s'\n", o.scenario->c_str());
    return 2;
  }
  return 0;
}

int run_node(const Options& o) {
  const bool known = weft::bench::run_node_suite(o.scale, o.scenario, [](const std::string& line) {
    std::puts(line.c_str());
    std::fflush(stdout);
  });
  if (!known) {
    std::fprintf(stderr, "weft-bench: unknown node scenario '%s'\n", o.scenario->c_str());
    return 2;
  }
  return 0;
}

int run_journal(const Options& o) {
  const bool known =
      weft::bench::run_journal_suite(o.scale, o.scenario, [](const std::string& line) {
        std::puts(line.c_str());
        std::fflush(stdout);
      });
  if (!known) {
    std::fprintf(stderr, "weft-bench: unknown journal scenario '%s'\n", o.scenario->c_str());
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Nexmark has its own flags (bench/nexmark/nexmark_command.cpp).
  if (argc >= 2 && std::string_view(argv[1]) == "nexmark") {
    try {
      return weft::nexmark::run_nexmark_command(argc - 1, argv + 1);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "weft-bench nexmark: %s\n", e.what());
      return 1;
    }
  }
  std::string error;
  auto o = parse(argc, argv, error);
  if (!o) return usage(error.c_str());
  try {
    if (o->suite == "actors") return run_actors(*o);
    if (o->suite == "journal") return run_journal(*o);
    if (o->suite == "stream") return run_stream(*o);
    if (o->suite == "node") return run_node(*o);
    if (o->suite == "all") {
      if (o->scenario) return usage("--scenario needs a suite, not 'all'");
      // The node first: its idle figure is the process's memory, which later suites would grow.
      if (const int rc = run_node(*o); rc != 0) return rc;
      if (const int rc = run_actors(*o); rc != 0) return rc;
      if (const int rc = run_journal(*o); rc != 0) return rc;
      return run_stream(*o);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft-bench: %s\n", e.what());
    return 1;
  }
  return usage(("unknown suite '" + o->suite + "'").c_str());
}
