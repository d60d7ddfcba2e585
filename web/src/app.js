// The weft node's dashboard (docs/dashboard.md): the JSON API for what is there, the
// /api/v1/stream server-sent events for what changes. Vanilla JS and uPlot, no build step.
// Counters go into data-* attributes on <body> so a headless browser test can read them.
"use strict";

const API = "/api/v1";
const HISTORY_POINTS = 600;   // live points kept per machine (≈ 2.5 min at 4 batches/s)
const SPARK_POINTS = 120;     // seconds of ingest rate in the sparkline
const ALARM_FEED = 60;        // alarms listed
const WINDOW_ROWS = 14;       // latest window aggregates listed
const EVENTS_PAGE = 25;       // event history page size
const HOT = 80;               // the default alarm threshold, drawn on the charts

const $ = (id) => document.getElementById(id);
const body = document.body;

const state = {
  devices: new Map(),   // id -> {id, readings, last_ts, last_temperature, alarms, alarm_open, tile}
  history: new Map(),   // id -> {ts: [], temp: []} (seconds, °C)
  windows: [],          // latest aggregates, newest first
  alarms: [],           // newest first
  spark: {ts: [], rate: []},
  selected: null,       // machine shown on the overview chart
  counts: {readings: 0, alarms: 0, aggregates: 0, stats: 0},
  route: {page: "overview", id: null},
};

// ---------------------------------------------------------------------------------------------
// Formatting

function fmtTemp(t) { return t == null || !isFinite(t) ? "–" : t.toFixed(1); }
function fmtNum(n) { return n == null ? "–" : Math.round(n).toLocaleString("en-US"); }
function fmtRate(r) {
  if (r == null) return "–";
  return r >= 1e4 ? (r / 1000).toFixed(1) + "k" : r >= 100 ? Math.round(r).toString() : r.toFixed(1);
}
function fmtMicros(us) {
  if (us == null) return "–";
  if (us >= 1e6) return (us / 1e6).toFixed(2) + " s";
  if (us >= 1000) return (us / 1000).toFixed(us >= 1e4 ? 0 : 1) + " ms";
  return Math.round(us) + " µs";
}
function fmtBytes(b) {
  if (b == null) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return (i === 0 ? b.toString() : b.toFixed(b >= 100 ? 0 : 1)) + " " + units[i];
}
function fmtUptime(s) {
  if (s == null) return "";
  s = Math.floor(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return "up " + (h ? h + "h " + String(m).padStart(2, "0") + "m" : m + "m " + String(sec).padStart(2, "0") + "s");
}
function pad2(n) { return String(n).padStart(2, "0"); }
function fmtClock(ms) {
  if (ms == null) return "–";
  const d = new Date(ms);
  return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
}
function fmtTime(ms) {
  if (ms == null) return "–";
  const d = new Date(ms);
  return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) + " " +
         fmtClock(ms) + "." + String(d.getMilliseconds()).padStart(3, "0");
}
function ruleName(rule) {
  if (rule === 1 || rule === "temperature") return "reading";
  if (rule === 2 || rule === "window_average") return "window average";
  return String(rule);
}

// Temperature → colour: cold blue through green and amber to red at the alarm threshold.
const STOPS = [[40, [37, 99, 170]], [55, [26, 150, 140]], [68, [84, 170, 70]],
               [76, [220, 170, 40]], [80, [232, 110, 40]], [90, [210, 40, 50]]];
