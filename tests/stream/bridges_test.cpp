// Bridges: the journal events-by-tag source (MemoryJournal and RocksDbJournal, live, resumed
// from a checkpoint), the acknowledged actor sink (never more than N unacknowledged), and the
// exactly-once sink into an event-sourced actor across a cancel and restore.
#include "weft/stream/bridges.hpp"
#include "eventually.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "temp_dir.hpp"
#include "weft/actor/actor_system.hpp"
#include "weft/actor/behavior.hpp"
#include "weft/persistence/event_sourced.hpp"
#include "weft/persistence/memory_journal.hpp"
#include "weft/persistence/rocksdb_journal.hpp"
#include "weft/stream/sinks.hpp"
#include "weft/stream/sources.hpp"

namespace weft::stream {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using persistence::AppendBatch;
using persistence::EventRecord;
using persistence::Journal;
using weft::test::TempDir;

/// Polls `done` until it holds or 20 s pass (no sleeps standing in for events).
bool eventually(const std::function<bool()>& done) {
  return weft::test::eventually(done, 20s);
}

/// Stores `value` as event `seq` of `pid`, tagged `tag`; its persist time is 1000 * value.
void append_value(Journal& journal, const std::string& pid, std::uint64_t seq, std::int64_t value,
                  const std::string& tag) {
  EventRecord e;
  e.persistence_id = pid;
  e.sequence_nr = seq;
  e.manifest = "test.value";
  e.payload = encode(value);
  e.tags = {tag};
  e.timestamp_ms = value * 1000;
  AppendBatch b;
  b.persistence_id = pid;
  b.expected_next_sequence_nr = seq;
  b.events.push_back(std::move(e));
  auto r = journal.append(std::move(b)).get();
  ASSERT_TRUE(r) << r.error().describe();
}

JournalTagSpec<std::int64_t> values_spec(std::shared_ptr<Journal> journal, std::string tag,
                                         bool live) {
  JournalTagSpec<std::int64_t> spec;
  spec.journal = std::move(journal);
  spec.tag = std::move(tag);
  spec.decode = [](const EventRecord& e) { return decode<std::int64_t>(e.payload); };
  spec.live = live;
  spec.page = 7;  // several round trips even for small inputs
  return spec;
}

std::unique_ptr<persistence::RocksDbJournal> open_rocks(const std::string& dir) {
  persistence::JournalOptions o;
  o.directory = dir;
  o.durability = persistence::Durability::none;
  o.write_buffer_bytes = 4u << 20;
  auto j = persistence::RocksDbJournal::open(o);
  EXPECT_TRUE(j.has_value()) << j.error().describe();
  return j ? std::move(*j) : nullptr;
}

// ---- journal source ------------------------------------------------------------------------

void current_tag_reads_everything_in_order(const std::shared_ptr<Journal>& journal) {
  for (std::int64_t i = 1; i <= 40; ++i) {
    append_value(*journal, i % 2 == 0 ? "even" : "odd", static_cast<std::uint64_t>((i + 1) / 2), i,
                 "nums");
  }
  append_value(*journal, "other", 1, 99, "elsewhere");

  ActorSystem system;
  auto out = std::make_shared<Collected<std::int64_t>>();
  StreamJob job;
  job.from(from_journal_tag(values_spec(journal, "nums", false)), {}, "journal", 1)
      .to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running) << running.error().describe();
  ASSERT_TRUE((*running)->wait_for(20s));
  std::vector<std::pair<std::int64_t, Timestamp>> expected;
  for (std::int64_t i = 1; i <= 40; ++i) expected.emplace_back(i, i * 1000);
  EXPECT_EQ(out->records(), expected);
}

TEST(JournalTagSource, ReadsTaggedEventsInOffsetOrderFromMemoryJournal) {
  current_tag_reads_everything_in_order(std::make_shared<persistence::MemoryJournal>());
}

TEST(JournalTagSource, ReadsTaggedEventsInOffsetOrderFromRocksDbJournal) {
  TempDir dir;
  std::shared_ptr<Journal> journal = open_rocks(dir.db());
  ASSERT_TRUE(journal);
  current_tag_reads_everything_in_order(journal);
}

