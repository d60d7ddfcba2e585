// weft's side of the actor benchmarks: the same scenarios as caf_actors.hpp, on weft.
#pragma once

#include <cstdint>

#include "caf_actors.hpp"

namespace weft::bench {

PeerResult weft_count(unsigned threads, std::uint64_t messages);
PeerResult weft_pingpong(unsigned threads, std::uint64_t round_trips);
PeerResult weft_fanin(unsigned threads, unsigned producers, std::uint64_t messages_total);
PeerResult weft_create(unsigned threads, std::uint64_t actors);
PeerResult weft_memory(unsigned threads, std::uint64_t actors);

}  // namespace weft::bench
