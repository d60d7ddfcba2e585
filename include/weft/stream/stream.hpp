// The stream DSL: typed sources, flows and sinks composed into a graph, then materialized on an
// actor system's scheduler.
//
//   StreamJob job("temps", options);
//   job.from(readings_source, WatermarkStrategy<Reading>::bounded_out_of_orderness(2s, ts))
//       .filter([](const Reading& r) { return r.valid; })
//       .key_by([](const Reading& r) { return r.device; })
//       .window(tumbling(5s))
//       .aggregate(aggregates::stats<Reading>([](const Reading& r) { return r.temperature; }))
//       .to(sink);
//   auto running = job.start(system);
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

#include "weft/stream/detail/basic_ops.hpp"
#include "weft/stream/detail/graph.hpp"
#include "weft/stream/job.hpp"
#include "weft/stream/process.hpp"
#include "weft/stream/source.hpp"
#include "weft/stream/window.hpp"

namespace weft {
class ActorSystem;
}

namespace weft::stream {

template <class T>
using SourceFactory = std::function<std::unique_ptr<Source<T>>()>;
template <class T>
using SinkFactory = std::function<std::unique_ptr<Sink<T>>()>;

namespace detail {
Result<std::unique_ptr<Job>> start_job(ActorSystem& system, Graph& graph, JobOptions options);

/// Adds a one-input node whose operator `make(subtask, Output<Out>*...)` creates.
template <class In>
Node& add_node(Graph& g, std::string name, Edge edge) {
  auto& n = g.add(std::move(name));
  n.inputs.push_back(std::move(edge));
  n.input_ops = port_ops<In>();
  return n;
}

template <class In, class Op>
Instance instance(std::unique_ptr<Op> op) {
  Output<In>* in = op.get();
  return {std::move(op), static_cast<void*>(in)};
}
}  // namespace detail

template <class K, class T>
class KeyedStream;

/// A handle on one output of a node in the job graph; operations add nodes after it.
template <class T>
class Stream {
 public:
  Stream(std::shared_ptr<detail::Graph> graph, int node, int port = 0,
         detail::Partitioning next = detail::Partitioning::forward)
      : graph_(std::move(graph)), node_(node), port_(port), next_(next) {}

  template <class F, class U = std::invoke_result_t<F, T&&>>
  Stream<U> map(F f, std::string name = "map") const {
    auto& n = detail::add_node<T>(*graph_, std::move(name), edge());
    n.outputs.emplace_back("main", detail::port_ops<U>());
    n.make = [f = std::move(f)](std::uint32_t, const std::vector<void*>& outs) {
      return detail::instance<T>(
          std::make_unique<detail::MapOp<T, U, F>>(f, static_cast<Output<U>*>(outs[0])));
    };
    return {graph_, n.id};
  }

  template <class F>
  Stream<T> filter(F f, std::string name = "filter") const {
    auto& n = detail::add_node<T>(*graph_, std::move(name), edge());
    n.outputs.emplace_back("main", detail::port_ops<T>());
    n.make = [f = std::move(f)](std::uint32_t, const std::vector<void*>& outs) {
      return detail::instance<T>(
          std::make_unique<detail::FilterOp<T, F>>(f, static_cast<Output<T>*>(outs[0])));
    };
    return {graph_, n.id};
  }

  /// `f(T&&, Collector<U>&)` emits any number of records.
  template <class U, class F>
  Stream<U> flat_map(F f, std::string name = "flat_map") const {
    auto& n = detail::add_node<T>(*graph_, std::move(name), edge());
    n.outputs.emplace_back("main", detail::port_ops<U>());
    n.make = [f = std::move(f)](std::uint32_t, const std::vector<void*>& outs) {
      return detail::instance<T>(
          std::make_unique<detail::FlatMapOp<T, U, F>>(f, static_cast<Output<U>*>(outs[0])));
    };
    return {graph_, n.id};
  }

