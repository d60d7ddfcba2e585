#include "demo.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <random>
#include <variant>
#include <vector>

#include "weft/actor.hpp"

namespace weft::app {
namespace {

using namespace std::chrono_literals;

// --- a machine: one actor per simulated device ---

struct MachineState {
  std::string id;
  std::uint64_t readings = 0;
  double last_temperature = 0;
  double sum_temperature = 0;
  std::uint64_t alarms = 0;
  bool alarm_open = false;
};

struct Sample {};  // periodic timer: take a reading
struct GetState {
  ActorRef<MachineState> reply_to;
};
using MachineMsg = std::variant<Sample, GetState>;

/// A sensor that drifts around a set point; some machines run hot, and now and then a sensor
/// glitches (a NaN reading), which the machine treats as a failure.
class Sensor {
 public:
  Sensor(std::uint64_t seed, bool runs_hot) : rng_(seed), base_(runs_hot ? 78.0 : 62.0) {}
  double read() {
    if (std::uniform_real_distribution<double>(0, 1)(rng_) < 0.002) return std::nan("");
    drift_ = 0.9 * drift_ + std::normal_distribution<double>(0, 1.5)(rng_);
    return base_ + drift_;
  }

 private:
  std::mt19937_64 rng_;
  double base_;
  double drift_ = 0;
};

Behavior<MachineMsg> machine(std::string id, std::uint64_t seed, bool runs_hot, Duration period) {
  // The sensor is hardware: it outlives restarts of the actor that reads it.
  auto sensor = std::make_shared<Sensor>(seed, runs_hot);
  return behaviors::setup<MachineMsg>([=](ActorContext<MachineMsg>& ctx) {
    ctx.timers().start_periodic_timer("sample", Sample{}, period);
    auto state = std::make_shared<MachineState>(MachineState{.id = id});
    return behaviors::receive<MachineMsg>(
        [state, sensor](ActorContext<MachineMsg>& ctx, MachineMsg& msg) -> Behavior<MachineMsg> {
          if (auto* get = std::get_if<GetState>(&msg)) {
            get->reply_to.tell(*state);
            return behaviors::same();
          }
          const double t = sensor->read();
          if (!std::isfinite(t)) {
            return behaviors::failed(
                Error(Errc::malformed,
                      fmt::format("{}: sensor returned a non-finite temperature", ctx.name())));
          }
          ++state->readings;
          state->last_temperature = t;
          state->sum_temperature += t;
          if (t > 80.0 && !state->alarm_open) {
            ++state->alarms;
            state->alarm_open = true;
            fmt::print("  ALARM   {} at {:.1f} °C (rule: > 80.0)\n", state->id, t);
          } else if (t < 78.0 && state->alarm_open) {
            state->alarm_open = false;
            fmt::print("  CLEAR   {} back to {:.1f} °C\n", state->id, t);
          }
          return behaviors::same();
        },
        [id](ActorContext<MachineMsg>&, const Signal& s) -> Behavior<MachineMsg> {
          if (std::holds_alternative<PreRestart>(s)) {
            fmt::print("  RESTART {} after a sensor glitch (state starts afresh)\n", id);
          }
          return behaviors::same();
        });
  });
}

// --- the plant: supervises machines and reports ---

struct Report {};
struct MachineReply {
  Result<MachineState> state;
};
using PlantMsg = std::variant<Report, MachineReply>;

Behavior<PlantMsg> plant(const DemoOptions& o) {
  return behaviors::setup<PlantMsg>([o](ActorContext<PlantMsg>& ctx) {
    auto machines = std::make_shared<std::vector<ActorRef<MachineMsg>>>();
    const auto period =
        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(1.0 / o.rate_hz));
    for (unsigned i = 0; i < o.machines; ++i) {
      auto id = fmt::format("machine-{:02}", i + 1);
      auto b = behaviors::supervise(machine(id, o.seed * 1000 + i, i % 4 == 3, period),
                                    SupervisorStrategy::restart_with_backoff(100ms, 2s).with_limit(
                                        20, std::chrono::minutes(1)));
      auto ref = ctx.spawn(std::move(b), id);
      ctx.watch(ref);
      machines->push_back(ref);
    }
    fmt::print("plant: {} machines at {} Hz, {} of them running hot\n", o.machines, o.rate_hz,
               o.machines / 4);
    ctx.timers().start_periodic_timer("report", Report{}, 1s);

    auto pending = std::make_shared<std::vector<MachineState>>();
    auto expected = std::make_shared<std::size_t>(0);
    auto tick = std::make_shared<int>(0);
    return behaviors::receive<PlantMsg>(
        [=](ActorContext<PlantMsg>& ctx, PlantMsg& msg) -> Behavior<PlantMsg> {
          if (std::holds_alternative<Report>(msg)) {
            pending->clear();
            *expected = machines->size();
            for (auto& m : *machines) {
              ctx.ask<MachineState>(
                  m, [](ActorRef<MachineState> r) { return MachineMsg{GetState{r}}; }, 500ms,
                  [](Result<MachineState> r) { return PlantMsg{MachineReply{std::move(r)}}; });
            }
            return behaviors::same();
          }
          auto& reply = std::get<MachineReply>(msg);
          if (reply.state) pending->push_back(*reply.state);
          if (--*expected > 0) return behaviors::same();
          std::uint64_t readings = 0, alarms = 0;
          double sum = 0, hottest = -1e9;
          std::string hottest_id;
          for (auto& s : *pending) {
            readings += s.readings;
            alarms += s.alarms;
            sum += s.sum_temperature;
            if (s.readings && s.last_temperature > hottest) {
              hottest = s.last_temperature;
              hottest_id = s.id;
            }
          }
          fmt::print(
              "t={:>3}s  {} machines answered  readings={}  avg={:.1f} °C  hottest={} "
              "{:.1f} °C  alarms={}\n",
              ++*tick, pending->size(), readings, readings ? sum / readings : 0.0, hottest_id,
              hottest, alarms);
          return behaviors::same();
        },
        [](ActorContext<PlantMsg>&, const Signal& s) -> Behavior<PlantMsg> {
          if (auto* f = std::get_if<ChildFailed>(&s)) {
            fmt::print("  STOPPED {} for good: {}\n", f->ref.name(), f->error.message());
          }
          return behaviors::same();
        });
  });
}

std::mutex g_stop_mutex;
std::condition_variable g_stop_cv;
std::atomic<bool> g_stop{false};

extern "C" void on_signal(int) {
  g_stop.store(true);
  g_stop_cv.notify_all();  // not strictly async-signal-safe; the wait below also polls
}

}  // namespace

int run_demo(const DemoOptions& o) {
  spdlog::set_level(spdlog::level::err);  // the demo prints its own narrative
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  ActorSystem system(ActorSystemConfig{.name = "demo", .workers = o.workers});
  fmt::print(
      "weft demo: actor system with {} workers; {}\n", system.workers(),
      o.duration_s > 0 ? fmt::format("running {} s", o.duration_s) : std::string("Ctrl-C to stop"));
  system.spawn(plant(o), "plant");

  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(o.duration_s));
  {
    std::unique_lock lock(g_stop_mutex);
    while (!g_stop.load()) {
      if (o.duration_s > 0 && std::chrono::steady_clock::now() >= deadline) break;
      g_stop_cv.wait_for(lock, 100ms);
    }
  }
  system.terminate();
  const auto s = system.stats();
  fmt::print("stopped: {} messages processed, {} restarts, {} dead letters\n", s.messages_processed,
             s.restarts, s.dead_letters);
  if (s.messages_processed == 0) {
    fmt::print(stderr, "weft demo: no message was processed; the runtime is not working\n");
    return 1;
  }
  return 0;
}

}  // namespace weft::app
