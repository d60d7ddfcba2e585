#include "weft/io/http_server.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "io/http_parser.hpp"

namespace weft::io {

namespace detail {

struct Completion {
  enum class Kind : std::uint8_t { response, events, stream_ready, stream_overflow, stream_close };
  Kind kind;
  std::uint64_t connection;
  std::uint64_t sequence = 0;
  HttpResponse response;  // response; events: its extra headers
  std::shared_ptr<EventStreamState> stream;
};

/// What responders and event streams share with the I/O thread: a completion queue and the
/// eventfd that wakes the thread. Outlives the server while any responder holds it.
struct HttpShared {
  std::mutex mutex;
  std::vector<Completion> queue;
  bool stopped = false;
  int event_fd = -1;
  std::thread::id io_thread;
  std::size_t event_buffer_limit = 0;  // HttpServerOptions::max_event_buffer_bytes

  ~HttpShared() {
    if (event_fd >= 0) ::close(event_fd);
  }

  void post(Completion c) {
    bool wake = false;
    {
      std::lock_guard lock(mutex);
      if (stopped) return;
      wake = queue.empty();
      queue.push_back(std::move(c));
    }
    // The I/O thread drains the queue before it waits, so its own posts need no wake-up; other
    // threads wake it only on the empty -> non-empty edge.
    if (wake && std::this_thread::get_id() != io_thread) {
      const std::uint64_t one = 1;
      [[maybe_unused]] const auto n = ::write(event_fd, &one, sizeof one);
    }
  }
};

struct EventStreamState {
  std::shared_ptr<HttpShared> shared;
  std::uint64_t connection = 0;
  std::size_t limit = 0;
  std::mutex mutex;
  std::string pending;    // events not yet taken by the I/O thread
  bool notified = false;  // the I/O thread was told about `pending` and has not taken it yet
  std::atomic<bool> open{true};
};

}  // namespace detail

using detail::Completion;
using detail::EventStreamState;
using detail::HttpShared;

// ---- EventStream ---------------------------------------------------------------------------

bool EventStream::send(std::string_view name, std::string_view data) {
  if (!state_) return false;
  std::string frame;
  frame.reserve(name.size() + data.size() + 16);
  if (!name.empty()) {
    frame += "event: ";
    for (char c : name) frame.push_back(c == '\r' || c == '\n' ? ' ' : c);
    frame += '\n';
  }
  // One data line per line of `data` (CRLF, CR and LF all end a line in SSE).
  std::size_t start = 0;
  for (;;) {
    std::size_t end = data.find_first_of("\r\n", start);
    frame += "data: ";
    frame.append(data.substr(start, end == std::string_view::npos ? end : end - start));
    frame += '\n';
    if (end == std::string_view::npos) break;
    if (data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n') ++end;
    start = end + 1;
  }
  frame += '\n';

  EventStreamState& s = *state_;
  bool notify = false;
  bool overflow = false;
  {
    std::lock_guard lock(s.mutex);
    if (!s.open.load(std::memory_order_relaxed)) return false;
    if (s.pending.size() + frame.size() > s.limit) {
      s.open.store(false, std::memory_order_relaxed);
      overflow = true;
    } else {
      s.pending += frame;
      notify = !s.notified;
      s.notified = true;
    }
  }
  if (overflow) {
    s.shared->post(Completion{Completion::Kind::stream_overflow, s.connection, 0, {}, state_});
    return false;
  }
  if (notify)
    s.shared->post(Completion{Completion::Kind::stream_ready, s.connection, 0, {}, state_});
  return true;
}

void EventStream::close() {
  if (!state_) return;
  {
    std::lock_guard lock(state_->mutex);
    if (!state_->open.exchange(false)) return;
  }
  state_->shared->post(
      Completion{Completion::Kind::stream_close, state_->connection, 0, {}, state_});
}

bool EventStream::is_open() const {
  return state_ && state_->open.load(std::memory_order_relaxed);
}

// ---- HttpResponder -------------------------------------------------------------------------

HttpResponder::HttpResponder(HttpResponder&& other) noexcept
    : shared_(std::move(other.shared_)),
      connection_(other.connection_),
      sequence_(other.sequence_) {}

HttpResponder& HttpResponder::operator=(HttpResponder&& other) noexcept {
  if (this != &other) {
    if (shared_) respond(HttpResponse::error(500, "request dropped without an answer"));
    shared_ = std::move(other.shared_);
    connection_ = other.connection_;
    sequence_ = other.sequence_;
  }
  return *this;
}

HttpResponder::~HttpResponder() {
  if (shared_) respond(HttpResponse::error(500, "request dropped without an answer"));
}

void HttpResponder::respond(HttpResponse response) {
  if (!shared_) return;
  auto shared = std::move(shared_);
  shared->post(
      Completion{Completion::Kind::response, connection_, sequence_, std::move(response), {}});
}

EventStream HttpResponder::start_events(HttpHeaders headers) {
  if (!shared_) return EventStream{};
  auto shared = std::move(shared_);
  auto state = std::make_shared<EventStreamState>();
  state->shared = shared;
  state->connection = connection_;
  state->limit = shared->event_buffer_limit;
  HttpResponse r;
  r.headers = std::move(headers);
  shared->post(Completion{Completion::Kind::events, connection_, sequence_, std::move(r), state});
  return EventStream(std::move(state));
}

// ---- HttpServer::Impl ----------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kListenerId = 0;
constexpr std::uint64_t kWakeId = 1;
constexpr std::size_t kReadChunk = 64 * 1024;
/// Output queued for a connection beyond which it reads no more requests.
constexpr std::size_t kMaxQueuedOutput = 4 * 1024 * 1024;
/// After the last response of a closing connection, unread input is drained this long so that
/// the client receives the response instead of a reset (a lingering close).
constexpr std::chrono::milliseconds kLinger{2000};
constexpr std::chrono::milliseconds kAcceptRetry{100};

std::string errno_text(int err) {
  return std::strerror(err);
}

struct Slot {
  std::uint64_t sequence = 0;
  std::string data;  // bytes ready to go out once this slot reaches the front
  bool complete = false;
  bool head_request = false;
  bool http10 = false;
  bool close_after = false;
  std::shared_ptr<EventStreamState> stream;
};

struct Connection {
  int fd = -1;
  std::uint64_t id = 0;
  HttpRequestParser parser;
  std::string in_pending;  // read while paused, not yet parsed
  std::deque<Slot> slots;
  std::uint64_t next_sequence = 0;
  std::optional<std::uint64_t> continue_slot;  // slot already opened by a 100 Continue
  std::string out;
  std::size_t out_offset = 0;
  std::uint32_t interest = 0;
  bool stop_reading = false;  // no further requests (close asked, error, event stream)
  bool close_when_flushed = false;
  bool peer_closed = false;
  bool lingering = false;
  bool dead = false;
  std::optional<Clock::time_point> request_started;
  std::optional<Clock::time_point> body_started;
  Clock::time_point last_activity;
  Clock::time_point last_write_progress;
  Clock::time_point linger_deadline;
  std::shared_ptr<EventStreamState> stream;
  bool stream_closing = false;

  explicit Connection(HttpParserLimits limits) : parser(limits) {}
  [[nodiscard]] bool output_pending() const { return out_offset < out.size(); }
};

struct Metrics {
  explicit Metrics(MetricsRegistry& r)
      : responses{&r.counter("weft_http_responses_total", "HTTP responses by status class",
                             {{"class", "1xx"}}),
                  &r.counter("weft_http_responses_total", "HTTP responses by status class",
                             {{"class", "2xx"}}),
                  &r.counter("weft_http_responses_total", "HTTP responses by status class",
                             {{"class", "3xx"}}),
                  &r.counter("weft_http_responses_total", "HTTP responses by status class",
                             {{"class", "4xx"}}),
                  &r.counter("weft_http_responses_total", "HTTP responses by status class",
                             {{"class", "5xx"}})},
        bytes_in(r.counter("weft_http_received_bytes_total", "Bytes read from HTTP clients")),
        bytes_out(r.counter("weft_http_sent_bytes_total", "Bytes written to HTTP clients")),
        open(r.gauge("weft_http_open_connections", "Open HTTP connections")),
        accepted(r.counter("weft_http_connections_accepted_total", "HTTP connections accepted")),
        rejected(r.counter("weft_http_connections_rejected_total",
                           "HTTP connections closed at once for exceeding max_connections")),
        slow(r.counter("weft_http_slow_client_disconnects_total",
                       "HTTP clients disconnected for timeouts or falling behind an event stream")),
        streams(r.counter("weft_http_event_streams_opened_total",
                          "Server-sent event streams opened")) {}

  std::array<Counter*, 5> responses;
  Counter& bytes_in;
  Counter& bytes_out;
  Gauge& open;
  Counter& accepted;
  Counter& rejected;
  Counter& slow;
  Counter& streams;
};

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  HttpHandler handler;
  std::unique_ptr<MetricsRegistry> own_metrics;
  std::unique_ptr<Metrics> metrics;
  std::shared_ptr<HttpShared> shared = std::make_shared<HttpShared>();
  int listen_fd = -1;
  int epoll_fd = -1;
  std::uint16_t port = 0;
  std::atomic<bool> shutting_down{false};
  std::atomic<bool> stopping{false};
  std::thread thread;
  std::mutex stop_mutex;
  bool joined = false;

  // I/O thread state.
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections;
  std::vector<std::uint64_t> dead;
  std::uint64_t next_id = 2;
  Clock::time_point now;
  std::optional<Clock::time_point> listener_paused_until;
  std::time_t date_second = 0;
  std::string date;
  std::vector<char> read_buffer = std::vector<char>(kReadChunk);

  ~Impl() {
    if (listen_fd >= 0) ::close(listen_fd);
    if (epoll_fd >= 0) ::close(epoll_fd);
  }

  Result<void> open();
  void run();
  void loop_once(int timeout_ms);
  std::chrono::milliseconds sweep_interval() const;
  void accept_all();
  void on_readable(Connection& c);
  void on_writable(Connection& c);
  void process_input(Connection& c, std::string_view data);
  void dispatch(Connection& c, HttpRequest request);
  std::uint64_t open_slot(Connection& c);
  Slot* find_slot(Connection& c, std::uint64_t sequence);
  void complete_slot(Connection& c, std::uint64_t sequence, HttpResponse response);
  void fail_request(Connection& c, int status, std::string_view message);
  void flush(Connection& c);
  void write_out(Connection& c);
  void pump_stream(Connection& c);
  void begin_close(Connection& c);
  void kill(Connection& c);
  void update_interest(Connection& c);
  bool paused(const Connection& c) const;
  void resume(Connection& c);
  std::size_t drain_completions();
  void handle(Completion& done);
  void sweep();
  void close_all();
  const std::string& http_date();
  /// `framed`: with Content-Length; an event stream's body instead ends with the connection.
  std::string serialize(const HttpResponse& r, const Slot& slot, bool close, bool framed = true);
  Connection* find(std::uint64_t id) {
    auto it = connections.find(id);
    return it == connections.end() || it->second->dead ? nullptr : it->second.get();
  }
};

Result<void> HttpServer::Impl::open() {
  const std::string where = fmt::format("{}:{}", options.address, options.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(options.port);
  if (const int rc = ::getaddrinfo(options.address.c_str(), service.c_str(), &hints, &found);
      rc != 0) {
    return fail(Errc::invalid_argument,
                fmt::format("cannot resolve HTTP address {}: {}", where, ::gai_strerror(rc)));
  }
  int err = 0;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      err = errno;
      continue;
    }
    const int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) {
      listen_fd = fd;
      break;
    }
    err = errno;
    ::close(fd);
  }
  ::freeaddrinfo(found);
  if (listen_fd < 0) {
    return fail(Errc::io,
                fmt::format("cannot listen on HTTP address {}: {}", where, errno_text(err)));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&bound), &len);
  port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

  epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  shared->event_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd < 0 || shared->event_fd < 0) {
    return fail(Errc::io,
                fmt::format("HTTP server on {}: epoll/eventfd: {}", where, errno_text(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenerId;
  ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev);
  ev.data.u64 = kWakeId;
  ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, shared->event_fd, &ev);
  return {};
}

std::chrono::milliseconds HttpServer::Impl::sweep_interval() const {
  // Timeouts are checked by a sweep over all connections; a quarter of the shortest timeout
  // keeps them within 25% late, at a cost of one pass per interval (cheap next to the I/O).
  auto shortest = std::min({options.header_timeout, options.body_timeout, options.idle_timeout,
                            options.write_timeout, options.event_heartbeat, kLinger});
  return std::clamp(shortest / 4, std::chrono::milliseconds(2), std::chrono::milliseconds(1000));
}

void HttpServer::Impl::run() {
  shared->io_thread = std::this_thread::get_id();
  ::pthread_setname_np(::pthread_self(), "weft-http");
  const auto interval = sweep_interval();
  auto next_sweep = Clock::now() + interval;
  while (!stopping.load(std::memory_order_acquire)) {
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_sweep - Clock::now());
    loop_once(static_cast<int>(std::max<std::int64_t>(0, wait.count())));
    if (now >= next_sweep) {
      sweep();
      next_sweep = now + interval;
    }
  }
  close_all();
}

