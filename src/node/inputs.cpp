// The node's MQTT ingest and its machine simulator.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <condition_variable>
#include <random>
#include <thread>

#include "node_parts.hpp"
#include "weft/io/mqtt_topic.hpp"

namespace weft::node::detail {

// --- MQTT -----------------------------------------------------------------------------------

MqttIngest::MqttIngest(Node::Impl& node)
    : node_(node), flow_(std::make_shared<Flow>(node)), prefix_(node.options.mqtt_prefix) {}

MqttIngest::~MqttIngest() {
  stop();
}

Result<std::unique_ptr<MqttIngest>> MqttIngest::start(Node::Impl& node) {
  const auto& o = node.options;
  std::unique_ptr<MqttIngest> self(new MqttIngest(node));
  io::MqttOptions mo;
  mo.host = o.mqtt_host;
  mo.port = o.mqtt_port;
  mo.client_id = o.mqtt_client_id;
  // A persistent session: QoS 1 messages that arrive while the node is down wait at the broker.
  mo.clean_session = false;
  mo.keep_alive = std::chrono::duration_cast<std::chrono::seconds>(o.mqtt_keep_alive);
  mo.on_state = [host = o.mqtt_host, port = o.mqtt_port](io::MqttConnectionState s,
                                                         std::string_view detail) {
    if (s == io::MqttConnectionState::connected) {
      spdlog::info("mqtt: connected to {}:{}", host, port);
    } else if (s == io::MqttConnectionState::disconnected) {
      spdlog::warn("mqtt: disconnected from {}:{}: {}", host, port, detail);
    }
  };
  self->client_ = std::make_shared<io::MqttClient>(std::move(mo));
  self->flow_->client = self->client_;
  MqttIngest* raw = self.get();
  auto sub =
      self->client_->subscribe(self->prefix_ + "/+/telemetry", 1,
                               [raw](io::MqttMessage&& m) { raw->on_message(std::move(m)); });
  if (!sub) return std::unexpected(sub.error());
  if (auto started = self->client_->start(); !started) return std::unexpected(started.error());
  return self;
}

void MqttIngest::on_message(io::MqttMessage&& msg) {
  // <prefix>/<device>/telemetry: the device is the second-to-last level.
  std::string_view topic = msg.topic;
  std::string_view device;
  if (topic.size() > prefix_.size() + 1 && topic.starts_with(prefix_) &&
      topic[prefix_.size()] == '/') {
    auto rest = topic.substr(prefix_.size() + 1);
    if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
      device = rest.substr(0, slash);
    }
  }
  auto reading = parse_reading(msg.payload, device);
  if (!reading) {
    // A message that can never be valid is acknowledged, or the broker would send it forever.
    node_.metrics->rejected(reject_reason(reading.error().message())).inc();
    spdlog::warn("mqtt: rejected a message on '{}': {}", msg.topic, reading.error().message());
    msg.ack();
    return;
  }
  if (node_.is_forgotten(reading->device)) {
    node_.metrics->rejected("device").inc();
    msg.ack();
    return;
  }
  {
    std::lock_guard lock(flow_->mutex);
    flow_->pending.readings.push_back(std::move(*reading));
    flow_->pending.messages.push_back(std::move(msg));
  }
  pump(flow_);
}

void MqttIngest::pump(const std::shared_ptr<Flow>& flow) {
  std::lock_guard submit(flow->submit);
  Pending batch;
  {
    std::lock_guard lock(flow->mutex);
    if (flow->in_flight >= kMaxInFlight || flow->pending.readings.empty()) return;
    ++flow->in_flight;
    batch = std::move(flow->pending);
    flow->pending = {};
  }
  auto messages = std::make_shared<std::vector<io::MqttMessage>>(std::move(batch.messages));
  flow->node.ingest(
      std::move(batch.readings), IngestSource::mqtt, [flow, messages](Result<std::size_t> r) {
        // Only durable readings are acknowledged; otherwise the broker sends
        // them again after the next connect (or to the next run of the node).
        if (r) {
          for (auto& m : *messages) m.ack();
        } else if (r.error().code() != Errc::shutting_down) {
          spdlog::warn(
              "mqtt: {} readings not recorded, left unacknowledged; reconnecting "
              "so that the broker sends them again: {}",
              messages->size(), r.error().message());
          if (auto client = flow->client.lock()) {
            client->reconnect(fmt::format("{} readings not recorded", messages->size()));
          }
        }
        {
          std::lock_guard lock(flow->mutex);
          --flow->in_flight;
        }
        pump(flow);
      });
}

void MqttIngest::publish_out(const std::string& device, std::string_view kind,
                             const std::string& json) {
  if (!client_) return;
  auto sent = client_->publish(fmt::format("{}/{}/{}", prefix_, device, kind), json, 1);
  if (!sent)
    spdlog::warn("mqtt: cannot publish the {} of {}: {}", kind, device, sent.error().message());
}

