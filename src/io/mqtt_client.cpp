#include "weft/io/mqtt_client.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/mqtt_codec.hpp"
#include "weft/io/mqtt_topic.hpp"

namespace weft::io {

std::string_view to_string(MqttConnectionState state) noexcept {
  switch (state) {
    case MqttConnectionState::connecting:
      return "connecting";
    case MqttConnectionState::connected:
      return "connected";
    case MqttConnectionState::disconnected:
      return "disconnected";
    case MqttConnectionState::stopped:
      return "stopped";
  }
  return "unknown";
}

Duration mqtt_reconnect_delay(unsigned attempt, Duration min, Duration max,
                              double jitter) noexcept {
  Duration delay = max;
  if (attempt < 62 && min.count() <= (max.count() >> attempt)) {
    delay = min * (std::int64_t{1} << attempt);
  }
  delay = std::min(delay, max);
  jitter = std::clamp(jitter, 0.0, 1.0);
  const auto half = delay / 2;
  return half + Duration(static_cast<Duration::rep>(
                    std::llround(static_cast<double>((delay - half).count()) * jitter)));
}

namespace {

struct OutgoingPublish {
  mqtt::Publish packet;
  MqttClient::PublishDone done;
};

struct Subscription {
  std::string filter;
  std::uint8_t qos = 0;
  MqttClient::MessageHandler handler;
  MqttClient::SubscribeDone on_suback;
};

void complete(MqttClient::PublishDone& done, Result<void> result) {
  if (done) done(std::move(result));
}

}  // namespace

namespace detail {

// What other threads hand to the client's thread. Shared with every MqttMessage awaiting its
// ack, so an ack after the client is gone finds a closed inbox instead of a dangling pointer.
struct MqttInbox {
  static constexpr std::uint64_t current_generation = 0;

  std::mutex mutex;
  std::vector<std::pair<std::uint16_t, std::uint64_t>> acks;  // (packet id, generation)
  std::deque<OutgoingPublish> publishes;
  std::vector<Subscription> subscriptions;
  std::optional<std::string> reconnect;  // asked for by MqttClient::reconnect, with its reason
  bool closed = false;
  std::atomic<std::size_t> outstanding_publishes{0};  // queued anywhere or in flight

  std::atomic<bool> wake_pending{false};
  int event_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

  ~MqttInbox() {
    if (event_fd >= 0) ::close(event_fd);
  }

  // One eventfd write per batch of producer calls: the loop clears wake_pending before it
  // drains, so a producer that finds it set knows the drain is still ahead.
  void wake() {
    if (!wake_pending.exchange(true, std::memory_order_acq_rel)) {
      const std::uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(event_fd, &one, sizeof one);
    }
  }

  void push_ack(std::uint16_t id, std::uint64_t generation) {
    {
      std::lock_guard lock(mutex);
      if (closed) return;
      acks.emplace_back(id, generation);
    }
    wake();
  }
};

}  // namespace detail

void MqttMessage::ack() {
  if (!inbox_) return;
  auto inbox = std::move(inbox_);
  inbox->push_ack(packet_id, generation_);
}

// Everything that runs on the client's thread: the socket, the session state, the timers.
class MqttClient::Loop {
 public:
  Loop(const MqttOptions& options, std::shared_ptr<detail::MqttInbox> inbox)
      : options_(options),
        clock_(options.clock ? options.clock : SystemClock::instance()),
        inbox_(std::move(inbox)),
        rng_(std::random_device{}()) {
    limits_.max_packet_size = options_.max_packet_size;
  }

  void start() {
    thread_ = std::thread([this] {
      while (!stopping_.load(std::memory_order_acquire)) step();
      shutdown();
    });
  }

  void stop() {
    stopping_.store(true, std::memory_order_release);
    inbox_->wake();
    if (thread_.joinable()) thread_.join();
  }

  [[nodiscard]] bool connected() const noexcept {
    return connected_.load(std::memory_order_acquire);
  }

