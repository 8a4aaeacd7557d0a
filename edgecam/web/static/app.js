// edgecam live view: stats, events, controls and the zone/mask editor. No dependencies.
"use strict";

const $ = (id) => document.getElementById(id);
const points = [];  // the drawn polygon, relative coordinates [x, y] in 0..1
let editingConf = false;

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

async function postJSON(path, body) {
  const r = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const value = await r.json();
  if (!r.ok) throw new Error(value.error || `HTTP ${r.status}`);
  return value;
}

function text(el, value) { el.textContent = value; }

// -- stats and controls ---------------------------------------------------------------------------
const STATS = [
  ["fps", "fps"], ["inference_ms", "inference ms"], ["temperature_c", "temperature °C"],
  ["throttled", "throttled"], ["dropped_frames", "dropped frames"], ["uptime_s", "uptime s"],
  ["web_streams", "live streams"],
];

function showStats(s) {
  const dl = $("stats");
  dl.replaceChildren();
  for (const [key, name] of STATS) {
    if (!(key in s)) continue;
    const dt = document.createElement("dt"); text(dt, name);
    const dd = document.createElement("dd"); dd.id = `stat-${key}`;
    text(dd, s[key] === null ? "–" : String(s[key]));
    dl.append(dt, dd);
  }
  $("detection").checked = !!s.detection_enabled;
  if (!editingConf && typeof s.conf === "number") { $("conf").value = s.conf; text($("conf-value"), s.conf.toFixed(2)); }
}

async function refreshStats() {
  try { showStats(await getJSON("api/stats")); text($("status"), ""); }
  catch (e) { text($("status"), "offline"); }
}

async function setControl(body) {
  try { showStats({ ...(await postJSON("api/controls", body)) }); text($("control-error"), ""); }
  catch (e) { text($("control-error"), e.message); }
}

// -- events -----------------------------------------------------------------------------------------
async function refreshEvents() {
  let events;
  try { events = await getJSON("api/events"); } catch (e) { return; }
  const ol = $("events");
  ol.replaceChildren();
  const t = (e) => e.end_time || e.start_time;  // the recent-events feed, or the event history (newest first)
  for (const e of events.slice().sort((a, b) => t(b) - t(a)).slice(0, 20)) {
    const li = document.createElement("li");
    const when = new Date(1000 * (e.end_time || e.start_time)).toLocaleTimeString();
    text(li, `${when} ${e.type || (e.end_time ? "end" : "new")} ${e.label} ${(e.score ?? e.top_score).toFixed(2)}${e.zones && e.zones.length ? " in " + e.zones.join(", ") : ""}`);
    ol.append(li);
  }
}

// -- the zone/mask editor -------------------------------------------------------------------------------
function canvasFit() {
  const img = $("stream"), c = $("editor");
  if (c.width !== img.clientWidth || c.height !== img.clientHeight) {
    c.width = img.clientWidth; c.height = img.clientHeight;
  }
  draw();
}

function draw() {
  const c = $("editor"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  if (!points.length) return;
  g.strokeStyle = $("kind").value === "mask" ? "#f44" : "#4cf";
  g.fillStyle = $("kind").value === "mask" ? "rgba(255,60,60,0.25)" : "rgba(60,200,255,0.2)";
  g.lineWidth = 2;
  g.beginPath();
  points.forEach(([x, y], i) => (i ? g.lineTo(x * c.width, y * c.height) : g.moveTo(x * c.width, y * c.height)));
  if (points.length > 2) { g.closePath(); g.fill(); }
  g.stroke();
  for (const [x, y] of points) { g.beginPath(); g.arc(x * c.width, y * c.height, 4, 0, 2 * Math.PI); g.fillStyle = "#fff"; g.fill(); }
}

function draft() {
  const labels = Array.from($("labels").selectedOptions).map((o) => o.value);
  return { kind: $("kind").value, name: $("zone-name").value, points, labels };
}

let previewBusy = false, previewAgain = false;
async function preview() {
  text($("zone-points"), `${points.length} point${points.length === 1 ? "" : "s"}`);
  if (previewBusy) { previewAgain = true; return; }  // one request at a time; the latest draft follows
  if (!points.length) { text($("toml"), ""); text($("zone-problem"), ""); text($("zone-counts"), "–"); return; }
  previewBusy = true;
  try {
    const r = await postJSON("api/zones/preview", draft());
    text($("toml"), r.toml);
    text($("zone-problem"), r.problem || "");
    const counts = Object.entries(r.counts).map(([k, v]) => `${k} ${v}`).join(", ");
    text($("zone-counts"), r.problem ? "–" : counts || "nothing");
  } catch (e) {
    text($("zone-problem"), e.message);
  } finally {
    previewBusy = false;
    if (previewAgain) { previewAgain = false; preview(); }
  }
}

function addPoint(ev) {
  const c = $("editor");
  const clamp = (v) => Math.min(1, Math.max(0, v));
  points.push([clamp(ev.offsetX / c.clientWidth), clamp(ev.offsetY / c.clientHeight)]);
  draw(); preview();
}

async function loadInfo() {
  try {
    const info = await getJSON("api/info");
    text($("camera"), info.camera);
    const conf = $("conf");
    conf.min = info.conf_min; conf.max = info.conf_max; conf.step = info.conf_step;
    const sel = $("labels");
    sel.replaceChildren(...info.classes.map((name) => { const o = document.createElement("option"); o.value = o.textContent = name; return o; }));
  } catch (e) { setTimeout(loadInfo, 2000); }
  try {
    const z = await getJSON("api/zones");
    const ul = $("configured");
    ul.replaceChildren(...z.zones.map((zone) => Object.assign(document.createElement("li"), { textContent: `zone ${zone.name} (${zone.points.length} points)` })),
      ...z.masks.map((m, i) => Object.assign(document.createElement("li"), { textContent: `mask ${i + 1} (${m.points.length} points)` })));
  } catch (e) { /* shown next time */ }
}

function reconnectStream() {
  setTimeout(() => { $("stream").src = `stream.mjpg?t=${Date.now()}`; }, 2000);
}

window.addEventListener("DOMContentLoaded", () => {
  $("editor").addEventListener("click", addPoint);
  $("undo").addEventListener("click", () => { points.pop(); draw(); preview(); });
  $("clear").addEventListener("click", () => { points.length = 0; draw(); preview(); });
  for (const id of ["kind", "zone-name", "labels"]) $(id).addEventListener("change", () => { draw(); preview(); });
  $("zone-name").addEventListener("input", preview);
  $("detection").addEventListener("change", (e) => setControl({ detection: e.target.checked }));
  const conf = $("conf");
  conf.addEventListener("input", () => { editingConf = true; text($("conf-value"), Number(conf.value).toFixed(2)); });
  conf.addEventListener("change", () => { editingConf = false; setControl({ conf: Number(conf.value) }); });
  const img = $("stream");
  img.addEventListener("load", canvasFit);
  img.addEventListener("error", reconnectStream);
  new ResizeObserver(canvasFit).observe(img);
  loadInfo(); refreshStats(); refreshEvents();
  setInterval(refreshStats, 2000);
  setInterval(refreshEvents, 2000);
  setInterval(() => { if (points.length > 2) preview(); }, 1000);  // live counts while drawing
});