void HttpServer::Impl::loop_once(int timeout_ms) {
  std::array<epoll_event, 256> events{};
  const int n = ::epoll_wait(epoll_fd, events.data(), static_cast<int>(events.size()), timeout_ms);
  now = Clock::now();
  for (int i = 0; i < n; ++i) {
    const std::uint64_t id = events[i].data.u64;
    const std::uint32_t ev = events[i].events;
    if (id == kListenerId) {
      accept_all();
      continue;
    }
    if (id == kWakeId) {
      std::uint64_t count = 0;
      [[maybe_unused]] const auto r = ::read(shared->event_fd, &count, sizeof count);
      continue;
    }
    Connection* c = find(id);
    if (c == nullptr) continue;
    if (ev & (EPOLLERR | EPOLLHUP)) {
      // Reset, or shut in both directions: nothing can be delivered any more.
      kill(*c);
      continue;
    }
    if (ev & (EPOLLIN | EPOLLRDHUP)) on_readable(*c);
    if (!c->dead && (ev & EPOLLOUT)) on_writable(*c);
  }
  // Handlers answering on this thread post without waking it: drain until nothing is left.
  while (drain_completions() > 0) {
  }
  for (std::uint64_t id : dead) {
    auto it = connections.find(id);
    if (it == connections.end()) continue;
    ::close(it->second->fd);
    connections.erase(it);
    metrics->open.sub();
  }
  dead.clear();
}