  [[nodiscard]] MqttStats stats() const {
    MqttStats s;
    s.received = received_.load(std::memory_order_relaxed);
    s.redelivered = redelivered_.load(std::memory_order_relaxed);
    s.acked = acked_.load(std::memory_order_relaxed);
    s.unrouted = unrouted_.load(std::memory_order_relaxed);
    s.published = published_.load(std::memory_order_relaxed);
    s.publish_acked = publish_acked_.load(std::memory_order_relaxed);
    s.resent = resent_.load(std::memory_order_relaxed);
    s.connects = connects_.load(std::memory_order_relaxed);
    s.disconnects = disconnects_.load(std::memory_order_relaxed);
    s.protocol_errors = protocol_errors_.load(std::memory_order_relaxed);
    s.oversized = oversized_.load(std::memory_order_relaxed);
    s.read_turns = read_turns_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  enum class Phase { idle, tcp_connecting, awaiting_connack, connected };

  // Received QoS 1 messages in arrival order; PUBACKs leave in this order (MQTT-4.6.0-2) even
  // when the application acknowledges out of order.
  struct Incoming {
    std::uint16_t id;
    bool acked;
  };

  struct Inflight {
    OutgoingPublish publish;
    std::uint64_t seq;  // send order, for resending in order after a reconnect
  };

  // Stop reading more publishes into the output buffer beyond this; the socket drains it.
  static constexpr std::size_t out_high_water = 1 << 20;
  // Bytes read per step, so acks and publishes get their turn under a flood.
  static constexpr std::size_t read_budget = 256 << 10;

  void step() {
    if (read_last_turn_ && options_.coalesce.count() > 0) {
      // Real time even under a manual clock: this spaces out system calls, not deadlines.
      std::this_thread::sleep_for(options_.coalesce);
    }
    read_last_turn_ = false;
    const TimePoint now = clock_->now();
    if (phase_ == Phase::idle && now >= retry_at_) begin_connect();

    pollfd fds[2] = {{inbox_->event_fd, POLLIN, 0}, {fd_, 0, 0}};
    if (fd_ >= 0) {
      fds[1].events = POLLIN;
      if (phase_ == Phase::tcp_connecting || out_pos_ < out_.size()) fds[1].events |= POLLOUT;
    }
    const int n = ::poll(fds, fd_ >= 0 ? 2 : 1, poll_timeout_ms(clock_->now()));
    if (n < 0 && errno != EINTR) {
      drop(fmt::format("poll: {}", std::strerror(errno)));
      return;
    }
    if (fds[0].revents & POLLIN) {
      std::uint64_t count;
      [[maybe_unused]] auto r = ::read(inbox_->event_fd, &count, sizeof count);
    }
    inbox_->wake_pending.store(false, std::memory_order_release);
    take_inbox();

    if (fd_ >= 0 && fds[1].revents != 0) {
      if (phase_ == Phase::tcp_connecting) {
        finish_tcp_connect();
      } else if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        read_socket();
        take_inbox();  // acks given inline by handlers leave in the same write
      }
    }
    if (phase_ == Phase::connected) pump_publishes();
    if (fd_ >= 0 && phase_ != Phase::tcp_connecting) flush();
    if (fd_ >= 0) check_deadlines(clock_->now());
  }

  int poll_timeout_ms(TimePoint now) const {
    TimePoint next = now + std::chrono::seconds(1);
    const auto ka = std::chrono::duration_cast<Duration>(options_.keep_alive);
    if (phase_ == Phase::idle) next = std::min(next, retry_at_);
    if (phase_ == Phase::tcp_connecting || phase_ == Phase::awaiting_connack) {
      next = std::min(next, connect_deadline_);
    }
    if (phase_ == Phase::connected && ka.count() > 0) {
      if (!ping_outstanding_) next = std::min({next, last_sent_ + ka, last_received_ + ka});
      next = std::min(next, last_received_ + ka * 3 / 2);
    }
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
    // A manual clock does not move while we sleep; look at it often.
    if (clock_->is_manual()) ms = std::min<decltype(ms)>(ms, 10);
    return static_cast<int>(std::clamp<decltype(ms)>(ms, 0, 1000));
  }

  // ---- connection ----------------------------------------------------------------------

  void set_state(MqttConnectionState state, std::string_view detail) {
    if (options_.on_state) options_.on_state(state, detail);
  }

