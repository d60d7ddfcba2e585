// MqttClient against a real mosquitto broker started by each test on a free loopback port.
#include "weft/io/mqtt_client.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "eventually.hpp"
#include "io/mosquitto_process.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;

using weft::test::eventually;

// Collects received messages; acks are up to the test.
struct Inbox {
  std::mutex mutex;
  std::vector<MqttMessage> messages;

  void push(MqttMessage&& m) {
    std::lock_guard lock(mutex);
    messages.push_back(std::move(m));
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return messages.size();
  }
  void ack_all() {
    std::lock_guard lock(mutex);
    for (auto& m : messages) m.ack();
  }
  std::vector<std::string> payloads() {
    std::lock_guard lock(mutex);
    std::vector<std::string> out;
    for (const auto& m : messages) out.push_back(m.payload);
    return out;
  }
};

class MqttClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.start()) << broker_.error(); }

  MqttOptions options(std::string client_id) {
    MqttOptions o;
    o.port = broker_.port();
    o.client_id = std::move(client_id);
    o.reconnect_min = 20ms;
    o.reconnect_max = 200ms;
    return o;
  }

  // A started client subscribed to `filter` at QoS 1, delivering into `inbox`.
  std::unique_ptr<MqttClient> subscriber(MqttOptions o, const std::string& filter, Inbox& inbox) {
    auto client = std::make_unique<MqttClient>(std::move(o));
    // Shared: the SUBACK callback runs again after every reconnect, after we have returned.
    auto subscribed = std::make_shared<std::atomic<bool>>(false);
    auto ok = client->subscribe(
        filter, 1, [&inbox](MqttMessage&& m) { inbox.push(std::move(m)); },
        [subscribed](Result<std::uint8_t> granted) {
          if (granted && *granted == 1) *subscribed = true;
        });
    EXPECT_TRUE(ok) << ok.error().describe();
    EXPECT_TRUE(client->start());
    EXPECT_TRUE(eventually([&] { return subscribed->load(); })) << "no SUBACK";
    return client;
  }

  // Publishes at QoS 1 and waits for every PUBACK.
  void publish_all(MqttClient& client, const std::string& topic,
                   const std::vector<std::string>& payloads) {
    std::atomic<std::size_t> done{0};
    std::atomic<std::size_t> failed{0};
    for (const auto& p : payloads) {
      auto ok = client.publish(topic, p, 1, false, [&](Result<void> r) {
        if (!r) ++failed;
        ++done;
      });
      ASSERT_TRUE(ok) << ok.error().describe();
    }
    ASSERT_TRUE(eventually([&] { return done.load() == payloads.size(); }))
        << done.load() << " of " << payloads.size() << " publishes acknowledged";
    EXPECT_EQ(failed.load(), 0u);
  }

  static std::vector<std::string> numbered(const std::string& prefix, int from, int to) {
    std::vector<std::string> out;
    for (int i = from; i <= to; ++i) out.push_back(prefix + std::to_string(i));
    return out;
  }

  test::MosquittoProcess broker_;
};

