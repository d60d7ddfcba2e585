// The node end to end over HTTP: a real node (journal, device actors, window job, HTTP server)
// on a free loopback port and a temp data dir, driven as a device and a dashboard would.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>

#include "eventually.hpp"
#include "temp_dir.hpp"
#include "weft/io/http_client.hpp"
#include "weft/node/node.hpp"

namespace weft::node {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using weft::test::eventually;

constexpr std::int64_t kBase = 1'764'000'000'000;  // a multiple of 5000: a window start

class NodeTest : public ::testing::Test {
 protected:
  void SetUp() override { start(); }
  void TearDown() override {
    if (node_) {
      ASSERT_TRUE(node_->stop());
    }
  }

  void start() {
    NodeOptions o;
    o.data_dir = dir_.sub("data");
    o.http_port = 0;
    o.workers = 2;
    o.checkpoint_interval = 500ms;
    o.windows.idle_timeout = idle_timeout_;
    o.snapshot_every = snapshot_every_;
    auto n = Node::start(o);
    ASSERT_TRUE(n) << n.error().describe();
    node_ = std::move(*n);
    auto c = io::HttpClient::connect("127.0.0.1", node_->http_port());
    ASSERT_TRUE(c) << c.error().describe();
    client_.emplace(std::move(*c));
  }
  void restart() {
    client_.reset();
    ASSERT_TRUE(node_->stop());
    node_.reset();
    start();
  }

  io::HttpClientResponse request(std::string_view method, std::string_view target,
                                 std::string_view body = {}, const io::HttpHeaders& h = {}) {
    auto r = client_->request(method, target, body, h);
    EXPECT_TRUE(r) << r.error().describe();
    return r ? *r : io::HttpClientResponse{};
  }
  json get_json(std::string_view target, int expect = 200) {
    auto r = request("GET", target);
    EXPECT_EQ(r.status, expect) << target << ": " << r.body;
    return json::parse(r.body, nullptr, false);
  }
  json post(const json& readings, int expect = 200) {
    auto r = request("POST", "/api/v1/readings", readings.dump());
    EXPECT_EQ(r.status, expect) << r.body;
    return json::parse(r.body, nullptr, false);
  }
  static json reading(const std::string& device, std::int64_t ts, double t) {
    return json{{"device", device}, {"ts", ts}, {"temperature", t}};
  }
  /// The aggregates of `device`, once there are at least `n` (or what is there at the deadline).
  json aggregates(const std::string& device, std::size_t n) {
    json out;
    eventually(
        [&] {
          out = get_json("/api/v1/devices/" + device + "/aggregates")["aggregates"];
          return out.size() >= n;
        },
        10s);
    return out;
  }

