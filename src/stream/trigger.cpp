// The built-in triggers of global windows (include/weft/stream/window.hpp).
#include <utility>

#include "weft/stream/window.hpp"

namespace weft::stream {
namespace {

class CountTrigger final : public Trigger {
 public:
  explicit CountTrigger(std::uint64_t n) : n_(n) {}
  TriggerResult on_element(TriggerContext& ctx, Timestamp) const override {
    return ctx.count() >= n_ ? TriggerResult::fire_and_purge : TriggerResult::keep;
  }

 private:
  std::uint64_t n_;
};

class ProcessingTimeTrigger final : public Trigger {
 public:
  explicit ProcessingTimeTrigger(Timestamp delay_ms) : delay_ms_(delay_ms) {}
  TriggerResult on_element(TriggerContext& ctx, Timestamp) const override {
    // The first record of a window sets its deadline; a purge drops the timer with the window.
    if (ctx.count() == 1) ctx.register_processing_timer(ctx.current_processing_time() + delay_ms_);
    return TriggerResult::keep;
  }
  TriggerResult on_processing_time(TriggerContext&, Timestamp) const override {
    return TriggerResult::fire_and_purge;
  }

 private:
  Timestamp delay_ms_;
};

class PredicateTrigger final : public Trigger {
 public:
  explicit PredicateTrigger(std::function<bool(std::uint64_t)> fires) : fires_(std::move(fires)) {}
  TriggerResult on_element(TriggerContext& ctx, Timestamp) const override {
    return fires_(ctx.count()) ? TriggerResult::fire_and_purge : TriggerResult::keep;
  }

 private:
  std::function<bool(std::uint64_t)> fires_;
};

class AnyTrigger final : public Trigger {
 public:
  explicit AnyTrigger(std::vector<std::shared_ptr<const Trigger>> all) : all_(std::move(all)) {}
  TriggerResult on_element(TriggerContext& ctx, Timestamp ts) const override {
    return combine([&](const Trigger& t) { return t.on_element(ctx, ts); });
  }
  TriggerResult on_event_time(TriggerContext& ctx, Timestamp time) const override {
    return combine([&](const Trigger& t) { return t.on_event_time(ctx, time); });
  }
  TriggerResult on_processing_time(TriggerContext& ctx, Timestamp time) const override {
    return combine([&](const Trigger& t) { return t.on_processing_time(ctx, time); });
  }

 private:
  template <class F>
  TriggerResult combine(F ask) const {
    bool fire = false;
    bool purge = false;
    for (const auto& t : all_) {
      const auto r = ask(*t);
      fire = fire || r == TriggerResult::fire || r == TriggerResult::fire_and_purge;
      purge = purge || r == TriggerResult::purge || r == TriggerResult::fire_and_purge;
    }
    if (fire && purge) return TriggerResult::fire_and_purge;
    if (fire) return TriggerResult::fire;
    return purge ? TriggerResult::purge : TriggerResult::keep;
  }

  std::vector<std::shared_ptr<const Trigger>> all_;
};

}  // namespace

std::shared_ptr<const Trigger> count_trigger(std::uint64_t n) {
  return std::make_shared<CountTrigger>(n);
}

std::shared_ptr<const Trigger> processing_time_trigger(Duration d) {
  return std::make_shared<ProcessingTimeTrigger>(to_ms(d));
}

std::shared_ptr<const Trigger> predicate_trigger(std::function<bool(std::uint64_t count)> fires) {
  return std::make_shared<PredicateTrigger>(std::move(fires));
}

std::shared_ptr<const Trigger> any_trigger(std::vector<std::shared_ptr<const Trigger>> triggers) {
  return std::make_shared<AnyTrigger>(std::move(triggers));
}

}  // namespace weft::stream