  /// Asynchronous map: `f(T&&, std::function<void(Result<U>)> done)` starts the work and calls
  /// `done` once, from any thread; at most `limit` calls are in flight (back-pressure), results
  /// keep the input order.
  template <class U, class F>
  Stream<U> map_async(F f, std::size_t limit, std::string name = "map_async") const {
    auto& n = detail::add_node<T>(*graph_, std::move(name), edge());
    n.outputs.emplace_back("main", detail::port_ops<U>());
    n.make = [f = std::move(f), limit](std::uint32_t, const std::vector<void*>& outs) {
      return detail::instance<T>(std::make_unique<detail::AsyncMapOp<T, U, F>>(
          f, limit, static_cast<Output<U>*>(outs[0])));
    };
    return {graph_, n.id};
  }

  /// Gives records a new event time (the watermarks still come from the sources).
  template <class F>
  Stream<T> stamp(F f, std::string name = "stamp") const {
    auto& n = detail::add_node<T>(*graph_, std::move(name), edge());
    n.outputs.emplace_back("main", detail::port_ops<T>());
    n.make = [f = std::move(f)](std::uint32_t, const std::vector<void*>& outs) {
      return detail::instance<T>(
          std::make_unique<detail::StampOp<T, F>>(f, static_cast<Output<T>*>(outs[0])));
    };
    return {graph_, n.id};
  }

  template <class F, class K = std::decay_t<std::invoke_result_t<F, const T&>>>
  KeyedStream<K, T> key_by(F key) const {
    return KeyedStream<K, T>(*this, std::function<K(const T&)>(std::move(key)));
  }

  /// Merges streams of the same type; event time advances with the slowest input.
  Stream<T> union_with(const std::vector<Stream<T>>& others, std::string name = "union") const {
    auto& n = graph_->add(std::move(name));
    n.input_ops = detail::port_ops<T>();
    n.inputs.push_back(edge());
    for (const auto& o : others) n.inputs.push_back(o.edge());
    n.outputs.emplace_back("main", detail::port_ops<T>());
    n.make = [](std::uint32_t, const std::vector<void*>& outs) {
      return detail::instance<T>(
          std::make_unique<detail::PassOp<T>>(static_cast<Output<T>*>(outs[0])));
    };
    return {graph_, n.id};
  }
  Stream<T> union_with(const Stream<T>& other, std::string name = "union") const {
    return union_with(std::vector<Stream<T>>{other}, std::move(name));
  }

  /// The next operator gets records round-robin / every record on every instance.
  [[nodiscard]] Stream<T> rebalance() const {
    return {graph_, node_, port_, detail::Partitioning::rebalance};
  }
  [[nodiscard]] Stream<T> broadcast() const {
    return {graph_, node_, port_, detail::Partitioning::broadcast};
  }

  /// A side output of the node that made this stream (e.g. "late" of a window).
  template <class U>
  Stream<U> side_output(const std::string& name) const {
    auto& n = node();
    for (std::size_t p = 0; p < n.outputs.size(); ++p) {
      if (n.outputs[p].first != name) continue;
      if (dynamic_cast<const detail::TypedPortOps<U>*>(n.outputs[p].second.get()) == nullptr) {
        throw std::invalid_argument("side output '" + name + "' of " + n.uid +
                                    " has another type than requested");
      }
      return {graph_, node_, static_cast<int>(p)};
    }
    throw std::invalid_argument(n.uid + " has no side output '" + name + "'");
  }

  /// Ends the stream in a sink (one instance per parallel subtask).
  Stream<T>& to(SinkFactory<T> factory, std::string name = "sink", std::uint32_t parallelism = 0) {
    auto& n = detail::add_node<T>(*graph_, std::move(name), edge());
    n.parallelism = parallelism;
    n.make = [factory = std::move(factory)](std::uint32_t, const std::vector<void*>&) {
      return detail::instance<T>(factory());
    };
    return *this;
  }

