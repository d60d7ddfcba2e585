// The node's HTTP API (docs/node.md): ingest, queries, the event stream, metrics, health, and
// the dashboard's assets. Handlers run on the HTTP I/O thread and never block it: ingest hands
// readings to the device actors, state questions go to the actors, and journal reads run on
// the node's work queue.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>

#include "node_impl.hpp"
#include "node_parts.hpp"

#if __has_include("weft/node/assets.hpp")
#include "weft/node/assets.hpp"
#define WEFT_NODE_HAS_ASSETS 1
#endif

namespace weft::node {
namespace {

using io::HttpRequest;
using io::HttpResponder;
using io::HttpResponse;
using json = nlohmann::json;

HttpResponse json_response(int status, const json& body) {
  return HttpResponse::json(status, body.dump());
}

/// Reads integer query parameter `name`; `fallback` when absent.
Result<std::int64_t> int_param(const HttpRequest& req, std::string_view name,
                               std::int64_t fallback) {
  const auto v = req.query_param(name);
  if (!v) return fallback;
  std::int64_t out = 0;
  const auto* end = v->data() + v->size();
  const auto [p, ec] = std::from_chars(v->data(), end, out);
  if (ec != std::errc() || p != end) {
    return fail(Errc::invalid_argument,
                fmt::format("query parameter '{}': expected an integer, got '{}'", name, *v));
  }
  return out;
}

json alarm_json(const AlarmTriggered& a) {
  return json{
      {"ts", a.ts}, {"rule", to_string(a.rule)}, {"value", a.value}, {"threshold", a.threshold}};
}

json state_json(const std::string& id, const DeviceState& s, std::uint64_t late) {
  json j{{"id", id},
         {"readings", s.readings},
         {"last_ts", s.last_ts},
         {"last_temperature", s.last_temperature},
         {"last_vibration", s.last_vibration ? json(*s.last_vibration) : json(nullptr)},
         {"alarms", s.alarms},
         {"open_alarm", s.open_alarm ? alarm_json(*s.open_alarm) : json(nullptr)},
         {"aggregates", s.aggregates},
         {"late", late}};
  return j;
}

std::uint64_t late_of(const Node::Impl& node, const std::string& id) {
  for (const auto& [device, n] : node.late->snapshot()) {
    if (device == id) return n;
  }
  return 0;
}

/// Decodes a device's stored event.
Result<DeviceEvent> decode_event(const persistence::EventRecord& rec) {
  return device_upcasters().decode(rec.manifest, rec.version, rec.payload);
}

/// Whether the journal holds events of `id` (a device never seen gets a 404, not an actor).
Result<bool> device_exists(Node::Impl& node, const std::string& id) {
  if (node.directory.contains(id)) return true;
  auto h = node.journal->highest_sequence_nr(device_pid(id)).get();
  if (!h) return std::unexpected(h.error());
  return *h > 0;
}

/// Runs `f(request, responder)` on the work queue (journal reads block).
template <class F>
io::HttpHandler on_worker(Node::Impl& node, F f) {
  return [&node, f](HttpRequest req, HttpResponder res) mutable {
    auto shared =
        std::make_shared<std::pair<HttpRequest, HttpResponder>>(std::move(req), std::move(res));
    node.work->post([shared, f]() mutable { f(shared->first, shared->second); });
  };
}

/// Answers 400 for a bad device id, 404 for an unknown one; true when the handler may go on.
bool check_device(Node::Impl& node, const std::string& id, HttpResponder& res) {
  if (!valid_device_id(id)) {
    res.respond(HttpResponse::error(
        400, "device id: expected 1-128 characters of [A-Za-z0-9._-], got '" + id + "'"));
    return false;
  }
  if (node.is_forgotten(id)) {
    res.respond(HttpResponse::error(404, "device '" + id + "' was forgotten (erased on request)"));
    return false;
  }
  auto exists = device_exists(node, id);
  if (!exists) {
    res.respond(HttpResponse::error(500, exists.error().message()));
    return false;
  }
  if (!*exists) {
    res.respond(HttpResponse::error(404, "no device '" + id + "'"));
    return false;
  }
  return true;
}

void post_readings(Node::Impl& node, HttpRequest& req, HttpResponder& res) {
  if (!node.accepting.load(std::memory_order_acquire)) {
    node.metrics->rejected("shutting_down").inc();
    res.respond(HttpResponse::error(503, "the node is shutting down"));
    return;
  }
  const auto type = req.headers.get("Content-Type").value_or("application/json");
  const auto format =
      type.find("ndjson") != std::string_view::npos ? BodyFormat::ndjson : BodyFormat::json_array;
  auto parsed = parse_readings(req.body, format);
  if (!parsed) {
    node.metrics->rejected("body").inc();
    res.respond(HttpResponse::error(400, parsed.error().message()));
    return;
  }
  // Readings of erased devices are refused one by one (an id that was forgotten stays so).
  {
    std::lock_guard lock(node.forgotten_mutex);
    if (!node.forgotten.empty()) {
      std::vector<Reading> kept;
      std::size_t index = 0;
      std::size_t next_rejected = 0;
      std::vector<RejectedItem> more;
      for (auto& r : parsed->readings) {
        // The batch index of this reading: skip the items already rejected before it.
        while (next_rejected < parsed->rejected.size() &&
               parsed->rejected[next_rejected].index == index) {
          ++next_rejected;
          ++index;
        }
        if (node.forgotten.contains(r.device)) {
          more.push_back({index, "device: '" + r.device + "' was forgotten (erased on request)"});
        } else {
          kept.push_back(std::move(r));
        }
        ++index;
      }
      parsed->readings = std::move(kept);
      parsed->rejected.insert(parsed->rejected.end(), more.begin(), more.end());
      std::ranges::sort(parsed->rejected, {}, &RejectedItem::index);
    }
  }
  for (const auto& r : parsed->rejected) {
    node.metrics->rejected(detail::reject_reason(r.error)).inc();
  }
  json rejected = json::array();
  for (const auto& r : parsed->rejected)
    rejected.push_back({{"index", r.index}, {"error", r.error}});
  auto held = std::make_shared<HttpResponder>(std::move(res));
  node.ingest(std::move(parsed->readings), IngestSource::http,
              [held, rejected = std::move(rejected)](Result<std::size_t> n) mutable {
                if (!n) {
                  const int status = n.error().code() == Errc::shutting_down ? 503 : 500;
                  held->respond(HttpResponse::error(status, n.error().message()));
                  return;
                }
                held->respond(
                    json_response(200, json{{"accepted", *n}, {"rejected", std::move(rejected)}}));
              });
}

void get_devices(Node::Impl& node, HttpResponder& res) {
  json list = json::array();
  for (const auto& [id, s] : node.directory.list()) {
    list.push_back({{"id", id},
                    {"readings", s.readings},
                    {"last_ts", s.last_ts},
                    {"last_temperature", s.last_temperature},
                    {"alarms", s.alarms},
                    {"alarm_open", s.alarm_open}});
  }
  res.respond(json_response(200, json{{"devices", std::move(list)}}));
}

void get_device(Node::Impl& node, const HttpRequest& req, HttpResponder& res) {
  const std::string id(req.path_param("id").value_or(""));
  if (!check_device(node, id, res)) return;
  auto held = std::make_shared<HttpResponder>(std::move(res));
  Node::Impl* n = &node;
  node.devices.tell(persistence::EntityEnvelope<DeviceCommand>{
      id, GetDeviceState{[held, n, id](const DeviceState& s) {
        held->respond(json_response(200, state_json(id, s, late_of(*n, id))));
      }}});
}

void get_events(Node::Impl& node, const HttpRequest& req, HttpResponder& res) {
  const std::string id(req.path_param("id").value_or(""));
  auto from = int_param(req, "from", 1);
  auto limit = int_param(req, "limit", 100);
  if (!from || !limit) {
    res.respond(HttpResponse::error(400, (!from ? from.error() : limit.error()).message()));
    return;
  }
  if (*from < 1 || *limit < 1 || *limit > 10'000) {
    res.respond(HttpResponse::error(400, "from must be ≥ 1 and limit in 1..10000"));
    return;
  }
  if (!check_device(node, id, res)) return;
  auto page = node.journal
                  ->read(device_pid(id), static_cast<std::uint64_t>(*from), UINT64_MAX,
                         static_cast<std::size_t>(*limit))
                  .get();
  if (!page) {
    res.respond(HttpResponse::error(500, page.error().message()));
    return;
  }
  json events = json::array();
  for (const auto& rec : *page) {
    auto e = decode_event(rec);
    if (!e) {
      events.push_back({{"seq", rec.sequence_nr},
                        {"type", rec.manifest},
                        {"ts", rec.timestamp_ms},
                        {"error", e.error().message()}});
      continue;
    }
    events.push_back({{"seq", rec.sequence_nr},
                      {"type", event_type(*e)},
                      {"ts", rec.timestamp_ms},
                      {"payload", json::parse(event_json(*e))}});
  }
  json next = page->size() == static_cast<std::size_t>(*limit) ? json(page->back().sequence_nr + 1)
                                                               : json(nullptr);
  res.respond(json_response(200, json{{"events", std::move(events)}, {"next", next}}));
}

/// Calls `f(record, event)` for every event of `id` from sequence `from` to `to`, in order,
/// until it returns false; an event that does not decode is an error naming its sequence.
template <class F>
Result<void> for_each_event(Node::Impl& node, const std::string& id, F f, std::uint64_t from = 1,
                            std::uint64_t to = UINT64_MAX) {
  constexpr std::size_t kPage = 4096;
  while (from <= to) {
    auto page = node.journal->read(device_pid(id), from, to, kPage).get();
    if (!page) return std::unexpected(page.error());
    for (const auto& rec : *page) {
      auto e = decode_event(rec);
      if (!e)
        return std::unexpected(e.error().with_context(fmt::format("event {}", rec.sequence_nr)));
      if (!f(rec, *e)) return {};
    }
    if (page->size() < kPage) return {};
    from = page->back().sequence_nr + 1;
  }
  return {};
}

void get_aggregates(Node::Impl& node, const HttpRequest& req, HttpResponder& res) {
  const std::string id(req.path_param("id").value_or(""));
  auto from_ts = int_param(req, "from_ts", std::numeric_limits<std::int64_t>::min());
  auto to_ts = int_param(req, "to_ts", std::numeric_limits<std::int64_t>::max());
  if (!from_ts || !to_ts) {
    res.respond(HttpResponse::error(400, (!from_ts ? from_ts.error() : to_ts.error()).message()));
    return;
  }
  if (!check_device(node, id, res)) return;
  json out = json::array();
  auto r = for_each_event(node, id, [&](const persistence::EventRecord&, const DeviceEvent& e) {
    if (const auto* a = std::get_if<AggregateRecorded>(&e)) {
      if (a->window_start >= *from_ts && a->window_end <= *to_ts) {
        out.push_back({{"window_start", a->window_start},
                       {"window_end", a->window_end},
                       {"count", a->count},
                       {"avg", a->avg},
                       {"min", a->min},
                       {"max", a->max}});
      }
    }
    return true;
  });
  if (!r) {
    res.respond(HttpResponse::error(500, r.error().message()));
    return;
  }
  res.respond(json_response(200, json{{"aggregates", std::move(out)}}));
}

/// The sequence number of the last event of `pid` recorded at or before `at` (record time, ms),
/// or 0 if none was. Record times follow the sequence (each is the wall clock when the actor
/// persisted it), so a binary search of one-event reads finds it in O(log n) reads instead of
/// reading the history. (Were the clock stepped back, this finds one boundary where a scan would
/// find the first: the same on a steady clock.)
Result<std::uint64_t> last_seq_at(Node::Impl& node, const std::string& pid, std::int64_t at) {
  auto high = node.journal->highest_sequence_nr(pid).get();
  if (!high) return std::unexpected(high.error());
  if (*high == 0) return 0;
  auto record_at = [&](std::uint64_t seq) -> Result<std::optional<persistence::EventRecord>> {
    auto page = node.journal->read(pid, seq, *high, 1).get();
    if (!page) return std::unexpected(page.error());
    if (page->empty()) return std::nullopt;
    return std::move(page->front());
  };
  // The first stored event (retention may have deleted older ones).
  auto first = record_at(1);
  if (!first) return std::unexpected(first.error());
  if (!*first || (*first)->timestamp_ms > at) return 0;
  std::uint64_t lo = (*first)->sequence_nr;  // recorded at or before `at`
  std::uint64_t hi = *high;                  // the answer is in [lo, hi]
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo + 1) / 2;
    auto rec = record_at(mid);
    if (!rec) return std::unexpected(rec.error());
    if (!*rec || (*rec)->timestamp_ms > at) {
      hi = mid - 1;
    } else {
      lo = std::max(mid, (*rec)->sequence_nr);
    }
  }
  return lo;
}