  test::TempDir dir_{"weft-node"};
  Duration idle_timeout_ = 30s;
  std::uint64_t snapshot_every_ = 1000;
  std::unique_ptr<Node> node_;
  std::optional<io::HttpClient> client_;
};

TEST_F(NodeTest, ReadingsAreRecordedAndAHotOneRaisesAnAlarmAtOnce) {
  auto r = post(json::array({reading("m-01", kBase + 10, 70.0), reading("m-01", kBase + 20, 85.5),
                             reading("m-01", kBase + 30, 72.0)}));
  EXPECT_EQ(r["accepted"], 3);
  EXPECT_TRUE(r["rejected"].empty());

  auto d = get_json("/api/v1/devices/m-01");
  EXPECT_EQ(d["readings"], 3);
  EXPECT_EQ(d["alarms"], 1);
  EXPECT_EQ(d["last_ts"], kBase + 30);
  EXPECT_DOUBLE_EQ(d["last_temperature"].get<double>(), 72.0);
  EXPECT_TRUE(d["open_alarm"].is_null()) << "a newer reading at 72 clears it";

  auto events = get_json("/api/v1/devices/m-01/events?from=1&limit=10")["events"];
  std::vector<std::string> types;
  for (const auto& e : events) types.push_back(e["type"]);
  // One batch of one device is one event, its hot reading's alarm right after it.
  EXPECT_EQ(types, (std::vector<std::string>{"ReadingsRecorded", "AlarmTriggered"}));
  ASSERT_EQ(events[0]["payload"]["readings"].size(), 3u);
  EXPECT_EQ(events[0]["payload"]["readings"][1]["ts"], kBase + 20);
  EXPECT_DOUBLE_EQ(events[0]["payload"]["readings"][1]["temperature"].get<double>(), 85.5);
  EXPECT_EQ(events[1]["payload"]["rule"], "temperature");
  EXPECT_DOUBLE_EQ(events[1]["payload"]["value"].get<double>(), 85.5);
  auto paged = get_json("/api/v1/devices/m-01/events?from=2&limit=1");
  ASSERT_EQ(paged["events"].size(), 1u);
  EXPECT_EQ(paged["events"][0]["seq"], 2);
  EXPECT_EQ(paged["next"], 3);
  // A single reading is a ReadingRecorded.
  EXPECT_EQ(post(json::array({reading("m-01", kBase + 40, 71.0)}))["accepted"], 1);
  auto single = get_json("/api/v1/devices/m-01/events?from=3&limit=10")["events"];
  ASSERT_EQ(single.size(), 1u);
  EXPECT_EQ(single[0]["type"], "ReadingRecorded");
  EXPECT_EQ(single[0]["payload"]["ts"], kBase + 40);

  auto alarms = get_json("/api/v1/alarms")["alarms"];
  ASSERT_EQ(alarms.size(), 1u);
  EXPECT_EQ(alarms[0]["device"], "m-01");
  EXPECT_EQ(alarms[0]["ts"], kBase + 20);
  EXPECT_EQ(get_json("/api/v1/alarms?since_ts=" + std::to_string(kBase + 21))["alarms"].size(), 0u);

  auto list = get_json("/api/v1/devices")["devices"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["id"], "m-01");
  EXPECT_EQ(list[0]["readings"], 4);
}

TEST_F(NodeTest, WindowsCloseOnEachDevicesOwnWatermark) {
  // m-a: four readings in [kBase, kBase+5000), out of order; m-b runs 100 s behind m-a's clock.
  post(json::array({reading("m-a", kBase + 3000, 76), reading("m-a", kBase + 100, 70),
                    reading("m-b", kBase - 100'000, 60), reading("m-a", kBase + 4999, 74),
                    reading("m-a", kBase + 2000, 72)}));
  // ts ≥ end + 2 s closes it: 6999 does not, 7000 does.
  post(json::array({reading("m-a", kBase + 6999, 90)}));
  post(json::array({reading("m-b", kBase - 99'000, 62)}));  // not late: m-b's own clock
  EXPECT_TRUE(get_json("/api/v1/devices/m-a/aggregates")["aggregates"].empty());
  post(json::array({reading("m-a", kBase + 7000, 91)}));

  auto a = aggregates("m-a", 1);
  ASSERT_EQ(a.size(), 1u) << a.dump();
  EXPECT_EQ(a[0]["window_start"], kBase);
  EXPECT_EQ(a[0]["window_end"], kBase + 5000);
  EXPECT_EQ(a[0]["count"], 4);
  EXPECT_DOUBLE_EQ(a[0]["avg"].get<double>(), 73.0);
  EXPECT_DOUBLE_EQ(a[0]["min"].get<double>(), 70.0);
  EXPECT_DOUBLE_EQ(a[0]["max"].get<double>(), 76.0);

  // A late reading is counted, recorded, and kept out of the window.
  post(json::array({reading("m-a", kBase + 1000, 10)}));
  ASSERT_TRUE(eventually([&] {
    auto late = get_json("/api/v1/late");
    return late["total"] == 1 && late["late"][0]["device"] == "m-a";
  }));
  EXPECT_EQ(get_json("/api/v1/devices/m-a")["readings"], 7);
  EXPECT_EQ(get_json("/api/v1/devices/m-a")["late"], 1);
  EXPECT_EQ(get_json("/api/v1/late")["total"], 1) << "m-b's old clock made nothing late";

  // A hot window: its average triggers an alarm (rule 2).
  post(json::array({reading("m-a", kBase + 14'000, 10)}));  // closes [5000, 10000): 90, 91
  auto two = aggregates("m-a", 2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_DOUBLE_EQ(two[1]["avg"].get<double>(), 90.5);
  ASSERT_TRUE(eventually([&] {
    const auto alarms = get_json("/api/v1/alarms");  // a named value: the loop must not dangle
    for (const auto& al : alarms["alarms"]) {
      if (al["rule"] == "window_average" && al["device"] == "m-a") return true;
    }
    return false;
  })) << get_json("/api/v1/alarms").dump();
}

TEST_F(NodeTest, AWindowRecordedBeforeARestartIsNeverRecordedAgain) {
  post(json::array({reading("m-r", kBase + 1, 70), reading("m-r", kBase + 2, 80),
                    reading("m-r", kBase + 7000, 75)}));
  ASSERT_EQ(aggregates("m-r", 1).size(), 1u);
  restart();
  EXPECT_EQ(get_json("/api/v1/devices/m-r")["readings"], 3) << "state survives the restart";
  post(json::array({reading("m-r", kBase + 12'000, 75)}));  // closes [5000, 10000)
  auto a = aggregates("m-r", 2);
  ASSERT_EQ(a.size(), 2u) << a.dump();
  EXPECT_EQ(a[0]["window_start"], kBase);
  EXPECT_EQ(a[1]["window_start"], kBase + 5000);
  EXPECT_EQ(a[1]["count"], 1);
}

TEST_F(NodeTest, AfterARestartEveryKnownDeviceRecoversAndTheNodeSaysSo) {
  EXPECT_TRUE(node_->stats().recovered) << "a new data dir has nothing to recover";
  json batch = json::array();
  for (int i = 0; i < 40; ++i) batch.push_back(reading(fmt::format("m-{:02}", i), kBase + i, 60));
  ASSERT_EQ(post(batch)["accepted"], 40);
  restart();
  ASSERT_TRUE(eventually([&] { return node_->stats().recovered; }, 10s));
  const auto stats = node_->stats();
  EXPECT_EQ(stats.devices, 40u) << "recovered before every known device was back";
  EXPECT_EQ(get_json("/api/v1/devices/m-39")["readings"], 1);
}

TEST_F(NodeTest, TimeTravelReplaysTheStateAsRecordedThen) {
  post(json::array({reading("m-t", kBase, 70)}));
  auto first = get_json("/api/v1/devices/m-t/events?from=1&limit=1")["events"][0];
  const std::int64_t t1 = first["ts"];
  ASSERT_TRUE(eventually([&] {
    // The next batch must be recorded at a later millisecond than the first.
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count() > t1;
  }));
  post(json::array({reading("m-t", kBase + 10, 71), reading("m-t", kBase + 20, 72)}));
  auto then = get_json("/api/v1/devices/m-t/state?at_ts=" + std::to_string(t1));
  EXPECT_EQ(then["readings"], 1);
  EXPECT_DOUBLE_EQ(then["last_temperature"].get<double>(), 70.0);
  EXPECT_EQ(then["at_ts"], t1);
  auto now = get_json("/api/v1/devices/m-t/state?at_ts=" + std::to_string(t1 + 3'600'000));
  EXPECT_EQ(now["readings"], 3);
  get_json("/api/v1/devices/m-t/state", 400);
  get_json("/api/v1/devices/m-t/state?at_ts=soon", 400);
}

// Time travel finds the last event by a time with a binary search and starts from the newest
// snapshot before it: every recorded time must give the state as it was then, whether it falls
// on a snapshot, between two, or before the first event.
TEST_F(NodeTest, TimeTravelFromSnapshotsGivesTheStateAtEveryRecordedTime) {
  snapshot_every_ = 3;
  restart();
  auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  std::vector<std::int64_t> recorded;
  for (int k = 0; k < 10; ++k) {
    post(json::array({reading("m-tt", kBase + k * 10, 60.0 + k)}));
    auto events = get_json("/api/v1/devices/m-tt/events?from=" + std::to_string(k + 1) +
                           "&limit=1")["events"];
    ASSERT_EQ(events.size(), 1u) << k;
    recorded.push_back(events[0]["ts"]);
    // Each reading is recorded at a later millisecond than the one before.
    ASSERT_TRUE(eventually([&] { return now_ms() > recorded.back(); }, 5s));
  }
  for (int k = 0; k < 10; ++k) {
    auto s = get_json("/api/v1/devices/m-tt/state?at_ts=" + std::to_string(recorded[k]));
    EXPECT_EQ(s["readings"], k + 1) << k;
    EXPECT_DOUBLE_EQ(s["last_temperature"].get<double>(), 60.0 + k) << k;
    EXPECT_EQ(s["last_ts"], kBase + k * 10) << k;
  }
  auto before = get_json("/api/v1/devices/m-tt/state?at_ts=" + std::to_string(recorded[0] - 1));
  EXPECT_EQ(before["readings"], 0);
  auto after = get_json("/api/v1/devices/m-tt/state?at_ts=" + std::to_string(recorded[9] + 1));
  EXPECT_EQ(after["readings"], 10);
}

TEST_F(NodeTest, BadInputIsRejectedWithReasonsAndValidReadingsInTheSameBatchAreKept) {
  // A batch with one bad item of each kind and two good ones.
  const std::string body = R"([
    {"device": "m-ok", "ts": 1764000000001, "temperature": 70},
    {"device": "bad id!", "ts": 1764000000002, "temperature": 70},
    {"device": "m-ok", "ts": "yesterday", "temperature": 70},
    {"device": "m-ok", "ts": 1764000000003, "temperature": 1e999},
    {"device": "m-ok", "ts": 1764000000004},
    42,
    {"device": "m-ok", "ts": 1764000000005, "temperature": 71, "vibration": 0.5}
  ])";
  auto r = request("POST", "/api/v1/readings", body);
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["accepted"], 2);
  std::vector<std::size_t> indices;
  for (const auto& e : j["rejected"]) {
    indices.push_back(e["index"]);
    EXPECT_FALSE(e["error"].get<std::string>().empty());
  }
  EXPECT_EQ(indices, (std::vector<std::size_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(get_json("/api/v1/devices/m-ok")["readings"], 2);

  // NaN is not JSON: that item is rejected, and the valid one after it is still kept.
  auto nan = request("POST", "/api/v1/readings",
                     R"([{"device":"m-ok","ts":6,"temperature":NaN},
                         {"device":"m-ok","ts":7,"temperature":72}])");
  ASSERT_EQ(nan.status, 200) << nan.body;
  EXPECT_EQ(json::parse(nan.body)["accepted"], 1) << nan.body;
  EXPECT_EQ(json::parse(nan.body)["rejected"][0]["index"], 0) << nan.body;
  EXPECT_NE(json::parse(nan.body)["rejected"][0]["error"].get<std::string>().find("temperature"),
            std::string::npos)
      << nan.body;
  EXPECT_EQ(get_json("/api/v1/devices/m-ok")["readings"], 3);

  // Not JSON at all, cut short, an object where an array belongs.
  for (std::string_view bad : {R"([{"device": "m-ok", )", "hello", "42"}) {
    auto resp = request("POST", "/api/v1/readings", bad);
    EXPECT_EQ(resp.status, 400) << bad;
    EXPECT_NE(resp.body.find("error"), std::string::npos);
  }
  // JSON lines.
  io::HttpHeaders nd;
  nd.add("Content-Type", "application/x-ndjson");
  auto lines = request("POST", "/api/v1/readings",
                       "{\"device\":\"m-nd\",\"ts\":1,\"temperature\":1}\n{oops}\n"
                       "{\"device\":\"m-nd\",\"ts\":2,\"temperature\":2}\n",
                       nd);
  ASSERT_EQ(lines.status, 200) << lines.body;
  EXPECT_EQ(json::parse(lines.body)["accepted"], 2);
  EXPECT_EQ(json::parse(lines.body)["rejected"][0]["index"], 1);

  // Unknown and invalid devices, bad query parameters.
  EXPECT_EQ(request("GET", "/api/v1/devices/m-none").status, 404);
  EXPECT_EQ(request("GET", "/api/v1/devices/m-none/events").status, 404);
  EXPECT_EQ(request("GET", "/api/v1/devices/m-ok/events?limit=many").status, 400);
  EXPECT_EQ(request("GET", "/api/v1/devices/m-ok/events?from=0").status, 400);

  // Over the body limit: 413, and the node stays up.
  std::string huge(9u << 20, ' ');
  auto big = request("POST", "/api/v1/readings", huge);
  EXPECT_EQ(big.status, 413);
  auto again = io::HttpClient::connect("127.0.0.1", node_->http_port());
  ASSERT_TRUE(again);
  auto health = again->get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(NodeTest, ForgettingADeviceShredsItsData) {
  post(json::array({reading("m-gdpr", kBase, 70)}));
  EXPECT_EQ(get_json("/api/v1/devices/m-gdpr")["readings"], 1);
  auto del = request("DELETE", "/api/v1/devices/m-gdpr");
  EXPECT_EQ(del.status, 204) << del.body;
  EXPECT_EQ(request("GET", "/api/v1/devices/m-gdpr").status, 404);
  EXPECT_EQ(request("DELETE", "/api/v1/devices/m-gdpr").status, 404);
  // Its id is refused from then on, item by item; the rest of the batch is kept.
  auto again = post(json::array({reading("m-gdpr", kBase + 1, 70), reading("m-kept", kBase, 70)}));
  EXPECT_EQ(again["accepted"], 1);
  ASSERT_EQ(again["rejected"].size(), 1u);
  EXPECT_EQ(again["rejected"][0]["index"], 0);
  restart();
  EXPECT_EQ(request("GET", "/api/v1/devices/m-gdpr").status, 404) << "forgotten across restarts";
  EXPECT_EQ(get_json("/api/v1/devices/m-kept")["readings"], 1);
  const auto devices = get_json("/api/v1/devices");
  for (const auto& d : devices["devices"]) {
    EXPECT_NE(d["id"], "m-gdpr");
  }
}

TEST_F(NodeTest, TheEventStreamCarriesAlarmsReadingsAndStats) {
  auto sse = io::HttpClient::connect("127.0.0.1", node_->http_port());
  ASSERT_TRUE(sse);
  ASSERT_TRUE(sse->open_events("/api/v1/stream"));
  post(json::array({reading("m-s", kBase, 95.0)}));
  bool alarm = false, readings = false, stats = false;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!(alarm && readings && stats) && std::chrono::steady_clock::now() < deadline) {
    auto ev = sse->read_event(1s);
    if (!ev) continue;
    auto data = json::parse(ev->data, nullptr, false);
    if (ev->event == "alarm") {
      alarm = true;
      EXPECT_EQ(data["device"], "m-s");
      EXPECT_DOUBLE_EQ(data["value"].get<double>(), 95.0);
    } else if (ev->event == "readings") {
      for (const auto& r : data["readings"]) readings |= r["device"] == "m-s";
    } else if (ev->event == "stats") {
      stats = data.contains("ingest_per_s") && data.contains("journal_bytes");
    }
  }
  EXPECT_TRUE(alarm);
  EXPECT_TRUE(readings);
  EXPECT_TRUE(stats);
}

TEST_F(NodeTest, MetricsAreValidPrometheusText) {
  post(json::array({reading("m-m", kBase, 70), reading("m-m", kBase + 1, 99)}));
  post(json::array({json{{"device", "m-m"}}}));  // rejected: no ts
  auto r = request("GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("weft_ingest_readings_total{source=\"http\"} 2"), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("weft_ingest_rejected_total{reason=\"ts\"} 1"), std::string::npos);
  EXPECT_NE(r.body.find("weft_alarms_total 1"), std::string::npos);
  for (const char* name :
       {"weft_ingest_persist_latency_seconds", "weft_journal_bytes", "weft_actors_active",
        "weft_actors_recovering", "weft_late_readings", "weft_window_lag_seconds",
        "weft_checkpoint_duration_seconds", "weft_http_responses_total"}) {
    EXPECT_NE(r.body.find(name), std::string::npos) << name;
  }
  if (std::system("command -v promtool > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus)";
  }
  const auto file = dir_.sub("metrics.txt");
  std::ofstream(file) << r.body;
  const auto cmd = "promtool check metrics < " + file + " > " + file + ".out 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream out(file + ".out");
  std::string report((std::istreambuf_iterator<char>(out)), {});
  EXPECT_EQ(rc, 0) << report;
}

}  // namespace
}  // namespace weft::node