  /// Settings of the node that made this stream.
  Stream<T>& parallelism(std::uint32_t p) {
    node().parallelism = p;
    return *this;
  }
  Stream<T>& name(std::string name) {
    node().name = std::move(name);
    return *this;
  }
  /// A stable id that matches operator state across builds (savepoints).
  Stream<T>& uid(std::string uid) {
    node().uid = std::move(uid);
    return *this;
  }

  [[nodiscard]] detail::Edge edge(std::shared_ptr<void> key_hash = {}) const {
    return {node_, port_, key_hash ? detail::Partitioning::hash : next_, std::move(key_hash)};
  }
  [[nodiscard]] const std::shared_ptr<detail::Graph>& graph() const { return graph_; }

 private:
  [[nodiscard]] detail::Node& node() const {
    return graph_->nodes[static_cast<std::size_t>(node_)];
  }

  std::shared_ptr<detail::Graph> graph_;
  int node_;
  int port_;
  detail::Partitioning next_;
};

template <class K, class T, class Agg>
class WindowedStream;
template <class K, class T>
class CombinedWindowedStream;

/// A stream partitioned by key: the next operator sees all records of a key on one instance
/// and keeps per-key state.
template <class K, class T>
class KeyedStream {
 public:
  KeyedStream(Stream<T> upstream, std::function<K(const T&)> key)
      : upstream_(std::move(upstream)), key_(std::move(key)) {}

  /// `on_element(KeyedContext<K,S,Out>&, const T&)`, `on_timer(ctx, Timestamp, TimeDomain)`.
  template <class S, class Out, class OnElement, class OnTimer>
  Stream<Out> process(OnElement on_element, OnTimer on_timer, ProcessOptions options = {},
                      std::string name = "process") const {
    auto& n = detail::add_node<T>(*upstream_.graph(), std::move(name), hashed_edge());
    n.outputs.emplace_back("main", detail::port_ops<Out>());
    n.make = [key = key_, on_element = std::move(on_element), on_timer = std::move(on_timer),
              options](std::uint32_t, const std::vector<void*>& outs) {
      return detail::instance<T>(
          std::make_unique<detail::KeyedProcessOp<K, T, S, Out, OnElement, OnTimer>>(
              key, on_element, on_timer, options, static_cast<Output<Out>*>(outs[0])));
    };
    return {upstream_.graph(), n.id};
  }

  /// Pairs each record a of this stream with each record b of `other` with the same key and
  /// a.ts + lower <= b.ts <= a.ts + upper (Flink's interval join); `f(a, b)` makes the output,
  /// stamped with the later of the two times. Both record types need a Codec (kept as state).
  template <class B, class F, class Out = std::invoke_result_t<F, const T&, const B&>>
  Stream<Out> interval_join(const KeyedStream<K, B>& other, Duration lower, Duration upper, F f,
                            std::string name = "interval_join") const {
    using Either = std::variant<T, B>;
    using S = std::pair<std::vector<std::pair<Timestamp, T>>, std::vector<std::pair<Timestamp, B>>>;
    const Timestamp lo = to_ms(lower);
    const Timestamp hi = to_ms(upper);
    return either(other, name)
        .template process<S, Out>(
            [f, lo, hi](KeyedContext<K, S, Out>& ctx, const Either& e) {
              auto& s = ctx.state();
              const Timestamp ts = ctx.timestamp();
              if (e.index() == 0) {
                const T& a = std::get<0>(e);
                for (const auto& [tb, b] : s.second) {
                  if (tb >= ts + lo && tb <= ts + hi) ctx.emit(f(a, b), std::max(ts, tb));
                }
                // Kept until no b can match any more: the watermark passed ts + upper.
                if (ts + hi > ctx.current_watermark()) {
                  s.first.emplace_back(ts, a);
                  ctx.register_event_timer(ts + hi);
                }
              } else {
                const B& b = std::get<1>(e);
                for (const auto& [ta, a] : s.first) {
                  if (ts >= ta + lo && ts <= ta + hi) ctx.emit(f(a, b), std::max(ta, ts));
                }
                if (ts - lo > ctx.current_watermark()) {
                  s.second.emplace_back(ts, b);
                  ctx.register_event_timer(ts - lo);
                }
              }
            },
            [lo, hi](KeyedContext<K, S, Out>& ctx, Timestamp t, TimeDomain) {
              auto& s = ctx.state();
              std::erase_if(s.first, [&](const auto& p) { return p.first + hi <= t; });
              std::erase_if(s.second, [&](const auto& p) { return p.first - lo <= t; });
              if (s.first.empty() && s.second.empty()) ctx.clear_state();
            },
            {}, std::move(name));
  }

