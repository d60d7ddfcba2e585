// An HTTP/1.1 server on one epoll I/O thread. Handlers run on that thread and may answer later
// from any thread through their HttpResponder; responses still leave in request order.
// Limits, error answers and server-sent events: docs/http.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "weft/core/metrics.hpp"
#include "weft/core/result.hpp"
#include "weft/io/http.hpp"

namespace weft::io {

namespace detail {
struct HttpShared;
struct EventStreamState;
}  // namespace detail

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  /// 0 binds an ephemeral port; HttpServer::port() tells which.
  std::uint16_t port = 0;
  /// Larger bodies get 413 and the connection is closed.
  std::size_t max_body_bytes = 8 * 1024 * 1024;
  /// Request line plus header fields (and chunked trailers); larger gets 431.
  std::size_t max_header_bytes = 64 * 1024;
  /// From a request's first byte (or the connection's accept) to the end of its head; a slower
  /// client gets 408 and is disconnected.
  std::chrono::milliseconds header_timeout{10'000};
  /// From the end of a head to the end of its body; a slower client gets 408.
  std::chrono::milliseconds body_timeout{60'000};
  /// A keep-alive connection with nothing in flight is closed after this long.
  std::chrono::milliseconds idle_timeout{60'000};
  /// A client that reads none of its pending output for this long is disconnected.
  std::chrono::milliseconds write_timeout{30'000};
  /// Connections beyond this are accepted and closed at once.
  std::size_t max_connections = 1024;
  /// Requests of one connection waiting for their responses; the server reads no further
  /// requests from that connection until one completes (pipelining back-pressure).
  std::size_t max_pipelined = 64;
  /// Bound on an event stream's unsent output; a reader further behind is disconnected.
  std::size_t max_event_buffer_bytes = 1024 * 1024;
  /// An event stream idle for this long gets a comment line, so dead readers are noticed.
  std::chrono::milliseconds event_heartbeat{15'000};
  /// Where the server's counters live (weft_http_* series); the server keeps its own registry
  /// when null. Must outlive the server.
  MetricsRegistry* metrics = nullptr;
};

/// Counts since start. Read with HttpServer::stats().
struct HttpServerStats {
  std::uint64_t responses_1xx = 0;  // final responses only; 100 Continue is not counted
  std::uint64_t responses_2xx = 0;
  std::uint64_t responses_3xx = 0;
  std::uint64_t responses_4xx = 0;
  std::uint64_t responses_5xx = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::int64_t open_connections = 0;
  std::uint64_t accepted_connections = 0;
  std::uint64_t rejected_connections = 0;  // over max_connections
  /// Header, body or write timeouts and event readers that fell behind.
  std::uint64_t slow_client_disconnects = 0;
  std::uint64_t event_streams_opened = 0;
};

/// The live half of a server-sent events response. Copies share one stream; every member is
/// thread-safe and never blocks on the network.
class EventStream {
 public:
  EventStream() = default;

  /// Queues `event: <name>` and one `data:` line per line of `data`. Returns false, sending
  /// nothing, once the stream is closed — or when this event would overflow the connection's
  /// output bound, which disconnects the reader. Line breaks in `name` become spaces.
  bool send(std::string_view name, std::string_view data);
  /// Sends what is queued, then closes the connection.
  void close();
  /// False once closed by either side; publishers drop closed streams.
  [[nodiscard]] bool is_open() const;
  [[nodiscard]] bool valid() const noexcept { return state_ != nullptr; }

 private:
  friend class HttpResponder;
  explicit EventStream(std::shared_ptr<detail::EventStreamState> state)
      : state_(std::move(state)) {}
  std::shared_ptr<detail::EventStreamState> state_;
};

/// The right to answer one request. Movable, completes once, callable from any thread. Destroyed
/// without an answer, it answers 500; after the server stopped, answering does nothing.
class HttpResponder {
 public:
  HttpResponder() = default;
  HttpResponder(HttpResponder&& other) noexcept;
  HttpResponder& operator=(HttpResponder&& other) noexcept;
  HttpResponder(const HttpResponder&) = delete;
  HttpResponder& operator=(const HttpResponder&) = delete;
  ~HttpResponder();

  void respond(HttpResponse response);
  /// Answers 200 with Content-Type text/event-stream (plus `headers`) and turns the connection
  /// into an event stream; no further requests are read from it.
  EventStream start_events(HttpHeaders headers = {});
  /// False once answered (or moved from).
  [[nodiscard]] bool pending() const noexcept { return shared_ != nullptr; }

 private:
  friend class HttpServer;
  HttpResponder(std::shared_ptr<detail::HttpShared> shared, std::uint64_t connection,
                std::uint64_t sequence)
      : shared_(std::move(shared)), connection_(connection), sequence_(sequence) {}

  std::shared_ptr<detail::HttpShared> shared_;
  std::uint64_t connection_ = 0;
  std::uint64_t sequence_ = 0;
};

/// Called on the I/O thread for each complete request; must not block (hand slow work to
/// another thread with the responder). An exception escaping it answers 500.
using HttpHandler = std::function<void(HttpRequest request, HttpResponder responder)>;

class HttpServer {
 public:
  /// Binds, listens and starts the I/O thread. Errors name the address, the port and errno.
  [[nodiscard]] static Result<std::unique_ptr<HttpServer>> start(HttpServerOptions options,
                                                                 HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  [[nodiscard]] std::uint16_t port() const noexcept;
  /// New requests answer 503 (and close their connection); requests in flight still complete.
  void begin_shutdown();
  /// Closes the listener and every connection (event streams included) and joins the I/O
  /// thread. Idempotent. Not from a handler (it runs on the thread being joined).
  void stop();
  [[nodiscard]] HttpServerStats stats() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace weft::io
