// Throughput of MQTT ingest as the node does it: P publishers at QoS 1 -> mosquitto -> one
// subscriber whose acks come from another thread in batches, every C ms, as a journal's group
// commit would. Prints one JSON line. Runs only when asked (a measurement, not a check):
//   WEFT_MQTT_BENCH=<messages per publisher> [WEFT_MQTT_BENCH_PUBLISHERS=8]
//   [WEFT_MQTT_BENCH_COMMIT_MS=1] [WEFT_MQTT_BENCH_BROKER_INFLIGHT=20]
//   build/bin/weft_io_tests --gtest_filter='MqttThroughput.*'
// Numbers and their discussion: docs/mqtt.md.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io/mosquitto_process.hpp"
#include "weft/io/mqtt_client.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double cpu_seconds(int who) {
  rusage u{};
  ::getrusage(who, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::size_t env_or(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? static_cast<std::size_t>(std::strtoull(v, nullptr, 10)) : fallback;
}

TEST(MqttThroughput, PublishersToOneSubscriberAckingInBatches) {
  const std::size_t per_publisher = env_or("WEFT_MQTT_BENCH", 0);
  if (per_publisher == 0) GTEST_SKIP() << "set WEFT_MQTT_BENCH=<messages per publisher>";
  const std::size_t publishers = env_or("WEFT_MQTT_BENCH_PUBLISHERS", 8);
  const std::size_t commit_ms = env_or("WEFT_MQTT_BENCH_COMMIT_MS", 1);
  const std::size_t broker_inflight = env_or("WEFT_MQTT_BENCH_BROKER_INFLIGHT", 20);
  const std::size_t total = per_publisher * publishers;

  // max_queued_messages 0: mosquitto's default (1000) drops QoS 1 messages for a subscriber
  // that is behind, which the node must never be subject to (docs/mqtt.md).
  test::MosquittoProcess broker(
      {.extra_config =
           fmt::format("max_inflight_messages {}\nmax_queued_messages 0\n", broker_inflight)});
  ASSERT_TRUE(broker.start()) << broker.error();
  auto options = [&](std::string id) {
    MqttOptions o;
    o.port = broker.port();
    o.client_id = std::move(id);
    o.max_queued_out = per_publisher;
    return o;
  };

  std::mutex mutex;
  std::vector<MqttMessage> received;  // what the journal would be appending
  std::atomic<bool> subscribed{false};
  std::atomic<Clock::rep> first_at{0};
  MqttClient sub(options("bench-node"));
  ASSERT_TRUE(sub.subscribe(
      "factory/+/telemetry", 1,
      [&](MqttMessage&& m) {
        Clock::rep zero = 0;
        first_at.compare_exchange_strong(zero, Clock::now().time_since_epoch().count());
        std::lock_guard lock(mutex);
        received.push_back(std::move(m));
      },
      [&](Result<std::uint8_t> r) { subscribed = r.has_value(); }));
  ASSERT_TRUE(sub.start());
  const auto deadline = Clock::now() + 10s;
  while (!subscribed && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(subscribed);

  std::atomic<bool> stop{false};
  std::size_t batches = 0;
  std::thread committer([&] {
    std::vector<MqttMessage> batch;
    while (!stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(commit_ms));
      {
        std::lock_guard lock(mutex);
        batch.swap(received);
      }
      if (!batch.empty()) ++batches;
      for (auto& m : batch) m.ack();  // "durable"
      batch.clear();
    }
  });

  std::vector<std::unique_ptr<MqttClient>> pubs;
  for (std::size_t p = 0; p < publishers; ++p) {
    pubs.push_back(std::make_unique<MqttClient>(options(fmt::format("bench-pub-{}", p))));
    ASSERT_TRUE(pubs.back()->start());
  }
  std::atomic<std::size_t> published{0};
  const double cpu_before = cpu_seconds(RUSAGE_SELF);
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (std::size_t p = 0; p < publishers; ++p) {
    threads.emplace_back([&, p] {
      for (std::size_t i = 0; i < per_publisher; ++i) {
        const std::string payload =
            fmt::format(R"({{"device":"m-{:02}","ts":{},"temperature":71.5,"vibration":0.02}})", p,
                        1764000000000 + i);
        auto ok = pubs[p]->publish(fmt::format("factory/m-{:02}/telemetry", p), payload, 1, false,
                                   [&](Result<void> r) {
                                     if (r) ++published;
                                   });
        if (!ok) ADD_FAILURE() << ok.error().describe();
      }
    });
  }
  for (auto& t : threads) t.join();
  const auto run_deadline = Clock::now() + 300s;
  Clock::time_point published_at{};
  while (sub.stats().acked < total && Clock::now() < run_deadline) {
    if (published_at == Clock::time_point{} && published == total) published_at = Clock::now();
    std::this_thread::sleep_for(200us);
  }
  const auto end = Clock::now();
  if (published_at == Clock::time_point{}) published_at = end;
  stop = true;
  committer.join();
  const auto stats = sub.stats();
  EXPECT_EQ(stats.acked, total);
  EXPECT_EQ(stats.received, total);
  // CPU per message, because wall-clock rates on a shared machine say little on their own:
  // ours (publishers, subscriber, committer) and the broker's (a reaped child).
  const double client_cpu = cpu_seconds(RUSAGE_SELF) - cpu_before;
  pubs.clear();
  sub.stop();
  broker.stop();
  const double broker_cpu = cpu_seconds(RUSAGE_CHILDREN);

  const double seconds = std::chrono::duration<double>(end - start).count();
  const double publish_seconds = std::chrono::duration<double>(published_at - start).count();
  std::cout << fmt::format(
                   R"({{"suite":"io","scenario":"mqtt_qos1_ingest","publishers":{},"messages":{},)"
                   R"("commit_ms":{},"broker_inflight":{},"readings_per_s":{:.0f},)"
                   R"("publish_per_s":{:.0f},"ack_batches":{},"redelivered":{},)"
                   R"("client_cpu_us_per_msg":{:.1f},"broker_cpu_us_per_msg":{:.1f}}})",
                   publishers, total, commit_ms, broker_inflight, total / seconds,
                   published.load() / publish_seconds, batches, stats.redelivered,
                   client_cpu * 1e6 / total, broker_cpu * 1e6 / total)
            << std::endl;
}

}  // namespace
}  // namespace weft::io