  /// Pairs the records of this stream and `other` that have the same key and fall into the same
  /// window: `f(a, b)` for every pair, stamped with the window's last instant.
  template <class B, class F, class Out = std::invoke_result_t<F, const T&, const B&>>
  Stream<Out> window_join(const KeyedStream<K, B>& other, WindowAssigner assigner, F f,
                          std::string name = "window_join") const {
    using Either = std::variant<T, B>;
    return either(other, name)
        .window(std::move(assigner))
        .template process<Out>(
            [f](const K&, Window, const std::vector<Either>& all, Collector<Out>& out) {
              for (const auto& x : all) {
                if (x.index() != 0) continue;
                for (const auto& y : all) {
                  if (y.index() == 1) out.collect(f(std::get<0>(x), std::get<1>(y)));
                }
              }
            },
            std::move(name));
  }

  WindowedStream<K, T, void> window(WindowAssigner assigner) const {
    return WindowedStream<K, T, void>(*this, std::move(assigner));
  }

  /// Both streams as one keyed stream of std::variant<T, B> (the input of the joins).
  template <class B>
  KeyedStream<K, std::variant<T, B>> either(const KeyedStream<K, B>& other,
                                            const std::string& name) const {
    using Either = std::variant<T, B>;
    auto left = upstream_.map([](T&& v) { return Either(std::in_place_index<0>, std::move(v)); },
                              name + "-left");
    auto right = other.upstream().map(
        [](B&& v) { return Either(std::in_place_index<1>, std::move(v)); }, name + "-right");
    return left.union_with(right, name + "-union")
        .key_by([lk = key_, rk = other.key()](const Either& e) -> K {
          return e.index() == 0 ? lk(std::get<0>(e)) : rk(std::get<1>(e));
        });
  }

  [[nodiscard]] detail::Edge hashed_edge() const {
    auto hash = std::make_shared<std::function<std::uint64_t(const T&)>>(
        [key = key_](const T& v) -> std::uint64_t { return std::hash<K>{}(key(v)); });
    return upstream_.edge(std::move(hash));
  }
  [[nodiscard]] const std::function<K(const T&)>& key() const { return key_; }
  [[nodiscard]] const Stream<T>& upstream() const { return upstream_; }

 private:
  Stream<T> upstream_;
  std::function<K(const T&)> key_;
};

template <class K, class T, class Unused>
class WindowedStream {
 public:
  WindowedStream(KeyedStream<K, T> keyed, WindowAssigner assigner)
      : keyed_(std::move(keyed)), assigner_(std::move(assigner)) {}

  /// Records up to this much behind the watermark still update (and re-fire) their window.
  WindowedStream& allowed_lateness(Duration lateness) {
    lateness_ = to_ms(lateness);
    return *this;
  }

  /// Two-phase aggregation, as Flink SQL's local-global aggregation: each instance upstream of
  /// the exchange first folds its records into one accumulator per key and pane (fused into its
  /// chain, holding nothing across a checkpoint), and only those cross the exchange. The same
  /// results, late records and state as aggregate() alone; worth it when a pane holds many
  /// records per key. Needs Agg::merge. Event-time tumbling and sliding windows only: any other
  /// window aggregates as without it.
  [[nodiscard]] CombinedWindowedStream<K, T> combine_locally() const {
    return CombinedWindowedStream<K, T>(keyed_, assigner_, lateness_);
  }

