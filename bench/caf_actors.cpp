// CAF 0.17 peer implementations of weft's actor benchmark scenarios.
// See caf_actors.hpp. This is the only translation unit that includes CAF.
#include "caf_actors.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#pragma GCC diagnostic ignored "-Wdeprecated-copy"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <caf/all.hpp>
#pragma GCC diagnostic pop

#include "process_stats.hpp"

namespace weft::bench {
namespace {

using clock_type = std::chrono::steady_clock;

using msg_atom = caf::atom_constant<caf::atom("msg")>;
using continue_atom = caf::atom_constant<caf::atom("continue")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using pong_atom = caf::atom_constant<caf::atom("pong")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using done_atom = caf::atom_constant<caf::atom("done")>;

// Producers send this many messages, then post themselves a continue_atom so
// other actors on the same worker get a turn (same design as the weft side).
constexpr std::uint64_t chunk_size = 1000;

// Guard against a hung scenario: the waiting main thread gives up after this.
constexpr auto wait_limit = std::chrono::seconds(3600);  // caf::after rejects hours

// -- actor system -------------------------------------------------------------

struct system_config : caf::actor_system_config {
  explicit system_config(unsigned threads) {
    // CAF 0.17 reads the worker count from the key "scheduler.max-threads"
    // (defaults::scheduler::max_threads is the hardware concurrency).
    set("scheduler.max-threads", static_cast<std::size_t>(threads));
  }
};

void check_threads(caf::actor_system& sys, unsigned threads) {
  const auto workers = sys.scheduler().num_workers();
  if (workers != threads) {
    throw std::runtime_error("caf: scheduler has " + std::to_string(workers) +
                             " workers, expected " + std::to_string(threads));
  }
}

PeerResult make_result(clock_type::time_point t0, clock_type::time_point t1, std::uint64_t ops) {
  const double s = std::chrono::duration<double>(t1 - t0).count();
  return PeerResult{s, ops, s > 0 ? static_cast<double>(ops) / s : 0.0};
}

// Blocks the main thread until the scenario reports done_atom with its
// verified count, and checks it against `expected`.
void await_done(caf::scoped_actor& self, std::uint64_t expected, const char* scenario) {
  bool done = false;
  std::uint64_t got = 0;
  self->receive(
      [&](done_atom, std::uint64_t n) {
        done = true;
        got = n;
      },
      caf::after(wait_limit) >> [] {});
  if (!done) {
    throw std::runtime_error(std::string("caf ") + scenario + ": timed out waiting for completion");
  }
  if (got != expected) {
    throw std::runtime_error(std::string("caf ") + scenario + ": counted " + std::to_string(got) +
                             ", expected " + std::to_string(expected));
  }
}

// -- counter / producer -------------------------------------------------------

struct counter_state {
  std::uint64_t count = 0;
};

caf::behavior counter(caf::stateful_actor<counter_state>* self, std::uint64_t expected,
                      caf::actor notify) {
  return {
      [=](msg_atom, std::uint64_t) {
        if (++self->state.count == expected) {
          self->send(notify, done_atom::value, self->state.count);
          self->quit();
        }
      },
  };
}

struct producer_state {
  std::uint64_t sent = 0;
};

caf::behavior producer(caf::stateful_actor<producer_state>* self, caf::actor target,
                       std::uint64_t total) {
  return {
      [=](continue_atom) {
        auto& sent = self->state.sent;
        const std::uint64_t end = std::min(total, sent + chunk_size);
        for (; sent < end; ++sent) self->send(target, msg_atom::value, sent);
        if (sent < total)
          self->send(self, continue_atom::value);
        else
          self->quit();
      },
  };
}

PeerResult run_producers(unsigned threads, unsigned producers, std::uint64_t total,
                         const char* scenario) {
  if (producers == 0) throw std::invalid_argument("caf: producers must be > 0");
  system_config cfg{threads};
  caf::actor_system sys{cfg};
  check_threads(sys, threads);
  PeerResult result{};
  {
    caf::scoped_actor self{sys};
    const auto t0 = clock_type::now();
    if (total == 0) {
      // Nothing to count; still report a (trivial) verified result.
      result = make_result(t0, clock_type::now(), 0);
    } else {
      auto cnt = sys.spawn(counter, total, caf::actor{self});
      std::vector<caf::actor> prods;
      prods.reserve(producers);
      for (unsigned i = 0; i < producers; ++i) {
        // Spread the remainder over the first producers.
        const std::uint64_t n = total / producers + (i < total % producers ? 1 : 0);
        prods.push_back(sys.spawn(producer, cnt, n));
      }
      for (auto& p : prods) caf::anon_send(p, continue_atom::value);
      prods.clear();
      cnt = nullptr;
      await_done(self, total, scenario);
      result = make_result(t0, clock_type::now(), total);
    }
  }
  return result;  // ~actor_system (shutdown) runs after timing
}

// -- ping / pong --------------------------------------------------------------

caf::behavior pong(caf::event_based_actor*) {
  return {
      [](ping_atom, std::uint64_t n) {
        // Returning a value replies to the sender.
        return std::make_tuple(pong_atom::value, n);
      },
  };
}

caf::behavior ping(caf::event_based_actor* self, caf::actor buddy, std::uint64_t round_trips,
                   caf::actor notify) {
  return {
      [=](start_atom) {
        if (round_trips == 0) {
          self->send(notify, done_atom::value, std::uint64_t{0});
          self->quit();
          return;
        }
        self->send(buddy, ping_atom::value, std::uint64_t{1});
      },
      [=](pong_atom, std::uint64_t n) {
        if (n >= round_trips) {
          self->send(notify, done_atom::value, n);
          self->quit();
          return;
        }
        self->send(buddy, ping_atom::value, n + 1);
      },
  };
}

// -- create / memory ----------------------------------------------------------

struct countdown {
  std::atomic<std::uint64_t> remaining;
  std::promise<void> all_done;
  explicit countdown(std::uint64_t n) : remaining(n) {}
  void tick() {
    if (remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) all_done.set_value();
  }
};

void wait_countdown(countdown& cd, const char* scenario) {
  auto fut = cd.all_done.get_future();
  if (fut.wait_for(wait_limit) != std::future_status::ready) {
    throw std::runtime_error(std::string("caf ") + scenario + ": timed out, " +
                             std::to_string(cd.remaining.load()) + " actors outstanding");
  }
  fut.get();
  if (cd.remaining.load() != 0) {
    throw std::runtime_error(std::string("caf ") + scenario + ": countdown not at zero");
  }
}

// Handles exactly one message, reports it, then lives on until the last
// reference is gone (the spawner drops its handle right after sending).
caf::behavior one_shot(caf::event_based_actor*, countdown* cd) {
  return {
      [=](msg_atom) { cd->tick(); },
  };
}

// Idle actor: reports that its initialization ran, then does nothing.
caf::behavior idle(caf::event_based_actor*, countdown* cd) {
  caf::behavior bhvr{
      [](msg_atom) {},
  };
  cd->tick();
  return bhvr;
}

}  // namespace

PeerResult caf_count(unsigned threads, std::uint64_t messages) {
  return run_producers(threads, 1, messages, "count");
}

PeerResult caf_fanin(unsigned threads, unsigned producers, std::uint64_t messages_total) {
  return run_producers(threads, producers, messages_total, "fanin");
}

PeerResult caf_pingpong(unsigned threads, std::uint64_t round_trips) {
  system_config cfg{threads};
  caf::actor_system sys{cfg};
  check_threads(sys, threads);
  PeerResult result{};
  {
    caf::scoped_actor self{sys};
    const auto t0 = clock_type::now();
    auto po = sys.spawn(pong);
    auto pi = sys.spawn(ping, po, round_trips, caf::actor{self});
    caf::anon_send(pi, start_atom::value);
    pi = nullptr;
    po = nullptr;
    await_done(self, round_trips, "pingpong");
    result = make_result(t0, clock_type::now(), round_trips);
  }
  return result;
}

PeerResult caf_create(unsigned threads, std::uint64_t actors) {
  system_config cfg{threads};
  caf::actor_system sys{cfg};
  check_threads(sys, threads);
  countdown cd{actors};
  const auto t0 = clock_type::now();
  if (actors == 0) return make_result(t0, clock_type::now(), 0);
  for (std::uint64_t i = 0; i < actors; ++i) {
    auto a = sys.spawn(one_shot, &cd);
    caf::anon_send(a, msg_atom::value);
  }
  wait_countdown(cd, "create");
  return make_result(t0, clock_type::now(), actors);
}

PeerResult caf_memory(unsigned threads, std::uint64_t actors) {
  system_config cfg{threads};
  caf::actor_system sys{cfg};
  check_threads(sys, threads);
  PeerResult result{};
  {
    countdown cd{actors};
    std::vector<caf::actor> handles;
    handles.reserve(actors);  // handle storage (8 B/actor) counts as growth
#if defined(__GLIBC__)
    // Hand freed heap (e.g. from earlier scenarios in the same process) back
    // to the OS so it cannot mask the growth caused by the new actors.
    ::malloc_trim(0);
#endif
    const std::size_t rss0 = rss_bytes();
    const auto t0 = clock_type::now();
    if (actors == 0) return make_result(t0, clock_type::now(), 0);
    for (std::uint64_t i = 0; i < actors; ++i) handles.push_back(sys.spawn(idle, &cd));
    wait_countdown(cd, "memory");  // every actor has been initialized
    const auto t1 = clock_type::now();
    const std::size_t rss1 = rss_bytes();
    result = make_result(t0, t1, actors);
    result.bytes_per_actor =
        rss1 > rss0 ? static_cast<double>(rss1 - rss0) / static_cast<double>(actors) : 0.0;
    handles.clear();  // idle actors terminate once unreachable
  }
  return result;
}

}  // namespace weft::bench