TEST_F(MqttClientTest, PublishesAndReceivesAtQos0AndQos1) {
  Inbox inbox;
  auto sub = subscriber(options("sub"), "factory/+/telemetry", inbox);
  MqttClient pub(options("pub"));
  ASSERT_TRUE(pub.start());

  const auto qos1 = numbered("q1-", 1, 200);
  publish_all(pub, "factory/m-01/telemetry", qos1);
  std::atomic<int> qos0_done{0};
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(pub.publish("factory/m-02/telemetry", "q0-" + std::to_string(i), 0, false,
                            [&](Result<void> r) { qos0_done += r ? 1 : 0; }));
  }
  ASSERT_TRUE(pub.publish("factory/m-03/alarm", "not subscribed", 1));
  // mosquitto sends at most max_inflight_messages (20) unacknowledged QoS 1 messages: the
  // rest come only as acks go out.
  ASSERT_TRUE(eventually([&] { return inbox.size() >= 20; }));
  EXPECT_LE(inbox.size(), 25u);
  EXPECT_EQ(sub->stats().acked, 0u);
  ASSERT_TRUE(eventually([&] {
    inbox.ack_all();
    return inbox.size() == 205;
  })) << inbox.size();
  EXPECT_TRUE(eventually([&] { return qos0_done.load() == 5; }));

  // Messages that arrived after the loop's last ack_all() are acknowledged here (idempotent).
  inbox.ack_all();
  std::lock_guard lock(inbox.mutex);
  std::vector<std::string> qos1_payloads;
  std::size_t qos0 = 0;
  for (const auto& m : inbox.messages) {
    if (m.qos == 0) {
      ++qos0;
      EXPECT_EQ(m.topic, "factory/m-02/telemetry");
      continue;
    }
    EXPECT_EQ(m.topic, "factory/m-01/telemetry");
    EXPECT_EQ(m.qos, 1);
    EXPECT_NE(m.packet_id, 0);
    EXPECT_FALSE(m.dup);
    qos1_payloads.push_back(m.payload);
  }
  EXPECT_EQ(qos0, 5u);
  EXPECT_EQ(qos1_payloads, qos1);  // one publisher, one topic: in order
  EXPECT_TRUE(eventually([&] { return sub->stats().acked == 200; })) << sub->stats().acked;
  EXPECT_EQ(sub->stats().received, 205u);
  EXPECT_EQ(pub.stats().publish_acked, 201u);
}

// The durability rule: what was acknowledged is gone from the broker, what was not comes back
// to the next session with the same client id (a node that crashed before its journal
// committed). PUBACKs leave in arrival order, so an ack behind an unacked message waits.
TEST_F(MqttClientTest, UnackedMessagesAreRedeliveredToTheNextSessionAckedOnesAreNot) {
  MqttClient pub(options("pub"));
  ASSERT_TRUE(pub.start());
  {
    Inbox inbox;
    auto sub = subscriber(options("node"), "t/#", inbox);
    publish_all(pub, "t/a", numbered("m", 1, 10));
    ASSERT_TRUE(eventually([&] { return inbox.size() == 10; }));
    std::lock_guard lock(inbox.mutex);
    // Acked out of order: 5, 3, 1, 2, 4 -> all five PUBACKs go; 7 waits behind 6.
    for (int i : {4, 2, 0, 1, 3, 6}) inbox.messages[static_cast<std::size_t>(i)].ack();
    inbox.messages[4].ack();  // idempotent
  }                           // sub stops: DISCONNECT after the acks given so far
  {
    Inbox inbox;
    auto sub = subscriber(options("node"), "t/#", inbox);
    ASSERT_TRUE(eventually([&] { return inbox.size() == 5; })) << inbox.size();
    EXPECT_EQ(inbox.payloads(), numbered("m", 6, 10));
    std::lock_guard lock(inbox.mutex);
    for (const auto& m : inbox.messages) EXPECT_TRUE(m.dup) << m.payload;
    // From another thread, after a delay, as a journal's commit callback would.
    std::thread([&] {
      std::this_thread::sleep_for(2ms);
      for (auto& m : inbox.messages) m.ack();
    }).join();
    EXPECT_TRUE(eventually([&] { return sub->stats().acked == 5; }));
  }
  Inbox inbox;
  auto sub = subscriber(options("node"), "t/#", inbox);
  publish_all(pub, "t/a", {"marker"});
  // The broker delivers a session's queue in order: anything left would precede the marker.
  ASSERT_TRUE(eventually([&] { return inbox.size() >= 1; }));
  EXPECT_EQ(inbox.payloads(), std::vector<std::string>{"marker"});
}

