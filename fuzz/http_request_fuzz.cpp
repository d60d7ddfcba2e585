// Feeds arbitrary bytes to the HTTP request parser, whole and split where the first byte says.
// Parsing must never crash, must consume only what it was given, and must give the same requests
// or error whatever the split (sockets deliver bytes in arbitrary pieces).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "io/http_parser.hpp"

namespace {

std::string run(std::string_view input, std::size_t cut) {
  weft::io::HttpRequestParser parser({256, 1024});
  std::string outcome;
  for (std::string_view piece : {input.substr(0, cut), input.substr(cut)}) {
    while (!piece.empty()) {
      const auto step = parser.parse(piece);
      if (step.consumed > piece.size()) std::abort();
      piece.remove_prefix(step.consumed);
      using State = weft::io::HttpRequestParser::State;
      if (step.state == State::complete) {
        const auto r = parser.take();
        outcome += r.method + ' ' + r.path + ' ' + std::to_string(r.body.size()) + ' ' +
                   std::to_string(r.headers.size()) + ' ' + r.body + '\n';
      } else if (step.state == State::expect_continue) {
        outcome += "continue\n";
      } else if (step.state == State::failed) {
        return outcome + "error " + std::to_string(parser.error().status) + ' ' +
               parser.error().message;
      } else if (!piece.empty()) {
        std::abort();  // incomplete must mean every byte was taken
      }
    }
    const auto step = parser.parse({});
    if (step.state == weft::io::HttpRequestParser::State::complete) {
      outcome += parser.take().method + " (empty body)\n";
    }
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t cut = input.empty() ? 0 : data[0] % (input.size() + 1);
  if (run(input, 0) != run(input, cut)) std::abort();
  return 0;
}
