// The device actor behind its entity manager: readings and rule-1 alarms in one journal write,
// window aggregates recorded once (dedup by id and by window), recovery to the same state
// (events, snapshots, RocksDB), on_event for every event, and an answer even when a persist
// fails.
#include "weft/node/device.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "eventually.hpp"
#include "temp_dir.hpp"
#include "weft/actor/actor_system.hpp"
#include "weft/persistence/memory_journal.hpp"
#include "weft/persistence/rocksdb_journal.hpp"

namespace weft::node {
namespace {

using namespace std::chrono_literals;
using persistence::EntityEnvelope;

/// Polls `done` until it holds or 20 s pass.
bool eventually(const std::function<bool()>& done) {
  return weft::test::eventually(done, 20s);
}

/// A journal that counts appends (one per command is the contract) and passes everything on.
class CountingJournal final : public persistence::Journal {
 public:
  explicit CountingJournal(std::shared_ptr<persistence::Journal> inner)
      : inner_(std::move(inner)) {}
  Future<std::uint64_t> append(persistence::AppendBatch batch) override {
    ++appends;
    return inner_->append(std::move(batch));
  }
  Future<std::vector<persistence::EventRecord>> read(std::string pid, std::uint64_t from,
                                                     std::uint64_t to, std::size_t max) override {
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
    return inner_->events_by_tag(std::move(tag), after, max);
  }
  Future<std::vector<std::string>> persistence_ids() override { return inner_->persistence_ids(); }
  std::uint64_t subscribe(std::function<void(std::uint64_t)> l) override {
    return inner_->subscribe(std::move(l));
  }
  void unsubscribe(std::uint64_t id) override { inner_->unsubscribe(id); }
  std::atomic<int> appends{0};