TEST_F(MqttClientTest, ReconnectOnRequestGetsTheUnacknowledgedMessagesAgain) {
  MqttClient pub(options("pub"));
  ASSERT_TRUE(pub.start());
  Inbox inbox;
  auto sub = subscriber(options("node"), "r/#", inbox);
  publish_all(pub, "r/a", numbered("m", 1, 5));
  ASSERT_TRUE(eventually([&] { return inbox.size() == 5; }));
  {
    std::lock_guard lock(inbox.mutex);
    // m3 is never taken (a failed persist): the acks of m4 and m5 wait behind it.
    for (int i : {0, 1, 3, 4}) inbox.messages[static_cast<std::size_t>(i)].ack();
  }
  ASSERT_TRUE(eventually([&] { return sub->stats().acked == 2; })) << sub->stats().acked;
  const auto disconnects = sub->stats().disconnects;
  sub->reconnect("m3 was not recorded");
  ASSERT_TRUE(eventually([&] { return inbox.size() == 8; })) << inbox.size();
  {
    std::lock_guard lock(inbox.mutex);
    std::vector<std::string> again;
    for (std::size_t i = 5; i < 8; ++i) {
      again.push_back(inbox.messages[i].payload);
      EXPECT_TRUE(inbox.messages[i].dup) << inbox.messages[i].payload;
      inbox.messages[i].ack();
    }
    EXPECT_EQ(again, numbered("m", 3, 5));
  }
  EXPECT_EQ(sub->stats().disconnects, disconnects + 1);
  EXPECT_TRUE(eventually([&] { return sub->stats().acked == 5; })) << sub->stats().acked;
  // Nothing is left in the session: the next message is the only one that arrives.
  publish_all(pub, "r/a", {"marker"});
  ASSERT_TRUE(eventually([&] { return inbox.size() >= 9; }));
  EXPECT_EQ(inbox.payloads().back(), "marker");
  EXPECT_EQ(inbox.size(), 9u);
}

TEST_F(MqttClientTest, ReconnectRequestsInARowBackOff) {
  auto o = options("node");
  o.reconnect_min = 20ms;
  o.reconnect_max = 5s;  // requests within 5 s of each other count as in a row
  std::mutex mutex;
  std::vector<int> delays_ms;  // of the reconnects asked for, from the state callback
  o.on_state = [&](MqttConnectionState s, std::string_view detail) {
    if (s != MqttConnectionState::disconnected || !detail.contains("as asked")) return;
    const auto at = detail.find("retrying in ");
    ASSERT_NE(at, std::string_view::npos) << detail;
    std::lock_guard lock(mutex);
    delays_ms.push_back(std::atoi(std::string(detail.substr(at + 12)).c_str()));
  };
  Inbox inbox;
  auto sub = subscriber(std::move(o), "b/#", inbox);
  for (std::size_t i = 1; i <= 3; ++i) {
    sub->reconnect("still cannot take it");
    ASSERT_TRUE(eventually([&] {
      std::lock_guard lock(mutex);
      return delays_ms.size() == i;
    }));
    ASSERT_TRUE(eventually([&] { return sub->connected(); }));
  }
  std::lock_guard lock(mutex);
  // Each delay is drawn in [d/2, d] with d = 20, 40, 80 ms.
  EXPECT_LE(delays_ms[0], 20);
  EXPECT_GE(delays_ms[1], 20);
  EXPECT_LE(delays_ms[1], 40);
  EXPECT_GE(delays_ms[2], 40);
}

TEST_F(MqttClientTest, AcksByPacketIdFromAnotherThreadInBatches) {
  Inbox inbox;
  auto sub = subscriber(options("node"), "batch/+", inbox);
  MqttClient pub(options("pub"));
  ASSERT_TRUE(pub.start());
  constexpr std::size_t n = 2000;
  std::atomic<bool> stop{false};
  // A stand-in for group commit: every millisecond, ack everything received so far.
  std::thread committer([&] {
    std::size_t next = 0;
    while (!stop) {
      std::vector<std::uint16_t> ids;
      {
        std::lock_guard lock(inbox.mutex);
        for (; next < inbox.messages.size(); ++next) ids.push_back(inbox.messages[next].packet_id);
      }
      for (auto id : ids) sub->ack(id);
      std::this_thread::sleep_for(1ms);
    }
  });
  publish_all(pub, "batch/x", numbered("b", 1, n));
  EXPECT_TRUE(eventually([&] { return sub->stats().acked == n; })) << sub->stats().acked;
  stop = true;
  committer.join();
  EXPECT_EQ(inbox.size(), n);
  EXPECT_EQ(sub->stats().redelivered, 0u);
}

