#include "weft/io/http_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "io/http_test_support.hpp"
#include "weft/io/http_client.hpp"
#include "weft/io/http_router.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::RawSocket;
using testing::Worker;

std::unique_ptr<HttpServer> start(HttpServerOptions options, HttpHandler handler) {
  auto server = HttpServer::start(std::move(options), std::move(handler));
  if (!server) ADD_FAILURE() << server.error().describe();
  return server ? std::move(*server) : nullptr;
}

HttpClient client_for(const HttpServer& server) {
  auto c = HttpClient::connect("127.0.0.1", server.port(), 5000ms);
  EXPECT_TRUE(c.has_value()) << c.error().describe();
  return std::move(*c);
}

/// Routes used by most tests: synchronous and asynchronous answers, echo, failures.
struct Fixture {
  Worker worker;
  Router router;
  std::mutex mutex;
  std::vector<EventStream> streams;

  Fixture() {
    router.add("GET", "/hello",
               [](HttpRequest, HttpResponder r) { r.respond(HttpResponse::text(200, "hi")); });
    router.add("POST", "/echo", [](HttpRequest q, HttpResponder r) {
      r.respond(HttpResponse::text(200, std::move(q.body)));
    });
    router.add("POST", "/async", [this](HttpRequest q, HttpResponder r) {
      worker.post([q = std::move(q), r = std::move(r)]() mutable {
        r.respond(HttpResponse::json(200, "{\"bytes\": " + std::to_string(q.body.size()) + "}"));
      });
    });
    router.add("GET", "/devices/{id}/events", [](HttpRequest q, HttpResponder r) {
      r.respond(HttpResponse::text(200, std::string(*q.path_param("id")) + " from " +
                                            std::string(q.query_param("from").value_or("-"))));
    });
    router.add("GET", "/drop", [](HttpRequest, HttpResponder) {});
    router.add("GET", "/throw",
               [](HttpRequest, HttpResponder) -> void { throw std::runtime_error("boom"); });
    router.add("GET", "/stream", [this](HttpRequest, HttpResponder r) {
      HttpHeaders h;
      h.add("X-Stream", "yes");
      EventStream s = r.start_events(std::move(h));
      std::lock_guard lock(mutex);
      streams.push_back(std::move(s));
    });
  }

  std::vector<EventStream> wait_streams(std::size_t n) {
    std::vector<EventStream> out;
    eventually([&] {
      std::lock_guard lock(mutex);
      out = streams;
      return out.size() >= n;
    });
    return out;
  }
};

TEST(HttpServer, GetAndPost) {
  Fixture f;
  auto server = start({}, f.router.handler());
  auto client = client_for(*server);
  auto r = client.get("/hello");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hi");
  EXPECT_TRUE(r->headers.contains("Date"));
  const std::string big(200'000, 'b');
  r = client.post("/echo", big, "text/plain");  // same connection (keep-alive)
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->body, big);
  // The I/O thread counts after its write returns, which may be after the client has read.
  EXPECT_TRUE(eventually([&] { return server->stats().bytes_out > big.size(); }));
  auto stats = server->stats();
  EXPECT_EQ(stats.responses_2xx, 2u);
  EXPECT_EQ(stats.accepted_connections, 1u);
  EXPECT_GT(stats.bytes_in, big.size());
}

TEST(HttpServer, PathAndQueryParameters) {
  Fixture f;
  auto server = start({}, f.router.handler());
  auto client = client_for(*server);
  auto r = client.get("/devices/m%2D01/events?from=7&limit=2");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->body, "m-01 from 7");
}

TEST(HttpServer, AnswersFromAnotherThread) {
  Fixture f;
  auto server = start({}, f.router.handler());
  auto client = client_for(*server);
  for (int i = 0; i < 20; ++i) {
    auto r = client.post("/async", std::string(static_cast<std::size_t>(i) * 1000, 'x'));
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(r->body, "{\"bytes\": " + std::to_string(i * 1000) + "}");
  }
}