 private:
  std::shared_ptr<persistence::Journal> inner_;
};

Reading reading(std::string device, std::int64_t ts, double temperature,
                std::optional<double> vibration = std::nullopt) {
  return Reading{std::move(device), ts, temperature, vibration};
}

Result<std::size_t> record(const ActorRef<DevicesMsg>& devices, const std::string& device,
                           std::vector<Reading> readings) {
  auto promise = std::make_shared<std::promise<Result<std::size_t>>>();
  auto future = promise->get_future();
  devices.tell(EntityEnvelope<DeviceCommand>{
      device, RecordReadings{std::move(readings), [promise](Result<std::size_t> r) {
                               promise->set_value(std::move(r));
                             }}});
  if (future.wait_for(20s) != std::future_status::ready) {
    return fail(Errc::timeout, "no answer to RecordReadings");
  }
  return future.get();
}

DeviceState state_of(const ActorRef<DevicesMsg>& devices, const std::string& device) {
  auto promise = std::make_shared<std::promise<DeviceState>>();
  auto future = promise->get_future();
  devices.tell(EntityEnvelope<DeviceCommand>{
      device, GetDeviceState{[promise](const DeviceState& s) { promise->set_value(s); }}});
  EXPECT_EQ(future.wait_for(20s), std::future_status::ready);
  return future.get();
}

std::vector<DeviceEvent> events_of(persistence::Journal& journal, const std::string& device) {
  auto records = journal.read(device_pid(device), 1, UINT64_MAX, 100'000).get();
  EXPECT_TRUE(records) << records.error().describe();
  std::vector<DeviceEvent> out;
  for (const auto& r : records.value_or(std::vector<persistence::EventRecord>{})) {
    auto e = decode<DeviceEvent>(r.payload);
    EXPECT_TRUE(e) << e.error().describe();
    if (e) out.push_back(*e);
  }
  return out;
}

/// Collects Acks (their seqs) sent to it.
class AckCollector {
 public:
  explicit AckCollector(ActorSystem& system)
      : ref_(system.spawn(behaviors::receive<stream::Ack>(
            [this](ActorContext<stream::Ack>&, stream::Ack& a) -> Behavior<stream::Ack> {
              std::lock_guard lock(mutex_);
              seqs_.push_back(a.seq);
              return behaviors::same();
            }))) {}
  [[nodiscard]] const ActorRef<stream::Ack>& ref() const { return ref_; }
  std::vector<std::uint64_t> seqs() const {
    std::lock_guard lock(mutex_);
    return seqs_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::uint64_t> seqs_;
  ActorRef<stream::Ack> ref_;
};

void send_aggregate(const ActorRef<DevicesMsg>& devices, const Aggregate& a, stream::DedupId id,
                    const ActorRef<stream::Ack>& reply_to) {
  devices.tell(
      EntityEnvelope<DeviceCommand>{a.device, RecordAggregate{a, std::move(id), reply_to}});
}

TEST(Device, PidsRoundTrip) {
  EXPECT_EQ(device_pid("m-01"), "device-m-01");
  EXPECT_EQ(device_of_pid("device-m-01"), "m-01");
  EXPECT_EQ(device_of_pid("device-"), "");
  EXPECT_EQ(device_of_pid("ledger-1"), "");
  EXPECT_EQ(device_of_pid("device-a/b"), "");
}

TEST(Device, RecordsReadingsAsOneEventThenAnAlarmForEachHotOneInOneWrite) {
  auto journal = std::make_shared<CountingJournal>(std::make_shared<persistence::MemoryJournal>());
  ActorSystem system;
  DeviceOptions options;
  options.journal = journal;
  auto devices = system.spawn(devices_behavior(options), "devices");

  auto r = record(devices, "m-1",
                  {reading("m-1", 1000, 70.0, 0.1), reading("m-1", 2000, 85.5),
                   reading("m-1", 3000, 80.0), reading("m-1", 1500, 90.0)});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, 4u);
  EXPECT_EQ(journal->appends.load(), 1);

  const auto events = events_of(*journal, "m-1");
  const std::vector<DeviceEvent> expected{
      ReadingsRecorded{{
          {1000, 70.0, 0.1},
          {2000, 85.5, std::nullopt},
          {3000, 80.0, std::nullopt},  // at the threshold: not hot
          {1500, 90.0, std::nullopt},
      }},
      AlarmTriggered{2000, AlarmRule::temperature, 85.5, 80.0},
      AlarmTriggered{1500, AlarmRule::temperature, 90.0, 80.0},
  };
  EXPECT_EQ(events, expected);

  const auto s = state_of(devices, "m-1");
  EXPECT_EQ(s.seq, 3u);
  EXPECT_EQ(s.readings, 4u);
  EXPECT_EQ(s.last_ts, 3000);  // the newest by event time, not the last to arrive
  EXPECT_EQ(s.last_temperature, 80.0);
  EXPECT_EQ(s.alarms, 2u);
  // The 2000 alarm was cleared by the cool reading at 3000; the late one at 1500 is older than
  // that reading, so the device is not hot any more.
  EXPECT_FALSE(s.open_alarm.has_value());

  ASSERT_TRUE(record(devices, "m-1", {reading("m-1", 4000, 95.0)}));
  EXPECT_EQ(state_of(devices, "m-1").open_alarm,
            (std::optional<AlarmTriggered>{{4000, AlarmRule::temperature, 95.0, 80.0}}));
  ASSERT_TRUE(record(devices, "m-1", {reading("m-1", 3500, 20.0)}));  // older: stays open
  EXPECT_TRUE(state_of(devices, "m-1").open_alarm.has_value());
  ASSERT_TRUE(record(devices, "m-1", {reading("m-1", 4001, 79.9)}));
  EXPECT_FALSE(state_of(devices, "m-1").open_alarm.has_value());

  const auto tagged = journal->events_by_tag(std::string(kReadingTag), 0, 1000).get();
  ASSERT_TRUE(tagged);
  EXPECT_EQ(tagged->size(), 4u);  // the batch, then three single readings
  EXPECT_EQ(journal->events_by_tag("alarm", 0, 1000).get()->size(), 3u);
  EXPECT_EQ(record(devices, "m-1", {}).value_or(99), 0u);
}

TEST(Device, AggregatesAreRecordedOnceByIdAndByWindow) {
  auto journal = std::make_shared<persistence::MemoryJournal>();
  ActorSystem system;
  DeviceOptions options;
  options.journal = journal;
  auto devices = system.spawn(devices_behavior(options), "devices");
  AckCollector acks(system);

  const Aggregate w0{"m-2", 0, 5000, 3, 70.0, 60.0, 80.0};
  const Aggregate w1{"m-2", 5000, 10000, 2, 85.0, 84.0, 86.0};
  send_aggregate(devices, w0, {"windows", 0, 1}, acks.ref());
  send_aggregate(devices, w0, {"windows", 0, 1}, acks.ref());  // a replay: same id
  send_aggregate(devices, w1, {"windows", 0, 4}, acks.ref());
  send_aggregate(devices, w0, {"windows", 0, 7}, acks.ref());  // new id, older window
  ASSERT_TRUE(eventually([&] { return acks.seqs().size() == 4; }));
  EXPECT_EQ(acks.seqs(), (std::vector<std::uint64_t>{1, 1, 4, 7}));

  const std::vector<DeviceEvent> expected{
      AggregateRecorded{0, 5000, 3, 70.0, 60.0, 80.0, {"windows", 0, 1}},
      AggregateRecorded{5000, 10000, 2, 85.0, 84.0, 86.0, {"windows", 0, 4}},
      AlarmTriggered{10000, AlarmRule::window_average, 85.0, 80.0},
  };
  EXPECT_EQ(events_of(*journal, "m-2"), expected);
  const auto s = state_of(devices, "m-2");
  EXPECT_EQ(s.aggregates, 2u);
  EXPECT_EQ(s.last_window_end, 10000);
  EXPECT_EQ(s.alarms, 1u);
  EXPECT_TRUE(s.dedup.seen({"windows", 0, 4}));
  EXPECT_FALSE(s.dedup.seen({"windows", 0, 5}));
}

TEST(Device, OnEventSeesEveryPersistedEventWithItsSeqAndState) {
  struct Seen {
    std::string device;
    std::uint64_t seq;
    std::string type;
    std::uint64_t readings;
  };
  auto seen = std::make_shared<std::vector<Seen>>();
  auto mutex = std::make_shared<std::mutex>();
  auto journal = std::make_shared<persistence::MemoryJournal>();
  ActorSystem system;
  DeviceOptions options;
  options.journal = journal;
  options.on_event = [seen, mutex](const std::string& d, std::uint64_t seq, const DeviceEvent& e,
                                   const DeviceState& s) {
    std::lock_guard lock(*mutex);
    seen->push_back({d, seq, std::string(event_type(e)), s.readings});
  };
  auto devices = system.spawn(devices_behavior(options), "devices");
  AckCollector acks(system);
  ASSERT_TRUE(record(devices, "a", {reading("a", 1, 10), reading("a", 2, 81)}));
  ASSERT_TRUE(record(devices, "b", {reading("b", 1, 10)}));
  send_aggregate(devices, {"a", 0, 5000, 2, 45.5, 10, 81}, {"j", 0, 1}, acks.ref());
  ASSERT_TRUE(eventually([&] { return acks.seqs().size() == 1; }));
  std::lock_guard lock(*mutex);
  ASSERT_EQ(seen->size(), 4u);
  const std::vector<std::tuple<std::string, std::uint64_t, std::string, std::uint64_t>> expected{
      {"a", 1, "ReadingsRecorded", 2},
      {"a", 2, "AlarmTriggered", 2},
      {"b", 1, "ReadingRecorded", 1},
      {"a", 3, "AggregateRecorded", 2},
  };
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(std::tie((*seen)[i].device, (*seen)[i].seq, (*seen)[i].type, (*seen)[i].readings),
              std::tie(std::get<0>(expected[i]), std::get<1>(expected[i]), std::get<2>(expected[i]),
                       std::get<3>(expected[i])))
        << i;
  }
}

/// Records a mixed history in one actor system, then recovers it in a fresh one.
void recovers_the_same_state(const std::shared_ptr<persistence::Journal>& journal,
                             const std::shared_ptr<persistence::SnapshotStore>& snapshots) {
  DeviceOptions options;
  options.journal = journal;
  options.snapshots = snapshots;
  options.snapshot_every = 4;
  DeviceState before;
  {
    ActorSystem system;
    auto devices = system.spawn(devices_behavior(options), "devices");
    AckCollector acks(system);
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(record(
          devices, "r",
          {reading("r", i * 1000, 75.0 + i * 2, 0.01 * i), reading("r", i * 1000 + 500, 60.0)}));
    }
    send_aggregate(devices, {"r", 0, 5000, 10, 82.0, 60, 83}, {"windows", 0, 3}, acks.ref());
    ASSERT_TRUE(eventually([&] { return acks.seqs().size() == 1; }));
    ASSERT_TRUE(record(devices, "r", {reading("r", 9000, 99.0)}));
    before = state_of(devices, "r");
  }
  // 5 two-reading batches, 1 single reading, 3 reading alarms, 1 aggregate and its alarm.
  EXPECT_EQ(before.seq, 11u);
  EXPECT_EQ(before.readings, 11u);
  EXPECT_EQ(before.aggregates, 1u);
  ActorSystem system;
  auto devices = system.spawn(devices_behavior(options), "devices");
  EXPECT_EQ(state_of(devices, "r"), before);
  // And it goes on from there: a replayed aggregate is still recognised.
  AckCollector acks(system);
  send_aggregate(devices, {"r", 0, 5000, 10, 82.0, 60, 83}, {"windows", 0, 3}, acks.ref());
  ASSERT_TRUE(eventually([&] { return acks.seqs().size() == 1; }));
  EXPECT_EQ(state_of(devices, "r").aggregates, 1u);
}

TEST(Device, RecoversTheSameStateFromTheJournal) {
  recovers_the_same_state(std::make_shared<persistence::MemoryJournal>(), nullptr);
}

TEST(Device, RecoversTheSameStateFromRocksDbWithSnapshots) {
  test::TempDir dir;
  persistence::JournalOptions o;
  o.directory = dir.db();
  o.durability = persistence::Durability::none;
  auto opened = persistence::RocksDbJournal::open(o);
  ASSERT_TRUE(opened) << opened.error().describe();
  std::shared_ptr<persistence::RocksDbJournal> journal = std::move(*opened);
  auto snapshots = journal->snapshot_store();
  recovers_the_same_state(journal, snapshots);
  auto latest = snapshots->load_latest(device_pid("r")).get();
  ASSERT_TRUE(latest);
  ASSERT_TRUE(latest->has_value()) << "snapshot_every = 4 took no snapshot";
  // Taken after the write that crossed a multiple of 4 (a write is several events).
  EXPECT_GE((*latest)->meta.sequence_nr, 4u);
  auto decoded = decode<DeviceState>((*latest)->payload);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->seq, (*latest)->meta.sequence_nr);
}

