// CAF 0.17 peer implementations of weft's actor benchmark scenarios.
//
// This header deliberately contains no CAF types: CAF is included only by
// caf_actors.cpp, so no other translation unit depends on CAF headers.
//
// Every function creates its own caf::actor_system with exactly `threads`
// scheduler workers, times the scenario with std::chrono::steady_clock
// (system start-up and shutdown excluded), verifies the result and throws
// std::runtime_error if verification fails.
#pragma once

#include <cstdint>

namespace weft::bench {

struct PeerResult {
  double seconds;
  std::uint64_t ops;
  double ops_per_s;
  double bytes_per_actor = 0;
};

// 1 producer actor -> 1 counting actor; ops = messages.
PeerResult caf_count(unsigned threads, std::uint64_t messages);

// 2 actors, ping sends, pong replies; ops = round trips.
PeerResult caf_pingpong(unsigned threads, std::uint64_t round_trips);

// `producers` producer actors -> 1 counting actor; ops = messages_total.
PeerResult caf_fanin(unsigned threads, unsigned producers, std::uint64_t messages_total);

// Spawn `actors` actors, send each one message, wait until all handled it;
// ops = actors.
PeerResult caf_create(unsigned threads, std::uint64_t actors);

// Spawn `actors` idle actors (handles kept alive); bytes_per_actor =
// RSS growth / actors. seconds/ops cover the spawning.
PeerResult caf_memory(unsigned threads, std::uint64_t actors);

}  // namespace weft::bench