void get_state_at(Node::Impl& node, const HttpRequest& req, HttpResponder& res) {
  const std::string id(req.path_param("id").value_or(""));
  if (!req.query_param("at_ts")) {
    res.respond(HttpResponse::error(400, "query parameter 'at_ts' (milliseconds) is required"));
    return;
  }
  auto at = int_param(req, "at_ts", 0);
  if (!at) {
    res.respond(HttpResponse::error(400, at.error().message()));
    return;
  }
  if (!check_device(node, id, res)) return;
  // Time travel: the state as it was recorded by time T (the events persisted up to then): the
  // newest snapshot at or before the last event by then, and the events after it up to there.
  const std::string pid = device_pid(id);
  auto until = last_seq_at(node, pid, *at);
  if (!until) {
    res.respond(HttpResponse::error(500, until.error().message()));
    return;
  }
  DeviceState state;
  std::uint64_t from = 1;
  if (*until > 0 && node.snapshots) {
    auto snap = node.snapshots->load_latest(pid, {.max_sequence_nr = *until}).get();
    // A snapshot that cannot be read is not needed: the events give the same state.
    if (snap && *snap && (*snap)->manifest == Codec<DeviceState>::manifest) {
      if (auto s = decode<DeviceState>((*snap)->payload); s) {
        state = std::move(*s);
        from = (*snap)->meta.sequence_nr + 1;
      }
    } else if (!snap) {
      spdlog::warn("time travel of '{}': snapshot not used: {}", id, snap.error().message());
    }
  }
  const double threshold = node.options.temperature_threshold;
  auto r = for_each_event(
      node, id,
      [&](const persistence::EventRecord&, const DeviceEvent& e) {
        state = apply_event(std::move(state), e, threshold);
        return true;
      },
      from, *until);
  if (!r) {
    res.respond(HttpResponse::error(500, r.error().message()));
    return;
  }
  std::uint64_t late = 0;
  auto j = state_json(id, state, late);
  j.erase("late");  // late counts are not events: they have no history
  j["at_ts"] = *at;
  res.respond(json_response(200, j));
}

