// The dashboard: the embedded assets, and the page in headless Chromium against a running node
// (docs/dashboard.md). Chromium is driven over --remote-debugging-pipe (the DevTools protocol on
// fds 3 and 4): a page holding an EventSource open never lets --virtual-time-budget finish, and
// the pipe lets the test wait inside the page for what it expects, with a deadline.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "temp_dir.hpp"
#include "weft/core/result.hpp"
#include "weft/node/assets.hpp"
#include "weft/node/node.hpp"

extern char** environ;

namespace weft::node {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// --- The embedded assets ---------------------------------------------------------------------

TEST(DashboardAssets, ServesThePageItsScriptsAndUplot) {
  for (std::string_view path : {"/index.html", "/assets/app.js", "/assets/style.css",
                                "/assets/uPlot.min.js", "/assets/uPlot.min.css"}) {
    const Asset* asset = find_asset(path);
    ASSERT_NE(asset, nullptr) << path;
    EXPECT_EQ(asset->path, path);
    EXPECT_FALSE(asset->body.empty()) << path;
  }
  EXPECT_EQ(find_asset("/"), find_asset("/index.html"));
  EXPECT_EQ(find_asset("/?device=m-001"), find_asset("/index.html"));
  EXPECT_EQ(find_asset("/assets/app.js?v=2"), find_asset("/assets/app.js"));
  EXPECT_EQ(find_asset("/assets/"), nullptr);
  EXPECT_EQ(find_asset("/assets/missing.js"), nullptr);
  EXPECT_EQ(find_asset(""), nullptr);
  EXPECT_EQ(find_asset("index.html"), nullptr);
  EXPECT_EQ(all_assets().front().path, "/index.html");
}

TEST(DashboardAssets, ContentTypesFollowTheFileKind) {
  for (const Asset& asset : all_assets()) {
    const std::string_view p = asset.path;
    std::string_view expected = "?";
    if (p.ends_with(".html")) expected = "text/html; charset=utf-8";
    if (p.ends_with(".js")) expected = "text/javascript; charset=utf-8";
    if (p.ends_with(".css")) expected = "text/css; charset=utf-8";
    EXPECT_EQ(asset.content_type, expected) << p;
  }
}

TEST(DashboardAssets, ThePageLoadsNothingFromOutside) {
  // Everything the page references is served by the node itself: no CDN, no web fonts.
  for (const Asset& asset : all_assets()) {
    for (std::string_view outside : {"http://", "https://", "//fonts.", "@import"}) {
      if (asset.path == "/assets/uPlot.min.js" || asset.path == "/assets/uPlot.min.css") break;
      EXPECT_EQ(asset.body.find(outside), std::string_view::npos)
          << asset.path << " references " << outside;
    }
  }
  const std::string_view index = find_asset("/")->body;
  for (std::string_view ref :
       {"/assets/uPlot.min.js", "/assets/uPlot.min.css", "/assets/app.js", "/assets/style.css"}) {
    EXPECT_NE(index.find(std::string("\"") + std::string(ref) + "\""), std::string_view::npos)
        << "index.html does not load " << ref;
  }
}

// The repository's web/ folder: ctest sets WEFT_TEST_DATA_DIR to tests/data; run by hand, this
// file's own path leads there.
std::optional<std::filesystem::path> web_source_dir() {
  std::vector<std::filesystem::path> candidates;
  if (const char* data = std::getenv("WEFT_TEST_DATA_DIR")) {
    candidates.push_back(std::filesystem::path(data) / "../../web");
  }
  candidates.push_back(std::filesystem::path(__FILE__).parent_path() / "../../web");
  for (const auto& dir : candidates) {
    std::error_code ec;
    if (std::filesystem::exists(dir / "src/app.js", ec)) return dir;
  }
  return std::nullopt;
}

TEST(DashboardAssets, EmbedsTheSourceFilesByteForByte) {
  const auto dir = web_source_dir();
  ASSERT_TRUE(dir) << "web/ not found: run through ctest (WEFT_TEST_DATA_DIR) or from the build "
                      "directory";
  const std::filesystem::path web = *dir;
  const std::vector<std::pair<std::string_view, std::filesystem::path>> sources = {
      {"/index.html", web / "src/index.html"},
      {"/assets/app.js", web / "src/app.js"},
      {"/assets/style.css", web / "src/style.css"},
      {"/assets/uPlot.min.js", web / "node_modules/uplot/dist/uPlot.iife.min.js"},
      {"/assets/uPlot.min.css", web / "node_modules/uplot/dist/uPlot.min.css"},
  };
  for (const auto& [path, file] : sources) {
    std::ifstream in(file, std::ios::binary);
    ASSERT_TRUE(in) << file;
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_NE(find_asset(path), nullptr) << path;
    EXPECT_TRUE(find_asset(path)->body == bytes) << path << " differs from " << file;
  }
}

// --- Headless Chromium over the DevTools pipe ------------------------------------------------

std::optional<std::string> find_chromium() {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    const auto colon = dirs.find(':');
    const std::filesystem::path candidate =
        std::filesystem::path(dirs.substr(0, colon)) / "chromium";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    dirs = colon == std::string_view::npos ? std::string_view{} : dirs.substr(colon + 1);
  }
  return std::nullopt;
}