TEST(HttpServer, PipelinedResponsesKeepRequestOrder) {
  // Three requests arrive together; the handler answers them in reverse order from a worker.
  Worker worker;
  std::mutex mutex;
  std::vector<std::pair<std::string, HttpResponder>> held;
  auto server = start({}, [&](HttpRequest q, HttpResponder r) {
    std::lock_guard lock(mutex);
    held.emplace_back(q.path, std::move(r));
    if (held.size() == 3) {
      worker.post([batch = std::move(held)]() mutable {
        for (auto it = batch.rbegin(); it != batch.rend(); ++it) {
          it->second.respond(HttpResponse::text(200, it->first));
        }
      });
    }
  });
  auto client = client_for(*server);
  std::string three;
  for (int i = 1; i <= 3; ++i)
    three += "GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\n\r\n";
  ASSERT_TRUE(client.send_raw(three));
  for (int i = 1; i <= 3; ++i) {
    auto r = client.read_response();
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_EQ(r->body, "/" + std::to_string(i));
  }
}

TEST(HttpServer, PipelineDeeperThanTheLimitIsReadAsResponsesComplete) {
  Fixture f;
  HttpServerOptions o;
  o.max_pipelined = 2;
  auto server = start(o, f.router.handler());
  RawSocket s(server->port());
  std::string many;
  for (int i = 0; i < 20; ++i) {
    many += "POST /async HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(i) + "\r\n\r\n" +
            std::string(static_cast<std::size_t>(i), 'x');
  }
  ASSERT_TRUE(s.send(many));
  ASSERT_TRUE(s.read_until("{\"bytes\": 19}"));
  std::size_t at = 0;
  for (int i = 0; i < 20; ++i) {
    at = s.received().find("{\"bytes\": " + std::to_string(i) + "}", at);
    ASSERT_NE(at, std::string::npos) << "response " << i << " missing or out of order";
  }
}

TEST(HttpServer, HalfClosedClientStillGetsItsAnswers) {
  Fixture f;
  auto server = start({}, f.router.handler());
  RawSocket s(server->port());
  ASSERT_TRUE(
      s.send("POST /async HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
             "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  s.shutdown_write();
  ASSERT_TRUE(s.read_until_closed());
  EXPECT_NE(s.received().find("{\"bytes\": 3}"), std::string::npos) << s.received();
  EXPECT_NE(s.received().find("\r\n\r\nhi"), std::string::npos);
}

TEST(HttpServer, ChunkedRequestBody) {
  Fixture f;
  auto server = start({}, f.router.handler());
  auto client = client_for(*server);
  ASSERT_TRUE(
      client.send_raw("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\n\r\n"));
  auto r = client.read_response();
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "abcdefg");
}

TEST(HttpServer, ExpectContinue) {
  Fixture f;
  auto server = start({}, f.router.handler());
  RawSocket s(server->port());
  ASSERT_TRUE(
      s.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
             "Content-Length: 5\r\n\r\n"));
  ASSERT_TRUE(s.read_until("HTTP/1.1 100 Continue\r\n\r\n"));
  ASSERT_TRUE(s.send("hello"));
  ASSERT_TRUE(s.read_until("\r\n\r\nhello"));
  EXPECT_EQ(s.received().find("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"), 0u);
}

