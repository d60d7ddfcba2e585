// `weft node` as an operator runs it: started from a TOML file, fed over HTTP, stopped with
// SIGTERM (exit 0 within 5 s, issue 5 §6) and started again on the same data, where it resumes
// exactly where it stopped: every acknowledged reading is there, and a window left open at the
// stop closes with the readings it held before it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "weft/io/http_client.hpp"

namespace weft {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// A `weft node` child process; its stdout and stderr come back through one pipe.
class NodeProcess {
 public:
  explicit NodeProcess(const std::string& config) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::dup2(fds[1], STDERR_FILENO);
      ::execl(WEFT_BINARY, WEFT_BINARY, "node", "--config", config.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
  }
  ~NodeProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
  }
  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;

  /// The port from "node: serving on http://127.0.0.1:PORT", or nullopt if the node exits or
  /// says nothing of the kind within the deadline.
  std::optional<std::uint16_t> port(Clock::duration within) {
    const std::string marker = "serving on http://127.0.0.1:";
    const auto deadline = Clock::now() + within;
    while (Clock::now() < deadline) {
      if (const auto at = output_.find(marker); at != std::string::npos) {
        const auto digits = output_.find_first_not_of("0123456789", at + marker.size());
        if (digits != std::string::npos) {
          return static_cast<std::uint16_t>(std::stoi(output_.substr(at + marker.size())));
        }
      }
      if (!read_some(deadline)) return std::nullopt;
    }
    return std::nullopt;
  }

  /// Sends `sig` and waits for the exit; the exit code, or nullopt if still running at the
  /// deadline (or killed by a signal).
  std::optional<int> stop(int sig, Clock::duration within) {
    ::kill(pid_, sig);
    const auto deadline = Clock::now() + within;
    for (;;) {
      int status = 0;
      const pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        pid_ = -1;
        while (read_some(Clock::now() + 1s)) {
        }
        if (!WIFEXITED(status)) return std::nullopt;
        return WEXITSTATUS(status);
      }
      if (Clock::now() >= deadline) return std::nullopt;
      read_some(std::min(deadline, Clock::now() + 20ms));  // drain the pipe while waiting
    }
  }

  const std::string& output() const { return output_; }

 private:
  // False at end of output or at the deadline.
  bool read_some(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, left.count()))) <= 0) {
      return false;
    }
    char buf[4096];
    const ssize_t n = ::read(out_, buf, sizeof buf);
    if (n <= 0) return false;
    output_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  std::string output_;
};

class NodeSignal : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/weft-node-signal-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    config_ = root_ + "/weft.toml";
    std::ofstream(config_) << "[node]\ndata_dir = \"" << root_
                           << "/data\"\n[http]\nport = 0\n[windows]\nidle_timeout = \"1h\"\n";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::string root_;
  std::string config_;
};

nlohmann::json get_json(io::HttpClient& c, const std::string& target) {
  auto r = c.get(target);
  if (!r || r->status != 200) return {};
  return nlohmann::json::parse(r->body, nullptr, false);
}

TEST_F(NodeSignal, SigtermStopsWithinFiveSecondsAndARestartResumesWhereItStopped) {
  // Window [1764000000000, +5000) of press-1 gets three readings before the stop and stays
  // open (no later reading, idle timeout an hour); a hot reading raises an alarm.
  constexpr std::int64_t kStart = 1764000000000;
  {
    NodeProcess node(config_);
    const auto port = node.port(30s);
    ASSERT_TRUE(port) << node.output();
    auto client = io::HttpClient::connect("127.0.0.1", *port);
    ASSERT_TRUE(client) << client.error().describe();
    const std::string body = fmt::format(R"([{{"device":"press-1","ts":{},"temperature":70}},)"
                                         R"({{"device":"press-1","ts":{},"temperature":72}},)"
                                         R"({{"device":"press-1","ts":{},"temperature":91}},)"
                                         R"({{"device":"press-2","ts":{},"temperature":60}}])",
                                         kStart + 100, kStart + 200, kStart + 300, kStart + 100);
    auto posted = client->post("/api/v1/readings", body);
    ASSERT_TRUE(posted) << posted.error().describe();
    ASSERT_EQ(posted->status, 200) << posted->body;
    EXPECT_EQ(nlohmann::json::parse(posted->body).at("accepted"), 4);

    const auto began = Clock::now();
    const auto code = node.stop(SIGTERM, 5s);
    ASSERT_TRUE(code) << "not stopped 5 s after SIGTERM:\n" << node.output();
    EXPECT_EQ(*code, 0) << node.output();
    EXPECT_LT(Clock::now() - began, 5s);
    EXPECT_NE(node.output().find("4 readings"), std::string::npos) << node.output();
  }
  NodeProcess again(config_);
  const auto port = again.port(30s);
  ASSERT_TRUE(port) << again.output();
  auto client = io::HttpClient::connect("127.0.0.1", *port);
  ASSERT_TRUE(client) << client.error().describe();
  const auto press1 = get_json(*client, "/api/v1/devices/press-1");
  ASSERT_TRUE(press1.is_object()) << "press-1 is gone after the restart";
  EXPECT_EQ(press1.at("readings"), 3);
  EXPECT_EQ(press1.at("alarms"), 1);
  EXPECT_EQ(get_json(*client, "/api/v1/devices/press-2").at("readings"), 1);

  // A reading past the window's end plus the 2 s out-of-orderness closes it: its aggregate
  // holds the three readings from before the stop (the window's state was checkpointed).
  auto posted = client->post(
      "/api/v1/readings",
      fmt::format(R"([{{"device":"press-1","ts":{},"temperature":70}}])", kStart + 7000));
  ASSERT_TRUE(posted && posted->status == 200);
  const auto target =
      fmt::format("/api/v1/devices/press-1/aggregates?from_ts={}&to_ts={}", kStart, kStart + 5000);
  nlohmann::json aggregates;
  const auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline) {
    const auto page = get_json(*client, target);
    if (page.is_object()) aggregates = page.at("aggregates");
    if (aggregates.is_array() && !aggregates.empty()) break;
    std::this_thread::sleep_for(20ms);  // polling the API with a deadline
  }
  ASSERT_TRUE(aggregates.is_array() && aggregates.size() == 1) << aggregates.dump();
  EXPECT_EQ(aggregates[0].at("window_start"), kStart);
  EXPECT_EQ(aggregates[0].at("count"), 3);
  EXPECT_DOUBLE_EQ(aggregates[0].at("max").get<double>(), 91.0);
  EXPECT_DOUBLE_EQ(aggregates[0].at("avg").get<double>(), (70.0 + 72.0 + 91.0) / 3);

  const auto code = again.stop(SIGINT, 5s);
  ASSERT_TRUE(code) << again.output();
  EXPECT_EQ(*code, 0) << again.output();
}

}  // namespace
}  // namespace weft