TEST(JournalTagSource, EventTimeComesFromTheEventAndBadPayloadsAreDeadLetters) {
  auto journal = std::make_shared<persistence::MemoryJournal>();
  append_value(*journal, "p", 1, 5, "t");
  {
    EventRecord bad;
    bad.persistence_id = "p";
    bad.sequence_nr = 2;
    bad.manifest = "test.value";
    bad.payload = {std::byte{0xff}};  // a truncated varint
    bad.tags = {"t"};
    AppendBatch b{"p", 2, 0, {bad}};
    ASSERT_TRUE(journal->append(std::move(b)).get());
  }
  append_value(*journal, "p", 3, 7, "t");

  auto spec = values_spec(journal, "t", false);
  spec.event_time = [](const EventRecord& e, const std::int64_t& v) {
    return static_cast<Timestamp>(e.sequence_nr * 10 + v);
  };
  ActorSystem system;
  auto out = std::make_shared<Collected<std::int64_t>>();
  StreamJob job;
  job.from(from_journal_tag(spec), {}, "journal", 1).to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running) << running.error().describe();
  ASSERT_TRUE((*running)->wait_for(20s));
  const std::vector<std::pair<std::int64_t, Timestamp>> expected{{5, 15}, {7, 37}};
  EXPECT_EQ(out->records(), expected);
  const auto letters = (*running)->dead_letters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_NE(letters[0].reason.find("tag 't' offset 2 (p #2)"), std::string::npos)
      << letters[0].reason;
}

void live_source_follows_commits(const std::shared_ptr<Journal>& journal) {
  ActorSystem system;
  auto out = std::make_shared<Collected<std::int64_t>>();
  StreamJob job;
  job.from(from_journal_tag(values_spec(journal, "live", true)), {}, "journal", 1).to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running) << running.error().describe();
  // Each event is appended only after the previous one arrived: the source must be woken by
  // the commit, not find it by luck in a read that was already running.
  for (std::int64_t i = 1; i <= 30; ++i) {
    append_value(*journal, "w", static_cast<std::uint64_t>(i), i, "live");
    ASSERT_TRUE(eventually([&] { return out->size() == static_cast<std::size_t>(i); }))
        << "event " << i << " never arrived";
  }
  EXPECT_FALSE((*running)->is_done());
  (*running)->cancel();
  std::vector<std::int64_t> expected(30);
  std::ranges::generate(expected, [n = 0]() mutable { return ++n; });
  EXPECT_EQ(out->values(), expected);
}

TEST(JournalTagSource, LiveSourceFollowsNewCommitsOnMemoryJournal) {
  live_source_follows_commits(std::make_shared<persistence::MemoryJournal>());
}

TEST(JournalTagSource, LiveSourceFollowsNewCommitsOnRocksDbJournal) {
  TempDir dir;
  std::shared_ptr<Journal> journal = open_rocks(dir.db());
  ASSERT_TRUE(journal);
  live_source_follows_commits(journal);
}

TEST(JournalTagSource, RestoredJobResumesAfterTheCheckpointedOffset) {
  TempDir dir;
  std::shared_ptr<Journal> journal = open_rocks(dir.db());
  ASSERT_TRUE(journal);
  JobOptions options;
  options.name = "tail";
  options.checkpoint_dir = fs::path(dir.path()) / "chk";
  options.checkpoint_interval = 1h;  // only the checkpoint taken below

  auto first = std::make_shared<Collected<std::int64_t>>();
  for (std::int64_t i = 1; i <= 50; ++i) {
    append_value(*journal, "a", static_cast<std::uint64_t>(i), i, "in");
  }
  {
    ActorSystem system;
    StreamJob job(options);
    job.from(from_journal_tag(values_spec(journal, "in", true)), {}, "journal", 1)
        .uid("journal")
        .to(collect(first));
    auto running = job.start(system);
    ASSERT_TRUE(running) << running.error().describe();
    ASSERT_TRUE(eventually([&] { return first->size() == 50; }));
    ASSERT_TRUE((*running)->checkpoint());
    ASSERT_TRUE(eventually([&] { return (*running)->metrics().checkpoints_completed == 1; }));
    // Read after the checkpoint: a restore must deliver these again (they are not covered).
    for (std::int64_t i = 51; i <= 60; ++i) {
      append_value(*journal, "a", static_cast<std::uint64_t>(i), i, "in");
    }
    ASSERT_TRUE(eventually([&] { return first->size() == 60; }));
    (*running)->cancel();
  }
  for (std::int64_t i = 61; i <= 70; ++i) {
    append_value(*journal, "a", static_cast<std::uint64_t>(i), i, "in");
  }
  ActorSystem system;
  auto second = std::make_shared<Collected<std::int64_t>>();
  StreamJob job(options);
  job.from(from_journal_tag(values_spec(journal, "in", true)), {}, "journal", 1)
      .uid("journal")
      .to(collect(second));
  auto running = job.start(system);
  ASSERT_TRUE(running) << running.error().describe();
  ASSERT_TRUE(eventually([&] { return second->size() >= 20; }));
  (*running)->cancel();
  EXPECT_EQ((*running)->metrics().restored_from, std::optional<CheckpointId>(1));
  std::vector<std::int64_t> expected(20);
  std::ranges::generate(expected, [n = 50]() mutable { return ++n; });
  EXPECT_EQ(second->values(), expected);
}