void MqttIngest::stop() {
  if (client_) client_->stop();
}

io::MqttStats MqttIngest::stats() const {
  return client_ ? client_->stats() : io::MqttStats{};
}

// --- Simulator ------------------------------------------------------------------------------

namespace {

/// A sensor that drifts around a set point; machines that run hot sit just under the alarm
/// threshold and cross it now and then.
class Sensor {
 public:
  Sensor(std::uint64_t seed, bool hot) : rng_(seed), base_(hot ? 76.0 : 62.0) {}
  double temperature() {
    drift_ = 0.9 * drift_ + std::normal_distribution<double>(0, 0.8)(rng_);
    return std::round((base_ + drift_) * 100) / 100;
  }
  double vibration() {
    return std::round(std::abs(std::normal_distribution<double>(0.02, 0.01)(rng_)) * 1e4) / 1e4;
  }
  /// Most readings are sent at once; some are delayed (out of order) and a rare one is so late
  /// that its window has closed.
  std::int64_t delay_ms() {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng_);
    if (u < 0.001) return 9'000;
    if (u < 0.05) return std::uniform_int_distribution<std::int64_t>(100, 1'500)(rng_);
    return 0;
  }

 private:
  std::mt19937_64 rng_;
  double base_;
  double drift_ = 0;
};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct Simulator::State {
  Node::Impl& node;
  SimulatorOptions options;
  std::vector<std::string> ids;
  std::vector<Sensor> sensors;
  std::unique_ptr<io::MqttClient> mqtt;  // when simulating over MQTT
  std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  std::thread thread;

  explicit State(Node::Impl& n) : node(n), options(n.options.simulator) {}

  void run() {
    const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(1.0 / options.rate_hz));
    auto next = std::chrono::steady_clock::now();
    for (;;) {
      next += period;
      {
        std::unique_lock lock(mutex);
        if (cv.wait_until(lock, next, [&] { return stopping; })) return;
      }
      const auto now = now_ms();
      std::vector<Reading> batch;
      batch.reserve(ids.size());
      for (std::size_t i = 0; i < ids.size(); ++i) {
        Reading r{ids[i], now - sensors[i].delay_ms(), sensors[i].temperature(),
                  sensors[i].vibration()};
        if (mqtt) {
          auto sent = mqtt->publish(
              fmt::format("{}/{}/telemetry", node.options.mqtt_prefix, r.device), to_json(r), 1);
          if (!sent) spdlog::warn("simulator: publish: {}", sent.error().message());
        } else {
          batch.push_back(std::move(r));
        }
      }
      if (!batch.empty()) {
        node.ingest(std::move(batch), IngestSource::simulator, [](Result<std::size_t> r) {
          if (!r && r.error().code() != Errc::shutting_down) {
            spdlog::warn("simulator: readings not recorded: {}", r.error().message());
          }
        });
      }
      // A slow node: skip the ticks that were missed rather than bursting to catch up.
      const auto late = std::chrono::steady_clock::now();
      if (late - next > 10 * period) next = late;
    }
  }
};

Simulator::Simulator(std::unique_ptr<State> state) : state_(std::move(state)) {}

Simulator::~Simulator() {
  stop();
}

Result<std::unique_ptr<Simulator>> Simulator::start(Node::Impl& node) {
  auto state = std::make_unique<State>(node);
  const auto& o = state->options;
  if (o.devices == 0) return fail(Errc::invalid_argument, "simulator: devices must be at least 1");
  if (!(o.rate_hz > 0) || !std::isfinite(o.rate_hz)) {
    return fail(Errc::invalid_argument, "simulator: rate_hz must be a positive number");
  }
  std::mt19937_64 pick(o.seed);
  const int width = o.devices >= 1000 ? static_cast<int>(std::to_string(o.devices).size()) : 3;
  for (std::size_t i = 0; i < o.devices; ++i) {
    const bool hot = std::uniform_real_distribution<double>(0, 1)(pick) < o.hot_fraction;
    state->ids.push_back(fmt::format("m-{:0{}}", i + 1, width));
    state->sensors.emplace_back(o.seed * 1'000'003 + i, hot);
  }
  if (node.options.simulate_over_mqtt) {
    io::MqttOptions mo;
    mo.host = node.options.mqtt_host;
    mo.port = node.options.mqtt_port;
    mo.client_id = node.options.mqtt_client_id + "-simulator";
    mo.clean_session = true;
    state->mqtt = std::make_unique<io::MqttClient>(std::move(mo));
    if (auto s = state->mqtt->start(); !s) return std::unexpected(s.error());
  }
  State* raw = state.get();
  state->thread = std::thread([raw] { raw->run(); });
  return std::unique_ptr<Simulator>(new Simulator(std::move(state)));
}

void Simulator::stop() {
  if (!state_) return;
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->cv.notify_all();
  if (state_->thread.joinable()) state_->thread.join();
  if (state_->mqtt) state_->mqtt->stop();
}

}  // namespace weft::node::detail