void get_alarms(Node::Impl& node, const HttpRequest& req, HttpResponder& res) {
  auto since = int_param(req, "since_ts", std::numeric_limits<std::int64_t>::min());
  auto limit = int_param(req, "limit", 200);
  if (!since || !limit || *limit < 1 || *limit > 10'000) {
    res.respond(HttpResponse::error(
        400, !since ? since.error().message()
                    : (!limit ? limit.error().message() : "limit must be in 1..10000")));
    return;
  }
  // The newest `limit` alarms at or after since_ts, oldest first.
  std::deque<json> kept;
  std::uint64_t after = 0;
  constexpr std::size_t kPage = 4096;
  for (;;) {
    auto page = node.journal->events_by_tag("alarm", after, kPage).get();
    if (!page) {
      res.respond(HttpResponse::error(500, page.error().message()));
      return;
    }
    for (const auto& t : *page) {
      after = t.offset;
      auto e = decode_event(t.event);
      if (!e) continue;
      const auto* a = std::get_if<AlarmTriggered>(&*e);
      if (!a || a->ts < *since) continue;
      auto j = alarm_json(*a);
      j["device"] = std::string(device_of_pid(t.event.persistence_id));
      kept.push_back(std::move(j));
      if (kept.size() > static_cast<std::size_t>(*limit)) kept.pop_front();
    }
    if (page->size() < kPage) break;
  }
  json out = json::array();
  for (auto& j : kept) out.push_back(std::move(j));
  res.respond(json_response(200, json{{"alarms", std::move(out)}}));
}