void HttpServer::Impl::accept_all() {
  for (;;) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: stop listening for a moment instead of spinning on the
        // level-triggered listener.
        ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, listen_fd, nullptr);
        listener_paused_until = now + kAcceptRetry;
      }
      return;
    }
    if (connections.size() >= options.max_connections) {
      metrics->rejected.inc();  // counted first: a test sees the close only after the count
      ::close(fd);
      continue;
    }
    const int yes = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    auto c = std::make_unique<Connection>(
        HttpParserLimits{options.max_header_bytes, options.max_body_bytes});
    c->fd = fd;
    c->id = next_id++;
    c->request_started = now;  // a silent new connection is held to the header timeout
    c->last_activity = now;
    c->last_write_progress = now;
    Connection& ref = *c;
    connections.emplace(c->id, std::move(c));
    metrics->accepted.inc();
    metrics->open.add();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = ref.id;
    ref.interest = ev.events;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
  }
}

bool HttpServer::Impl::paused(const Connection& c) const {
  return c.slots.size() >= options.max_pipelined || c.out.size() - c.out_offset > kMaxQueuedOutput;
}

void HttpServer::Impl::on_readable(Connection& c) {
  // A few reads per wake-up: enough for a 100 KB body, fair to other connections.
  for (int round = 0; round < 4 && !c.dead; ++round) {
    if (!c.lingering && !c.stop_reading && paused(c)) break;
    const ssize_t n = ::recv(c.fd, read_buffer.data(), read_buffer.size(), 0);
    if (n > 0) {
      metrics->bytes_in.inc(static_cast<std::uint64_t>(n));
      c.last_activity = now;
      if (c.lingering) continue;
      process_input(c, std::string_view(read_buffer.data(), static_cast<std::size_t>(n)));
      if (static_cast<std::size_t>(n) < read_buffer.size()) break;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
    // End of input (or a reset): answer what is in flight if the peer only half-closed.
    c.peer_closed = true;
    if (n < 0 || c.lingering || c.stream || (c.slots.empty() && !c.output_pending())) {
      kill(c);
      return;
    }
    c.stop_reading = true;
    c.close_when_flushed = true;
    break;
  }
  if (!c.dead) update_interest(c);
}

void HttpServer::Impl::on_writable(Connection& c) {
  write_out(c);
}

void HttpServer::Impl::process_input(Connection& c, std::string_view data) {
  while (!data.empty() && !c.dead) {
    if (c.stop_reading) return;  // after a close, an error or an event stream: input is dropped
    if (paused(c)) {
      c.in_pending.append(data);
      return;
    }
    if (!c.request_started) c.request_started = now;
    const auto step = c.parser.parse(data);
    data.remove_prefix(step.consumed);
    switch (step.state) {
      case HttpRequestParser::State::incomplete:
        if (c.parser.in_body() && !c.body_started) c.body_started = now;
        break;
      case HttpRequestParser::State::expect_continue: {
        c.body_started = now;
        const std::uint64_t seq = open_slot(c);
        c.slots.back().data = "HTTP/1.1 100 Continue\r\n\r\n";
        c.continue_slot = seq;
        flush(c);
        break;
      }
      case HttpRequestParser::State::complete:
        c.request_started.reset();
        c.body_started.reset();
        dispatch(c, c.parser.take());
        break;
      case HttpRequestParser::State::failed: {
        const HttpParseError& e = c.parser.error();
        fail_request(c, e.status, e.message);
        return;
      }
    }
  }
}

std::uint64_t HttpServer::Impl::open_slot(Connection& c) {
  Slot s;
  s.sequence = c.next_sequence++;
  c.slots.push_back(std::move(s));
  return c.slots.back().sequence;
}

Slot* HttpServer::Impl::find_slot(Connection& c, std::uint64_t sequence) {
  if (c.slots.empty() || sequence < c.slots.front().sequence) return nullptr;
  const std::uint64_t index = sequence - c.slots.front().sequence;
  return index < c.slots.size() ? &c.slots[static_cast<std::size_t>(index)] : nullptr;
}

void HttpServer::Impl::dispatch(Connection& c, HttpRequest request) {
  const std::uint64_t seq = c.continue_slot.value_or(0);
  const std::uint64_t sequence = c.continue_slot ? seq : open_slot(c);
  c.continue_slot.reset();
  Slot& slot = *find_slot(c, sequence);
  slot.head_request = request.method == "HEAD";
  slot.http10 = request.version_minor == 0;
  slot.close_after = !request.keep_alive;
  if (slot.close_after) c.stop_reading = true;
  if (shutting_down.load(std::memory_order_relaxed)) {
    slot.close_after = true;
    c.stop_reading = true;
    complete_slot(c, sequence, HttpResponse::error(503, "server is shutting down"));
    return;
  }
  try {
    handler(std::move(request), HttpResponder(shared, c.id, sequence));
  } catch (...) {
    // The responder, a by-value parameter, was destroyed by the unwinding and answered 500.
  }
}

void HttpServer::Impl::fail_request(Connection& c, int status, std::string_view message) {
  const std::uint64_t sequence = c.continue_slot.value_or(0);
  const std::uint64_t seq = c.continue_slot ? sequence : open_slot(c);
  c.continue_slot.reset();
  Slot* slot = find_slot(c, seq);
  slot->close_after = true;
  c.stop_reading = true;
  c.in_pending.clear();
  complete_slot(c, seq, HttpResponse::error(status, message));
}

const std::string& HttpServer::Impl::http_date() {
  const std::time_t t = std::time(nullptr);
  if (t != date_second) {
    date_second = t;
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[64];
    const std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    date.assign(buf, n);
  }
  return date;
}

std::string HttpServer::Impl::serialize(const HttpResponse& r, const Slot& slot, bool close,
                                        bool framed) {
  const bool body_allowed = r.status >= 200 && r.status != 204 && r.status != 304;
  std::string out;
  out.reserve(160 + r.body.size());
  out += fmt::format("HTTP/1.1 {} {}\r\n", r.status, reason_phrase(r.status));
  for (const auto& [name, value] : r.headers) {
    // Framing is the server's business; CR or LF from a handler must not split the response.
    if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") ||
        iequals(name, "Connection")) {
      continue;
    }
    out += name;
    out += ": ";
    for (char ch : value) out.push_back(ch == '\r' || ch == '\n' ? ' ' : ch);
    out += "\r\n";
  }
  out += "Date: ";
  out += http_date();
  out += "\r\n";
  if (body_allowed && framed) out += fmt::format("Content-Length: {}\r\n", r.body.size());
  if (close) {
    out += "Connection: close\r\n";
  } else if (slot.http10) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  if (body_allowed && !slot.head_request) out += r.body;
  return out;
}