TEST(HttpServer, BodyOverTheLimitGets413AndClose) {
  Fixture f;
  HttpServerOptions o;
  o.max_body_bytes = 1024;
  auto server = start(o, f.router.handler());
  RawSocket s(server->port());
  // Refused from the Content-Length, before any body byte; the body sent anyway is drained.
  ASSERT_TRUE(s.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"));
  s.send(std::string(100'000, 'z'));
  ASSERT_TRUE(s.read_until_closed());
  EXPECT_EQ(s.received().find("HTTP/1.1 413 "), 0u) << s.received();
  EXPECT_NE(
      s.received().find("{\"error\": \"body of 100000 bytes exceeds the limit of 1024 bytes\"}"),
      std::string::npos);
  EXPECT_NE(s.received().find("Connection: close"), std::string::npos);

  RawSocket chunked(server->port());
  ASSERT_TRUE(
      chunked.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "400\r\n" +
                   std::string(1024, 'a') + "\r\n1\r\nb\r\n"));
  ASSERT_TRUE(chunked.read_until_closed());
  EXPECT_EQ(chunked.received().find("HTTP/1.1 413 "), 0u) << chunked.received();
}

TEST(HttpServer, MalformedRequestGets400WithReason) {
  Fixture f;
  auto server = start({}, f.router.handler());
  RawSocket s(server->port());
  ASSERT_TRUE(s.send("GET /hello HTTP/1.1\r\nHost: t\r\nnot a header\r\n\r\n"));
  ASSERT_TRUE(s.read_until_closed());
  EXPECT_EQ(s.received().find("HTTP/1.1 400 Bad Request\r\n"), 0u);
  EXPECT_NE(s.received().find("{\"error\": \"bad header line 3: no colon\"}"), std::string::npos);

  auto client = client_for(*server);  // the server is still up
  EXPECT_EQ(client.get("/hello")->status, 200);
  EXPECT_EQ(server->stats().responses_4xx, 1u);
}

TEST(HttpServer, EarlierPipelinedRequestsAreAnsweredBeforeAnError) {
  Fixture f;
  auto server = start({}, f.router.handler());
  RawSocket s(server->port());
  ASSERT_TRUE(s.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGARBAGE\r\n\r\n"));
  ASSERT_TRUE(s.read_until_closed());
  const std::string& got = s.received();
  EXPECT_EQ(got.find("HTTP/1.1 200 OK"), 0u);
  EXPECT_NE(got.find("HTTP/1.1 400 Bad Request"), std::string::npos);
}

TEST(HttpServer, UnknownRouteAndWrongMethod) {
  Fixture f;
  auto server = start({}, f.router.handler());
  auto client = client_for(*server);
  auto r = client.get("/nope");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->headers.get("Content-Type"), "application/json");
  EXPECT_EQ(r->body, "{\"error\": \"no route for /nope\"}");
  r = client.request("DELETE", "/hello");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->headers.get("Allow"), "GET");
  EXPECT_NE(r->body.find("method DELETE not allowed for /hello"), std::string::npos);
  r = client.request("HEAD", "/hello");  // HEAD falls back to GET, without a body
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.get("Content-Length"), "2");
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(client.get("/hello")->body, "hi");  // the connection is still in sync
}

TEST(HttpServer, DroppedOrThrowingHandlerGives500) {
  Fixture f;
  auto server = start({}, f.router.handler());
  auto client = client_for(*server);
  auto r = client.get("/drop");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, "{\"error\": \"request dropped without an answer\"}");
  r = client.get("/throw");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(client.get("/hello")->status, 200);
}

TEST(HttpServer, ShutdownAnswers503) {
  Fixture f;
  auto server = start({}, f.router.handler());
  auto client = client_for(*server);
  EXPECT_EQ(client.get("/hello")->status, 200);
  server->begin_shutdown();
  auto r = client.get("/hello");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "{\"error\": \"server is shutting down\"}");
  EXPECT_EQ(r->headers.get("Connection"), "close");
}

TEST(HttpServer, SlowClientGets408) {
  Fixture f;
  HttpServerOptions o;
  o.header_timeout = 150ms;
  auto server = start(o, f.router.handler());
  RawSocket s(server->port());
  ASSERT_TRUE(s.send("GET /hello HTTP/1.1\r\nHost: t\r\n"));  // the head never ends
  ASSERT_TRUE(s.read_until_closed(5000ms));
  EXPECT_EQ(s.received().find("HTTP/1.1 408 Request Timeout\r\n"), 0u) << s.received();
  EXPECT_NE(s.received().find("request head not received in time"), std::string::npos);
  EXPECT_TRUE(eventually([&] { return server->stats().slow_client_disconnects == 1; }));

  RawSocket silent(server->port());  // connects and sends nothing at all
  ASSERT_TRUE(silent.read_until_closed(5000ms));
  EXPECT_EQ(silent.received().find("HTTP/1.1 408 "), 0u);
}