  /// Emits Windowed<K, R> per key and window, stamped with the window's last instant. Records
  /// too late for every window go to side_output<T>("late").
  template <class Agg, class R = typename Agg::Result>
  Stream<Windowed<K, R>> aggregate(Agg agg, std::string name = "window") const {
    using Acc = typename Agg::Acc;
    auto fire = [agg](const K& k, Window w, const Acc& acc, Output<Windowed<K, R>>& out) {
      out.emit(Windowed<K, R>{k, w, agg.result(acc)}, w.max_timestamp());
    };
    return add<Agg, Windowed<K, R>>(std::move(agg), std::move(fire), std::move(name));
  }

  template <class F>
  Stream<Windowed<K, T>> reduce(F f, std::string name = "window") const {
    return aggregate(aggregates::Reduce<T, F>{std::move(f)}, std::move(name));
  }

  /// `f(const K&, Window, const std::vector<T>&, Collector<Out>&)` sees the whole window.
  template <class Out, class F>
  Stream<Out> process(F f, std::string name = "window") const {
    using Agg = aggregates::Collect<T>;
    struct Emit final : Collector<Out> {
      Output<Out>* out;
      Timestamp ts;
      void collect(Out v) override { out->emit(std::move(v), ts); }
    };
    auto fire = [f](const K& k, Window w, const std::vector<T>& all, Output<Out>& out) {
      Emit e;
      e.out = &out;
      e.ts = w.max_timestamp();
      f(k, w, all, static_cast<Collector<Out>&>(e));
    };
    return add<Agg, Out>(Agg{}, std::move(fire), std::move(name));
  }

 private:
  template <class Agg, class Out, class Fire>
  Stream<Out> add(Agg agg, Fire fire, std::string name) const {
    const auto& graph = keyed_.upstream().graph();
    auto& n = detail::add_node<T>(*graph, std::move(name), keyed_.hashed_edge());
    n.outputs.emplace_back("main", detail::port_ops<Out>());
    n.outputs.emplace_back("late", detail::port_ops<T>());
    n.make = [key = keyed_.key(), assigner = assigner_, lateness = lateness_, agg = std::move(agg),
              fire = std::move(fire)](std::uint32_t, const std::vector<void*>& outs) {
      return detail::instance<T>(std::make_unique<detail::WindowOp<K, T, Agg, Out, Fire>>(
          key, assigner, lateness, agg, fire, static_cast<Output<Out>*>(outs[0]),
          static_cast<Output<T>*>(outs[1])));
    };
    return {graph, n.id};
  }

  KeyedStream<K, T> keyed_;
  WindowAssigner assigner_;
  Timestamp lateness_ = 0;
};

/// A windowed stream whose aggregate is combined locally before the exchange (see
/// WindowedStream::combine_locally).
template <class K, class T>
class CombinedWindowedStream {
 public:
  CombinedWindowedStream(KeyedStream<K, T> keyed, WindowAssigner assigner, Timestamp lateness)
      : keyed_(std::move(keyed)), assigner_(std::move(assigner)), lateness_(lateness) {}