TEST_F(MqttClientTest, ReconnectsAfterABrokerRestartAndLosesNothing) {
  test::MosquittoProcess broker({.persistence = true});
  ASSERT_TRUE(broker.start()) << broker.error();
  auto opts = [&](std::string id) {
    auto o = options(std::move(id));
    o.port = broker.port();
    return o;
  };
  std::mutex states_mutex;
  std::vector<std::string> states;
  auto sub_opts = opts("node");
  sub_opts.on_state = [&](MqttConnectionState s, std::string_view detail) {
    std::lock_guard lock(states_mutex);
    states.push_back(std::string(to_string(s)) + ": " + std::string(detail));
  };
  Inbox inbox;
  auto sub = subscriber(std::move(sub_opts), "r/+", inbox);
  MqttClient pub(opts("pub"));
  ASSERT_TRUE(pub.start());
  publish_all(pub, "r/1", {"before"});
  ASSERT_TRUE(eventually([&] { return inbox.size() == 1; }));
  // Not acknowledged: the broker keeps it in the session it saves on the way down.

  broker.stop();
  ASSERT_TRUE(eventually([&] { return !sub->connected() && !pub.connected(); }));
  std::atomic<int> during_done{0};
  ASSERT_TRUE(pub.publish("r/2", "during", 1, false, [&](Result<void> r) {
    if (r) ++during_done;
  }));
  // Let a few reconnect attempts fail against the closed port.
  ASSERT_TRUE(eventually([&] { return sub->stats().disconnects >= 3; }));
  ASSERT_TRUE(broker.start()) << broker.error();

  ASSERT_TRUE(eventually([&] { return inbox.size() == 3; })) << inbox.size();
  EXPECT_TRUE(eventually([&] { return during_done.load() == 1; }));
  std::set<std::string> got;
  {
    std::lock_guard lock(inbox.mutex);
    for (auto& m : inbox.messages) {
      got.insert(m.payload);
      m.ack();
    }
    EXPECT_TRUE(inbox.messages[1].dup || inbox.messages[2].dup) << "redelivery of 'before'";
  }
  EXPECT_EQ(got, (std::set<std::string>{"before", "during"}));
  EXPECT_GE(sub->stats().connects, 2u);
  EXPECT_TRUE(eventually([&] { return sub->stats().acked >= 2; }));
  std::lock_guard lock(states_mutex);
  EXPECT_TRUE(std::ranges::any_of(states, [](const std::string& s) {
    return s.starts_with("disconnected: ") && s.find("retrying in") != std::string::npos;
  }));
  EXPECT_TRUE(std::ranges::any_of(
      states, [](const std::string& s) { return s == "connected: session resumed"; }));
}

TEST_F(MqttClientTest, KeepAliveNoticesAPausedBrokerAndReconnects) {
  Inbox inbox;
  auto o = options("node");
  o.keep_alive = 1s;
  auto sub = subscriber(o, "k/+", inbox);
  broker_.pause();
  EXPECT_TRUE(eventually([&] { return !sub->connected(); }, 4s)) << "keep-alive did not fire";
  broker_.resume();
  EXPECT_TRUE(eventually([&] { return sub->connected(); }, 5s));
  MqttClient pub(options("pub"));
  ASSERT_TRUE(pub.start());
  publish_all(pub, "k/1", {"after"});
  EXPECT_TRUE(eventually([&] { return inbox.size() == 1; }));
}

