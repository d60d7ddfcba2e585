// Requests per second for 100 KB POST bodies answered from another thread, the shape of the
// node's ingest (1,000 readings per request, 200 once durable). Small by default so the suite
// stays fast; WEFT_HTTP_BENCH_REQUESTS=20000 on a release build gives the figure in docs/http.md.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "io/http_test_support.hpp"
#include "weft/io/http_client.hpp"
#include "weft/io/http_server.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;

TEST(HttpThroughput, HundredKilobytePostsAnsweredFromAnotherThread) {
  const char* env = std::getenv("WEFT_HTTP_BENCH_REQUESTS");
  const int total = env != nullptr ? std::atoi(env) : 400;
  constexpr int kClients = 4;
  testing::Worker worker;
  auto server = HttpServer::start({}, [&](HttpRequest q, HttpResponder r) {
    worker.post([size = q.body.size(), r = std::move(r)]() mutable {
      r.respond(HttpResponse::json(200, "{\"accepted\": " + std::to_string(size) + "}"));
    });
  });
  ASSERT_TRUE(server) << server.error().describe();
  const std::string body(100 * 1024, 'r');
  const std::string want = "{\"accepted\": " + std::to_string(body.size()) + "}";
  std::atomic<int> ok{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto client = HttpClient::connect("127.0.0.1", (*server)->port(), 5000ms);
      if (!client) return;
      for (int i = c; i < total; i += kClients) {
        auto r = client->post("/api/v1/readings", body);
        if (r && r->status == 200 && r->body == want) ok.fetch_add(1);
      }
    });
  }
  for (auto& t : clients) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(ok.load(), total);
  std::printf(
      "{\"suite\":\"http\",\"scenario\":\"post_100kb_async\",\"clients\":%d,"
      "\"requests\":%d,\"requests_per_s\":%.0f,\"mb_per_s\":%.1f}\n",
      kClients, total, total / seconds, total * body.size() / seconds / 1e6);
}

}  // namespace
}  // namespace weft::io