void HttpServer::Impl::complete_slot(Connection& c, std::uint64_t sequence, HttpResponse response) {
  Slot* slot = find_slot(c, sequence);
  if (slot == nullptr || slot->complete || slot->stream) return;
  if (response.headers.has_token("Connection", "close")) {
    slot->close_after = true;
    c.stop_reading = true;
  }
  const int cls = std::clamp(response.status / 100, 1, 5);
  metrics->responses[static_cast<std::size_t>(cls - 1)]->inc();
  slot->data += serialize(response, *slot, slot->close_after);
  slot->complete = true;
  flush(c);
}

void HttpServer::Impl::flush(Connection& c) {
  const bool was_idle = !c.output_pending();
  while (!c.slots.empty()) {
    Slot& s = c.slots.front();
    if (!s.data.empty()) {
      if (c.out_offset == c.out.size()) {
        c.out.clear();
        c.out_offset = 0;
      }
      c.out += s.data;
      s.data.clear();
    }
    if (s.stream) {
      c.stream = s.stream;
      break;  // an event stream holds the front for good
    }
    if (!s.complete) break;
    const bool close = s.close_after;
    c.slots.pop_front();
    c.last_activity = now;
    if (close) {
      c.close_when_flushed = true;
      c.slots.clear();
      break;
    }
  }
  if (was_idle && c.output_pending()) c.last_write_progress = now;
  write_out(c);
}