  void begin_connect() {
    set_state(MqttConnectionState::connecting, fmt::format("{}:{}", options_.host, options_.port));
    ++generation_;
    connect_deadline_ = clock_->now() + options_.connect_timeout;

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(options_.port);
    if (const int rc = ::getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &found);
        rc != 0) {
      drop(fmt::format("resolve {}: {}", options_.host, ::gai_strerror(rc)));
      return;
    }
    const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(found, ::freeaddrinfo);
    fd_ = ::socket(found->ai_family, found->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   found->ai_protocol);
    if (fd_ < 0) {
      drop(fmt::format("socket: {}", std::strerror(errno)));
      return;
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    phase_ = Phase::tcp_connecting;
    if (::connect(fd_, found->ai_addr, found->ai_addrlen) == 0) {
      send_connect();
    } else if (errno != EINPROGRESS) {
      drop(fmt::format("connect to {}:{}: {}", options_.host, options_.port, std::strerror(errno)));
    }
  }

  void finish_tcp_connect() {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      drop(fmt::format("connect to {}:{}: {}", options_.host, options_.port, std::strerror(err)));
      return;
    }
    send_connect();
  }

  void send_connect() {
    phase_ = Phase::awaiting_connack;
    mqtt::Connect c;
    c.client_id = options_.client_id;
    c.clean_session = options_.clean_session;
    c.keep_alive_s = static_cast<std::uint16_t>(options_.keep_alive.count());
    c.username = options_.username;
    c.password = options_.password;
    send(c);
  }

  void on_connack(const mqtt::Connack& ack) {
    if (ack.return_code != 0) {
      drop(fmt::format("broker refused the connection: {} (CONNACK {})",
                       mqtt::connack_reason(ack.return_code), ack.return_code));
      return;
    }
    phase_ = Phase::connected;
    attempt_ = 0;
    ping_outstanding_ = false;
    last_received_ = clock_->now();
    connects_.fetch_add(1, std::memory_order_relaxed);
    connected_.store(true, std::memory_order_release);
    set_state(MqttConnectionState::connected,
              ack.session_present ? "session resumed" : "new session");
    // Subscribing again is harmless when the broker kept the session, and necessary when it
    // did not (clean session, or a broker that lost its state).
    for (std::size_t i = 0; i < subscriptions_.size(); ++i) send_subscribe(i);
    resend_inflight();
  }

