// The journal source stays quiet when there is nothing to read: it reads once per commit (or
// page), never in a loop. An earlier version re-read an idle journal forever, which held an
// actor worker and made every checkpoint of the node's window job take seconds.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "eventually.hpp"
#include "temp_dir.hpp"
#include "weft/actor/actor_system.hpp"
#include "weft/persistence/memory_journal.hpp"
#include "weft/persistence/rocksdb_journal.hpp"
#include "weft/stream/bridges.hpp"
#include "weft/stream/sinks.hpp"

namespace weft::stream {
namespace {

using namespace std::chrono_literals;
using persistence::AppendBatch;
using persistence::EventRecord;
using persistence::Journal;
using weft::test::eventually;

/// A journal that counts events_by_tag calls and forwards everything.
class CountingJournal final : public Journal {
 public:
  explicit CountingJournal(std::shared_ptr<Journal> inner) : inner_(std::move(inner)) {}
  Future<std::uint64_t> append(AppendBatch b) override { return inner_->append(std::move(b)); }
  Future<std::vector<EventRecord>> read(std::string pid, std::uint64_t from, std::uint64_t to,
                                        std::size_t max) override {
    return inner_->read(std::move(pid), from, to, max);
  }
  Future<std::uint64_t> highest_sequence_nr(std::string pid) override {
    return inner_->highest_sequence_nr(std::move(pid));
  }
  Future<std::uint64_t> delete_to(std::string pid, std::uint64_t to) override {
    return inner_->delete_to(std::move(pid), to);
  }
  Future<std::vector<persistence::TaggedEvent>> events_by_tag(std::string tag, std::uint64_t after,
                                                              std::size_t max) override {
    tag_reads.fetch_add(1);
    return inner_->events_by_tag(std::move(tag), after, max);
  }
  Future<std::vector<std::string>> persistence_ids() override { return inner_->persistence_ids(); }
  std::uint64_t subscribe(std::function<void(std::uint64_t)> f) override {
    return inner_->subscribe(std::move(f));
  }
  void unsubscribe(std::uint64_t id) override { inner_->unsubscribe(id); }

  std::atomic<std::uint64_t> tag_reads{0};

 private:
  std::shared_ptr<Journal> inner_;
};

void append(Journal& j, std::uint64_t seq) {
  EventRecord e;
  e.persistence_id = "p";
  e.sequence_nr = seq;
  e.manifest = "test.value";
  e.payload = encode(static_cast<std::int64_t>(seq));
  e.tags = {"t"};
  AppendBatch b;
  b.persistence_id = "p";
  b.expected_next_sequence_nr = seq;
  b.events.push_back(std::move(e));
  ASSERT_TRUE(j.append(std::move(b)).get());
}

void quiet_when_idle(std::shared_ptr<Journal> inner) {
  auto journal = std::make_shared<CountingJournal>(std::move(inner));
  ActorSystem system;
  auto out = std::make_shared<Collected<std::int64_t>>();
  JournalTagSpec<std::int64_t> spec;
  spec.journal = journal;
  spec.tag = "t";
  spec.decode = [](const EventRecord& e) { return decode<std::int64_t>(e.payload); };
  StreamJob job;
  job.from(from_journal_tag(spec), {}, "journal", 1).to(collect(out));
  auto running = job.start(system);
  ASSERT_TRUE(running) << running.error().describe();
  constexpr std::uint64_t commits = 50;
  for (std::uint64_t i = 1; i <= commits; ++i) append(*journal, i);
  ASSERT_TRUE(eventually([&] { return out->size() == commits; }, 10s));
  // Caught up: a few reads may still be on their way, then none.
  const auto after_catch_up = journal->tag_reads.load();
  std::this_thread::sleep_for(300ms);  // an observation window: nothing should happen in it
  const auto idle_reads = journal->tag_reads.load() - after_catch_up;
  EXPECT_LE(idle_reads, 2u) << "the source keeps reading an idle journal";
  // At most a read per commit (plus one to find the end) while following them.
  EXPECT_LE(after_catch_up, 2 * commits + 2);
  (*running)->cancel();
}

TEST(JournalTagSourceLoad, QuietOnAnIdleMemoryJournal) {
  quiet_when_idle(std::make_shared<persistence::MemoryJournal>());
}

TEST(JournalTagSourceLoad, QuietOnAnIdleRocksDbJournal) {
  weft::test::TempDir dir;
  persistence::JournalOptions o;
  o.directory = dir.sub("j");
  o.durability = persistence::Durability::none;
  auto j = persistence::RocksDbJournal::open(o);
  ASSERT_TRUE(j);
  quiet_when_idle(std::shared_ptr<Journal>(std::move(*j)));
}

}  // namespace
}  // namespace weft::stream