void HttpServer::Impl::write_out(Connection& c) {
  for (;;) {
    while (c.output_pending()) {
      const ssize_t n =
          ::send(c.fd, c.out.data() + c.out_offset, c.out.size() - c.out_offset, MSG_NOSIGNAL);
      if (n > 0) {
        c.out_offset += static_cast<std::size_t>(n);
        metrics->bytes_out.inc(static_cast<std::uint64_t>(n));
        c.last_write_progress = now;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        update_interest(c);
        return;
      }
      kill(c);
      return;
    }
    c.out.clear();
    c.out_offset = 0;
    if (c.out.capacity() > kMaxQueuedOutput) c.out.shrink_to_fit();
    if (!c.stream) break;
    pump_stream(c);
    if (!c.output_pending()) break;
  }
  if (c.stream && c.stream_closing) {
    bool drained = false;
    {
      std::lock_guard lock(c.stream->mutex);
      drained = c.stream->pending.empty();
    }
    if (drained) c.close_when_flushed = true;
  }
  if (c.close_when_flushed && !c.output_pending() && (c.slots.empty() || c.stream)) {
    begin_close(c);
    return;
  }
  update_interest(c);
  resume(c);
}

void HttpServer::Impl::pump_stream(Connection& c) {
  // Called with an empty output buffer: the stream's pending events become the next write.
  // Output is thus bounded by two stream buffers, whatever the publisher does.
  EventStreamState& s = *c.stream;
  std::lock_guard lock(s.mutex);
  s.notified = false;
  if (s.pending.empty()) return;
  c.out.swap(s.pending);
  c.out_offset = 0;
  c.last_write_progress = now;
  c.last_activity = now;
}

