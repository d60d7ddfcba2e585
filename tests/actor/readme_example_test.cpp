// The README's example, kept compiling and true.
#include <gtest/gtest.h>

#include "weft/actor.hpp"

namespace weft {
namespace {

struct Add {
  int n;
};
struct Get {
  ActorRef<int> reply_to;
};
using CounterMsg = std::variant<Add, Get>;

Behavior<CounterMsg> counter() {
  return behaviors::setup<CounterMsg>([](ActorContext<CounterMsg>&) {
    return behaviors::receive<CounterMsg>(
        [total = 0](ActorContext<CounterMsg>&, CounterMsg& m) mutable -> Behavior<CounterMsg> {
          if (auto* a = std::get_if<Add>(&m))
            total += a->n;
          else
            std::get<Get>(m).reply_to.tell(total);
          return behaviors::same();
        });
  });
}

TEST(Readme, ExampleAnswersTwo) {
  ActorSystem system;
  auto c = system.spawn(behaviors::supervise(counter(), SupervisorStrategy::restart()), "counter");
  c.tell(Add{2});
  auto total =
      system
          .ask<int>(
              c, [](ActorRef<int> r) { return CounterMsg{Get{r}}; }, std::chrono::seconds(1))
          .get();
  ASSERT_TRUE(total.has_value()) << total.error().describe();
  EXPECT_EQ(*total, 2);
}

}  // namespace
}  // namespace weft