  template <class Agg, class R = typename Agg::Result>
  Stream<Windowed<K, R>> aggregate(Agg agg, std::string name = "window") const {
    using Out = Windowed<K, R>;
    auto fire = [agg](const K& k, Window w, const typename Agg::Acc& acc, Output<Out>& out) {
      out.emit(Out{k, w, agg.result(acc)}, w.max_timestamp());
    };
    const bool fixed = assigner_.kind == WindowAssigner::Kind::tumbling ||
                       assigner_.kind == WindowAssigner::Kind::sliding;
    if (!fixed || assigner_.domain != TimeDomain::event_time) {
      return WindowedStream<K, T, void>(keyed_, assigner_)
          .allowed_lateness(std::chrono::milliseconds(lateness_))
          .aggregate(std::move(agg), std::move(name));
    }
    using P = detail::Partial<K, T, typename Agg::Acc>;
    const auto& upstream = keyed_.upstream();
    const auto& graph = upstream.graph();
    const auto in = upstream.edge();
    const std::uint32_t parallelism = graph->nodes[static_cast<std::size_t>(in.from)].parallelism;
    auto& local = detail::add_node<T>(*graph, name + "-local", in);
    const int local_id = local.id;
    local.parallelism = parallelism;  // fused into the upstream chain
    local.outputs.emplace_back("main", detail::port_ops<P>());
    local.make = [key = keyed_.key(), assigner = assigner_, agg](std::uint32_t,
                                                                 const std::vector<void*>& outs) {
      return detail::instance<T>(std::make_unique<detail::PaneCombineOp<K, T, Agg>>(
          key, assigner, agg, static_cast<Output<P>*>(outs[0])));
    };
    auto hash = std::make_shared<std::function<std::uint64_t(const P&)>>(
        [](const P& p) -> std::uint64_t { return std::hash<K>{}(p.key); });
    auto& n = detail::add_node<P>(*graph, std::move(name),
                                  Stream<P>(graph, local_id).edge(std::move(hash)));
    n.outputs.emplace_back("main", detail::port_ops<Out>());
    n.outputs.emplace_back("late", detail::port_ops<T>());
    n.make = [assigner = assigner_, lateness = lateness_, agg = std::move(agg),
              fire = std::move(fire)](std::uint32_t, const std::vector<void*>& outs) {
      return detail::instance<P>(
          std::make_unique<detail::CombinedWindowOp<K, T, Agg, Out, decltype(fire)>>(
              assigner, lateness, agg, fire, static_cast<Output<Out>*>(outs[0]),
              static_cast<Output<T>*>(outs[1])));
    };
    return {graph, n.id};
  }

  template <class F>
  Stream<Windowed<K, T>> reduce(F f, std::string name = "window") const {
    return aggregate(aggregates::Reduce<T, F>{std::move(f)}, std::move(name));
  }

 private:
  KeyedStream<K, T> keyed_;
  WindowAssigner assigner_;
  Timestamp lateness_ = 0;
};

/// A job under construction.
class StreamJob {
 public:
  explicit StreamJob(JobOptions options = {})
      : options_(std::move(options)), graph_(std::make_shared<detail::Graph>()) {}

  /// A source: `factory` makes one instance per parallel subtask (each learns its index and
  /// the parallelism in open()).
  template <class T>
  Stream<T> from(SourceFactory<T> factory, WatermarkStrategy<T> strategy = {},
                 std::string name = "source", std::uint32_t parallelism = 0) {
    auto& n = graph_->add(std::move(name));
    n.parallelism = parallelism;
    n.outputs.emplace_back("main", detail::port_ops<T>());
    n.make = [factory = std::move(factory)](std::uint32_t, const std::vector<void*>&) {
      return detail::Instance{factory(), nullptr};
    };
    n.make_source_task = [strategy = std::move(strategy)](
                             detail::JobRuntime& job, std::string task_name, std::uint32_t subtask,
                             std::uint32_t parallelism, OperatorBase& source, void* head) {
      return std::unique_ptr<detail::TaskBase>(std::make_unique<detail::SourceTask<T>>(
          job, std::move(task_name), subtask, parallelism, static_cast<Source<T>&>(source),
          *static_cast<Output<T>*>(head), strategy));
    };
    return {graph_, n.id};
  }

  /// Plans the graph into tasks, restores the latest checkpoint (JobOptions::resume) and
  /// starts. The graph is used up: a StreamJob starts once.
  Result<std::unique_ptr<Job>> start(ActorSystem& system) {
    return detail::start_job(system, *graph_, options_);
  }

  [[nodiscard]] const JobOptions& options() const { return options_; }

 private:
  JobOptions options_;
  std::shared_ptr<detail::Graph> graph_;
};

}  // namespace weft::stream