function tempColor(t) {
  if (t == null || !isFinite(t)) return "rgb(48,56,68)";
  if (t <= STOPS[0][0]) return "rgb(" + STOPS[0][1] + ")";
  for (let i = 1; i < STOPS.length; i++) {
    const [t1, c1] = STOPS[i];
    if (t <= t1) {
      const [t0, c0] = STOPS[i - 1];
      const f = (t - t0) / (t1 - t0);
      return "rgb(" + c0.map((c, k) => Math.round(c + (c1[k] - c) * f)).join(",") + ")";
    }
  }
  return "rgb(" + STOPS[STOPS.length - 1][1] + ")";
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

async function getJSON(path) {
  const res = await fetch(API + path, {headers: {Accept: "application/json"}});
  let data = null;
  try { data = await res.json(); } catch (_) { /* an error page that is not JSON */ }
  if (!res.ok) throw new Error((data && data.error) || res.status + " " + res.statusText);
  return data;
}

// ---------------------------------------------------------------------------------------------
// Charts (uPlot)

const AXIS = {stroke: "#8b98a8", grid: {stroke: "rgba(139,152,168,0.12)", width: 1},
              ticks: {stroke: "rgba(139,152,168,0.25)", width: 1}, font: "11px system-ui, sans-serif"};

// A horizontal line at the alarm threshold, drawn under the series.
const thresholdPlugin = {
  hooks: {
    drawAxes: [(u) => {
      const y = u.valToPos(HOT, "y", true);
      if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) return;
      const ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = "rgba(232,80,60,0.55)";
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = devicePixelRatio;
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, y);
      ctx.lineTo(u.bbox.left + u.bbox.width, y);
      ctx.stroke();
      ctx.restore();
    }],
  },
};

function sizeOf(container, height) {
  return {width: Math.max(200, container.clientWidth), height};
}

function tempChart(container, height) {
  const opts = {
    ...sizeOf(container, height),
    plugins: [thresholdPlugin],
    legend: {show: false},
    cursor: {drag: {x: false, y: false}},
    // At least ten seconds across, so a fresh chart does not zoom into milliseconds.
    scales: {x: {time: true, range: (u, min, max) => [Math.min(min, max - 10), max]},
             y: {range: (u, min, max) => [Math.min(min, 60) - 2, Math.max(max, HOT) + 4]}},
    axes: [{...AXIS, values: (u, vals) => vals.map((v) => fmtClock(v * 1000))},
           {...AXIS, size: 44, values: (u, vals) => vals.map((v) => v + "°")}],
    series: [{}, {label: "°C", stroke: "#4fa3ff", width: 1.5, fill: "rgba(79,163,255,0.10)",
                  points: {show: false}}],
  };
  return new uPlot(opts, [[], []], container);
}

function aggregateChart(container, height) {
  const opts = {
    ...sizeOf(container, height),
    plugins: [thresholdPlugin],
    legend: {show: true, live: false},
    cursor: {drag: {x: true, y: false}},
    scales: {x: {time: true}, y: {range: (u, min, max) => [Math.min(min, 60) - 2, Math.max(max, HOT) + 4]}},
    axes: [{...AXIS, values: (u, vals) => vals.map((v) => fmtClock(v * 1000).slice(0, 5))},
           {...AXIS, size: 44, values: (u, vals) => vals.map((v) => v + "°")}],
    series: [{},
             {label: "max", stroke: "rgba(232,110,40,0.8)", width: 1, points: {show: false}},
             {label: "avg", stroke: "#4fa3ff", width: 2, points: {show: false}},
             {label: "min", stroke: "rgba(26,150,140,0.9)", width: 1, points: {show: false}}],
    bands: [{series: [1, 3], fill: "rgba(79,163,255,0.08)"}],
  };
  return new uPlot(opts, [[], [], [], []], container);
}

function sparkChart(container) {
  const opts = {
    width: Math.max(120, container.clientWidth), height: container.clientHeight || 40,
    legend: {show: false}, cursor: {show: false}, select: {show: false},
    scales: {x: {time: false}, y: {range: (u, min, max) => [0, Math.max(1, max * 1.15)]}},
    axes: [{show: false}, {show: false}],
    series: [{}, {stroke: "#4fa3ff", width: 1.5, fill: "rgba(79,163,255,0.18)", points: {show: false}}],
  };
  return new uPlot(opts, [[], []], container);
}

const charts = {live: null, spark: null, devLive: null, devAgg: null};

