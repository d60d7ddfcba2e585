#include "stream_queries.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>

#include "generator.hpp"
#include "queries.hpp"
#include "weft/actor/actor_system.hpp"
#include "weft/core/codec.hpp"
#include "weft/stream/sinks.hpp"
#include "weft/stream/stream.hpp"

namespace weft::nexmark {

// Codecs for the state the queries checkpoint.
WEFT_CODEC(Bid, "nexmark.Bid", 1, auction, bidder, price, channel, url, date_time, extra);

namespace {

using namespace weft::stream;
using namespace std::chrono_literals;

/// The generator as a parallel source: instance i of P takes serial positions i, i+P, ...; the
/// next position is the checkpointed offset.
class NexmarkSource final : public Source<Event> {
 public:
  explicit NexmarkSource(GeneratorConfig config) : config_(config) {}
  void open(OperatorContext& ctx) override {
    Source<Event>::open(ctx);
    generator_.emplace(config_, ctx.subtask(), ctx.parallelism());
  }
  SourceStatus poll(SourceOutput<Event>& out, std::size_t max) override {
    for (std::size_t i = 0; i < max; ++i) {
      if (!generator_->next(event_)) return SourceStatus::finished;
      const Timestamp ts = event_.timestamp;
      // Operators read the event in place; the generator then reuses its buffers.
      out.emit(std::move(event_), ts);
    }
    return SourceStatus::more;
  }
  [[nodiscard]] bool has_state() const override { return true; }
  Result<void> snapshot(CheckpointId, Writer& w) override {
    w.put_varint(generator_->next_index());
    return {};
  }
  Result<void> restore(std::span<const std::vector<std::byte>> blobs) override {
    const auto me = ctx().subtask();
    if (blobs.size() != ctx().parallelism() || blobs[me].empty()) {
      return fail(Errc::invalid_argument, "nexmark source: parallelism changed");
    }
    Reader r(blobs[me]);
    auto next = r.varint();
    if (!next) return std::unexpected(next.error());
    generator_.emplace(config_, *next, ctx().parallelism());
    return {};
  }