// ---- acknowledged actor sink ---------------------------------------------------------------

struct Deliver {
  std::int64_t value = 0;
  ActorRef<Ack> reply_to;
};
struct Stats {
  std::vector<std::int64_t> received;
  std::size_t max_unacked = 0;
};
struct GetStats {
  ActorRef<Stats> reply_to;
};
using SlowMsg = std::variant<Deliver, GetStats>;

/// A slow consumer: holds every acknowledgement until `batch` messages are unacknowledged,
/// then acknowledges them all. A sink that sent more than `batch` unacknowledged messages
/// shows up as max_unacked > batch.
Behavior<SlowMsg> slow_consumer(std::size_t batch) {
  struct St {
    Stats stats;
    std::vector<ActorRef<Ack>> held;
  };
  auto st = std::make_shared<St>();
  return behaviors::receive<SlowMsg>(
      [st, batch](ActorContext<SlowMsg>&, SlowMsg& msg) -> Behavior<SlowMsg> {
        if (const auto* d = std::get_if<Deliver>(&msg)) {
          st->stats.received.push_back(d->value);
          st->held.push_back(d->reply_to);
          st->stats.max_unacked = std::max(st->stats.max_unacked, st->held.size());
          if (st->held.size() >= batch) {
            for (auto& r : st->held) r.tell(Ack{});
            st->held.clear();
          }
        } else {
          std::get<GetStats>(msg).reply_to.tell(st->stats);
        }
        return behaviors::same();
      });
}

Stats stats_of(ActorSystem& system, const ActorRef<SlowMsg>& ref) {
  auto r = system
               .ask<Stats>(
                   ref, [](ActorRef<Stats> to) { return SlowMsg{GetStats{to}}; }, 10s)
               .get();
  EXPECT_TRUE(r) << r.error().describe();
  return r ? *r : Stats{};
}

void acked_sink_keeps_at_most_n_unacknowledged(std::uint32_t source_parallelism) {
  constexpr std::size_t limit = 8;
  constexpr std::uint64_t count = 20'000;
  ActorSystem system;
  auto consumer = system.spawn(slow_consumer(limit), "slow");
  StreamJob job;
  job.from(generator<std::int64_t>(count, [](std::uint64_t i) { return std::int64_t(i); }), {},
           "numbers", source_parallelism)
      .rebalance()
      .to(to_actor<std::int64_t>(
              consumer,
              [](std::int64_t v, ActorRef<Ack> reply_to) {
                return SlowMsg{Deliver{v, std::move(reply_to)}};
              },
              limit),
          "to-actor", 1);
  auto running = job.start(system);
  ASSERT_TRUE(running) << running.error().describe();
  ASSERT_TRUE((*running)->wait_for(60s));
  Stats stats;
  ASSERT_TRUE(eventually([&] {
    stats = stats_of(system, consumer);
    return stats.received.size() >= count;
  })) << stats.received.size();
  EXPECT_EQ(stats.max_unacked, limit);  // not more: the sink waited for acks
  auto got = stats.received;
  std::ranges::sort(got);
  EXPECT_EQ(got.size(), count);
  EXPECT_TRUE(std::ranges::adjacent_find(got) == got.end());
  EXPECT_EQ(got.front(), 0);
  EXPECT_EQ(got.back(), static_cast<std::int64_t>(count - 1));
}