void HttpServer::Impl::resume(Connection& c) {
  if (c.dead || c.in_pending.empty() || paused(c) || c.stop_reading) return;
  std::string data = std::move(c.in_pending);
  c.in_pending.clear();
  process_input(c, data);
  if (!c.dead) update_interest(c);
}

void HttpServer::Impl::begin_close(Connection& c) {
  if (c.stream) c.stream->open.store(false);
  if (c.peer_closed) {
    kill(c);
    return;
  }
  // Lingering close: stop sending, read and drop what the client still sends until it closes,
  // so a response such as 413 is not destroyed by a reset of unread input.
  ::shutdown(c.fd, SHUT_WR);
  c.lingering = true;
  c.linger_deadline = now + kLinger;
  update_interest(c);
}

void HttpServer::Impl::kill(Connection& c) {
  if (c.dead) return;
  c.dead = true;
  if (c.stream) c.stream->open.store(false);
  ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
  dead.push_back(c.id);
}

void HttpServer::Impl::update_interest(Connection& c) {
  if (c.dead) return;
  std::uint32_t want = 0;
  const bool reading = c.lingering || (!c.peer_closed && (c.stop_reading || !paused(c)));
  if (reading) want |= EPOLLIN | EPOLLRDHUP;
  if (c.output_pending() && !c.lingering) want |= EPOLLOUT;
  if (want == c.interest) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = c.id;
  ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
  c.interest = want;
}

