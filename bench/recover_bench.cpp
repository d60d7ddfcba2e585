// weft-bench journal --scenario recover: event-sourced actors recovering from a snapshot plus
// the events after it. (Placeholder until the scenario lands.)
#include <fmt/format.h>

#include "journal_bench.hpp"

namespace weft::bench {

std::string recover_benchmark(double scale) {
  return fmt::format(R"({{"suite":"journal","scenario":"recover","actors":{},"seconds":null}})",
                     static_cast<long>(100'000 * scale));
}

}  // namespace weft::bench