TEST(ActorSink, SlowActorNeverHasMoreThanNUnacknowledged) {
  acked_sink_keeps_at_most_n_unacknowledged(1);
}

TEST(ActorSink, BackPressureReachesParallelSources) {
  acked_sink_keeps_at_most_n_unacknowledged(2);
}

TEST(ActorSink, WithoutAcksTheSinkStopsAtTheLimitAndTheSourceStalls) {
  // An actor that never acknowledges: the stream must stop after `limit` messages instead of
  // filling its mailbox, and the job stays running (blocked) rather than finishing.
  constexpr std::size_t limit = 4;
  ActorSystem system;
  auto seen = std::make_shared<std::atomic<std::uint64_t>>(0);
  auto mute = system.spawn(
      behaviors::receive<Deliver>([seen](ActorContext<Deliver>&, Deliver&) -> Behavior<Deliver> {
        seen->fetch_add(1);
        return behaviors::same();
      }),
      "mute");
  auto emitted = std::make_shared<Collected<std::int64_t>>();
  StreamJob job(JobOptions{.name = "stall", .chunk_records = 16, .channel_chunks = 2});
  auto numbers =
      job.from(generator<std::int64_t>(1'000'000, [](std::uint64_t i) { return std::int64_t(i); }),
               {}, "numbers", 1);
  numbers.rebalance().to(to_actor<std::int64_t>(
                             mute,
                             [](std::int64_t v, ActorRef<Ack> r) {
                               return Deliver{v, std::move(r)};
                             },
                             limit),
                         "to-actor", 1);
  auto running = job.start(system);
  ASSERT_TRUE(running) << running.error().describe();
  ASSERT_TRUE(eventually([&] { return seen->load() == limit; }));
  // The source can run ahead only by what the bounded channel and one chunk hold.
  ASSERT_TRUE(eventually([&] { return (*running)->metrics().records_in > 0; }));
  const auto wait = (*running)->wait_for(200ms);
  EXPECT_FALSE(wait) << "the job finished without acknowledgements";
  EXPECT_EQ(seen->load(), limit);
  EXPECT_LT((*running)->metrics().records_in, 5'000u);
  (*running)->cancel();
}

// ---- exactly-once into an event-sourced actor ----------------------------------------------

struct Applied {
  std::int64_t amount = 0;
  DedupId id;
};
WEFT_CODEC(Applied, "test.bridges.Applied", 1, amount, id);

/// Order-sensitive: `digest` differs if amounts are applied twice, skipped or reordered.
struct Ledger {
  std::int64_t sum = 0;
  std::uint64_t events = 0;
  std::uint64_t digest = 14695981039346656037ull;
  DedupState dedup;
};

Ledger apply(Ledger l, const Applied& e) {
  l.sum += e.amount;
  ++l.events;
  l.digest = (l.digest ^ static_cast<std::uint64_t>(e.amount)) * 1099511628211ull;
  l.dedup.record(e.id);
  return l;
}

struct Credit {
  std::int64_t amount = 0;
  DedupId id;
  ActorRef<Ack> reply_to;
};
struct Query {
  ActorRef<Ledger> reply_to;
};
using LedgerCmd = std::variant<Credit, Query>;

Behavior<LedgerCmd> ledger(std::shared_ptr<Journal> journal) {
  persistence::EventSourcedSpec<LedgerCmd, Applied, Ledger> s;
  s.persistence_id = "ledger-1";
  s.journal = std::move(journal);
  s.event_handler = apply;
  s.command_handler = [](const Ledger& l,
                         const LedgerCmd& c) -> persistence::Effect<Applied, Ledger> {
    if (const auto* credit = std::get_if<Credit>(&c)) {
      if (l.dedup.seen(credit->id)) {  // a replayed record: already applied, only acknowledge
        credit->reply_to.tell(Ack{});
        return persistence::effects::none<Ledger, Applied>();
      }
      return persistence::effects::persist<Ledger>(Applied{credit->amount, credit->id})
          .then_reply(credit->reply_to, [](const Ledger&) { return Ack{}; });
    }
    std::get<Query>(c).reply_to.tell(l);
    return persistence::effects::none<Ledger, Applied>();
  };
  return persistence::event_sourced(std::move(s));
}

Ledger ledger_of(ActorSystem& system, const ActorRef<LedgerCmd>& ref) {
  auto r = system
               .ask<Ledger>(
                   ref, [](ActorRef<Ledger> to) { return LedgerCmd{Query{to}}; }, 10s)
               .get();
  EXPECT_TRUE(r) << r.error().describe();
  return r ? *r : Ledger{};
}

Ledger fold_amounts(std::int64_t from, std::int64_t to) {
  Ledger l;
  for (std::int64_t i = from; i <= to; ++i) l = apply(l, Applied{i, {}});
  return l;
}

StreamJob ledger_job(const JobOptions& options, const std::shared_ptr<Journal>& journal,
                     const ActorRef<LedgerCmd>& target, std::size_t limit) {
  StreamJob job(options);
  job.from(from_journal_tag(values_spec(journal, "credits", true)), {}, "credits", 1)
      .uid("credits")
      .map([](std::int64_t v) { return v; }, "identity")
      .to(to_persistent_actor<std::int64_t>(
              target, "ledger-job",
              [](std::int64_t v, DedupId id, ActorRef<Ack> reply_to) {
                return LedgerCmd{Credit{v, std::move(id), std::move(reply_to)}};
              },
              limit),
          "ledger", 1);
  return job;
}

TEST(PersistentActorSink, ReplayAfterRestoreAppliesEveryRecordExactlyOnce) {
  TempDir dir;
  auto journal = std::make_shared<persistence::MemoryJournal>();
  JobOptions options;
  options.name = "ledger-job";
  options.checkpoint_dir = fs::path(dir.path()) / "chk";
  options.checkpoint_interval = 1h;  // only the checkpoint taken below

  for (std::int64_t i = 1; i <= 100; ++i) {
    append_value(*journal, "in", static_cast<std::uint64_t>(i), i, "credits");
  }
  {
    ActorSystem system;
    auto target = system.spawn(ledger(journal), "ledger");
    auto job = ledger_job(options, journal, target, 8);
    auto running = job.start(system);
    ASSERT_TRUE(running) << running.error().describe();
    ASSERT_TRUE(eventually([&] { return ledger_of(system, target).events == 100; }));
    ASSERT_TRUE((*running)->checkpoint());
    ASSERT_TRUE(eventually([&] { return (*running)->metrics().checkpoints_completed == 1; }));
    // Applied after the checkpoint: the restored job replays these, the actor must skip them.
    for (std::int64_t i = 101; i <= 200; ++i) {
      append_value(*journal, "in", static_cast<std::uint64_t>(i), i, "credits");
    }
    ASSERT_TRUE(eventually([&] { return ledger_of(system, target).events == 200; }));
    (*running)->cancel();
  }
  for (std::int64_t i = 201; i <= 250; ++i) {
    append_value(*journal, "in", static_cast<std::uint64_t>(i), i, "credits");
  }
  // A new node: the actor recovers its ledger (and its dedup state) from the journal.
  ActorSystem system;
  auto target = system.spawn(ledger(journal), "ledger");
  auto job = ledger_job(options, journal, target, 8);
  auto running = job.start(system);
  ASSERT_TRUE(running) << running.error().describe();
  // Records arrive in order, so once 250 is applied the replayed 101..200 were all handled.
  ASSERT_TRUE(eventually([&] { return ledger_of(system, target).sum >= fold_amounts(1, 250).sum; }))
      << ledger_of(system, target).sum;
  (*running)->cancel();
  EXPECT_EQ((*running)->metrics().restored_from, std::optional<CheckpointId>(1));
  const auto got = ledger_of(system, target);
  const auto expected = fold_amounts(1, 250);
  EXPECT_EQ(got.events, expected.events);
  EXPECT_EQ(got.sum, expected.sum);
  EXPECT_EQ(got.digest, expected.digest);
  EXPECT_EQ(got.dedup.applied, (std::map<std::string, std::uint64_t>{{"ledger-job/0", 250}}));
}

TEST(PersistentActorSink, UnacknowledgedRecordsAtTheCheckpointAreResentAfterRestore) {
  // The actor is down (stopped) while the checkpoint is taken: the records the sink sent are
  // lost with it, unacknowledged. They are in the checkpoint and must be applied after restore.
  TempDir dir;
  auto journal = std::make_shared<persistence::MemoryJournal>();
  JobOptions options;
  options.name = "ledger-job";
  options.checkpoint_dir = fs::path(dir.path()) / "chk";
  options.checkpoint_interval = 1h;

  for (std::int64_t i = 1; i <= 30; ++i) {
    append_value(*journal, "in", static_cast<std::uint64_t>(i), i, "credits");
  }
  {
    ActorSystem system;
    auto held = std::make_shared<Collected<std::int64_t>>();
    // Takes the messages and never acknowledges: they are all still unacknowledged.
    auto black_hole =
        system.spawn(behaviors::receive<LedgerCmd>(
                         [held](ActorContext<LedgerCmd>&, LedgerCmd& c) -> Behavior<LedgerCmd> {
                           if (const auto* credit = std::get_if<Credit>(&c)) {
                             held->add(credit->amount, 0);
                           }
                           return behaviors::same();
                         }),
                     "ledger");
    auto job = ledger_job(options, journal, black_hole, 8);
    auto running = job.start(system);
    ASSERT_TRUE(running) << running.error().describe();
    ASSERT_TRUE(eventually([&] { return held->size() == 8; }));
    ASSERT_TRUE((*running)->checkpoint());
    ASSERT_TRUE(eventually([&] { return (*running)->metrics().checkpoints_completed == 1; }));
    (*running)->cancel();
  }
  ActorSystem system;
  auto target = system.spawn(ledger(journal), "ledger");
  auto job = ledger_job(options, journal, target, 8);
  auto running = job.start(system);
  ASSERT_TRUE(running) << running.error().describe();
  ASSERT_TRUE(eventually([&] { return ledger_of(system, target).events >= 30u; }));
  (*running)->cancel();
  const auto got = ledger_of(system, target);
  const auto expected = fold_amounts(1, 30);
  EXPECT_EQ(got.events, expected.events);
  EXPECT_EQ(got.digest, expected.digest);
}

// ---- checkpoint blobs: bad bytes are errors, never crashes ---------------------------------

/// Just enough of a task for restore() and the dead letters it may report.
class FakeContext final : public OperatorContext {
 public:
  [[nodiscard]] const std::string& name() const override { return name_; }
  [[nodiscard]] std::uint32_t subtask() const override { return 0; }
  [[nodiscard]] std::uint32_t parallelism() const override { return 1; }
  [[nodiscard]] std::uint32_t max_parallelism() const override { return 128; }
  [[nodiscard]] const Clock& clock() const override { return *clock_; }
  void dead_letter(DeadLetter letter) override { letters.push_back(std::move(letter)); }
  void count_late(std::uint64_t) override {}
  void request_wakeup(TimePoint) override {}
  std::vector<DeadLetter> letters;

 private:
  std::string name_ = "fake";
  std::shared_ptr<SystemClock> clock_ = SystemClock::instance();
};

TEST(BridgeState, EveryTruncatedOrFlippedSinkBlobIsRejectedOrReadWithoutCrashing) {
  std::vector<std::byte> blob;
  Writer w(blob);
  w.put_varint(42);  // next seq
  w.put_varint(3);   // unacknowledged records
  for (std::uint64_t seq : {39u, 40u, 41u}) {
    w.put_varint(seq);
    Codec<std::string>::encode("record-" + std::to_string(seq), w);
  }
  auto factory = to_persistent_actor<std::string>(
      ActorRef<LedgerCmd>{}, "job", [](std::string, DedupId id, ActorRef<Ack> r) {
        return LedgerCmd{Credit{static_cast<std::int64_t>(id.seq), std::move(id), std::move(r)}};
      });
  auto restore = [&](std::vector<std::byte> bytes, FakeContext& ctx) {
    auto sink = factory();
    sink->open(ctx);
    const std::vector<std::vector<std::byte>> blobs{std::move(bytes)};
    auto r = sink->restore(blobs);
    if (r) {
      // The restored records are sent again: to an empty ref here, so each is a dead letter.
      sink->finish();
    }
    return r;
  };
  FakeContext whole;
  ASSERT_TRUE(restore(blob, whole));
  ASSERT_EQ(whole.letters.size(), 3u);
  EXPECT_NE(whole.letters[0].reason.find("send to <empty>"), std::string::npos)
      << whole.letters[0].reason;
  for (std::size_t n = 0; n < blob.size(); ++n) {
    FakeContext ctx;
    EXPECT_FALSE(restore({blob.begin(), blob.begin() + static_cast<std::ptrdiff_t>(n)}, ctx))
        << "prefix of " << n << " bytes";
  }
  for (std::size_t i = 0; i < blob.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto flipped = blob;
      flipped[i] ^= static_cast<std::byte>(1u << bit);
      FakeContext ctx;
      (void)restore(flipped, ctx);  // either outcome; ASan/UBSan catch a bad read
    }
  }
}