std::string base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() / 4 * 3);
  unsigned bits = 0;
  int count = 0;
  for (char c : in) {
    const int v = value(c);
    if (v < 0) continue;  // padding
    bits = (bits << 6) | static_cast<unsigned>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

/// One headless Chromium in its own process group, one page attached in flat mode.
class Browser {
 public:
  /// Starts `chromium`; its output goes to `log`. Check ok() before use.
  Browser(const std::string& chromium, const std::string& profile, const std::string& log) {
    // One socket pair serves as both pipes: Chromium reads fd 3 and writes fd 4, both its end.
    // A socket, not a pipe, so a write after Chromium died is an error (MSG_NOSIGNAL) instead
    // of a SIGPIPE. Its end moves above fd 10 first, so dup2 onto 3 and 4 clears close-on-exec.
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) return;
    const int child = ::fcntl(ends[1], F_DUPFD_CLOEXEC, 10);
    ::close(ends[1]);
    fd_ = ends[0];

    std::vector<std::string> args = {chromium,
                                     "--headless=new",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--remote-debugging-pipe",
                                     "--user-data-dir=" + profile,
                                     "--window-size=1400,900",
                                     "--no-first-run",
                                     "--no-default-browser-check",
                                     "--disable-extensions",
                                     "--disable-background-networking",
                                     "--disable-component-update",
                                     "--disable-sync",
                                     "--mute-audio",
                                     "about:blank"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, child, 3);
    posix_spawn_file_actions_adddup2(&actions, child, 4);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    if (::posix_spawn(&pid_, argv[0], &actions, &attr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(child);
  }

  ~Browser() {
    if (pid_ > 0) {
      // Browser.close lets Chromium tidy its profile; the process group is killed either way, so
      // no renderer outlives the test.
      (void)call("Browser.close", json::object(), {}, std::chrono::seconds(5));
      ::kill(-pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  Browser(const Browser&) = delete;
  Browser& operator=(const Browser&) = delete;

  [[nodiscard]] bool ok() const { return pid_ > 0 && fd_ >= 0; }

  /// Sends a DevTools command and waits for its answer until `timeout`; an error answer, a
  /// closed pipe or the deadline is an Error naming the method.
  Result<json> call(const std::string& method, json params, const std::string& session,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const int id = ++last_id_;
    json message = {{"id", id}, {"method", method}, {"params", std::move(params)}};
    if (!session.empty()) message["sessionId"] = session;
    std::string bytes = message.dump();
    bytes.push_back('\0');
    for (std::string_view rest = bytes; !rest.empty();) {
      const ssize_t n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::unexpected(Error(Errc::io, method + ": the browser pipe is closed"));
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      auto next = read_message(deadline);
      if (!next)
        return std::unexpected(Error(next.error().code(), method + ": " + next.error().message()));
      json reply = json::parse(*next, nullptr, /*allow_exceptions=*/false);
      if (reply.is_discarded()) {
        return std::unexpected(Error(Errc::malformed, method + ": the browser sent bad JSON"));
      }
      if (!reply.contains("id")) {
        events_.push_back(std::move(reply));
        continue;
      }
      if (reply["id"] != id) continue;
      if (reply.contains("error")) {
        return std::unexpected(Error(Errc::internal, method + ": " + reply["error"].dump()));
      }
      return reply["result"];
    }
  }

  /// Waits until an event `method` of `session` arrives (or arrived after the first
  /// `seen` events); its params.
  Result<json> wait_event(const std::string& method, const std::string& session, std::size_t seen,
                          std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (std::size_t i = seen;; ++i) {
      while (i >= events_.size()) {
        auto next = read_message(deadline);
        if (!next)
          return std::unexpected(
              Error(next.error().code(), method + ": " + next.error().message()));
        json message = json::parse(*next, nullptr, /*allow_exceptions=*/false);
        if (!message.is_discarded() && !message.contains("id")) {
          events_.push_back(std::move(message));
        }
      }
      if (events_[i].value("method", "") == method &&
          events_[i].value("sessionId", "") == session) {
        return events_[i]["params"];
      }
    }
  }

  /// Events received so far (messages without an id), oldest first.
  [[nodiscard]] const std::vector<json>& events() const { return events_; }

 private:
  Result<std::string> read_message(Clock::time_point deadline) {
    for (;;) {
      if (auto end = buffer_.find('\0'); end != std::string::npos) {
        std::string message = buffer_.substr(0, end);
        buffer_.erase(0, end + 1);
        return message;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return std::unexpected(Error(Errc::timeout, "no answer in time"));
      pollfd pfd{fd_, POLLIN, 0};
      const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) continue;
      char chunk[64 * 1024];
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::unexpected(Error(Errc::io, "the browser closed its pipe"));
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  pid_t pid_ = -1;
  int fd_ = -1;  // our end of the DevTools pipe
  int last_id_ = 0;
  std::string buffer_;
  std::vector<json> events_;
};

/// A page of a Browser: navigation, evaluation and screenshots.
class Page {
 public:
  /// For one DevTools command; generous because ASan builds and a loaded machine are slow.
  static constexpr std::chrono::milliseconds kTimeout{30'000};

  static Result<Page> open(Browser& browser, int width, int height) {
    auto target = browser.call("Target.createTarget", {{"url", "about:blank"}}, {});
    if (!target) return std::unexpected(target.error());
    auto attached = browser.call("Target.attachToTarget",
                                 {{"targetId", (*target)["targetId"]}, {"flatten", true}}, {});
    if (!attached) return std::unexpected(attached.error());
    Page page(browser, (*attached)["sessionId"].get<std::string>());
    for (const char* domain : {"Runtime.enable", "Log.enable", "Page.enable"}) {
      if (auto r = page.call(domain, json::object()); !r) return std::unexpected(r.error());
    }
    auto metrics = page.call(
        "Emulation.setDeviceMetricsOverride",
        {{"width", width}, {"height", height}, {"deviceScaleFactor", 1}, {"mobile", false}});
    if (!metrics) return std::unexpected(metrics.error());
    return page;
  }

  Result<json> call(const std::string& method, json params,
                    std::chrono::milliseconds timeout = kTimeout) {
    return browser_->call(method, std::move(params), session_, timeout);
  }

  /// Loads `url` and waits for its load event (scripts and styles are in by then).
  Result<void> navigate(const std::string& url) {
    const std::size_t seen = browser_->events().size();
    auto r = call("Page.navigate", {{"url", url}});
    if (!r) return std::unexpected(r.error());
    if (r->contains("errorText")) {
      return std::unexpected(Error(Errc::io, url + ": " + (*r)["errorText"].dump()));
    }
    auto loaded = browser_->wait_event("Page.loadEventFired", session_, seen, kTimeout);
    if (!loaded) return std::unexpected(loaded.error());
    return {};
  }

  /// Evaluates `expression` in the page, awaiting a promise; the value as JSON.
  Result<json> eval(const std::string& expression, std::chrono::milliseconds timeout = kTimeout) {
    auto r = call("Runtime.evaluate",
                  {{"expression", expression}, {"awaitPromise", true}, {"returnByValue", true}},
                  timeout);
    if (!r) return std::unexpected(r.error());
    if (r->contains("exceptionDetails")) {
      return std::unexpected(
          Error(Errc::internal, expression.substr(0, 60) + ": " + (*r)["exceptionDetails"].dump()));
    }
    return (*r)["result"].value("value", json());
  }

  /// Waits inside the page until `condition` (a JS expression over `d`, the body's data-*
  /// attributes) holds or `timeout` passes; answers the attributes as they were then. The page
  /// re-checks whenever an attribute of <body> changes, so nothing polls from outside.
  Result<json> wait_for(const std::string& condition, std::chrono::milliseconds timeout) {
    return eval(
        "new Promise((resolve) => {"
        "  const d = document.body.dataset;"
        "  const done = () => resolve(Object.assign({}, d));"
        "  const check = () => { try { return (" +
            condition +
            "); } catch (e) { return false; } };"
            "  if (check()) return done();"
            "  const observer = new MutationObserver(() => {"
            "    if (check()) { observer.disconnect(); done(); } });"
            "  observer.observe(document.body, {attributes: true});"
            "  setTimeout(() => { observer.disconnect(); done(); }, " +
            std::to_string(timeout.count()) + ");})",
        timeout + kTimeout);
  }

  Result<void> screenshot(const std::filesystem::path& file) {
    auto r = call("Page.captureScreenshot", {{"format", "png"}});
    if (!r) return std::unexpected(r.error());
    const std::string png = base64_decode((*r)["data"].get<std::string>());
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(png.data(), static_cast<std::streamsize>(png.size()));
    if (!out) return std::unexpected(Error(Errc::io, "cannot write " + file.string()));
    return {};
  }

  /// Uncaught exceptions and console or network errors of this page so far.
  [[nodiscard]] std::vector<std::string> errors() const {
    std::vector<std::string> out;
    for (const json& e : browser_->events()) {
      if (e.value("sessionId", "") != session_) continue;
      const std::string method = e.value("method", "");
      if (method == "Runtime.exceptionThrown") out.push_back(e["params"].dump());
      if (method == "Log.entryAdded" && e["params"]["entry"].value("level", "") == "error") {
        out.push_back(e["params"]["entry"].dump());
      }
      if (method == "Runtime.consoleAPICalled" && e["params"].value("type", "") == "error") {
        out.push_back(e["params"].dump());
      }
    }
    return out;
  }

 private:
  Page(Browser& browser, std::string session) : browser_(&browser), session_(std::move(session)) {}

  Browser* browser_;
  std::string session_;
};

/// Where the screenshots go: <build dir>/artifacts (the test binary lives in <build dir>/bin).
std::filesystem::path artifacts_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  auto dir = ec ? std::filesystem::temp_directory_path() / "weft-artifacts"
                : exe.parent_path().parent_path() / "artifacts";
  std::filesystem::create_directories(dir, ec);
  return dir;
}

bool is_png(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  char head[8] = {};
  in.read(head, sizeof head);
  return in && std::string_view(head, 8) == "\x89PNG\r\n\x1a\n";
}

/// Loads the dashboard at `url` (a node with `devices` simulated machines) and checks, from the
/// DOM, that live data reaches the heat map and the charts; screenshots go to artifacts/.
void check_dashboard(const std::string& url, int devices) {
  const auto chromium = find_chromium();
  ASSERT_TRUE(chromium);
  test::TempDir profile("weft-chromium");
  const auto artifacts = artifacts_dir();
  Browser browser(*chromium, profile.path(), (artifacts / "chromium.log").string());
  ASSERT_TRUE(browser.ok()) << "cannot start " << *chromium;
  auto page = Page::open(browser, 1400, 900);
  ASSERT_TRUE(page) << page.error().describe();
  const auto loaded = page->navigate(url);
  ASSERT_TRUE(loaded) << loaded.error().describe();

  // The overview: a tile per machine, the selected machine's chart fed by the stream, stats.
  constexpr int kLivePoints = 12;
  const auto overview = page->wait_for(
      "d.ready === '1' && +d.devices >= " + std::to_string(devices) +
          " && +d.chartPoints >= " + std::to_string(kLivePoints) + " && +d.stats >= 2",
      std::chrono::seconds(30));
  ASSERT_TRUE(overview) << overview.error().describe();
  const json& d = *overview;
  ASSERT_EQ(d.value("ready", ""), "1") << d.dump();
  EXPECT_EQ(std::stoi(d.value("devices", "0")), devices) << d.dump();
  EXPECT_GE(std::stoi(d.value("chartPoints", "0")), kLivePoints) << d.dump();
  EXPECT_GE(std::stoi(d.value("readings", "0")), kLivePoints) << d.dump();
  EXPECT_GE(std::stoi(d.value("stats", "0")), 2) << d.dump();

  const auto dom = page->eval(R"(({
    tiles: document.querySelectorAll('#tiles .tile').length,
    painted: [...document.querySelectorAll('#tiles .tile')].filter(t => t.dataset.temperature !== '').length,
    plotted: charts.live.data[0].length,
    canvas: document.querySelectorAll('#live-chart canvas').length,
    ingest: document.getElementById('stat-ingest').textContent,
    actors: document.getElementById('stat-actors').textContent,
    spark: charts.spark.data[0].length }))");
  ASSERT_TRUE(dom) << dom.error().describe();
  EXPECT_EQ((*dom)["tiles"], devices) << dom->dump();
  EXPECT_EQ((*dom)["painted"], devices) << "every machine has a temperature: " << dom->dump();
  EXPECT_GE((*dom)["plotted"].get<int>(), kLivePoints) << dom->dump();
  EXPECT_EQ((*dom)["canvas"], 1) << dom->dump();
  EXPECT_NE((*dom)["ingest"], "–") << dom->dump();
  EXPECT_NE((*dom)["actors"], "–") << dom->dump();
  EXPECT_GE((*dom)["spark"].get<int>(), 2) << dom->dump();
  const auto shot = artifacts / "dashboard.png";
  ASSERT_TRUE(page->screenshot(shot));
  EXPECT_TRUE(is_png(shot)) << shot;

  // A machine's page: its state, event history and a time-travel replay.
  const std::string selected = d.value("selected", "");
  ASSERT_FALSE(selected.empty()) << d.dump();
  ASSERT_TRUE(page->eval("location.hash = '#/device/" + selected + "'; true"));
  const auto device = page->wait_for(
      "d.page === 'device' && +d.devReadings > 0 && +d.eventRows > 0 && d.aggPoints !== undefined",
      std::chrono::seconds(20));
  ASSERT_TRUE(device) << device.error().describe();
  EXPECT_EQ(device->value("page", ""), "device") << device->dump();
  EXPECT_GT(std::stoi(device->value("devReadings", "0")), 0) << device->dump();
  EXPECT_GT(std::stoi(device->value("eventRows", "0")), 0) << device->dump();
  ASSERT_TRUE(
      page->eval("const r = document.getElementById('travel-range'); r.value = 500;"
                 "r.dispatchEvent(new Event('input')); true"));
  const auto travel = page->wait_for("d.travelAt !== undefined", std::chrono::seconds(20));
  ASSERT_TRUE(travel) << travel.error().describe();
  ASSERT_TRUE(travel->contains("travelAt")) << travel->dump();
  const auto replay =
      page->eval("[...document.querySelectorAll('#travel-state dt')].map(e => e.textContent)");
  ASSERT_TRUE(replay) << replay.error().describe();
  EXPECT_GE(replay->size(), 5u) << replay->dump();
  const auto device_shot = artifacts / "dashboard-device.png";
  ASSERT_TRUE(page->screenshot(device_shot));
  EXPECT_TRUE(is_png(device_shot)) << device_shot;

  // Nothing went wrong in the page up to here (a 404 below is expected and logged).
  EXPECT_TRUE(page->errors().empty()) << [&] {
    std::string all;
    for (const auto& e : page->errors()) all += e + "\n";
    return all;
  }();

  // An unknown machine shows the API's error instead of an empty page.
  ASSERT_TRUE(page->eval("location.hash = '#/device/no-such-machine'; true"));
  const auto unknown = page->wait_for("d.devError !== undefined", std::chrono::seconds(20));
  ASSERT_TRUE(unknown) << unknown.error().describe();
  EXPECT_FALSE(unknown->value("devError", "").empty()) << unknown->dump();
}

TEST(Dashboard, ShowsLiveDataInHeadlessChromium) {
  if (!find_chromium()) GTEST_SKIP() << "chromium is not installed";
  test::TempDir dir("weft-dashboard");
  constexpr int kDevices = 12;
  NodeOptions options;
  options.data_dir = dir.db();
  options.http_port = 0;
  options.workers = 2;
  options.simulate = true;
  options.simulator.devices = kDevices;
  options.simulator.rate_hz = 20;
  auto node = Node::start(std::move(options));
  ASSERT_TRUE(node) << node.error().describe();
  check_dashboard((*node)->url(), kDevices);
  EXPECT_TRUE((*node)->stop());
}

}  // namespace
}  // namespace weft::node