function resizeCharts() {
  for (const [key, height] of [["live", null], ["devLive", null], ["devAgg", null]]) {
    const c = charts[key];
    if (c && c.root.parentElement.clientWidth) c.setSize(sizeOf(c.root.parentElement, height || c.height));
  }
  if (charts.spark) {
    const p = charts.spark.root.parentElement;
    charts.spark.setSize({width: p.clientWidth, height: p.clientHeight || 40});
  }
}

// ---------------------------------------------------------------------------------------------
// Heat map

function ensureTile(d) {
  if (d.tile) return d.tile;
  const tile = el("a", {class: "tile", href: "#/device/" + encodeURIComponent(d.id), title: d.id,
                        "data-device": d.id},
                  el("span", {class: "id", text: shortId(d.id)}), el("b", {class: "t"}));
  d.tile = tile;
  // Keep the grid sorted by id: find the first tile with a larger id (the device list arrives
  // sorted, so appending is the common case and thousands of machines stay linear).
  const tiles = $("tiles");
  let before = null;
  const last = tiles.lastElementChild;
  if (last && last.dataset.device > d.id) {
    for (const t of tiles.children) {
      if (t.dataset.device > d.id) { before = t; break; }
    }
  }
  tiles.insertBefore(tile, before);
  tiles.classList.toggle("dense", tiles.children.length > 150);
  body.dataset.devices = String(tiles.children.length);
  $("heat-count").textContent = tiles.children.length + " machines";
  refreshDeviceSelect();
  return tile;
}

function shortId(id) { return id.length > 8 ? "…" + id.slice(-7) : id; }

function paintTile(d) {
  const tile = ensureTile(d);
  tile.style.background = tempColor(d.last_temperature);
  tile.querySelector(".t").textContent = fmtTemp(d.last_temperature);
  tile.classList.toggle("alarm", !!d.alarm_open);
  tile.dataset.temperature = d.last_temperature == null ? "" : String(d.last_temperature);
}

function upsertDevice(row) {
  let d = state.devices.get(row.id);
  if (!d) { d = {id: row.id, readings: 0, alarms: 0, alarm_open: false, tile: null}; state.devices.set(row.id, d); }
  Object.assign(d, row, {tile: d.tile});
  paintTile(d);
  return d;
}

// ---------------------------------------------------------------------------------------------
// The overview chart's machine selector

let selectDirty = false;
function refreshDeviceSelect() {
  if (selectDirty) return;
  selectDirty = true;
  queueMicrotask(() => {
    selectDirty = false;
    const sel = $("chart-device");
    const ids = [...state.devices.keys()].sort();
    if (sel.options.length === ids.length) return;
    sel.replaceChildren(...ids.map((id) => el("option", {value: id, text: id})));
    if (state.selected) sel.value = state.selected;
  });
}

function select(id) {
  if (!id || state.selected === id) return;
  state.selected = id;
  body.dataset.selected = id;
  $("chart-device").value = id;
  $("chart-open").href = "#/device/" + encodeURIComponent(id);
  drawLive();
}

// The hottest machine is the most interesting one to show first.
function selectDefault() {
  let best = null;
  for (const d of state.devices.values()) {
    if (d.last_temperature == null) continue;
    if (!best || d.last_temperature > best.last_temperature) best = d;
  }
  if (!best && state.devices.size) best = state.devices.values().next().value;
  if (best) select(best.id);
}

// ---------------------------------------------------------------------------------------------
// Live data

function pushReading(r) {
  let h = state.history.get(r.device);
  if (!h) { h = {ts: [], temp: []}; state.history.set(r.device, h); }
  const t = r.ts / 1000;
  // Readings of one machine may arrive out of order: keep the series sorted for uPlot.
  let i = h.ts.length;
  while (i > 0 && h.ts[i - 1] > t) i--;
  if (i > 0 && h.ts[i - 1] === t) { h.temp[i - 1] = r.temperature; return; }
  h.ts.splice(i, 0, t);
  h.temp.splice(i, 0, r.temperature);
  if (h.ts.length > HISTORY_POINTS) { h.ts.shift(); h.temp.shift(); }
}

