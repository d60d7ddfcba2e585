// The weft side of `weft-bench actors`. Each scenario mirrors its CAF twin in caf_actors.cpp:
// same actors, same chunked producers, same verification, timed from the first spawn or send
// to the verified end, with system start-up and shutdown outside the timed region.
#include "weft_actors.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "process_stats.hpp"
#include "weft/actor.hpp"

namespace weft::bench {
namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::uint64_t kChunk = 1000;  // producers yield after this many sends (as in CAF's)

ActorSystemConfig config(unsigned threads) {
  return ActorSystemConfig{.name = "bench", .workers = threads};
}

PeerResult result(clock_type::time_point start, std::uint64_t ops) {
  const double s = std::chrono::duration<double>(clock_type::now() - start).count();
  return PeerResult{s, ops, static_cast<double>(ops) / s};
}

void wait_or_throw(std::future<std::uint64_t>& f, std::uint64_t expected, const char* what) {
  if (f.wait_for(std::chrono::hours(1)) != std::future_status::ready) {
    throw std::runtime_error(std::string(what) + ": timed out");
  }
  const auto got = f.get();
  if (got != expected) {
    throw std::runtime_error(std::string(what) + ": counted " + std::to_string(got) +
                             ", expected " + std::to_string(expected));
  }
}

/// Counts std::uint64_t messages; fulfils `done` with the count when it reaches `expected`.
Behavior<std::uint64_t> counter(std::uint64_t expected, std::promise<std::uint64_t>* done) {
  return behaviors::setup<std::uint64_t>([expected, done](ActorContext<std::uint64_t>&) {
    return behaviors::receive<std::uint64_t>(
        [expected, done, n = std::uint64_t{0}](ActorContext<std::uint64_t>&,
                                               std::uint64_t&) mutable -> Behavior<std::uint64_t> {
          if (++n == expected) done->set_value(n);
          return behaviors::same();
        });
  });
}

struct Continue {};

/// Sends `total` messages to `target` in chunks, re-sending itself Continue between chunks.
Behavior<Continue> producer(ActorRef<std::uint64_t> target, std::uint64_t total) {
  return behaviors::setup<Continue>([target, total](ActorContext<Continue>&) {
    return behaviors::receive<Continue>(
        [target, left = total](ActorContext<Continue>& ctx,
                               Continue&) mutable -> Behavior<Continue> {
          const auto n = std::min(left, kChunk);
          for (std::uint64_t i = 0; i < n; ++i) target.tell(i);
          left -= n;
          if (left == 0) return behaviors::stopped();
          ctx.self().tell(Continue{});
          return behaviors::same();
        });
  });
}

PeerResult fan_in(unsigned threads, unsigned producers, std::uint64_t total) {
  ActorSystem system(config(threads));
  std::promise<std::uint64_t> done;
  auto f = done.get_future();
  const auto start = clock_type::now();
  auto sink = system.spawn(counter(total, &done));
  for (unsigned p = 0; p < producers; ++p) {
    const auto share = total / producers + (p < total % producers ? 1 : 0);
    system.spawn(producer(sink, share)).tell(Continue{});
  }
  wait_or_throw(f, total, "weft fan-in");
  return result(start, total);
}

struct Ping;
struct Pong {
  std::uint64_t n;
};
struct Ping {
  std::uint64_t n;
  ActorRef<Pong> reply_to;
};

}  // namespace

PeerResult weft_count(unsigned threads, std::uint64_t messages) {
  return fan_in(threads, 1, messages);
}

PeerResult weft_fanin(unsigned threads, unsigned producers, std::uint64_t messages_total) {
  if (producers == 0) throw std::invalid_argument("fanin needs at least one producer");
  return fan_in(threads, producers, messages_total);
}

PeerResult weft_pingpong(unsigned threads, std::uint64_t round_trips) {
  ActorSystem system(config(threads));
  std::promise<std::uint64_t> done;
  auto f = done.get_future();
  const auto start = clock_type::now();
  auto pong =
      system.spawn(behaviors::receive<Ping>([](ActorContext<Ping>&, Ping& p) -> Behavior<Ping> {
        p.reply_to.tell(Pong{p.n});
        return behaviors::same();
      }));
  auto ping = system.spawn(behaviors::setup<Pong>([&](ActorContext<Pong>& ctx) {
    pong.tell(Ping{0, ctx.self()});
    return behaviors::receive<Pong>([&, pong](ActorContext<Pong>& c, Pong& m) -> Behavior<Pong> {
      if (m.n + 1 == round_trips) {
        done.set_value(m.n + 1);
        return behaviors::stopped();
      }
      pong.tell(Ping{m.n + 1, c.self()});
      return behaviors::same();
    });
  }));
  wait_or_throw(f, round_trips, "weft pingpong");
  return result(start, round_trips);
}

PeerResult weft_create(unsigned threads, std::uint64_t actors) {
  ActorSystem system(config(threads));
  std::promise<std::uint64_t> done;
  auto f = done.get_future();
  std::atomic<std::uint64_t> left{actors};
  // One shared behavior for every actor: what a spawn costs is the actor, not its closure.
  auto b = behaviors::receive<int>([&](ActorContext<int>&, int&) -> Behavior<int> {
    if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) done.set_value(actors);
    return behaviors::same();
  });
  const auto start = clock_type::now();
  for (std::uint64_t i = 0; i < actors; ++i) system.spawn(b).tell(1);
  wait_or_throw(f, actors, "weft create");
  return result(start, actors);
}

PeerResult weft_memory(unsigned threads, std::uint64_t actors) {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  ActorSystem system(config(threads));
  std::promise<std::uint64_t> done;
  auto f = done.get_future();
  std::atomic<std::uint64_t> left{actors};
  auto b = behaviors::receive<int>(
      [](ActorContext<int>&, int&) -> Behavior<int> { return behaviors::same(); },
      [&](ActorContext<int>&, const Signal& s) -> Behavior<int> {
        if (std::holds_alternative<PreStart>(s) &&
            left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          done.set_value(actors);
        }
        return behaviors::same();
      });
  std::vector<ActorRef<int>> refs;
  refs.reserve(actors);
  const auto rss_before = rss_bytes();
  const auto start = clock_type::now();
  for (std::uint64_t i = 0; i < actors; ++i) refs.push_back(system.spawn(b));
  wait_or_throw(f, actors, "weft memory");
  auto r = result(start, actors);
  const auto rss_after = rss_bytes();
  r.bytes_per_actor = static_cast<double>(rss_after - rss_before) / static_cast<double>(actors);
  return r;
}

}  // namespace weft::bench