TEST(HttpServer, SlowBodyGets408) {
  Fixture f;
  HttpServerOptions o;
  o.body_timeout = 150ms;
  auto server = start(o, f.router.handler());
  RawSocket s(server->port());
  ASSERT_TRUE(s.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc"));
  ASSERT_TRUE(s.read_until_closed(5000ms));
  EXPECT_EQ(s.received().find("HTTP/1.1 408 "), 0u) << s.received();
  EXPECT_NE(s.received().find("request body not received in time"), std::string::npos);
}

TEST(HttpServer, IdleEventStreamGetsHeartbeats) {
  Fixture f;
  HttpServerOptions o;
  o.event_heartbeat = 50ms;
  auto server = start(o, f.router.handler());
  RawSocket s(server->port());
  ASSERT_TRUE(s.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(s.read_until("\r\n\r\n:\n\n:\n\n", 5000ms)) << s.received();
  EXPECT_EQ(s.received().find("HTTP/1.1 200 OK\r\n"), 0u);
  EXPECT_NE(s.received().find("Content-Type: text/event-stream\r\n"), std::string::npos);
  EXPECT_NE(s.received().find("X-Stream: yes\r\n"), std::string::npos);
  EXPECT_EQ(s.received().find("Content-Length"), std::string::npos);
}

TEST(HttpServer, IdleKeepAliveConnectionIsClosed) {
  Fixture f;
  HttpServerOptions o;
  o.idle_timeout = 100ms;
  auto server = start(o, f.router.handler());
  auto client = client_for(*server);
  EXPECT_EQ(client.get("/hello")->status, 200);
  EXPECT_TRUE(client.wait_closed(5000ms));
  EXPECT_TRUE(eventually([&] { return server->stats().open_connections == 0; }));
  EXPECT_EQ(client.get("/hello")->status, 200);  // the client reconnects
}

TEST(HttpServer, Http10ClosesAfterTheResponse) {
  Fixture f;
  auto server = start({}, f.router.handler());
  RawSocket s(server->port());
  ASSERT_TRUE(s.send("GET /hello HTTP/1.0\r\n\r\n"));
  ASSERT_TRUE(s.read_until_closed());
  EXPECT_EQ(s.received().find("HTTP/1.1 200 OK"), 0u);
  EXPECT_NE(s.received().find("\r\n\r\nhi"), std::string::npos);
}

TEST(HttpServer, ServerSentEventsArriveInOrder) {
  Fixture f;
  auto server = start({}, f.router.handler());
  auto client = client_for(*server);
  ASSERT_TRUE(client.open_events("/stream"));
  auto streams = f.wait_streams(1);
  ASSERT_EQ(streams.size(), 1u);
  Worker publisher;  // events come from another thread, as alarms do
  publisher.post([s = streams[0]]() mutable {
    for (int i = 0; i < 200; ++i)
      ASSERT_TRUE(s.send("reading", "{\"n\": " + std::to_string(i) + "}"));
    ASSERT_TRUE(s.send("", "two\nlines"));
  });
  for (int i = 0; i < 200; ++i) {
    auto e = client.read_event(5000ms);
    ASSERT_TRUE(e) << e.error().describe();
    EXPECT_EQ(e->event, "reading");
    EXPECT_EQ(e->data, "{\"n\": " + std::to_string(i) + "}");
  }
  auto last = client.read_event(5000ms);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->data, "two\nlines");
  auto none = client.read_event(20ms);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), Errc::timeout);

  streams[0].close();
  auto closed = client.read_event(5000ms);
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().code(), Errc::io);
  EXPECT_FALSE(streams[0].is_open());
  EXPECT_EQ(server->stats().event_streams_opened, 1u);
}

TEST(HttpServer, ClientLeavingClosesTheEventStream) {
  Fixture f;
  auto server = start({}, f.router.handler());
  auto client = client_for(*server);
  ASSERT_TRUE(client.open_events("/stream"));
  auto streams = f.wait_streams(1);
  ASSERT_EQ(streams.size(), 1u);
  EXPECT_TRUE(streams[0].is_open());
  client.close();
  EXPECT_TRUE(eventually([&] { return !streams[0].is_open(); }));
  EXPECT_FALSE(streams[0].send("x", "y"));
}