std::size_t HttpServer::Impl::drain_completions() {
  std::vector<Completion> batch;
  {
    std::lock_guard lock(shared->mutex);
    batch.swap(shared->queue);
  }
  for (Completion& done : batch) handle(done);
  return batch.size();
}

void HttpServer::Impl::handle(Completion& done) {
  Connection* c = find(done.connection);
  if (c == nullptr) {
    if (done.stream) done.stream->open.store(false);
    return;
  }
  switch (done.kind) {
    case Completion::Kind::response:
      complete_slot(*c, done.sequence, std::move(done.response));
      return;
    case Completion::Kind::events: {
      Slot* slot = find_slot(*c, done.sequence);
      if (slot == nullptr || slot->complete) return;
      HttpResponse r;
      r.headers = std::move(done.response.headers);
      if (!r.headers.contains("Content-Type")) r.headers.add("Content-Type", "text/event-stream");
      if (!r.headers.contains("Cache-Control")) r.headers.add("Cache-Control", "no-cache");
      // No Content-Length: the stream's body ends when the connection closes.
      std::string head = serialize(r, *slot, true, false);
      metrics->responses[1]->inc();
      metrics->streams.inc();
      slot->data += head;
      slot->stream = std::move(done.stream);
      c->stop_reading = true;
      c->in_pending.clear();
      flush(*c);
      return;
    }
    case Completion::Kind::stream_ready:
      if (c->stream == done.stream && !c->output_pending()) write_out(*c);
      return;
    case Completion::Kind::stream_overflow:
      metrics->slow.inc();
      kill(*c);
      return;
    case Completion::Kind::stream_close:
      if (c->stream == done.stream) {
        c->stream_closing = true;
        write_out(*c);
      } else if (Slot* slot = find_slot(*c, done.sequence); slot && slot->stream == done.stream) {
        // Closed before the stream reached the front of the pipeline.
        kill(*c);
      }
      return;
  }
}