void get_late(Node::Impl& node, HttpResponder& res) {
  auto counts = node.late->snapshot();
  std::sort(counts.begin(), counts.end());
  json out = json::array();
  for (const auto& [device, n] : counts) out.push_back({{"device", device}, {"late", n}});
  res.respond(json_response(200, json{{"late", std::move(out)}, {"total", node.late->total()}}));
}

void delete_device(Node::Impl& node, const HttpRequest& req, HttpResponder& res) {
  const std::string id(req.path_param("id").value_or(""));
  if (!node.integrity) {
    res.respond(HttpResponse::error(
        409, "forgetting a device needs per-device keys: start the node with integrity on"));
    return;
  }
  if (!check_device(node, id, res)) return;
  auto forgotten = node.integrity->forget(device_pid(id)).get();
  if (!forgotten) {
    res.respond(HttpResponse::error(500, forgotten.error().message()));
    return;
  }
  {
    std::lock_guard lock(node.forgotten_mutex);
    node.forgotten.emplace(id);
  }
  node.directory.remove(id);
  spdlog::info("node: forgot device '{}' ({} events erased)", id, *forgotten);
  HttpResponse r;
  r.status = 204;
  res.respond(std::move(r));
}

}  // namespace

void install_routes(Node::Impl& node) {
  auto& r = node.router;
  Node::Impl* n = &node;
  r.add("POST", "/api/v1/readings",
        [n](HttpRequest req, HttpResponder res) { post_readings(*n, req, res); });
  r.add("GET", "/api/v1/devices", [n](HttpRequest, HttpResponder res) { get_devices(*n, res); });
  r.add("GET", "/api/v1/devices/{id}",
        on_worker(node, [n](HttpRequest& req, HttpResponder& res) { get_device(*n, req, res); }));
  r.add("GET", "/api/v1/devices/{id}/events",
        on_worker(node, [n](HttpRequest& req, HttpResponder& res) { get_events(*n, req, res); }));
  r.add(
      "GET", "/api/v1/devices/{id}/aggregates",
      on_worker(node, [n](HttpRequest& req, HttpResponder& res) { get_aggregates(*n, req, res); }));
  r.add("GET", "/api/v1/devices/{id}/state",
        on_worker(node, [n](HttpRequest& req, HttpResponder& res) { get_state_at(*n, req, res); }));
  r.add(
      "DELETE", "/api/v1/devices/{id}",
      on_worker(node, [n](HttpRequest& req, HttpResponder& res) { delete_device(*n, req, res); }));
  r.add("GET", "/api/v1/alarms",
        on_worker(node, [n](HttpRequest& req, HttpResponder& res) { get_alarms(*n, req, res); }));
  r.add("GET", "/api/v1/late", [n](HttpRequest, HttpResponder res) { get_late(*n, res); });
  r.add("GET", "/api/v1/stats", [n](HttpRequest, HttpResponder res) {
    res.respond(HttpResponse::json(200, n->stats_json()));
  });
  r.add("GET", "/api/v1/stream", [n](HttpRequest, HttpResponder res) {
    io::HttpHeaders h;
    h.add("Cache-Control", "no-cache");
    auto stream = res.start_events(std::move(h));
    stream.send("stats", n->stats_json());
    n->hub.add(std::move(stream));
  });
  r.add("GET", "/metrics", [n](HttpRequest, HttpResponder res) {
    res.respond(HttpResponse::text(200, n->system->metrics().prometheus_text(),
                                   "text/plain; version=0.0.4; charset=utf-8"));
  });
  r.add("GET", "/healthz", [](HttpRequest, HttpResponder res) {
    res.respond(HttpResponse::json(200, R"({"status":"ok"})"));
  });
  r.add("GET", "/readyz", [n](HttpRequest, HttpResponder res) {
    if (!n->accepting.load()) {
      res.respond(HttpResponse::error(503, "shutting down"));
      return;
    }
    res.respond(HttpResponse::json(200, R"({"status":"ready"})"));
  });
#ifdef WEFT_NODE_HAS_ASSETS
  auto serve = [](HttpRequest req, HttpResponder res) {
    const auto* a = find_asset(req.path);
    if (!a) {
      res.respond(HttpResponse::error(404, "no such page: " + req.path));
      return;
    }
    auto out = HttpResponse::text(200, std::string(a->body), std::string(a->content_type));
    out.headers.set("Cache-Control", "no-cache");
    res.respond(std::move(out));
  };
  r.add("GET", "/", serve);
  r.add("GET", "/index.html", serve);
  r.add("GET", "/assets/{name}", serve);
#endif
}

}  // namespace weft::node
