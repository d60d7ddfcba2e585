#include "weft/io/http_client.hpp"

#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace weft::io {
namespace {

using SteadyClock = std::chrono::steady_clock;

int remaining_ms(SteadyClock::time_point deadline) {
  const auto left =
      std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return static_cast<int>(std::clamp<std::int64_t>(left, 0, 1'000'000'000));
}

/// Waits for `events` on fd until the deadline; false on timeout.
bool wait_for(int fd, short events, SteadyClock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, remaining_ms(deadline));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return true;  // let the following call report the error
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<HttpClient> HttpClient::connect(std::string host, std::uint16_t port,
                                       std::chrono::milliseconds timeout) {
  HttpClient client(std::move(host), port, timeout);
  if (auto r = client.open_socket(); !r) return std::unexpected(r.error());
  return client;
}

HttpClient::HttpClient(HttpClient&& other) noexcept
    : host_(std::move(other.host_)),
      port_(other.port_),
      timeout_(other.timeout_),
      fd_(std::exchange(other.fd_, -1)),
      buffer_(std::move(other.buffer_)),
      offset_(other.offset_),
      server_closes_(other.server_closes_),
      events_chunked_(other.events_chunked_),
      events_(std::move(other.events_)) {}

HttpClient& HttpClient::operator=(HttpClient&& other) noexcept {
  if (this != &other) {
    close();
    host_ = std::move(other.host_);
    port_ = other.port_;
    timeout_ = other.timeout_;
    fd_ = std::exchange(other.fd_, -1);
    buffer_ = std::move(other.buffer_);
    offset_ = other.offset_;
    server_closes_ = other.server_closes_;
    events_chunked_ = other.events_chunked_;
    events_ = std::move(other.events_);
  }
  return *this;
}

HttpClient::~HttpClient() {
  close();
}

void HttpClient::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
  offset_ = 0;
  server_closes_ = false;
  events_.clear();
}

std::string HttpClient::where() const {
  return fmt::format("HTTP {}:{}", host_, port_);
}

Result<void> HttpClient::open_socket() {
  close();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port_);
  if (const int rc = ::getaddrinfo(host_.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return fail(Errc::invalid_argument,
                fmt::format("{}: cannot resolve: {}", where(), ::gai_strerror(rc)));
  }
  const auto deadline = SteadyClock::now() + timeout_;
  std::string last_error = "no address";
  for (addrinfo* ai = found; ai != nullptr && fd_ < 0; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc < 0 && errno == EINPROGRESS) {
      if (!wait_for(fd, POLLOUT, deadline)) {
        ::close(fd);
        ::freeaddrinfo(found);
        return fail(Errc::timeout, fmt::format("{}: connect timed out", where()));
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      errno = err;
      rc = err == 0 ? 0 : -1;
    }
    if (rc < 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    const int yes = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    fd_ = fd;
  }
  ::freeaddrinfo(found);
  if (fd_ < 0) return fail(Errc::io, fmt::format("{}: cannot connect: {}", where(), last_error));
  return {};
}

Result<void> HttpClient::ensure_connected() {
  if (fd_ >= 0 && !server_closes_) {
    // A keep-alive connection the server closed while idle reads as end of stream.
    pollfd p{fd_, POLLIN, 0};
    char probe;
    if (::poll(&p, 1, 0) <= 0 || ::recv(fd_, &probe, 1, MSG_PEEK) != 0) return {};
  }
  return open_socket();
}

Result<void> HttpClient::write_all(std::string_view bytes, Deadline deadline) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(fd_, POLLOUT, deadline)) {
        return fail(Errc::timeout, fmt::format("{}: send timed out", where()));
      }
      continue;
    }
    const std::string reason = std::strerror(errno);
    close();
    return fail(Errc::io, fmt::format("{}: send failed: {}", where(), reason));
  }
  return {};
}

Result<void> HttpClient::fill(Deadline deadline) {
  if (fd_ < 0) return fail(Errc::io, fmt::format("{}: not connected", where()));
  if (offset_ > 0 && offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  }
  for (;;) {
    char chunk[64 * 1024];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
      return {};
    }
    if (n == 0) return fail(Errc::io, fmt::format("{}: connection closed by the server", where()));
    if (errno == EAGAIN || errno == EINTR) {
      if (!wait_for(fd_, POLLIN, deadline)) {
        return fail(Errc::timeout,
                    fmt::format("{}: no response within {} ms", where(), timeout_.count()));
      }
      continue;
    }
    return fail(Errc::io, fmt::format("{}: receive failed: {}", where(), std::strerror(errno)));
  }
}

Result<std::string> HttpClient::read_line(Deadline deadline) {
  for (;;) {
    const std::size_t lf = buffer_.find('\n', offset_);
    if (lf != std::string::npos) {
      std::string line = buffer_.substr(offset_, lf - offset_);
      offset_ = lf + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return line;
    }
    if (buffer_.size() - offset_ > 64 * 1024) {
      return fail(Errc::malformed, fmt::format("{}: response line longer than 64 KiB", where()));
    }
    if (auto r = fill(deadline); !r) return std::unexpected(r.error());
  }
}