function onReadings(msg) {
  for (const r of msg.readings || []) {
    state.counts.readings++;
    pushReading(r);
    const d = state.devices.get(r.device);
    const newer = !d || d.last_ts == null || r.ts >= d.last_ts;
    upsertDevice({id: r.device,
                  last_ts: newer ? r.ts : d.last_ts,
                  last_temperature: newer ? r.temperature : d.last_temperature});
  }
  body.dataset.readings = String(state.counts.readings);
  if (!state.selected) selectDefault();
  scheduleDraw();
}

function onAlarm(a) {
  state.counts.alarms++;
  state.alarms.unshift(a);
  if (state.alarms.length > ALARM_FEED) state.alarms.pop();
  const d = state.devices.get(a.device);
  if (d) { d.alarms = (d.alarms || 0) + 1; d.alarm_open = true; paintTile(d); }
  renderAlarms();
  if (state.route.page === "device" && state.route.id === a.device) loadDeviceState();
}

function onAggregate(g) {
  state.counts.aggregates++;
  body.dataset.aggregates = String(state.counts.aggregates);
  state.windows = state.windows.filter((w) => w.device !== g.device);
  state.windows.unshift(g);
  if (state.windows.length > WINDOW_ROWS) state.windows.length = WINDOW_ROWS;
  renderWindows();
  if (state.route.page === "device" && state.route.id === g.device) {
    devAgg.push(g);
    drawAggregates();
  }
}

function onStats(s) {
  state.counts.stats++;
  body.dataset.stats = String(state.counts.stats);
  $("stat-ingest").textContent = fmtRate(s.ingest_per_s);
  $("stat-p99").textContent = fmtMicros(s.persist_p99_us);
  $("stat-journal").textContent = fmtBytes(s.journal_bytes);
  $("stat-actors").textContent = fmtNum(s.actors_active);
  $("stat-devices").textContent = fmtNum(s.devices);
  $("stat-alarms").textContent = fmtNum(s.alarms_total);
  $("stat-late").textContent = s.late_total ? fmtNum(s.late_total) + " late" : "";
  $("uptime").textContent = fmtUptime(s.uptime_s);
  const sp = state.spark;
  sp.ts.push(Date.now() / 1000);
  sp.rate.push(s.ingest_per_s || 0);
  if (sp.ts.length > SPARK_POINTS) { sp.ts.shift(); sp.rate.shift(); }
  if (charts.spark) charts.spark.setData([sp.ts, sp.rate]);
  body.dataset.sparkPoints = String(sp.ts.length);
}

// Readings arrive up to 4 times a second: draw once per animation frame at most.
let drawPending = false;
function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; drawLive(); });
}

function drawSummary() {
  let hot = 0, warm = 0, cool = 0, open = 0;
  for (const d of state.devices.values()) {
    const t = d.last_temperature;
    if (t == null) continue;
    if (t > HOT) hot++; else if (t >= 70) warm++; else cool++;
    if (d.alarm_open) open++;
  }
  $("heat-summary").replaceChildren(
    el("span", {}, el("b", {class: "hot", text: String(hot)}), " above " + HOT + "°"),
    el("span", {}, el("b", {text: String(warm)}), " at 70–" + HOT + "°"),
    el("span", {}, el("b", {text: String(cool)}), " below 70°"),
    el("span", {}, el("b", {class: open ? "hot" : "", text: String(open)}), " open alarms"));
}

function drawLive() {
  drawSummary();
  const h = state.history.get(state.selected) || {ts: [], temp: []};
  if (charts.live && state.route.page === "overview") {
    charts.live.setData([h.ts, h.temp]);
  }
  body.dataset.chartPoints = String(h.ts.length);
  if (charts.devLive && state.route.page === "device") {
    const dh = state.history.get(state.route.id) || {ts: [], temp: []};
    charts.devLive.setData([dh.ts, dh.temp]);
    body.dataset.devChartPoints = String(dh.ts.length);
  }
}