  // Closes the connection and schedules the next attempt. The outgoing QoS 1 publishes stay
  // in flight (sent again after the reconnect); unacknowledged incoming ones will be
  // redelivered by the broker, so their arrival-order bookkeeping starts afresh.
  // `attempt` counts the retries whose delay doubles: failed connects by default.
  void drop(std::string reason, unsigned* attempt = nullptr) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    phase_ = Phase::idle;
    connected_.store(false, std::memory_order_release);
    disconnects_.fetch_add(1, std::memory_order_relaxed);
    out_.clear();
    out_pos_ = 0;
    in_.clear();
    discard_ = 0;
    incoming_.clear();
    incoming_seq_.clear();
    pending_subacks_.clear();
    const double jitter = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
    const Duration delay =
        mqtt_reconnect_delay(attempt != nullptr ? (*attempt)++ : attempt_++, options_.reconnect_min,
                             options_.reconnect_max, jitter);
    retry_at_ = clock_->now() + delay;
    set_state(MqttConnectionState::disconnected,
              fmt::format("{}; retrying in {} ms", reason,
                          std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()));
  }

  void protocol_error(std::string reason) {
    protocol_errors_.fetch_add(1, std::memory_order_relaxed);
    drop(fmt::format("protocol error from {}:{}: {}", options_.host, options_.port, reason));
  }

  void check_deadlines(TimePoint now) {
    if (phase_ == Phase::tcp_connecting || phase_ == Phase::awaiting_connack) {
      if (now >= connect_deadline_) {
        drop(fmt::format(
            "no {} from {}:{} within {} ms",
            phase_ == Phase::tcp_connecting ? "TCP connection" : "CONNACK", options_.host,
            options_.port,
            std::chrono::duration_cast<std::chrono::milliseconds>(options_.connect_timeout)
                .count()));
      }
      return;
    }
    const auto ka = std::chrono::duration_cast<Duration>(options_.keep_alive);
    if (phase_ != Phase::connected || ka.count() == 0) return;
    if (now - last_received_ >= ka * 3 / 2) {
      drop(fmt::format(
          "nothing from the broker for {} ms (keep-alive {} s)",
          std::chrono::duration_cast<std::chrono::milliseconds>(now - last_received_).count(),
          options_.keep_alive.count()));
      return;
    }
    // Ping when we have been quiet (the broker's keep-alive) or the broker has (ours).
    if (!ping_outstanding_ && (now - last_sent_ >= ka || now - last_received_ >= ka)) {
      send(mqtt::Pingreq{});
      ping_outstanding_ = true;
      flush();
    }
  }

  // ---- input -----------------------------------------------------------------------------

  void read_socket() {
    std::size_t budget = read_budget;
    while (budget > 0 && fd_ >= 0) {
      const std::size_t old = in_.size();
      const std::size_t want = std::min<std::size_t>(64 << 10, budget);
      ssize_t n = 0;
      int err = 0;
      // Without zero-filling 64 KiB per read (measured: 4% of all CPU in mqtt_throughput_test).
      in_.resize_and_overwrite(old + want, [&](char* data, std::size_t) {
        n = ::recv(fd_, data + old, want, 0);
        err = errno;
        return old + static_cast<std::size_t>(std::max<ssize_t>(n, 0));
      });
      if (n <= 0) {
        if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) break;
        if (n < 0 && err == EINTR) continue;
        drop(n == 0 ? std::string("broker closed the connection")
                    : fmt::format("recv: {}", std::strerror(err)));
        return;
      }
      budget -= static_cast<std::size_t>(n);
      if (!read_last_turn_) read_turns_.fetch_add(1, std::memory_order_relaxed);
      read_last_turn_ = true;
      last_received_ = clock_->now();
      if (!decode_input()) return;
      if (static_cast<std::size_t>(n) < want) break;
    }
  }

  // Returns false when the connection was dropped.
  bool decode_input() {
    std::size_t pos = 0;
    while (fd_ >= 0) {
      const std::string_view rest = std::string_view(in_).substr(pos);
      if (discard_ > 0) {
        const std::size_t n = std::min(discard_, rest.size());
        discard_ -= n;
        pos += n;
        if (discard_ > 0) break;
        continue;
      }
      auto header = mqtt::decode_fixed_header(rest);
      if (header && header->has_value() && (*header)->type == mqtt::PacketType::publish &&
          (*header)->packet_size() > limits_.max_packet_size) {
        if (!skip_oversized(rest, **header)) break;  // its packet id has not arrived yet
        continue;
      }
      auto d = mqtt::decode(rest, limits_);
      if (!d) {
        protocol_error(d.error().message());
        return false;
      }
      if (!d->has_value()) break;
      pos += (*d)->size;
      handle(std::move((*d)->packet));
    }
    if (fd_ < 0) return false;
    in_.erase(0, pos);
    return true;
  }

  // A PUBLISH over max_packet_size is acknowledged and its bytes discarded as they arrive: the
  // broker would redeliver it forever otherwise, and the connection would never get past it.
  // Returns false while the bytes up to its packet id are still to come.
  bool skip_oversized(std::string_view rest, const mqtt::FixedHeader& header) {
    const std::size_t qos = (header.flags >> 1) & 0x3;
    if (rest.size() < header.header_size + 2) return false;
    const std::size_t topic_len = (static_cast<std::uint8_t>(rest[header.header_size]) << 8) |
                                  static_cast<std::uint8_t>(rest[header.header_size + 1]);
    const std::size_t id_at = header.header_size + 2 + topic_len;
    if (qos > 0 && rest.size() < id_at + 2) return false;
    oversized_.fetch_add(1, std::memory_order_relaxed);
    if (qos == 1) {
      const auto id = static_cast<std::uint16_t>((static_cast<std::uint8_t>(rest[id_at]) << 8) |
                                                 static_cast<std::uint8_t>(rest[id_at + 1]));
      track_incoming(id);
      acknowledge(id);
    } else if (qos == 2) {
      protocol_error("QoS 2 PUBLISH but we subscribe at QoS 1 at most");
      return true;
    }
    discard_ = header.packet_size();
    return true;
  }

  void handle(mqtt::Packet&& packet) {
    if (phase_ == Phase::awaiting_connack) {
      if (const auto* ack = std::get_if<mqtt::Connack>(&packet)) {
        on_connack(*ack);
      } else {
        protocol_error(fmt::format("{} before CONNACK", mqtt::to_string(mqtt::type_of(packet))));
      }
      return;
    }
    if (auto* p = std::get_if<mqtt::Publish>(&packet)) {
      on_publish(std::move(*p));
    } else if (const auto* ack = std::get_if<mqtt::Puback>(&packet)) {
      on_puback(ack->packet_id);
    } else if (const auto* sub = std::get_if<mqtt::Suback>(&packet)) {
      on_suback(*sub);
    } else if (std::holds_alternative<mqtt::Pingresp>(packet)) {
      ping_outstanding_ = false;
    } else {
      protocol_error(fmt::format("unexpected {}", mqtt::to_string(mqtt::type_of(packet))));
    }
  }

  void on_publish(mqtt::Publish&& p) {
    if (p.qos > 1) {
      protocol_error(
          fmt::format("QoS {} PUBLISH on '{}' but we subscribe at QoS 1 at most", p.qos, p.topic));
      return;
    }
    received_.fetch_add(1, std::memory_order_relaxed);
    if (p.dup) redelivered_.fetch_add(1, std::memory_order_relaxed);

    MqttMessage m;
    m.topic = std::move(p.topic);
    m.payload = std::move(p.payload);
    m.qos = p.qos;
    m.retain = p.retain;
    m.dup = p.dup;
    m.packet_id = p.packet_id;
    if (p.qos == 1) {
      track_incoming(p.packet_id);
      m.inbox_ = inbox_;
      m.generation_ = generation_;
    }
    for (auto& sub : subscriptions_) {
      if (mqtt_topic_matches(sub.filter, m.topic)) {
        sub.handler(std::move(m));
        return;
      }
    }
    // Left over from an earlier subscription of this persistent session: nobody will ever
    // take it, and holding its ack would stall every later one.
    unrouted_.fetch_add(1, std::memory_order_relaxed);
    if (p.qos == 1) acknowledge(p.packet_id);
  }

  void track_incoming(std::uint16_t id) {
    // A redelivery of a message still awaiting its ack keeps its place in the order.
    if (incoming_seq_.try_emplace(id, incoming_head_ + incoming_.size()).second) {
      incoming_.push_back(Incoming{id, false});
    }
  }

  void acknowledge(std::uint16_t id) {
    const auto it = incoming_seq_.find(id);
    if (it == incoming_seq_.end()) return;  // already acked, or from a dropped connection
    incoming_[it->second - incoming_head_].acked = true;
    incoming_seq_.erase(it);
    while (!incoming_.empty() && incoming_.front().acked) {
      send(mqtt::Puback{incoming_.front().id});
      acked_.fetch_add(1, std::memory_order_relaxed);
      incoming_.pop_front();
      ++incoming_head_;
    }
  }

  void on_puback(std::uint16_t id) {
    const auto it = inflight_.find(id);
    if (it == inflight_.end()) return;  // a duplicate PUBACK for a resent publish
    auto done = std::move(it->second.publish.done);
    inflight_.erase(it);
    publish_acked_.fetch_add(1, std::memory_order_relaxed);
    inbox_->outstanding_publishes.fetch_sub(1, std::memory_order_relaxed);
    complete(done, {});
  }

  void on_suback(const mqtt::Suback& ack) {
    const auto it = pending_subacks_.find(ack.packet_id);
    if (it == pending_subacks_.end()) return;
    const std::size_t index = it->second;
    pending_subacks_.erase(it);
    auto& sub = subscriptions_[index];
    if (!sub.on_suback) return;
    const std::uint8_t code = ack.return_codes.front();
    if (code == mqtt::suback_failure) {
      sub.on_suback(
          fail(Errc::conflict, fmt::format("broker refused the subscription to '{}'", sub.filter)));
    } else {
      sub.on_suback(code);
    }
  }

  // ---- output ----------------------------------------------------------------------------

  void send(const mqtt::Packet& packet) {
    auto ok = mqtt::encode(packet, out_);
    // Everything we encode was validated when it was handed to us.
    if (!ok) protocol_errors_.fetch_add(1, std::memory_order_relaxed);
  }

  void flush() {
    while (out_pos_ < out_.size()) {
      const ssize_t n = ::send(fd_, out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        drop(fmt::format("send: {}", std::strerror(errno)));
        return;
      }
      out_pos_ += static_cast<std::size_t>(n);
      last_sent_ = clock_->now();
    }
    if (out_pos_ == out_.size()) {
      out_.clear();
      out_pos_ = 0;
    } else if (out_pos_ > out_.size() / 2) {
      out_.erase(0, out_pos_);
      out_pos_ = 0;
    }
  }

  std::uint16_t next_packet_id() {
    // inflight_ is bounded by max_inflight_out, far below 65535, so a free id exists.
    do {
      next_id_ = static_cast<std::uint16_t>(next_id_ == 65535 ? 1 : next_id_ + 1);
    } while (inflight_.contains(next_id_) || pending_subacks_.contains(next_id_));
    return next_id_;
  }

  void send_subscribe(std::size_t index) {
    const auto& sub = subscriptions_[index];
    const std::uint16_t id = next_packet_id();
    pending_subacks_[id] = index;
    send(mqtt::Subscribe{id, {mqtt::TopicRequest{sub.filter, sub.qos}}});
  }

  void pump_publishes() {
    while (!queue_.empty() && out_.size() - out_pos_ < out_high_water) {
      auto& next = queue_.front();
      if (next.packet.qos == 0) {
        send(next.packet);
        published_.fetch_add(1, std::memory_order_relaxed);
        inbox_->outstanding_publishes.fetch_sub(1, std::memory_order_relaxed);
        auto done = std::move(next.done);
        queue_.pop_front();
        complete(done, {});
        continue;
      }
      if (inflight_.size() >= options_.max_inflight_out) break;
      next.packet.packet_id = next_packet_id();
      send(next.packet);
      published_.fetch_add(1, std::memory_order_relaxed);
      const std::uint16_t id = next.packet.packet_id;
      inflight_.emplace(id, Inflight{std::move(next), next_seq_++});
      queue_.pop_front();
    }
  }

  void resend_inflight() {
    std::vector<Inflight*> order;
    order.reserve(inflight_.size());
    for (auto& [id, f] : inflight_) order.push_back(&f);
    std::ranges::sort(order, {}, &Inflight::seq);
    for (Inflight* f : order) {
      f->publish.packet.dup = true;
      send(f->publish.packet);
      resent_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void take_inbox() {
    std::vector<std::pair<std::uint16_t, std::uint64_t>> acks;
    std::vector<Subscription> subs;
    std::optional<std::string> reconnect;
    {
      std::lock_guard lock(inbox_->mutex);
      acks.swap(inbox_->acks);
      subs.swap(inbox_->subscriptions);
      reconnect.swap(inbox_->reconnect);
      while (!inbox_->publishes.empty()) {
        queue_.push_back(std::move(inbox_->publishes.front()));
        inbox_->publishes.pop_front();
      }
    }
    if (phase_ == Phase::connected) {
      for (const auto& [id, generation] : acks) {
        // Packet ids name the same message across reconnects only in a persistent session.
        if (options_.clean_session && generation != detail::MqttInbox::current_generation &&
            generation != generation_) {
          continue;
        }
        acknowledge(id);
      }
    }
    for (auto& s : subs) {
      subscriptions_.push_back(std::move(s));
      if (phase_ == Phase::connected) send_subscribe(subscriptions_.size() - 1);
    }
    if (reconnect && phase_ == Phase::connected) {
      // The acknowledgements given before the request go out first (best effort: what does not
      // fit the socket now is redelivered and acknowledged again, harmlessly).
      flush();
      // Asked again soon after (the application still cannot take a message: a full disk),
      // the delays double as after failed connects, instead of a redelivery every
      // reconnect_min; they start afresh once no request came for reconnect_max.
      const TimePoint now = clock_->now();
      if (now - last_reconnect_request_ > options_.reconnect_max) reconnect_requests_ = 0;
      last_reconnect_request_ = now;
      drop(fmt::format("reconnecting as asked: {}", *reconnect), &reconnect_requests_);
    }
  }

  void shutdown() {
    std::deque<OutgoingPublish> left;
    {
      std::lock_guard lock(inbox_->mutex);
      inbox_->closed = true;
      left.swap(inbox_->publishes);
    }
    for (auto& p : left) queue_.push_back(std::move(p));
    take_inbox();
    if (phase_ == Phase::connected) {
      send(mqtt::Disconnect{});
      // Best effort: the acks given before stop() should reach the broker, or it redelivers.
      const TimePoint deadline = clock_->now() + std::chrono::seconds(1);
      while (fd_ >= 0 && out_pos_ < out_.size() && clock_->now() < deadline) {
        pollfd p{fd_, POLLOUT, 0};
        ::poll(&p, 1, 50);
        flush();
      }
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    connected_.store(false, std::memory_order_release);
    for (auto& [id, f] : inflight_) {
      complete(f.publish.done,
               fail(Errc::shutting_down, fmt::format("MQTT client stopped before the broker "
                                                     "acknowledged the publish to '{}'",
                                                     f.publish.packet.topic)));
    }
    for (auto& p : queue_) {
      complete(p.done, fail(Errc::shutting_down,
                            fmt::format("MQTT client stopped before sending the publish to '{}'",
                                        p.packet.topic)));
    }
    inbox_->outstanding_publishes.store(0, std::memory_order_relaxed);
    inflight_.clear();
    queue_.clear();
    set_state(MqttConnectionState::stopped, "stopped");
  }

  MqttOptions options_;
  std::shared_ptr<Clock> clock_;
  std::shared_ptr<detail::MqttInbox> inbox_;
  mqtt::Limits limits_;
  std::minstd_rand rng_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};

  int fd_ = -1;
  Phase phase_ = Phase::idle;
  unsigned attempt_ = 0;
  unsigned reconnect_requests_ = 0;  // asked-for reconnects in a row (see take_inbox)
  TimePoint last_reconnect_request_{};
  std::uint64_t generation_ = detail::MqttInbox::current_generation;
  TimePoint retry_at_{};
  TimePoint connect_deadline_{};
  TimePoint last_sent_{};
  TimePoint last_received_{};
  bool ping_outstanding_ = false;
  bool read_last_turn_ = false;  // the previous turn read bytes: coalesce before the next poll

  std::string in_;
  std::size_t discard_ = 0;  // bytes of an oversized PUBLISH still to skip
  std::string out_;
  std::size_t out_pos_ = 0;

  std::vector<Subscription> subscriptions_;
  std::unordered_map<std::uint16_t, std::size_t> pending_subacks_;  // id -> subscription

  std::deque<Incoming> incoming_;
  std::uint64_t incoming_head_ = 0;                                // seq of incoming_.front()
  std::unordered_map<std::uint16_t, std::uint64_t> incoming_seq_;  // unacked id -> seq

  std::deque<OutgoingPublish> queue_;
  std::unordered_map<std::uint16_t, Inflight> inflight_;
  std::uint64_t next_seq_ = 0;
  std::uint16_t next_id_ = 0;

  std::atomic<std::uint64_t> received_{0}, redelivered_{0}, acked_{0}, unrouted_{0}, published_{0},
      publish_acked_{0}, resent_{0}, connects_{0}, disconnects_{0}, protocol_errors_{0},
      oversized_{0}, read_turns_{0};
};

MqttClient::MqttClient(MqttOptions options)
    : options_(std::move(options)), inbox_(std::make_shared<detail::MqttInbox>()) {}

MqttClient::~MqttClient() {
  stop();
}

Result<void> MqttClient::start() {
  if (loop_) return fail(Errc::invalid_argument, "MQTT client already started");
  if (inbox_->event_fd < 0) {
    return fail(Errc::io, fmt::format("MQTT client: eventfd: {}", std::strerror(errno)));
  }
  if (options_.client_id.empty() && !options_.clean_session) {
    return fail(Errc::invalid_argument,
                "MQTT client: a persistent session (clean_session = false) needs a client id");
  }
  if (auto ok = validate_mqtt_string(options_.client_id, "MQTT client id"); !ok) return ok;
  if (options_.keep_alive.count() < 0 || options_.keep_alive.count() > 65535) {
    return fail(Errc::invalid_argument, fmt::format("MQTT keep-alive {} s is outside 0..65535",
                                                    options_.keep_alive.count()));
  }
  if (options_.max_inflight_out == 0 || options_.max_inflight_out > 60000) {
    return fail(Errc::invalid_argument, fmt::format("MQTT max_inflight_out {} is outside 1..60000",
                                                    options_.max_inflight_out));
  }
  if (options_.reconnect_min.count() <= 0 || options_.reconnect_max < options_.reconnect_min) {
    return fail(Errc::invalid_argument, "MQTT reconnect backoff needs 0 < min <= max");
  }
  if (options_.coalesce.count() < 0 || options_.coalesce > std::chrono::seconds(1)) {
    return fail(Errc::invalid_argument, "MQTT coalesce must be between 0 and 1 s");
  }
  if (options_.password && !options_.username) {
    return fail(Errc::invalid_argument, "MQTT 3.1.1 needs a user name with a password");
  }
  loop_ = std::make_unique<Loop>(options_, inbox_);
  loop_->start();
  return {};
}

void MqttClient::stop() {
  if (loop_) {
    loop_->stop();
    return;
  }
  // Never started: refuse what comes next and fail what was queued.
  std::deque<OutgoingPublish> left;
  {
    std::lock_guard lock(inbox_->mutex);
    inbox_->closed = true;
    left.swap(inbox_->publishes);
  }
  for (auto& p : left) {
    complete(p.done, fail(Errc::shutting_down, "MQTT client stopped before it was started"));
  }
}

Result<void> MqttClient::subscribe(std::string filter, std::uint8_t qos, MessageHandler handler,
                                   SubscribeDone on_suback) {
  if (auto ok = validate_mqtt_filter(filter); !ok) return ok;
  if (qos > 1) {
    return fail(Errc::invalid_argument,
                fmt::format("MQTT subscribe to '{}': QoS {} unsupported (0 or 1)", filter, qos));
  }
  if (!handler) {
    return fail(Errc::invalid_argument,
                fmt::format("MQTT subscribe to '{}': no message handler", filter));
  }
  {
    std::lock_guard lock(inbox_->mutex);
    if (inbox_->closed) return fail(Errc::shutting_down, "MQTT client stopped");
    inbox_->subscriptions.push_back(
        Subscription{std::move(filter), qos, std::move(handler), std::move(on_suback)});
  }
  inbox_->wake();
  return {};
}

Result<void> MqttClient::publish(std::string topic, std::string payload, std::uint8_t qos,
                                 bool retain, PublishDone done) {
  if (auto ok = validate_mqtt_topic(topic); !ok) return ok;
  if (qos > 1) {
    return fail(Errc::invalid_argument,
                fmt::format("MQTT publish to '{}': QoS {} unsupported (0 or 1)", topic, qos));
  }
  // Topic, packet id and header must fit the largest Remaining Length.
  if (payload.size() + topic.size() + 4 > mqtt::max_remaining_length) {
    return fail(Errc::invalid_argument,
                fmt::format("MQTT publish to '{}': payload of {} bytes is over the protocol's "
                            "limit",
                            topic, payload.size()));
  }
  {
    std::lock_guard lock(inbox_->mutex);
    if (inbox_->closed) return fail(Errc::shutting_down, "MQTT client stopped");
    if (inbox_->outstanding_publishes.load(std::memory_order_relaxed) >= options_.max_queued_out) {
      return fail(Errc::mailbox_full,
                  fmt::format("MQTT publish to '{}': {} publishes already outstanding", topic,
                              options_.max_queued_out));
    }
    inbox_->outstanding_publishes.fetch_add(1, std::memory_order_relaxed);
    mqtt::Publish packet{std::move(topic), std::move(payload), 0, qos, false, retain};
    inbox_->publishes.push_back(OutgoingPublish{std::move(packet), std::move(done)});
  }
  inbox_->wake();
  return {};
}

void MqttClient::reconnect(std::string reason) {
  {
    std::lock_guard lock(inbox_->mutex);
    if (inbox_->closed) return;
    inbox_->reconnect = std::move(reason);
  }
  inbox_->wake();
}

void MqttClient::ack(std::uint16_t packet_id) {
  inbox_->push_ack(packet_id, detail::MqttInbox::current_generation);
}

MqttStats MqttClient::stats() const {
  return loop_ ? loop_->stats() : MqttStats{};
}

bool MqttClient::connected() const noexcept {
  return loop_ && loop_->connected();
}

}  // namespace weft::io