Result<void> HttpClient::read_exact(std::size_t n, Deadline deadline, std::string& out) {
  while (buffer_.size() - offset_ < n) {
    if (auto r = fill(deadline); !r) return r;
  }
  out.append(buffer_, offset_, n);
  offset_ += n;
  return {};
}

Result<void> HttpClient::read_chunked(Deadline deadline, std::string& out) {
  for (;;) {
    auto line = read_line(deadline);
    if (!line) return std::unexpected(line.error());
    std::uint64_t size = 0;
    const auto [end, ec] = std::from_chars(line->data(), line->data() + line->size(), size, 16);
    if (ec != std::errc{} || end == line->data()) {
      return fail(Errc::malformed, fmt::format("{}: bad chunk size line '{}'", where(), *line));
    }
    if (size == 0) break;
    if (auto r = read_exact(static_cast<std::size_t>(size), deadline, out); !r) return r;
    auto crlf = read_line(deadline);
    if (!crlf) return std::unexpected(crlf.error());
    if (!crlf->empty())
      return fail(Errc::malformed, fmt::format("{}: no CRLF after chunk", where()));
  }
  for (;;) {  // trailers
    auto line = read_line(deadline);
    if (!line) return std::unexpected(line.error());
    if (line->empty()) return {};
  }
}

Result<HttpClientResponse> HttpClient::read_response(bool head_request) {
  const auto deadline = SteadyClock::now() + timeout_;
  for (;;) {
    auto status_line = read_line(deadline);
    if (!status_line) return std::unexpected(status_line.error());
    HttpClientResponse response;
    // "HTTP/1.1 200 OK"
    const std::string_view sl = *status_line;
    if (!sl.starts_with("HTTP/1.") || sl.size() < 12 || sl[8] != ' ') {
      return fail(Errc::malformed,
                  fmt::format("{}: bad status line '{}'", where(), sl.substr(0, 80)));
    }
    const auto [end, ec] = std::from_chars(sl.data() + 9, sl.data() + 12, response.status);
    if (ec != std::errc{} || end != sl.data() + 12) {
      return fail(Errc::malformed,
                  fmt::format("{}: bad status code in '{}'", where(), sl.substr(0, 80)));
    }
    for (;;) {
      auto line = read_line(deadline);
      if (!line) return std::unexpected(line.error());
      if (line->empty()) break;
      const std::size_t colon = line->find(':');
      if (colon == std::string::npos) {
        return fail(Errc::malformed, fmt::format("{}: bad header line '{}'", where(), *line));
      }
      response.headers.add(line->substr(0, colon),
                           std::string(trim(std::string_view(*line).substr(colon + 1))));
    }
    if (response.status < 200) continue;  // 100 Continue and friends precede the real answer

    server_closes_ =
        response.headers.has_token("Connection", "close") || sl.starts_with("HTTP/1.0");
    const bool no_body = head_request || response.status == 204 || response.status == 304;
    if (no_body) return response;
    if (response.headers.has_token("Transfer-Encoding", "chunked")) {
      if (auto r = read_chunked(deadline, response.body); !r) return std::unexpected(r.error());
    } else if (auto length = response.headers.get("Content-Length")) {
      std::size_t n = 0;
      const auto [e, err] = std::from_chars(length->data(), length->data() + length->size(), n);
      if (err != std::errc{} || e != length->data() + length->size()) {
        return fail(Errc::malformed, fmt::format("{}: bad Content-Length '{}'", where(), *length));
      }
      if (auto r = read_exact(n, deadline, response.body); !r) return std::unexpected(r.error());
    } else {
      // Delimited by the end of the connection.
      for (;;) {
        auto r = fill(deadline);
        if (!r && r.error().code() == Errc::io) break;
        if (!r) return std::unexpected(r.error());
      }
      response.body.append(buffer_, offset_);
      buffer_.clear();
      offset_ = 0;
      server_closes_ = true;
    }
    return response;
  }
}

Result<void> HttpClient::send_raw(std::string_view bytes) {
  if (fd_ < 0) {
    if (auto r = open_socket(); !r) return r;
  }
  return write_all(bytes, SteadyClock::now() + timeout_);
}

Result<HttpClientResponse> HttpClient::request(std::string_view method, std::string_view target,
                                               std::string_view body, const HttpHeaders& headers) {
  if (auto r = ensure_connected(); !r) return std::unexpected(r.error());
  std::string out = fmt::format("{} {} HTTP/1.1\r\n", method, target);
  if (!headers.contains("Host")) out += fmt::format("Host: {}:{}\r\n", host_, port_);
  for (const auto& [name, value] : headers) out += fmt::format("{}: {}\r\n", name, value);
  if (!headers.contains("Content-Length") && !headers.contains("Transfer-Encoding") &&
      (!body.empty() || method == "POST" || method == "PUT")) {
    out += fmt::format("Content-Length: {}\r\n", body.size());
  }
  out += "\r\n";
  const auto deadline = SteadyClock::now() + timeout_;
  if (body.size() < 64 * 1024) {
    out += body;  // one write for small requests
    if (auto r = write_all(out, deadline); !r) return std::unexpected(r.error());
  } else {
    if (auto r = write_all(out, deadline); !r) return std::unexpected(r.error());
    if (auto r = write_all(body, deadline); !r) return std::unexpected(r.error());
  }
  return read_response(method == "HEAD");
}