function renderAlarms() {
  const list = $("alarms");
  $("alarm-count").textContent = state.alarms.length ? String(state.alarms.length) : "";
  body.dataset.alarms = String(state.alarms.length);
  if (!state.alarms.length) return;
  list.replaceChildren(...state.alarms.map((a) =>
    el("li", {},
       el("time", {text: fmtClock(a.ts)}),
       el("a", {href: "#/device/" + encodeURIComponent(a.device), text: a.device}),
       el("span", {class: "rule", text: ruleName(a.rule) + " > " + fmtTemp(a.threshold) + "°"}),
       el("b", {style: "color:" + tempColor(a.value), text: fmtTemp(a.value) + "°"}))));
}

function renderWindows() {
  const rows = state.windows.map((w) =>
    el("tr", {},
       el("td", {}, el("a", {href: "#/device/" + encodeURIComponent(w.device), text: w.device})),
       el("td", {class: "muted", text: fmtClock(w.window_start)}),
       el("td", {}, el("b", {style: "color:" + tempColor(w.avg), text: fmtTemp(w.avg)})),
       el("td", {text: fmtTemp(w.min)}), el("td", {text: fmtTemp(w.max)}),
       el("td", {class: "muted", text: String(w.count)})));
  if (rows.length) $("windows").replaceChildren(...rows);
}

// ---------------------------------------------------------------------------------------------
// The stream

let source = null;
function connect() {
  source = new EventSource(API + "/stream");
  const conn = $("conn");
  const status = (s, text) => { conn.dataset.state = s; conn.querySelector("span").textContent = text; };
  source.onopen = () => status("live", "live");
  source.onerror = () => status("down", source.readyState === EventSource.CLOSED ? "disconnected" : "reconnecting");
  const on = (name, fn) => source.addEventListener(name, (e) => {
    let msg;
    try { msg = JSON.parse(e.data); } catch (err) { console.warn("bad " + name + " event", err); return; }
    fn(msg);
  });
  on("readings", onReadings);
  on("alarm", onAlarm);
  on("aggregate", onAggregate);
  on("stats", onStats);
}

// ---------------------------------------------------------------------------------------------
// Device page

let devAgg = [];
let evFrom = 1, evStack = [], evNext = null;
let travelBounds = null, travelTimer = null;

// Payloads with their floating-point noise trimmed to three decimals.
function compactJSON(v) {
  return JSON.stringify(v, (k, x) => typeof x === "number" && !Number.isInteger(x) ? Math.round(x * 1000) / 1000 : x);
}

function fact(name, value, cls) {
  return [el("dt", {text: name}), el("dd", cls ? {class: cls} : {}, value)];
}

function stateFacts(s) {
  const open = s.open_alarm;
  return [
    ...fact("readings", fmtNum(s.readings)),
    ...fact("last reading", fmtTime(s.last_ts)),
    ...fact("temperature", el("b", {style: "color:" + tempColor(s.last_temperature),
                                     text: fmtTemp(s.last_temperature) + " °C"})),
    ...fact("vibration", s.last_vibration == null ? "–" : s.last_vibration.toFixed(3)),
    ...fact("alarms", fmtNum(s.alarms)),
    ...fact("open alarm", open ? ruleName(open.rule) + " " + fmtTemp(open.value) + "° > " + fmtTemp(open.threshold) +
                              "° at " + fmtTime(open.ts) : "none",
            open ? "hot" : "muted"),
    ...fact("aggregates", fmtNum(s.aggregates)),
    ...fact("late readings", fmtNum(s.late)),
  ];
}