TEST(HttpServer, SlowEventReaderIsDisconnected) {
  Fixture f;
  HttpServerOptions o;
  o.max_event_buffer_bytes = 16 * 1024;
  auto server = start(o, f.router.handler());
  RawSocket reader(server->port(), 4096);  // small receive buffer, and it never reads
  ASSERT_TRUE(reader.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto streams = f.wait_streams(1);
  ASSERT_EQ(streams.size(), 1u);
  const std::string payload(1000, 'p');
  std::size_t sent = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (streams[0].send("e", payload) && std::chrono::steady_clock::now() < deadline) ++sent;
  EXPECT_FALSE(streams[0].is_open());
  EXPECT_GE(sent, 16u);  // 16 KiB of ~1 KB events: the bound was reached, not an earlier failure
  EXPECT_TRUE(eventually([&] { return server->stats().slow_client_disconnects == 1; }));
  EXPECT_TRUE(eventually([&] { return server->stats().open_connections == 0; }));
}

TEST(HttpServer, StopWithOpenConnections) {
  Fixture f;
  std::vector<HttpResponder> held;
  std::mutex mutex;
  f.router.add("GET", "/hold", [&](HttpRequest, HttpResponder r) {
    std::lock_guard lock(mutex);
    held.push_back(std::move(r));
  });
  auto server = start({}, f.router.handler());
  auto idle = client_for(*server);
  EXPECT_EQ(idle.get("/hello")->status, 200);
  auto events = client_for(*server);
  ASSERT_TRUE(events.open_events("/stream"));
  RawSocket waiting(server->port());
  ASSERT_TRUE(waiting.send("GET /hold HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return held.size() == 1;
  }));
  auto streams = f.wait_streams(1);

  server->stop();
  EXPECT_TRUE(idle.wait_closed(2000ms));
  EXPECT_TRUE(waiting.read_until_closed(2000ms));
  EXPECT_FALSE(events.read_event(2000ms).has_value());
  EXPECT_FALSE(streams[0].is_open());
  held[0].respond(HttpResponse::text(200, "too late"));  // ignored, no crash
  EXPECT_FALSE(streams[0].send("x", "y"));
  server->stop();  // idempotent
}

TEST(HttpServer, ConnectionsOverTheLimitAreClosed) {
  Fixture f;
  HttpServerOptions o;
  o.max_connections = 2;
  auto server = start(o, f.router.handler());
  auto a = client_for(*server);
  auto b = client_for(*server);
  EXPECT_EQ(a.get("/hello")->status, 200);
  EXPECT_EQ(b.get("/hello")->status, 200);
  RawSocket c(server->port());
  EXPECT_TRUE(c.read_until_closed());
  EXPECT_EQ(c.received(), "");
  EXPECT_EQ(server->stats().rejected_connections, 1u);
}

TEST(HttpServer, BindFailureNamesAddressPortAndReason) {
  Fixture f;
  auto first = start({}, f.router.handler());
  HttpServerOptions o;
  o.port = first->port();
  auto second = HttpServer::start(o, f.router.handler());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), Errc::io);
  EXPECT_NE(second.error().message().find("127.0.0.1:" + std::to_string(first->port())),
            std::string::npos);
  EXPECT_NE(second.error().message().find("Address already in use"), std::string::npos)
      << second.error().message();
  o.address = "no-such-host.invalid";
  o.port = 0;
  auto third = HttpServer::start(o, f.router.handler());
  ASSERT_FALSE(third);
  EXPECT_NE(third.error().message().find("no-such-host.invalid"), std::string::npos);
}

TEST(HttpServer, MetricsGoToTheGivenRegistry) {
  Fixture f;
  MetricsRegistry registry;
  HttpServerOptions o;
  o.metrics = &registry;
  auto server = start(o, f.router.handler());
  auto client = client_for(*server);
  EXPECT_EQ(client.get("/hello")->status, 200);
  EXPECT_EQ(client.get("/nope")->status, 404);
  const std::string text = registry.prometheus_text();
  EXPECT_NE(text.find("weft_http_responses_total{class=\"2xx\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("weft_http_responses_total{class=\"4xx\"} 1"), std::string::npos);
  EXPECT_NE(text.find("weft_http_open_connections 1"), std::string::npos);
}

TEST(HttpServer, ManyClientsAtOnce) {
  Fixture f;
  auto server = start({}, f.router.handler());
  constexpr int kClients = 16;
  constexpr int kRequests = 40;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      auto client = HttpClient::connect("127.0.0.1", server->port(), 5000ms);
      if (!client) return;
      for (int i = 0; i < kRequests; ++i) {
        const std::string body(static_cast<std::size_t>(t * 100 + i), 'c');
        auto r = (i % 2 == 0) ? client->post("/async", body) : client->post("/echo", body);
        const std::string want =
            (i % 2 == 0) ? "{\"bytes\": " + std::to_string(body.size()) + "}" : body;
        if (r && r->status == 200 && r->body == want) ok.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  EXPECT_EQ(server->stats().responses_2xx, static_cast<std::uint64_t>(kClients * kRequests));
}

}  // namespace
}  // namespace weft::io