TEST(Device, AFailedPersistAnswersWithAnErrorAndRecordsNothing) {
  auto journal = std::make_shared<persistence::MemoryJournal>();
  ActorSystem system;
  DeviceOptions options;
  options.journal = journal;
  auto devices = system.spawn(devices_behavior(options), "devices");
  ASSERT_TRUE(record(devices, "f", {reading("f", 1, 10)}));
  journal->fail_appends(Error(Errc::io, "disk full"));
  auto failed = record(devices, "f", {reading("f", 2, 20)});
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), Errc::actor_stopped);
  journal->fail_appends(std::nullopt);
  // The next command starts the device again, recovered from what was stored.
  ASSERT_TRUE(record(devices, "f", {reading("f", 3, 30)}));
  EXPECT_EQ(state_of(devices, "f").readings, 2u);
}

TEST(Device, OnActiveCountsEachDeviceFromItsStartUntilItStops) {
  auto clock = std::make_shared<ManualClock>();
  ActorSystemConfig config;
  config.clock = clock;
  ActorSystem system(config);
  auto journal = std::make_shared<persistence::MemoryJournal>();
  auto active = std::make_shared<std::atomic<int>>(0);
  DeviceOptions options;
  options.journal = journal;
  options.passivate_after = std::chrono::minutes(1);
  options.on_active = [active](int delta) { *active += delta; };
  auto devices = system.spawn(devices_behavior(options), "devices");
  for (const std::string id : {"p", "q", "r"})
    ASSERT_TRUE(record(devices, id, {reading(id, 1, 10)}));
  EXPECT_EQ(active->load(), 3);

  journal->fail_appends(Error(Errc::io, "disk full"));
  ASSERT_FALSE(record(devices, "p", {reading("p", 2, 20)}));
  EXPECT_TRUE(eventually([&] { return active->load() == 2; }));  // the failed device stopped
  journal->fail_appends(std::nullopt);
  ASSERT_TRUE(record(devices, "p", {reading("p", 3, 30)}));  // and starts again
  EXPECT_EQ(active->load(), 3);

  clock->advance(std::chrono::minutes(3));
  EXPECT_TRUE(eventually([&] { return active->load() == 0; }));  // all passivated
  EXPECT_EQ(state_of(devices, "q").readings, 1u);                // back on the next command
  EXPECT_EQ(active->load(), 1);
}