async function loadDeviceState() {
  const id = state.route.id;
  try {
    const s = await getJSON("/devices/" + encodeURIComponent(id));
    if (state.route.id !== id) return;
    $("dev-error").hidden = true;
    delete body.dataset.devError;
    $("dev-state").replaceChildren(...stateFacts(s));
    body.dataset.devReadings = String(s.readings);
  } catch (err) {
    $("dev-state").replaceChildren();
    $("dev-error").hidden = false;
    $("dev-error").textContent = "Machine " + id + ": " + err.message;
    body.dataset.devError = err.message;
  }
}

async function loadAggregates() {
  const id = state.route.id;
  try {
    const res = await getJSON("/devices/" + encodeURIComponent(id) + "/aggregates");
    if (state.route.id !== id) return;
    devAgg = res.aggregates || [];
    drawAggregates();
  } catch (err) { console.warn("aggregates", err); }
}

function drawAggregates() {
  devAgg.sort((a, b) => a.window_start - b.window_start);
  const xs = devAgg.map((a) => a.window_end / 1000);
  charts.devAgg.setData([xs, devAgg.map((a) => a.max), devAgg.map((a) => a.avg), devAgg.map((a) => a.min)]);
  body.dataset.aggPoints = String(xs.length);
}

async function loadEvents(from) {
  const id = state.route.id;
  try {
    const res = await getJSON("/devices/" + encodeURIComponent(id) + "/events?from=" + from + "&limit=" + EVENTS_PAGE);
    if (state.route.id !== id) return;
    evFrom = from;
    evNext = res.next;
    const events = res.events || [];
    $("events").replaceChildren(...events.map((e) =>
      el("tr", {class: "ev-" + e.type},
         el("td", {class: "muted", text: String(e.seq)}),
         el("td", {}, el("span", {class: "type", text: e.type})),
         el("td", {class: "muted", text: fmtTime(e.ts)}),
         el("td", {class: "payload", text: compactJSON(e.payload)}))));
    if (!events.length) $("events").replaceChildren(el("tr", {class: "empty"}, el("td", {colspan: "4", text: "no events"})));
    $("ev-range").textContent = events.length ? "seq " + events[0].seq + "–" + events[events.length - 1].seq : "";
    $("ev-prev").disabled = evStack.length === 0;
    $("ev-first").disabled = from <= 1;
    $("ev-next").disabled = res.next == null;
    body.dataset.eventRows = String(events.length);
    if (from <= 1 && events.length) setTravelBounds(events[0].ts);
  } catch (err) {
    $("events").replaceChildren(el("tr", {class: "empty"}, el("td", {colspan: "4", text: err.message})));
  }
}

// The slider spans from the first event to now; the datetime input mirrors it.
function setTravelBounds(first) {
  travelBounds = {from: first, to: Date.now()};
  $("travel-range").value = "1000";
  $("travel-at").value = localInput(travelBounds.to);
}

function localInput(ms) {
  const d = new Date(ms);
  return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) + "T" +
         pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
}

function travelTo(at) {
  clearTimeout(travelTimer);
  travelTimer = setTimeout(async () => {
    const id = state.route.id;
    try {
      const s = await getJSON("/devices/" + encodeURIComponent(id) + "/state?at_ts=" + Math.round(at));
      if (state.route.id !== id) return;
      $("travel-state").replaceChildren(...fact("as of", fmtTime(s.at_ts != null ? s.at_ts : at)), ...stateFacts(s));
      body.dataset.travelAt = String(Math.round(at));
    } catch (err) {
      $("travel-state").replaceChildren(el("dd", {class: "error", text: err.message}));
    }
  }, 150);
}

