#include "nexmark_command.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "json.hpp"

namespace weft::nexmark {

namespace {

constexpr const char* usage_text =
    "usage: weft-bench nexmark [--query generator|q0|q1|q2|q3|q4|q5|q7|q8|q11] [--events N]\n"
    "                          [--parallelism P] [--output FILE] [--checkpoint-interval D]\n"
    "                          [--rate EVENTS_PER_S] [--out-of-order-group N] [--scaling N]\n"
    "       weft-bench nexmark --dump N [--output FILE]\n"
    "  --query              what to run (default generator: the generator alone)\n"
    "  --events N           events to generate (default 10000000)\n"
    "  --parallelism P      source instances, each generating every P-th event (default 1)\n"
    "  --output FILE        write result rows (or the dump) as JSON lines to FILE\n"
    "  --checkpoint-interval D  e.g. 10s or 500ms (default 10s)\n"
    "  --max-drift D        event time a generator subtask may run ahead of the others\n"
    "                       (watermark alignment; default 2s; off: unaligned)\n"
    "  --rate R             event-time rate of the generator, events/s (default 10000)\n"
    "  --out-of-order-group N  shuffle timestamps within groups of N events (default 1)\n"
    "  --dump N             write the first N generated events as JSON lines and stop\n"
    "  --scaling N          N rounds of the generator alone and the query, each at\n"
    "                       parallelism 1 and --parallelism (default 2), back to back;\n"
    "                       then one line with the median speed-ups\n";

Result<std::uint64_t> parse_count(std::string_view flag, std::string_view v) {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
    return fail(Errc::invalid_argument,
                fmt::format("{} needs a non-negative integer, got '{}'", flag, v));
  }
  return n;
}

Result<std::chrono::milliseconds> parse_duration(std::string_view flag, std::string_view v) {
  std::int64_t scale = 1000;  // a bare number is seconds
  std::string_view digits = v;
  if (v.ends_with("ms")) {
    scale = 1;
    digits.remove_suffix(2);
  } else if (v.ends_with("s")) {
    digits.remove_suffix(1);
  }
  auto n = parse_count(flag, digits);
  if (!n || *n == 0) {
    return fail(
        Errc::invalid_argument,
        fmt::format("{} needs a positive duration such as 10s or 500ms, got '{}'", flag, v));
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(*n) * scale);
}

bool known_query(std::string_view q) {
  return q == "generator" || std::find(std::begin(nexmark_queries), std::end(nexmark_queries), q) !=
                                 std::end(nexmark_queries);
}

int dump(const NexmarkOptions& o) {
  GeneratorConfig config = o.generator;
  config.max_events = 0;  // the loop below stops: to the generator 0 would mean unbounded
  Generator g(config);
  std::unique_ptr<std::ofstream> file;
  if (o.output) {
    file = std::make_unique<std::ofstream>(*o.output, std::ios::binary | std::ios::trunc);
    if (!*file) {
      std::fprintf(stderr, "weft-bench nexmark: cannot write --output '%s'\n", o.output->c_str());
      return 1;
    }
  }
  Event e;
  std::string line;
  for (std::uint64_t i = 0; i < *o.dump && g.next(e); ++i) {
    line.clear();
    append_json(line, e);
    line.push_back('\n');
    if (file) {
      file->write(line.data(), static_cast<std::streamsize>(line.size()));
    } else {
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
  }
  if (file) {
    file->close();
    if (!*file) {
      std::fprintf(stderr, "weft-bench nexmark: writing '%s' failed\n", o.output->c_str());
      return 1;
    }
  }
  std::fflush(stdout);
  return 0;
}

// The generator alone: P threads, each generating its share into one reused Event.
int measure_generator(const NexmarkOptions& o, double* seconds_out = nullptr) {
  GeneratorConfig config = o.generator;
  config.max_events = o.events;
  std::vector<std::uint64_t> checksums(o.parallelism);
  const auto start = std::chrono::steady_clock::now();
  {
    std::vector<std::jthread> threads;
    for (unsigned i = 0; i < o.parallelism; ++i) {
      threads.emplace_back([&, i] {
        Generator g(config, i, o.parallelism);
        Event e;
        std::uint64_t sum = 0;
        // Touch every event so that nothing is optimized away.
        while (g.next(e)) sum += static_cast<std::uint64_t>(e.timestamp) + idealized_size(e);
        checksums[i] = sum;
      });
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::uint64_t checksum = 0;
  for (auto c : checksums) checksum += c;
  std::printf(
      "{\"suite\":\"nexmark\",\"query\":\"generator\",\"events\":%llu,\"parallelism\":%u,"
      "\"seconds\":%.4f,\"events_per_s\":%.0f,\"checksum\":%llu}\n",
      static_cast<unsigned long long>(o.events), o.parallelism, seconds,
      static_cast<double>(o.events) / seconds, static_cast<unsigned long long>(checksum));
  std::fflush(stdout);
  if (seconds_out != nullptr) *seconds_out = seconds;
  return 0;
}

double median(std::vector<double> v) {
  std::ranges::sort(v);
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string json_list(const std::vector<double>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += fmt::format("{}{:.2f}", i ? "," : "", v[i]);
  return out + "]";
}

// How much faster parallelism P runs than 1, with the generator alone beside it: on a shared
// host two busy cores are often slower than one, and the generator's own speed-up in the same
// round says what the machine allowed. Rounds alternate 1 and P back to back.
int measure_scaling(const NexmarkOptions& o) {
  const unsigned wide = o.parallelism > 1 ? o.parallelism : 2;
  std::vector<double> query_ratios;
  std::vector<double> generator_ratios;
  for (unsigned round = 0; round < o.scaling_rounds; ++round) {
    std::array<double, 2> gen{};
    std::array<double, 2> query{};
    for (int i = 0; i < 2; ++i) {
      NexmarkOptions one = o;
      one.parallelism = i == 0 ? 1 : wide;
      one.output.reset();
      if (int rc = measure_generator(one, &gen[i]); rc != 0) return rc;
      if (o.query != "generator") {
        if (int rc = run_nexmark_query(one, &query[i]); rc != 0) return rc;
      }
    }
    generator_ratios.push_back(gen[0] / gen[1]);
    if (o.query != "generator") query_ratios.push_back(query[0] / query[1]);
  }
  std::string line =
      fmt::format(R"({{"suite":"nexmark","query":"{}","events":{},"scaling":"p{}/p1","rounds":{},)",
                  o.query, o.events, wide, o.scaling_rounds);
  if (!query_ratios.empty()) {
    line += fmt::format(R"("speedup_median":{:.2f},"speedups":{},)", median(query_ratios),
                        json_list(query_ratios));
  }
  line += fmt::format(R"("generator_speedup_median":{:.2f},"generator_speedups":{}}})",
                      median(generator_ratios), json_list(generator_ratios));
  std::puts(line.c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace

Result<void> write_lines(const std::string& path, std::span<const std::string> lines) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return fail(Errc::io, fmt::format("cannot write --output '{}'", path));
  for (const auto& line : lines) {
    file.write(line.data(), static_cast<std::streamsize>(line.size()));
    file.put('\n');
  }
  file.close();
  if (!file) return fail(Errc::io, fmt::format("writing --output '{}' failed", path));
  return {};
}

Result<NexmarkOptions> parse_nexmark_options(std::span<const char* const> args) {
  NexmarkOptions o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view flag = args[i];
    if (i + 1 >= args.size()) {
      return fail(Errc::invalid_argument, fmt::format("unknown or incomplete argument '{}'", flag));
    }
    const std::string_view v = args[++i];
    if (flag == "--query") {
      if (!known_query(v)) {
        return fail(Errc::invalid_argument,
                    fmt::format("unknown --query '{}' (generator, q0, q1, q2, q3, q4, q5, q7, "
                                "q8 or q11)",
                                v));
      }
      o.query = v;
    } else if (flag == "--events") {
      auto n = parse_count(flag, v);
      if (!n) return std::unexpected(n.error());
      if (*n == 0) return fail(Errc::invalid_argument, "--events must be at least 1");
      o.events = *n;
    } else if (flag == "--parallelism") {
      auto n = parse_count(flag, v);
      if (!n) return std::unexpected(n.error());
      if (*n == 0 || *n > 1024) {
        return fail(Errc::invalid_argument,
                    fmt::format("--parallelism must be 1..1024, got '{}'", v));
      }
      o.parallelism = static_cast<unsigned>(*n);
    } else if (flag == "--output") {
      if (v.empty()) return fail(Errc::invalid_argument, "--output needs a file name");
      o.output = std::string(v);
    } else if (flag == "--checkpoint-interval") {
      auto d = parse_duration(flag, v);
      if (!d) return std::unexpected(d.error());
      o.checkpoint_interval = *d;
    } else if (flag == "--max-drift") {
      if (v == "off") {
        o.max_drift = std::chrono::milliseconds{0};
      } else {
        auto d = parse_duration(flag, v);
        if (!d) return std::unexpected(d.error());
        o.max_drift = *d;
      }
    } else if (flag == "--dump") {
      auto n = parse_count(flag, v);
      if (!n) return std::unexpected(n.error());
      o.dump = *n;
    } else if (flag == "--scaling") {
      auto n = parse_count(flag, v);
      if (!n || *n == 0 || *n > 1000) {
        return fail(Errc::invalid_argument,
                    fmt::format("--scaling needs a number of rounds 1..1000, got '{}'", v));
      }
      o.scaling_rounds = static_cast<unsigned>(*n);
    } else if (flag == "--rate") {
      auto n = parse_count(flag, v);
      if (!n || *n == 0) {
        return fail(Errc::invalid_argument,
                    fmt::format("--rate needs a positive integer (events/s), got '{}'", v));
      }
      o.generator.first_event_rate = static_cast<double>(*n);
    } else if (flag == "--out-of-order-group") {
      auto n = parse_count(flag, v);
      if (!n || *n == 0 || *n > 1'000'000) {
        return fail(Errc::invalid_argument,
                    fmt::format("--out-of-order-group needs 1..1000000, got '{}'", v));
      }
      o.generator.out_of_order_group_size = static_cast<std::uint32_t>(*n);
    } else {
      return fail(Errc::invalid_argument, fmt::format("unknown argument '{}'", flag));
    }
  }
  o.generator.max_events = o.events;
  return o;
}

int run_nexmark_command(int argc, const char* const* argv) {
  const std::span<const char* const> args(argv + 1,
                                          static_cast<std::size_t>(std::max(argc - 1, 0)));
  auto o = parse_nexmark_options(args);
  if (!o) {
    std::fprintf(stderr, "weft-bench nexmark: %s\n%s", o.error().message().c_str(), usage_text);
    return 2;
  }
  if (o->dump) return dump(*o);
  if (o->scaling_rounds > 0) return measure_scaling(*o);
  if (o->query == "generator") return measure_generator(*o);
  return run_nexmark_query(*o);
}

}  // namespace weft::nexmark
