// A minimal blocking HTTP/1.1 client over one keep-alive connection, for tests and weft-bench:
// Content-Length, chunked and close-delimited responses, a timeout per exchange, and a reader
// for server-sent events. Not thread-safe: one caller at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "weft/core/result.hpp"
#include "weft/io/http.hpp"

namespace weft::io {

struct HttpClientResponse {
  int status = 0;
  HttpHeaders headers;
  std::string body;
};

struct ServerSentEvent {
  std::string event;  // empty when the server sent no `event:` line
  std::string data;   // `data:` lines joined by '\n'
  std::string id;
};

class HttpClient {
 public:
  /// Connects to host:port (a name or a numeric address). `timeout` bounds the connect and,
  /// later, each request/response exchange.
  [[nodiscard]] static Result<HttpClient> connect(
      std::string host, std::uint16_t port,
      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

  HttpClient(HttpClient&& other) noexcept;
  HttpClient& operator=(HttpClient&& other) noexcept;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  ~HttpClient();

  /// Sends one request and reads its response, reconnecting first when the server closed the
  /// previous connection. Adds Host and Content-Length.
  [[nodiscard]] Result<HttpClientResponse> request(std::string_view method, std::string_view target,
                                                   std::string_view body = {},
                                                   const HttpHeaders& headers = {});
  [[nodiscard]] Result<HttpClientResponse> get(std::string_view target);
  [[nodiscard]] Result<HttpClientResponse> post(std::string_view target, std::string_view body,
                                                std::string_view content_type = "application/json");

  /// Writes bytes as they are (pipelining and malformed-request tests).
  [[nodiscard]] Result<void> send_raw(std::string_view bytes);
  /// Reads the next response from the connection; 1xx interim responses are skipped.
  /// `head_request`: the response answers a HEAD (a Content-Length but no body).
  [[nodiscard]] Result<HttpClientResponse> read_response(bool head_request = false);

  /// GET `target` asking for text/event-stream; on 200 the connection then carries events for
  /// read_event. Any other status is an error quoting the response body.
  [[nodiscard]] Result<void> open_events(std::string_view target);
  /// The next event; Errc::timeout when none arrives in time (the stream stays usable),
  /// Errc::io when the server closed the stream.
  [[nodiscard]] Result<ServerSentEvent> read_event(std::chrono::milliseconds timeout);

  /// True while the socket is open (the server may still have closed its end).
  [[nodiscard]] bool connected() const noexcept { return fd_ >= 0; }
  /// Waits up to `timeout` for the server to close the connection; true when it did.
  [[nodiscard]] bool wait_closed(std::chrono::milliseconds timeout);
  void set_timeout(std::chrono::milliseconds timeout) noexcept { timeout_ = timeout; }
  void close() noexcept;

 private:
  using Deadline = std::chrono::steady_clock::time_point;

  HttpClient(std::string host, std::uint16_t port, std::chrono::milliseconds timeout)
      : host_(std::move(host)), port_(port), timeout_(timeout) {}

  Result<void> open_socket();
  Result<void> ensure_connected();
  Result<void> write_all(std::string_view bytes, Deadline deadline);
  /// Reads more bytes into buffer_; Errc::io at end of stream.
  Result<void> fill(Deadline deadline);
  Result<std::string> read_line(Deadline deadline);
  Result<void> read_exact(std::size_t n, Deadline deadline, std::string& out);
  Result<void> read_chunked(Deadline deadline, std::string& out);
  /// Appends the next piece of an event stream's body to events_.
  Result<void> more_events(Deadline deadline);
  [[nodiscard]] std::string where() const;

  std::string host_;
  std::uint16_t port_ = 0;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::string buffer_;  // received, not yet consumed (from offset_)
  std::size_t offset_ = 0;
  bool server_closes_ = false;  // the last response said Connection: close
  bool events_chunked_ = false;
  std::string events_;  // event stream body, decoded, not yet parsed
};

}  // namespace weft::io