function showDevice(id) {
  for (const key of ["devReadings", "devError", "eventRows", "aggPoints", "travelAt", "devChartPoints"]) {
    delete body.dataset[key];
  }
  $("dev-title").textContent = "Machine " + id;
  $("dev-state").replaceChildren();
  $("travel-state").replaceChildren(el("dd", {class: "muted", text: "move the slider to replay"}));
  devAgg = [];
  evStack = [];
  travelBounds = null;
  select(id);
  if (!charts.devLive) charts.devLive = tempChart($("dev-live-chart"), 220);
  if (!charts.devAgg) charts.devAgg = aggregateChart($("dev-agg-chart"), 220);
  resizeCharts();
  drawLive();
  drawAggregates();
  loadDeviceState();
  loadAggregates();
  loadEvents(1);
}

// ---------------------------------------------------------------------------------------------
// Routing: #/ is the overview, #/device/<id> a machine.

function route() {
  const m = location.hash.match(/^#\/device\/(.+)$/);
  state.route = m ? {page: "device", id: decodeURIComponent(m[1])} : {page: "overview", id: null};
  body.dataset.page = state.route.page;
  $("overview").hidden = state.route.page !== "overview";
  $("device").hidden = state.route.page !== "device";
  if (state.route.page === "device") showDevice(state.route.id);
  else { resizeCharts(); drawLive(); }
}

function wire() {
  $("chart-device").addEventListener("change", (e) => select(e.target.value));
  $("ev-next").addEventListener("click", () => { if (evNext != null) { evStack.push(evFrom); loadEvents(evNext); } });
  $("ev-prev").addEventListener("click", () => { if (evStack.length) loadEvents(evStack.pop()); });
  $("ev-first").addEventListener("click", () => { evStack = []; loadEvents(1); });
  $("travel-range").addEventListener("input", (e) => {
    if (!travelBounds) return;
    travelBounds.to = Math.max(travelBounds.to, Date.now());
    const at = travelBounds.from + (travelBounds.to - travelBounds.from) * (e.target.value / 1000);
    $("travel-at").value = localInput(at);
    travelTo(at);
  });
  $("travel-at").addEventListener("change", (e) => {
    const at = new Date(e.target.value).getTime();
    if (!isFinite(at)) return;
    if (travelBounds) {
      const f = (at - travelBounds.from) / Math.max(1, travelBounds.to - travelBounds.from);
      $("travel-range").value = String(Math.round(Math.min(1, Math.max(0, f)) * 1000));
    }
    travelTo(at);
  });
  window.addEventListener("hashchange", route);
  window.addEventListener("resize", () => requestAnimationFrame(resizeCharts));
}

// The stream says what changes; the list says what a reading does not (counts, open alarms).
async function loadDevices() {
  const res = await getJSON("/devices");
  for (const d of res.devices || []) {
    const known = state.devices.get(d.id);
    // A live reading may be newer than the list.
    if (known && known.last_ts != null && d.last_ts != null && known.last_ts > d.last_ts) {
      upsertDevice({...d, last_ts: known.last_ts, last_temperature: known.last_temperature});
    } else {
      upsertDevice(d);
    }
  }
}

async function start() {
  wire();
  charts.live = tempChart($("live-chart"), 230);
  charts.spark = sparkChart($("spark"));
  connect();
  // The snapshot comes after subscribing, so nothing falls between the two.
  const [devices, stats, alarms] = await Promise.allSettled([
    loadDevices(), getJSON("/stats"), getJSON("/alarms?since_ts=" + (Date.now() - 3600e3))]);
  if (devices.status === "rejected") console.warn("devices", devices.reason);
  if (stats.status === "fulfilled" && !state.counts.stats) onStats(stats.value);
  if (alarms.status === "fulfilled") {
    const seen = new Set(state.alarms.map((a) => a.device + "@" + a.ts));
    const old = (alarms.value.alarms || []).filter((a) => !seen.has(a.device + "@" + a.ts));
    old.sort((a, b) => b.ts - a.ts);
    state.alarms = state.alarms.concat(old).slice(0, ALARM_FEED);
    renderAlarms();
  }
  if (!state.selected) selectDefault();
  route();
  body.dataset.ready = "1";
  setInterval(() => loadDevices().catch((err) => console.warn("devices", err)), 10000);
}

start();