void HttpServer::Impl::sweep() {
  if (listener_paused_until && now >= *listener_paused_until) {
    listener_paused_until.reset();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenerId;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev);
  }
  for (auto& [id, ptr] : connections) {
    Connection& c = *ptr;
    if (c.dead) continue;
    if (c.lingering) {
      if (now >= c.linger_deadline) kill(c);
      continue;
    }
    if (c.output_pending() && now - c.last_write_progress > options.write_timeout) {
      metrics->slow.inc();
      kill(c);
      continue;
    }
    if (c.stream) {
      if (!c.output_pending() && now - c.last_activity > options.event_heartbeat) {
        // A comment line: ignored by readers, but it makes a vanished reader's socket fail.
        c.out = ":\n\n";
        c.out_offset = 0;
        c.last_activity = now;
        c.last_write_progress = now;
        write_out(c);
      }
      continue;
    }
    if (c.stop_reading || c.peer_closed || paused(c)) continue;
    const bool timed_out =
        (c.body_started && now - *c.body_started > options.body_timeout) ||
        (!c.body_started && c.request_started && now - *c.request_started > options.header_timeout);
    if (timed_out) {
      metrics->slow.inc();
      fail_request(c, 408,
                   c.body_started ? "request body not received in time"
                                  : "request head not received in time");
      continue;
    }
    if (c.slots.empty() && !c.output_pending() && !c.request_started &&
        now - c.last_activity > options.idle_timeout) {
      kill(c);
    }
  }
  for (std::uint64_t id : dead) {
    auto it = connections.find(id);
    if (it == connections.end()) continue;
    ::close(it->second->fd);
    connections.erase(it);
    metrics->open.sub();
  }
  dead.clear();
}

void HttpServer::Impl::close_all() {
  {
    std::lock_guard lock(shared->mutex);
    shared->stopped = true;
    shared->queue.clear();
  }
  for (auto& [id, c] : connections) {
    if (c->stream) c->stream->open.store(false);
    for (Slot& s : c->slots) {
      if (s.stream) s.stream->open.store(false);
    }
    ::close(c->fd);
    metrics->open.sub();
  }
  connections.clear();
}

// ---- HttpServer ----------------------------------------------------------------------------

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  stop();
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(HttpServerOptions options,
                                                      HttpHandler handler) {
  if (!handler) return fail(Errc::invalid_argument, "HTTP server needs a handler");
  if (options.max_connections == 0 || options.max_pipelined == 0) {
    return fail(Errc::invalid_argument,
                "HTTP server: max_connections and max_pipelined must be > 0");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->handler = std::move(handler);
  MetricsRegistry* registry = impl->options.metrics;
  if (registry == nullptr) {
    impl->own_metrics = std::make_unique<MetricsRegistry>();
    registry = impl->own_metrics.get();
  }
  impl->metrics = std::make_unique<Metrics>(*registry);
  impl->shared->event_buffer_limit = impl->options.max_event_buffer_bytes;
  if (auto opened = impl->open(); !opened) return std::unexpected(opened.error());
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->run(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::uint16_t HttpServer::port() const noexcept {
  return impl_->port;
}

void HttpServer::begin_shutdown() {
  impl_->shutting_down.store(true);
}

void HttpServer::stop() {
  std::lock_guard lock(impl_->stop_mutex);
  if (impl_->joined) return;
  impl_->stopping.store(true, std::memory_order_release);
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(impl_->shared->event_fd, &one, sizeof one);
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->joined = true;
  if (impl_->listen_fd >= 0) {
    ::close(impl_->listen_fd);
    impl_->listen_fd = -1;
  }
}

HttpServerStats HttpServer::stats() const {
  const Metrics& m = *impl_->metrics;
  HttpServerStats s;
  s.responses_1xx = m.responses[0]->value();
  s.responses_2xx = m.responses[1]->value();
  s.responses_3xx = m.responses[2]->value();
  s.responses_4xx = m.responses[3]->value();
  s.responses_5xx = m.responses[4]->value();
  s.bytes_in = m.bytes_in.value();
  s.bytes_out = m.bytes_out.value();
  s.open_connections = m.open.value();
  s.accepted_connections = m.accepted.value();
  s.rejected_connections = m.rejected.value();
  s.slow_client_disconnects = m.slow.value();
  s.event_streams_opened = m.streams.value();
  return s;
}

}  // namespace weft::io