TEST(BridgeState, JournalSourceRejectsAnEmptyOffsetAndAnotherParallelism) {
  auto factory =
      from_journal_tag(values_spec(std::make_shared<persistence::MemoryJournal>(), "t", false));
  FakeContext ctx;
  auto source = factory();
  source->open(ctx);
  const std::vector<std::vector<std::byte>> empty{{}};
  auto r = source->restore(empty);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().describe().find("journal source offset"), std::string::npos)
      << r.error().describe();
  const std::vector<std::vector<std::byte>> two{encode(std::uint64_t{1}), encode(std::uint64_t{2})};
  r = source->restore(two);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().describe().find("parallelism 1"), std::string::npos) << r.error().describe();
}

TEST(PersistentActorSink, AcksBySeqFromSeveralTargetsLeaveExactlyTheUnackedInTheCheckpoint) {
  // Two actors behind one router (as entities behind their manager): the first holds its ack,
  // the second acknowledges at once. The ack names its record, so the checkpoint must keep
  // record 1 (unacknowledged), not record 2.
  ActorSystem system;
  auto held = std::make_shared<std::atomic<int>>(0);
  auto holder =
      system.spawn(behaviors::receive<LedgerCmd>([held](ActorContext<LedgerCmd>&, LedgerCmd&) {
                     held->fetch_add(1);
                     return Behavior<LedgerCmd>(behaviors::same());
                   }),
                   "holder");
  auto acker =
      system.spawn(behaviors::receive<LedgerCmd>([](ActorContext<LedgerCmd>&, LedgerCmd& c) {
                     if (auto* credit = std::get_if<Credit>(&c))
                       credit->reply_to.tell(Ack{credit->id.seq});
                     return Behavior<LedgerCmd>(behaviors::same());
                   }),
                   "acker");
  auto router = system.spawn(
      behaviors::receive<LedgerCmd>([holder, acker](ActorContext<LedgerCmd>&, LedgerCmd& c) {
        const auto& credit = std::get<Credit>(c);
        (credit.amount == 1 ? holder : acker).tell(std::move(c));
        return Behavior<LedgerCmd>(behaviors::same());
      }),
      "router");
  auto factory = to_persistent_actor<std::int64_t>(
      router, "job", [](std::int64_t v, DedupId id, ActorRef<Ack> reply_to) {
        return LedgerCmd{Credit{v, std::move(id), std::move(reply_to)}};
      });
  FakeContext ctx;
  auto sink = factory();
  sink->open(ctx);
  sink->emit(1, 0);
  sink->emit(2, 0);
  auto unacked_seqs = [&] {
    std::vector<std::byte> blob;
    Writer w(blob);
    EXPECT_TRUE(sink->snapshot(CheckpointId{1}, w));
    Reader r(blob);
    EXPECT_EQ(r.varint().value_or(0), 3u);  // next seq
    std::vector<std::uint64_t> seqs(r.varint().value_or(0));
    for (auto& seq : seqs) {
      seq = r.varint().value_or(0);
      EXPECT_TRUE(Codec<std::int64_t>::decode(r));
    }
    return seqs;
  };
  ASSERT_TRUE(eventually([&] { return held->load() == 1 && unacked_seqs().size() == 1; }));
  EXPECT_EQ(unacked_seqs(), std::vector<std::uint64_t>{1});
  sink->close();
}

}  // namespace
}  // namespace weft::stream
