// MessageFifo: the stash's and local queue's FIFO (pop from the front, prepend a batch,
// storage released once drained) against std::deque as the model.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "weft/actor/detail/actor_cell.hpp"

namespace weft::detail {
namespace {

// Move-only: the FIFO must never copy a message.
using Msg = std::unique_ptr<int>;

RC_GTEST_PROP(MessageFifo, BehavesAsADequeUnderAnyOperations, ()) {
  MessageFifo<Msg> fifo;
  std::deque<int> model;
  int next = 0;
  const auto ops = *rc::gen::container<std::vector<int>>(rc::gen::inRange(0, 10));
  for (int op : ops) {
    if (op < 5) {  // push_back, most often: long runs cross the compaction threshold
      fifo.push_back(std::make_unique<int>(next));
      model.push_back(next++);
    } else if (op < 8) {
      if (model.empty()) continue;
      RC_ASSERT(*fifo.pop_front() == model.front());
      model.pop_front();
    } else if (op == 8) {
      std::vector<Msg> front;
      const auto n = *rc::gen::inRange(0, 40);
      for (int i = 0; i < n; ++i) front.push_back(std::make_unique<int>(next + i));
      for (int i = n - 1; i >= 0; --i) model.push_front(next + i);
      next += n;
      fifo.prepend(std::move(front));
    } else {
      fifo.clear();
      model.clear();
    }
    RC_ASSERT(fifo.size() == model.size());
    RC_ASSERT(fifo.empty() == model.empty());
  }
  while (!model.empty()) {
    RC_ASSERT(*fifo.pop_front() == model.front());
    model.pop_front();
  }
  RC_ASSERT(fifo.empty());
}

TEST(MessageFifo, AProducerAlwaysAheadStillGetsItsMessagesInOrder) {
  MessageFifo<std::string> fifo;
  int pushed = 0;
  int popped = 0;
  // Two in, one out, many times: the queue never drains, so only compaction keeps the
  // moved-from messages from piling up.
  for (int round = 0; round < 1000; ++round) {
    fifo.push_back(std::to_string(pushed++));
    fifo.push_back(std::to_string(pushed++));
    ASSERT_EQ(fifo.pop_front(), std::to_string(popped++));
  }
  EXPECT_EQ(fifo.size(), 1000u);
  while (!fifo.empty()) ASSERT_EQ(fifo.pop_front(), std::to_string(popped++));
  EXPECT_EQ(popped, pushed);
}

}  // namespace
}  // namespace weft::detail
