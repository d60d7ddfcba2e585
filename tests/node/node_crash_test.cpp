// Crash test: the node runs in a child process (this test binary re-executed) and is killed with
// SIGKILL at random points while readings are posted to it; after each kill it is started again
// on the same data dir. At the end every acknowledged reading is recorded exactly once, and
// every window is recorded exactly once with exactly the readings recorded in it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "eventually.hpp"
#include "temp_dir.hpp"
#include "weft/io/http_client.hpp"
#include "weft/node/node.hpp"

namespace weft::node {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using weft::test::eventually;

constexpr std::int64_t kBase = 1'764'000'000'000;
constexpr int kDevices = 8;
constexpr int kPerBatch = 5;  // readings per device per batch

NodeOptions child_options(const fs::path& dir) {
  NodeOptions o;
  o.data_dir = dir / "data";
  o.http_port = 0;
  o.workers = 2;
  o.checkpoint_interval = 100ms;  // many checkpoints: kills land before, during and after them
  return o;
}

TEST(NodeCrashChild, Serve) {
  const char* dir = std::getenv("WEFT_NODE_CRASH_CHILD");
  if (dir == nullptr) GTEST_SKIP() << "the node crash test's child process mode";
  auto node = Node::start(child_options(dir));
  if (!node) {
    std::fprintf(stderr, "child: %s\n", node.error().describe().c_str());
    ::_exit(3);
  }
  const fs::path port_file = fs::path(dir) / "port";
  std::ofstream(port_file.string() + ".tmp") << (*node)->http_port();
  fs::rename(port_file.string() + ".tmp", port_file);
  std::this_thread::sleep_for(600s);  // serves until the parent kills it
  ::_exit(4);
}

/// Batch `b`: kPerBatch readings for each device, timestamps 100 ms apart, per device in order.
json batch(int b) {
  json items = json::array();
  for (int i = 0; i < kPerBatch; ++i) {
    for (int d = 0; d < kDevices; ++d) {
      const std::int64_t ts = kBase + (static_cast<std::int64_t>(b) * kPerBatch + i) * 100;
      items.push_back({{"device", "m-" + std::to_string(d)},
                       {"ts", ts},
                       {"temperature", 50.0 + static_cast<double>((b * 7 + i * 3 + d) % 40)}});
    }
  }
  return items;
}

class Child {
 public:
  explicit Child(const fs::path& dir) : dir_(dir) {
    fs::remove(dir / "port");
    const std::string exe = fs::read_symlink("/proc/self/exe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setenv("WEFT_NODE_CRASH_CHILD", dir.c_str(), 1);
      ::execl(exe.c_str(), exe.c_str(), "--gtest_filter=NodeCrashChild.Serve", nullptr);
      ::_exit(127);
    }
  }
  ~Child() { kill(); }
  /// The child's HTTP port once it serves (0 if it did not within the deadline).
  std::uint16_t wait_port() {
    std::uint16_t port = 0;
    eventually(
        [&] {
          std::ifstream in(dir_ / "port");
          return static_cast<bool>(in >> port);
        },
        60s);
    return port;
  }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  fs::path dir_;
  pid_t pid_ = -1;
};

TEST(NodeCrash, SigkillDuringIngestLosesNoAcknowledgedReadingAndRecordsEveryWindowOnce) {
  test::TempDir tmp("weft-node-crash");
  const fs::path dir(tmp.path());
  const auto seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const int cycles = std::getenv("WEFT_CRASH_CYCLES") != nullptr
                         ? std::max(1, std::atoi(std::getenv("WEFT_CRASH_CYCLES")))
                         : 5;
  std::set<std::pair<std::string, std::int64_t>> acked;  // (device, ts)
  int next_batch = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    Child child(dir);
    const auto port = child.wait_port();
    ASSERT_NE(port, 0) << "the child did not start";
    // Post from a thread while the kill comes at a random moment.
    std::atomic<bool> stop{false};
    std::vector<int> acked_batches;
    std::thread poster([&] {
      auto client = io::HttpClient::connect("127.0.0.1", port, 10s);
      if (!client) return;
      while (!stop.load()) {
        const int b = next_batch++;
        auto r = client->post("/api/v1/readings", batch(b).dump());
        if (!r) return;  // killed mid-request: not acknowledged
        if (r->status == 200) acked_batches.push_back(b);
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<>(50, 600)(rng)));  // the kill point, not a wait for events
    child.kill();
    stop = true;
    poster.join();
    for (int b : acked_batches) {
      for (const auto& item : batch(b)) acked.emplace(item["device"], item["ts"]);
    }
  }
  ASSERT_FALSE(acked.empty()) << "no batch was acknowledged before the kills";

  // A last, clean run: readings far ahead close every window, then the results are read.
  Child child(dir);
  const auto port = child.wait_port();
  ASSERT_NE(port, 0);
  auto client = io::HttpClient::connect("127.0.0.1", port, 10s);
  ASSERT_TRUE(client);
  const std::int64_t far = kBase + static_cast<std::int64_t>(next_batch + 10) * kPerBatch * 100;
  json closing = json::array();
  for (int d = 0; d < kDevices; ++d) {
    closing.push_back(
        {{"device", "m-" + std::to_string(d)}, {"ts", far + 60'000}, {"temperature", 1}});
  }
  auto r = client->post("/api/v1/readings", closing.dump());
  ASSERT_TRUE(r && r->status == 200);

  for (int d = 0; d < kDevices; ++d) {
    const std::string id = "m-" + std::to_string(d);
    // Every recorded reading, and how often.
    std::map<std::int64_t, int> times;
    std::map<std::int64_t, std::pair<int, double>> per_window;  // start -> count, sum
    std::uint64_t from = 1;
    for (;;) {
      auto page = client->get("/api/v1/devices/" + id + "/events?from=" + std::to_string(from) +
                              "&limit=1000");
      ASSERT_TRUE(page && page->status == 200);
      auto j = json::parse(page->body);
      for (const auto& e : j["events"]) {
        json readings;
        if (e["type"] == "ReadingRecorded") {
          readings = json::array({e["payload"]});
        } else if (e["type"] == "ReadingsRecorded") {
          readings = e["payload"]["readings"];
        } else {
          continue;
        }
        for (const auto& r : readings) {
          const std::int64_t ts = r["ts"];
          ++times[ts];
          if (ts < far) {
            auto& w = per_window[ts - ((ts - kBase) % 5000)];
            ++w.first;
            w.second += r["temperature"].get<double>();
          }
        }
      }
      if (j["next"].is_null()) break;
      from = j["next"];
    }
    for (const auto& [ts, n] : times) {
      EXPECT_EQ(n, 1) << id << " recorded ts " << ts << " " << n << " times";
    }
    for (const auto& [dev, ts] : acked) {
      if (dev == id) {
        EXPECT_TRUE(times.contains(ts)) << id << ": acknowledged ts " << ts << " is missing";
      }
    }
    // Every window with readings is recorded once, with exactly those readings.
    json aggs;
    ASSERT_TRUE(eventually(
        [&] {
          auto a =
              client->get("/api/v1/devices/" + id + "/aggregates?to_ts=" + std::to_string(far));
          if (!a || a->status != 200) return false;
          aggs = json::parse(a->body)["aggregates"];
          return aggs.size() >= per_window.size();
        },
        30s))
        << id << ": " << aggs.size() << " aggregates for " << per_window.size() << " windows";
    std::map<std::int64_t, int> seen;
    for (const auto& a : aggs) {
      const std::int64_t start = a["window_start"];
      ++seen[start];
      ASSERT_TRUE(per_window.contains(start))
          << id << ": an aggregate for an empty window " << start;
      EXPECT_EQ(a["count"], per_window[start].first) << id << " window " << start;
      EXPECT_NEAR(a["avg"].get<double>(), per_window[start].second / per_window[start].first, 1e-9);
    }
    for (const auto& [start, n] : seen)
      EXPECT_EQ(n, 1) << id << ": window " << start << " recorded " << n << " times";
    EXPECT_EQ(seen.size(), per_window.size()) << id;
  }
}

}  // namespace
}  // namespace weft::node
