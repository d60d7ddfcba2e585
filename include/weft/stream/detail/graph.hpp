// The logical job graph, type-erased so the planner (src/stream/job.cpp) is ordinary code:
// each node carries typed factories for its operator, and each output type one PortOps that
// makes the typed channels, exchanges, tees and input tasks for it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "weft/stream/detail/heads.hpp"

namespace weft::stream::detail {

/// An operator instance and its input (an Output<In>*; null for sources).
struct Instance {
  std::unique_ptr<OperatorBase> op;
  void* input = nullptr;
};

struct Edge {
  int from = 0;
  int port = 0;
  Partitioning mode = Partitioning::forward;
  /// For hash edges: a std::function<std::uint64_t(const T&)> hashing the record's key.
  std::shared_ptr<void> key_hash;
};

class PortOps {
 public:
  virtual ~PortOps() = default;
  [[nodiscard]] virtual std::shared_ptr<void> make_channel(std::size_t capacity) const = 0;
  virtual void connect(void* channel, Waker* producer, Waker* consumer) const = 0;
  [[nodiscard]] virtual Instance make_tee(std::vector<void*> outs) const = 0;
  [[nodiscard]] virtual Instance make_discard() const = 0;
  [[nodiscard]] virtual std::pair<std::unique_ptr<ExchangeBase>, void*> make_exchange(
      std::vector<void*> channels, const Edge& edge, std::uint32_t max_parallelism,
      std::size_t chunk_records) const = 0;
  [[nodiscard]] virtual std::unique_ptr<TaskBase> make_input_task(JobRuntime& job, std::string name,
                                                                  std::uint32_t subtask,
                                                                  std::uint32_t parallelism,
                                                                  std::vector<void*> channels,
                                                                  void* head) const = 0;
};

template <class T>
class Discard final : public OperatorBase, public Output<T> {
 public:
  void emit(T&&, Timestamp) override {}
  void watermark(Timestamp) override {}
  void finish() override {}
};

template <class T>
class TypedPortOps final : public PortOps {
 public:
  [[nodiscard]] std::shared_ptr<void> make_channel(std::size_t capacity) const override {
    return std::make_shared<Channel<T>>(capacity);
  }
  void connect(void* channel, Waker* producer, Waker* consumer) const override {
    static_cast<Channel<T>*>(channel)->connect(producer, consumer);
  }
  [[nodiscard]] Instance make_tee(std::vector<void*> outs) const override {
    std::vector<Output<T>*> typed;
    for (void* o : outs) typed.push_back(static_cast<Output<T>*>(o));
    auto tee = std::make_unique<Tee<T>>(std::move(typed));
    Output<T>* in = tee.get();
    return {std::move(tee), in};
  }
  [[nodiscard]] Instance make_discard() const override {
    auto d = std::make_unique<Discard<T>>();
    Output<T>* in = d.get();
    return {std::move(d), in};
  }
  [[nodiscard]] std::pair<std::unique_ptr<ExchangeBase>, void*> make_exchange(
      std::vector<void*> channels, const Edge& edge, std::uint32_t max_parallelism,
      std::size_t chunk_records) const override {
    std::vector<Channel<T>*> typed;
    for (void* c : channels) typed.push_back(static_cast<Channel<T>*>(c));
    std::function<std::uint64_t(const T&)> key_hash;
    if (edge.key_hash) {
      key_hash = *static_cast<std::function<std::uint64_t(const T&)>*>(edge.key_hash.get());
    }
    auto ex = std::make_unique<Exchange<T>>(std::move(typed), edge.mode, std::move(key_hash),
                                            max_parallelism, chunk_records);
    Output<T>* in = ex.get();
    return {std::move(ex), in};
  }
  [[nodiscard]] std::unique_ptr<TaskBase> make_input_task(JobRuntime& job, std::string name,
                                                          std::uint32_t subtask,
                                                          std::uint32_t parallelism,
                                                          std::vector<void*> channels,
                                                          void* head) const override {
    std::vector<Channel<T>*> typed;
    for (void* c : channels) typed.push_back(static_cast<Channel<T>*>(c));
    return std::make_unique<InputTask<T>>(job, std::move(name), subtask, parallelism,
                                          std::move(typed), *static_cast<Output<T>*>(head));
  }
};

template <class T>
std::shared_ptr<const PortOps> port_ops() {
  static const auto ops = std::make_shared<const TypedPortOps<T>>();
  return ops;
}

struct Node {
  int id = 0;
  std::string name;
  std::string uid;
  std::uint32_t parallelism = 0;  // 0: the job's default
  std::vector<Edge> inputs;
  /// One per output port (0 is the main output; side outputs follow), with its name.
  std::vector<std::pair<std::string, std::shared_ptr<const PortOps>>> outputs;
  /// Typed on the input; makes the input task when this node heads a task.
  std::shared_ptr<const PortOps> input_ops;
  /// Creates the operator of one subtask; `outs` holds an Output<Port>* per output port.
  std::function<Instance(std::uint32_t subtask, const std::vector<void*>& outs)> make;
  /// Sources only: the task that polls the source instance into `head` (an Output<T>*).
  std::function<std::unique_ptr<TaskBase>(JobRuntime&, std::string name, std::uint32_t subtask,
                                          std::uint32_t parallelism, OperatorBase& source,
                                          void* head)>
      make_source_task;
};

/// The graph under construction; shared by every Stream handle of one job.
struct Graph {
  std::vector<Node> nodes;

  Node& add(std::string name) {
    Node n;
    n.id = static_cast<int>(nodes.size());
    n.uid = name + "-" + std::to_string(n.id);
    n.name = std::move(name);
    nodes.push_back(std::move(n));
    return nodes.back();
  }
};

}  // namespace weft::stream::detail