Result<HttpClientResponse> HttpClient::get(std::string_view target) {
  return request("GET", target);
}

Result<HttpClientResponse> HttpClient::post(std::string_view target, std::string_view body,
                                            std::string_view content_type) {
  HttpHeaders headers;
  headers.add("Content-Type", std::string(content_type));
  return request("POST", target, body, headers);
}

Result<void> HttpClient::open_events(std::string_view target) {
  if (auto r = ensure_connected(); !r) return r;
  const auto deadline = SteadyClock::now() + timeout_;
  const std::string out = fmt::format(
      "GET {} HTTP/1.1\r\nHost: {}:{}\r\nAccept: text/event-stream\r\n\r\n", target, host_, port_);
  if (auto r = write_all(out, deadline); !r) return r;
  // Read only the head: the body is the stream.
  auto status_line = read_line(deadline);
  if (!status_line) return std::unexpected(status_line.error());
  HttpHeaders headers;
  for (;;) {
    auto line = read_line(deadline);
    if (!line) return std::unexpected(line.error());
    if (line->empty()) break;
    const std::size_t colon = line->find(':');
    if (colon == std::string::npos) {
      return fail(Errc::malformed, fmt::format("{}: bad header line '{}'", where(), *line));
    }
    headers.add(line->substr(0, colon),
                std::string(trim(std::string_view(*line).substr(colon + 1))));
  }
  if (!status_line->starts_with("HTTP/1.1 200") && !status_line->starts_with("HTTP/1.0 200")) {
    std::string body;
    if (auto length = headers.get("Content-Length")) {
      std::size_t n = 0;
      std::from_chars(length->data(), length->data() + length->size(), n);
      (void)read_exact(std::min<std::size_t>(n, 4096), deadline, body);
    }
    close();
    return fail(Errc::io, fmt::format("{}: event stream {} refused: {} {}", where(), target,
                                      *status_line, body));
  }
  events_chunked_ = headers.has_token("Transfer-Encoding", "chunked");
  events_.assign(buffer_, offset_);
  buffer_.clear();
  offset_ = 0;
  if (events_chunked_) {
    // Put the bytes back: the chunk decoder reads from buffer_.
    buffer_ = std::move(events_);
    events_.clear();
  }
  return {};
}

Result<void> HttpClient::more_events(Deadline deadline) {
  if (!events_chunked_) {
    if (offset_ == buffer_.size()) {
      if (auto r = fill(deadline); !r) return r;
    }
    events_.append(buffer_, offset_);
    buffer_.clear();
    offset_ = 0;
    return {};
  }
  auto line = read_line(deadline);
  if (!line) return std::unexpected(line.error());
  std::uint64_t size = 0;
  std::from_chars(line->data(), line->data() + line->size(), size, 16);
  if (size == 0) return fail(Errc::io, fmt::format("{}: event stream ended", where()));
  if (auto r = read_exact(static_cast<std::size_t>(size), deadline, events_); !r) return r;
  auto crlf = read_line(deadline);
  if (!crlf) return std::unexpected(crlf.error());
  if (!crlf->empty()) return fail(Errc::malformed, fmt::format("{}: no CRLF after chunk", where()));
  return {};
}

Result<ServerSentEvent> HttpClient::read_event(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  ServerSentEvent event;
  bool has_data = false;
  for (;;) {
    const std::size_t lf = events_.find('\n');
    if (lf == std::string::npos) {
      if (auto r = more_events(deadline); !r) return std::unexpected(r.error());
      continue;
    }
    std::string_view line(events_.data(), lf);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      events_.erase(0, lf + 1);
      if (has_data) return event;  // a blank line dispatches (events without data are dropped)
      event = ServerSentEvent{};
      continue;
    }
    if (line.front() != ':') {  // ':' starts a comment
      const std::size_t colon = line.find(':');
      const std::string_view field = line.substr(0, colon);
      std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
      if (value.starts_with(' ')) value.remove_prefix(1);
      if (field == "event") {
        event.event.assign(value);
      } else if (field == "data") {
        if (has_data) event.data += '\n';
        event.data.append(value);
        has_data = true;
      } else if (field == "id") {
        event.id.assign(value);
      }
    }
    events_.erase(0, lf + 1);
  }
}

bool HttpClient::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (fd_ >= 0) {
    auto r = fill(deadline);
    if (!r) return r.error().code() == Errc::io;
    buffer_.clear();
    offset_ = 0;
  }
  return true;
}

}  // namespace weft::io