 private:
  GeneratorConfig config_;
  std::optional<Generator> generator_;
  Event event_;
};

/// Where rows go: counted, and optionally rendered for --output and the tests.
struct Rows {
  std::atomic<std::uint64_t> count{0};
  bool keep = false;
  std::mutex mutex;
  std::vector<std::string> lines;
};

std::string to_json(const Event& e) {
  return nexmark::to_json(e.bid);
}

template <class Row>
SinkFactory<Row> rows_sink(std::shared_ptr<Rows> rows) {
  class Impl final : public Sink<Row> {
   public:
    explicit Impl(std::shared_ptr<Rows> r) : rows_(std::move(r)) {}
    void emit(Row&& row, stream::Timestamp) override {
      ++local_;
      if (rows_->keep) {
        auto line = to_json(row);
        std::lock_guard lock(rows_->mutex);
        rows_->lines.push_back(std::move(line));
      }
    }
    // Counted at the end of input, on the sink's task, before the job reports done.
    void finish() override { rows_->count.fetch_add(std::exchange(local_, 0)); }

   private:
    std::shared_ptr<Rows> rows_;
    std::uint64_t local_ = 0;
  };
  return [rows] { return std::make_unique<Impl>(rows); };
}

Stream<Bid> bids(Stream<Event> events) {
  return events.filter([](const Event& e) { return e.kind == EventKind::bid; }, "bids")
      .map([](Event&& e) { return std::move(e.bid); }, "bid");
}

// q5: bids per auction per sliding window, then per window the auctions with the most.
struct Q5State {
  std::int64_t most = 0;
  std::vector<std::pair<std::int64_t, std::int64_t>> counts;  // auction, count
};

// q7: per tumbling window the highest bids; first per auction (parallel), then per window.
struct MaxBids {
  std::int64_t price = -1;
  std::vector<Bid> bids;
};
struct MaxBidsAgg {
  using Acc = MaxBids;
  using Result = MaxBids;
  [[nodiscard]] Acc create() const { return {}; }
  void add(Acc& a, const Bid& b) const {
    if (b.price > a.price) {
      a.price = b.price;
      a.bids.clear();
    }
    if (b.price == a.price) a.bids.push_back(b);
  }
  void merge(Acc& a, const Acc& b) const {
    for (const auto& x : b.bids) add(a, x);
  }
  [[nodiscard]] Result result(const Acc& a) const { return a; }
};

// q3: a seller (person) and the auctions waiting for it.
struct Q3State {
  bool known = false;
  std::string name, city, state;
  std::vector<std::int64_t> waiting;
};

// q4: one auction's life and its best bid; then per category the running average.
struct Q4Auction {
  bool known = false;
  bool closed = false;
  std::int64_t start = 0, expires = 0, category = 0;
  std::int64_t best = -1;
  std::vector<std::pair<std::int64_t, std::int64_t>> early;  // bids before the auction: ts, price
};
struct Q4Category {
  std::int64_t auctions = 0, total = 0;
};

// q8: per person id and 10 s window: the person's name if they joined, whether they sold.
struct Q8Window {
  std::int64_t start = 0;
  bool person = false, seller = false, emitted = false;
  std::string name;
};
struct Q8State {
  std::vector<Q8Window> windows;
};

WEFT_CODEC(Q5State, "nexmark.Q5State", 1, most, counts);
WEFT_CODEC(MaxBids, "nexmark.MaxBids", 1, price, bids);
WEFT_CODEC(Q3State, "nexmark.Q3State", 1, known, name, city, state, waiting);
WEFT_CODEC(Q4Auction, "nexmark.Q4Auction", 1, known, closed, start, expires, category, best, early);
WEFT_CODEC(Q4Category, "nexmark.Q4Category", 1, auctions, total);
WEFT_CODEC(Q8Window, "nexmark.Q8Window", 1, start, person, seller, emitted, name);
WEFT_CODEC(Q8State, "nexmark.Q8State", 1, windows);

using Key = std::int64_t;

bool build(const std::string& q, Stream<Event> events, const std::shared_ptr<Rows>& rows) {
  if (q == "q0") {
    // Pass-through: the bid travels inside its event, as the source made it.
    events.filter([](const Event& e) { return e.kind == EventKind::bid; }, "bids")
        .to(rows_sink<Event>(rows), "sink");
  } else if (q == "q1") {
    events.filter([](const Event& e) { return e.kind == EventKind::bid; }, "bids")
        .map(
            [](Event&& e) {
              const Bid& b = e.bid;
              return Q1Row{b.auction, b.bidder, dollars_to_euros(b.price), b.date_time,
                           std::move(e.bid.extra)};
            },
            "euros")
        .to(rows_sink<Q1Row>(rows), "sink");
  } else if (q == "q2") {
    events
        .filter(
            [](const Event& e) {
              return e.kind == EventKind::bid && e.bid.auction % q2_auction_modulus == 0;
            },
            "selection")
        .map(
            [](Event&& e) {
              return Q2Row{e.bid.auction, e.bid.price};
            },
            "project")
        .to(rows_sink<Q2Row>(rows), "sink");
  } else if (q == "q3") {
    using In = std::pair<Key, Event>;
    events
        .filter(
            [](const Event& e) {
              if (e.kind == EventKind::auction) return e.auction.category == 10;
              if (e.kind != EventKind::person) return false;
              const auto& s = e.person.state;
              return s == "OR" || s == "ID" || s == "CA";
            },
            "select")
        .map(
            [](Event&& e) {
              const Key k = e.kind == EventKind::person ? e.person.id : e.auction.seller;
              return In{k, std::move(e)};
            },
            "key")
        .key_by([](const In& in) { return in.first; })
        .process<Q3State, Q3Row>(
            [](KeyedContext<Key, Q3State, Q3Row>& ctx, const In& in) {
              auto& s = ctx.state();
              const Event& e = in.second;
              if (e.kind == EventKind::person) {
                auto waiting = std::exchange(s.waiting, {});
                s = Q3State{true, e.person.name, e.person.city, e.person.state, {}};
                for (const auto id : waiting) {
                  ctx.emit(Q3Row{s.name, s.city, s.state, id});
                }
              } else if (s.known) {
                ctx.emit(Q3Row{s.name, s.city, s.state, e.auction.id});
              } else {
                s.waiting.push_back(e.auction.id);
              }
            },
            [](auto&, stream::Timestamp, TimeDomain) {}, {}, "join")
        .to(rows_sink<Q3Row>(rows), "sink");
  } else if (q == "q4") {
    struct Item {
      Key auction = 0;
      bool is_auction = false;
      std::int64_t ts = 0, expires = 0, category = 0, price = 0;
    };
    events.filter([](const Event& e) { return e.kind != EventKind::person; }, "select")
        .map(
            [](Event&& e) {
              if (e.kind == EventKind::auction) {
                return Item{e.auction.id,       true, e.auction.date_time, e.auction.expires,
                            e.auction.category, 0};
              }
              return Item{e.bid.auction, false, e.bid.date_time, 0, 0, e.bid.price};
            },
            "project")
        .key_by([](const Item& i) { return i.auction; })
        .process<Q4Auction, std::pair<Key, Key>>(
            [](KeyedContext<Key, Q4Auction, std::pair<Key, Key>>& ctx, const Item& i) {
              auto& s = ctx.state();
              if (s.closed) return;
              if (i.is_auction) {
                s.known = true;
                s.start = i.ts;
                s.expires = i.expires;
                s.category = i.category;
                for (const auto& [ts, price] : std::exchange(s.early, {})) {
                  if (ts >= s.start && ts <= s.expires) s.best = std::max(s.best, price);
                }
                ctx.register_event_timer(s.expires);
              } else if (!s.known) {
                s.early.emplace_back(i.ts, i.price);
              } else if (i.ts >= s.start && i.ts <= s.expires) {
                s.best = std::max(s.best, i.price);
              }
            },
            [](KeyedContext<Key, Q4Auction, std::pair<Key, Key>>& ctx, stream::Timestamp,
               TimeDomain) {
              auto& s = ctx.state();
              s.closed = true;
              s.early.clear();
              if (s.best >= 0) ctx.emit({s.category, s.best});
            },
            {}, "winning")
        .key_by([](const std::pair<Key, Key>& w) { return w.first; })
        .process<Q4Category, Q4Row>(
            [](KeyedContext<Key, Q4Category, Q4Row>& ctx, const std::pair<Key, Key>& w) {
              auto& s = ctx.state();
              ++s.auctions;
              s.total += w.second;
              ctx.emit(Q4Row{w.first, s.auctions, s.total});
            },
            [](auto&, stream::Timestamp, TimeDomain) {}, {}, "average")
        .to(rows_sink<Q4Row>(rows), "sink");
  } else if (q == "q5") {
    events.filter([](const Event& e) { return e.kind == EventKind::bid; }, "bids")
        .map([](Event&& e) { return e.bid.auction; }, "auction")
        .key_by([](const Key& a) { return a; })
        .window(sliding(std::chrono::milliseconds(q5_window_ms),
                        std::chrono::milliseconds(q5_slide_ms)))
        // Counted per pane before the exchange: a pane's ~18,000 bids are on a few hundred
        // auctions (as Flink's Nexmark runs q5, with local-global aggregation).
        .combine_locally()
        .aggregate(aggregates::count<Key>(), "counts")
        .key_by([](const Windowed<Key, std::uint64_t>& w) { return w.window.start; })
        .process<Q5State, Q5Row>(
            [](KeyedContext<Key, Q5State, Q5Row>& ctx, const Windowed<Key, std::uint64_t>& w) {
              auto& s = ctx.state();
              const auto n = static_cast<std::int64_t>(w.value);
              if (s.counts.empty()) ctx.register_event_timer(w.window.max_timestamp());
              if (n > s.most) {
                s.most = n;
                s.counts.clear();
              }
              if (n == s.most) s.counts.emplace_back(w.key, n);
            },
            [](KeyedContext<Key, Q5State, Q5Row>& ctx, stream::Timestamp, TimeDomain) {
              const Key start = ctx.key();
              for (const auto& [auction, n] : ctx.state().counts) {
                ctx.emit(Q5Row{start, start + q5_window_ms, auction, n});
              }
              ctx.clear_state();
            },
            {}, "hottest")
        .to(rows_sink<Q5Row>(rows), "sink");
  } else if (q == "q7") {
    // Local pre-aggregation (as Flink's two-phase aggregation): a bid below the highest price
    // this instance already saw in its window cannot be the window's maximum, so only the few
    // that raise or tie it travel on. The map is a cache, not state: empty after a restore, it
    // only lets more bids through.
    struct LocalMax {
      std::map<Key, std::int64_t> highest;  // window start -> price
      bool operator()(const Event& e) {
        if (e.kind != EventKind::bid) return false;
        const Key w = window_start(e.bid.date_time, q7_window_ms);
        auto [it, fresh] = highest.try_emplace(w, e.bid.price);
        if (!fresh && e.bid.price < it->second) return false;
        it->second = e.bid.price;
        while (highest.size() > 4) highest.erase(highest.begin());
        return true;
      }
    };
    events.filter(LocalMax{}, "local-max")
        .map([](Event&& e) { return std::move(e.bid); }, "bid")
        .key_by([](const Bid& b) { return b.auction; })
        .window(tumbling(std::chrono::milliseconds(q7_window_ms)))
        .aggregate(MaxBidsAgg{}, "local-max")
        .key_by([](const Windowed<Key, MaxBids>& w) { return w.window.start; })
        .process<MaxBids, Q7Row>(
            [](KeyedContext<Key, MaxBids, Q7Row>& ctx, const Windowed<Key, MaxBids>& w) {
              auto& s = ctx.state();
              if (s.price < 0) ctx.register_event_timer(w.window.max_timestamp());
              MaxBidsAgg{}.merge(s, w.value);
            },
            [](KeyedContext<Key, MaxBids, Q7Row>& ctx, stream::Timestamp, TimeDomain) {
              const Key start = ctx.key();
              for (const auto& b : ctx.state().bids) {
                ctx.emit(Q7Row{start, start + q7_window_ms, b.auction, b.bidder, b.price,
                               b.date_time, b.extra});
              }
              ctx.clear_state();
            },
            {}, "max")
        .to(rows_sink<Q7Row>(rows), "sink");
  } else if (q == "q8") {
    struct Item {
      Key id = 0;
      std::int64_t start = 0;
      bool person = false;
      std::string name;
    };
    events.filter([](const Event& e) { return e.kind != EventKind::bid; }, "select")
        .map(
            [](Event&& e) {
              if (e.kind == EventKind::person) {
                return Item{e.person.id, window_start(e.person.date_time, q8_window_ms), true,
                            e.person.name};
              }
              return Item{
                  e.auction.seller, window_start(e.auction.date_time, q8_window_ms), false, {}};
            },
            "project")
        .key_by([](const Item& i) { return i.id; })
        .process<Q8State, Q8Row>(
            [](KeyedContext<Key, Q8State, Q8Row>& ctx, const Item& i) {
              auto& ws = ctx.state().windows;
              auto it = std::ranges::find(ws, i.start, &Q8Window::start);
              if (it == ws.end()) {
                ws.push_back(Q8Window{i.start, false, false, false, {}});
                it = ws.end() - 1;
                ctx.register_event_timer(i.start + q8_window_ms - 1);
              }
              if (i.person) {
                it->person = true;
                it->name = i.name;
              } else {
                it->seller = true;
              }
              if (it->person && it->seller && !it->emitted) {
                it->emitted = true;
                ctx.emit(Q8Row{ctx.key(), it->name, it->start});
              }
            },
            [](KeyedContext<Key, Q8State, Q8Row>& ctx, stream::Timestamp ts, TimeDomain) {
              auto& ws = ctx.state().windows;
              std::erase_if(ws,
                            [&](const Q8Window& w) { return w.start + q8_window_ms - 1 <= ts; });
              if (ws.empty()) ctx.clear_state();
            },
            {}, "join")
        .to(rows_sink<Q8Row>(rows), "sink");
  } else if (q == "q11") {
    bids(events)
        .map([](Bid&& b) { return b.bidder; }, "bidder")
        .key_by([](const Key& b) { return b; })
        .window(session(std::chrono::milliseconds(q11_session_gap_ms)))
        .aggregate(aggregates::count<Key>(), "sessions")
        .map(
            [](Windowed<Key, std::uint64_t>&& w) {
              return Q11Row{w.key, w.window.start, w.window.end,
                            static_cast<std::int64_t>(w.value)};
            },
            "row")
        .to(rows_sink<Q11Row>(rows), "sink");
  } else {
    return false;
  }
  return true;
}

}  // namespace

Result<StreamQueryRun> run_stream_query(ActorSystem& system, const NexmarkOptions& o,
                                        const std::filesystem::path& checkpoint_dir,
                                        bool keep_lines) {
  JobOptions options;
  options.name = "nexmark-" + o.query;
  options.parallelism = o.parallelism;
  options.checkpoint_dir = checkpoint_dir;
  options.checkpoint_interval = o.checkpoint_interval;
  options.resume = false;
  StreamJob job(options);
  GeneratorConfig config = o.generator;
  config.max_events = o.events;
  // Aligned: at parallelism > 1 one generator subtask would otherwise run far ahead in event
  // time whenever the scheduler favours it, and q5 then held ~27 sliding windows open instead
  // of ~6 (docs/nexmark.md).
  auto strategy = WatermarkStrategy<Event>::bounded_out_of_orderness(0ms);
  if (o.max_drift > 0ms) strategy = strategy.with_alignment(o.max_drift);
  auto events = job.from<Event>([config] { return std::make_unique<NexmarkSource>(config); },
                                std::move(strategy), "generator");
  auto rows = std::make_shared<Rows>();
  rows->keep = keep_lines;
  if (!build(o.query, events, rows)) {
    return fail(Errc::invalid_argument, "unknown query '" + o.query + "'");
  }
  const auto start = std::chrono::steady_clock::now();
  auto running = job.start(system);
  if (!running) return std::unexpected(running.error());
  if (auto r = (*running)->wait(); !r) return std::unexpected(r.error());
  StreamQueryRun run;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.checkpoints = (*running)->metrics().checkpoints_completed;
  running->reset();  // closes the sinks, which add their counts
  run.results = rows->count.load();
  run.lines = std::move(rows->lines);
  if (o.query == "q4") {
    // Upsert: the last row per category is the answer (one sink instance sees all of a
    // category's rows, in order).
    std::map<std::string, std::string> last;
    for (auto& line : run.lines) last[line.substr(0, line.find(','))] = line;
    run.lines.clear();
    for (auto& [k, v] : last) run.lines.push_back(v);
  }
  std::ranges::sort(run.lines);
  return run;
}

}  // namespace weft::nexmark