TEST_F(MqttClientTest, OversizedMessagesAreSkippedAndAckedBinaryPayloadsArrive) {
  Inbox inbox;
  auto o = options("node");
  o.max_packet_size = 2048;
  auto sub = subscriber(o, "o/+", inbox);
  MqttClient pub(options("pub"));
  ASSERT_TRUE(pub.start());
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  publish_all(pub, "o/1", {"small", std::string(100'000, 'x'), binary, ""});
  ASSERT_TRUE(eventually([&] { return inbox.size() == 3; })) << inbox.size();
  EXPECT_EQ(inbox.payloads(), (std::vector<std::string>{"small", binary, ""}));
  EXPECT_EQ(sub->stats().oversized, 1u);
  EXPECT_EQ(sub->stats().disconnects, 0u);
  {
    std::lock_guard lock(inbox.mutex);
    for (auto& m : inbox.messages) m.ack();
  }
  EXPECT_TRUE(eventually([&] { return sub->stats().acked == 4; })) << sub->stats().acked;
}

TEST_F(MqttClientTest, CoalescesAFloodIntoFewWakeUps) {
  Inbox inbox;
  auto o = options("sub");
  o.coalesce = 20ms;
  auto sub = subscriber(o, "flood/#", inbox);
  MqttClient pub(options("pub"));
  ASSERT_TRUE(pub.start());
  // QoS 0: the broker forwards them as fast as they come, one packet per write.
  constexpr std::size_t n = 500;
  for (std::size_t i = 0; i < n; ++i) ASSERT_TRUE(pub.publish("flood/1", std::to_string(i), 0));
  ASSERT_TRUE(eventually([&] { return inbox.size() == n; })) << inbox.size();
  // Each wake-up reads what arrived during the previous 20 ms, not one packet: the broker
  // sends the flood within a few hundred ms at most, so a few dozen turns read it.
  EXPECT_LE(sub->stats().read_turns, n / 10) << sub->stats().read_turns;
  auto payloads = inbox.payloads();
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(payloads[i], std::to_string(i));
}

TEST_F(MqttClientTest, BadArgumentsFailWithClearErrors) {
  MqttClient c(options(""));
  auto start = c.start();
  ASSERT_FALSE(start);
  EXPECT_NE(start.error().message().find("needs a client id"), std::string::npos);

  auto slow = options("slow");
  slow.coalesce = 2s;
  MqttClient s(slow);
  auto coalesce = s.start();
  ASSERT_FALSE(coalesce);
  EXPECT_NE(coalesce.error().message().find("coalesce"), std::string::npos);

  MqttClient d(options("x"));
  auto bad_topic = d.publish("a/+/b", "", 1);
  ASSERT_FALSE(bad_topic);
  EXPECT_NE(bad_topic.error().message().find("wildcard"), std::string::npos);
  EXPECT_FALSE(d.publish("a", "", 2));
  EXPECT_FALSE(d.subscribe("a/#/b", 1, [](MqttMessage&&) {}));
  EXPECT_FALSE(d.subscribe("a", 2, [](MqttMessage&&) {}));
  EXPECT_FALSE(d.subscribe("a", 1, nullptr));

  // Publishes queued on a client that never ran fail when it stops.
  std::atomic<int> failed{0};
  ASSERT_TRUE(d.publish("a", "p", 1, false, [&](Result<void> r) {
    if (!r && r.error().code() == Errc::shutting_down) ++failed;
  }));
  d.stop();
  EXPECT_EQ(failed.load(), 1);
  EXPECT_FALSE(d.publish("a", "p", 1));
}

TEST_F(MqttClientTest, PublishQueueIsBounded) {
  auto o = options("pub");
  o.port = 1;  // nothing listens: everything stays queued
  o.max_queued_out = 3;
  MqttClient c(o);
  ASSERT_TRUE(c.start());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.publish("q", "p", 1));
  auto full = c.publish("q", "p", 1);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code(), Errc::mailbox_full);
}

TEST(MqttReconnectDelay, DoublesFromMinToMaxWithJitter) {
  const Duration min = 100ms;
  const Duration max = 10s;
  EXPECT_EQ(mqtt_reconnect_delay(0, min, max, 1.0), 100ms);
  EXPECT_EQ(mqtt_reconnect_delay(0, min, max, 0.0), 50ms);
  EXPECT_EQ(mqtt_reconnect_delay(3, min, max, 1.0), 800ms);
  EXPECT_EQ(mqtt_reconnect_delay(7, min, max, 1.0), 10s);
  EXPECT_EQ(mqtt_reconnect_delay(1000, min, max, 0.0), 5s);
  for (unsigned a = 0; a < 70; ++a) {
    for (double j : {0.0, 0.3, 1.0}) {
      const Duration d = mqtt_reconnect_delay(a, min, max, j);
      EXPECT_GE(d, min / 2);
      EXPECT_LE(d, max);
    }
  }
}

}  // namespace
}  // namespace weft::io