TEST(Device, ReadingsDoneRunsOnceAndAnswersWhenDroppedUncalled) {
  int calls = 0;
  std::optional<Result<std::size_t>> last;
  {
    ReadingsDone done([&](Result<std::size_t> r) {
      ++calls;
      last = std::move(r);
    });
    auto copy = done;
    copy(std::size_t{3});
    done(std::size_t{4});
  }
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(last->value_or(0), 3u);
  {
    ReadingsDone dropped([&](Result<std::size_t> r) {
      ++calls;
      last = std::move(r);
    });
  }
  EXPECT_EQ(calls, 2);
  ASSERT_FALSE(last->has_value());
  EXPECT_EQ(last->error().code(), Errc::actor_stopped);
}

// Journals written before ReadingsRecorded existed hold events under the old variant's manifest:
// the actor recovers them, and the API and the window job decode them, through the upcasters.
TEST(Device, RecoversEventsStoredBeforeReadingsRecordedExisted) {
  auto journal = std::make_shared<persistence::MemoryJournal>();
  const std::vector<DeviceEventV1> old{
      ReadingRecorded{1000, 70.0, 0.1},
      ReadingRecorded{2000, 85.5, std::nullopt},
      AlarmTriggered{2000, AlarmRule::temperature, 85.5, 80.0},
  };
  persistence::AppendBatch batch{device_pid("m-old"), 1, 0, {}};
  for (std::size_t i = 0; i < old.size(); ++i) {
    persistence::EventRecord e;
    e.persistence_id = device_pid("m-old");
    e.sequence_nr = i + 1;
    e.manifest = std::string(Codec<DeviceEventV1>::manifest);
    e.version = Codec<DeviceEventV1>::version;
    e.payload = encode(old[i]);
    batch.events.push_back(std::move(e));
  }
  ASSERT_TRUE(journal->append(std::move(batch)).get());
  ASSERT_NE(Codec<DeviceEventV1>::manifest, Codec<DeviceEvent>::manifest);

  ActorSystem system;
  DeviceOptions options;
  options.journal = journal;
  auto devices = system.spawn(devices_behavior(options), "devices");
  ASSERT_TRUE(
      record(devices, "m-old", {reading("m-old", 3000, 60.0), reading("m-old", 4000, 61.0)}));
  const auto s = state_of(devices, "m-old");
  EXPECT_EQ(s.seq, 4u);
  EXPECT_EQ(s.readings, 4u);
  EXPECT_EQ(s.alarms, 1u);
  EXPECT_EQ(s.last_ts, 4000);

  auto records = journal->read(device_pid("m-old"), 1, UINT64_MAX, 100).get();
  ASSERT_TRUE(records);
  ASSERT_EQ(records->size(), 4u);
  std::vector<std::string> types;
  for (const auto& rec : *records) {
    auto e = device_upcasters().decode(rec.manifest, rec.version, rec.payload);
    ASSERT_TRUE(e) << e.error().describe();
    types.emplace_back(event_type(*e));
  }
  EXPECT_EQ(types, (std::vector<std::string>{"ReadingRecorded", "ReadingRecorded", "AlarmTriggered",
                                             "ReadingsRecorded"}));
  // A manifest that is neither is still an error that names it.
  auto bad = device_upcasters().decode("weft.node.Nope", 1, records->front().payload);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("weft.node.Nope"), std::string::npos);
}

TEST(Device, EventJsonNamesTheFields) {
  EXPECT_EQ(event_json(ReadingRecorded{5, 71.5, 0.25}),
            R"({"temperature":71.5,"ts":5,"vibration":0.25})");
  EXPECT_EQ(event_json(AlarmTriggered{7, AlarmRule::window_average, 81.0, 80.0}),
            R"({"rule":"window_average","threshold":80.0,"ts":7,"value":81.0})");
  EXPECT_EQ(
      event_json(ReadingsRecorded{{{5, 71.5, 0.25}, {6, 72.0, std::nullopt}}}),
      R"({"readings":[{"temperature":71.5,"ts":5,"vibration":0.25},{"temperature":72.0,"ts":6}]})");
  EXPECT_EQ(event_type(AggregateRecorded{}), "AggregateRecorded");
  EXPECT_EQ(event_type(ReadingsRecorded{}), "ReadingsRecorded");
  EXPECT_EQ(to_string(AlarmRule::temperature), "temperature");
}

}  // namespace
}  // namespace weft::node
