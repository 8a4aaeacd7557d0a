// edgecam live view: stats, events, tracks, overlay toggles, a status banner and the zone/mask editor.
// No dependencies.
"use strict";

const $ = (id) => document.getElementById(id);
let editingConf = false;
let frameSize = { width: 0, height: 0 };  // of the camera's frames (pixel-coordinate zones need it)

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
  if (!r.ok) { const e = new Error(value.error || `HTTP ${r.status}`); e.value = value; throw e; }
  return value;
}

function text(el, value) { el.textContent = value; }
const clockTime = (seconds) => new Date(1000 * seconds).toLocaleTimeString();

// -- the banner: daemon offline, camera lost ----------------------------------------------------------
const CAMERA_LOST = ["reconnecting", "failed", "waiting for the abandoned reader"];

function banner(kind, message) {
  const b = $("banner");
  b.hidden = !kind;
  b.className = `banner ${kind || ""}`;
  text(b, message || "");
}

function showBanner(stats) {
  if (!stats) {
    banner("offline", "edgecam is offline: the daemon is not answering (stopped or restarting). " +
      "This page reconnects by itself.");
  } else if (stats.camera === "offline" || CAMERA_LOST.includes(stats.state)) {
    const why = stats.last_error ? `: ${stats.last_error}` : "";
    banner("camera", `camera lost (${stats.state || "offline"})${why}. edgecam keeps retrying; ` +
      "check the cable, the power or the stream URL.");
  } else {
    banner(null);
  }
}

// -- stats and controls -------------------------------------------------------------------------------
const STATS = [
  ["fps", "fps"], ["inference_ms", "inference ms"], ["temperature_c", "temperature °C"],
  ["throttled", "throttled"], ["dropped_frames", "dropped frames"], ["uptime_s", "uptime s"],
  ["state", "camera"], ["web_streams", "live streams"],
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
  let s;
  try { s = await getJSON("api/stats"); } catch (e) { text($("status"), "offline"); showBanner(null); return; }
  text($("status"), "");
  showStats(s);
  showBanner(s);
}

async function setControl(body) {
  try { showStats({ ...(await postJSON("api/controls", body)) }); text($("control-error"), ""); }
  catch (e) { text($("control-error"), e.message); }
}

// -- overlay toggles (what the picture shows, for every viewer) ---------------------------------------------
const TOGGLES = ["boxes", "coasting", "zones", "masks", "motion"];

async function loadOverlay() {
  try {
    const o = await getJSON("api/overlay");
    for (const k of TOGGLES) $(`show-${k}`).checked = !!o[k];
  } catch (e) { /* next time */ }
}

// -- tracks and events -----------------------------------------------------------------------------------
async function refreshTracks() {
  let t;
  try { t = await getJSON("api/tracks"); } catch (e) { return; }
  frameSize = { width: t.width || frameSize.width, height: t.height || frameSize.height };
  $("tracks").replaceChildren(...t.tracks.map((tr) => {
    const li = document.createElement("li");
    li.className = tr.state;
    li.dataset.id = tr.id;
    const lost = tr.missed ? ` — lost ${tr.missed} frame${tr.missed === 1 ? "" : "s"}` : "";
    text(li, `${tr.label} #${tr.id.slice(-4)} ${tr.score.toFixed(2)}${lost}${tr.zones.length ? " in " + tr.zones.join(", ") : ""}`);
    return li;
  }));
}

async function refreshEvents() {
  let events;
  try { events = await getJSON("api/events"); } catch (e) { return; }
  const ol = $("events");
  ol.replaceChildren();
  const t = (e) => e.at || e.end_time || e.start_time;  // the recent-events feed, or the event history
  for (const e of events.slice().sort((a, b) => t(b) - t(a)).slice(0, 20)) {
    const li = document.createElement("li");
    const at = e.at || e.end_time || e.start_time;  // when this message happened
    const time = document.createElement("time");
    time.dateTime = new Date(1000 * at).toISOString();
    text(time, clockTime(at));
    const rest = ` ${e.type || (e.end_time ? "end" : "new")} ${e.label} ${(e.score ?? e.top_score).toFixed(2)}${e.zones && e.zones.length ? " in " + e.zones.join(", ") : ""}`;
    li.append(time, document.createTextNode(rest));
    ol.append(li);
  }
}

// -- the zone/mask editor -----------------------------------------------------------------------------------
// `regions`: the working copy ({kind, name, points (relative 0..1), labels, from}); `sel`: the selected one.
let regions = [];
let sel = null;
let drag = null;  // {index, moved} while a corner is dragged
let swallowClick = false;  // the click the browser sends after a drag's release

function newRegion(kind) {
  const names = new Set(regions.filter((r) => r.kind === "zone").map((r) => r.name));
  let n = 1; while (names.has(`zone${n}`)) n += 1;
  const r = { kind, name: kind === "zone" ? `zone${n}` : "", points: [], labels: [], from: null };
  regions.push(r);
  return r;
}

function relative(points, coordinates) {
  if (coordinates !== "pixels") return points.map((p) => [p[0], p[1]]);
  const w = frameSize.width || 1, h = frameSize.height || 1;
  return points.map((p) => [p[0] / w, p[1] / h]);
}

async function loadRegions() {
  try {
    const z = await getJSON("api/zones");
    if ([...z.zones, ...z.masks].some((r) => r.coordinates === "pixels") && !frameSize.width) {
      setTimeout(loadRegions, 1000);  // pixel corners need the frame size: wait for the first frame
      return;
    }
    regions = [
      ...z.zones.map((r) => ({ kind: "zone", name: r.name, points: relative(r.points, r.coordinates), labels: r.labels.slice(), from: r.name })),
      ...z.masks.map((r, i) => ({ kind: "mask", name: "", points: relative(r.points, r.coordinates), labels: r.labels.slice(), from: `mask ${i + 1}` })),
    ];
    $("save").disabled = !z.editable;
    if (!z.editable) text($("save-result"), "Saving is not available here: copy the TOML into the config.");
  } catch (e) { regions = []; }
  select(newRegion("zone"));
}

function select(r) {
  sel = r;
  $("kind").value = r.kind;
  $("zone-name").value = r.name;
  $("zone-name").disabled = r.kind !== "zone";
  for (const o of $("labels").options) o.selected = r.labels.includes(o.value);
  showRegions(); draw(); preview();
}

function showRegions() {
  let m = 0;
  $("configured").replaceChildren(...regions.filter((r) => r.points.length || r === sel).map((r) => {
    const li = document.createElement("li");
    const title = r.kind === "zone" ? `zone ${r.name}` : `mask ${r.from ? r.from.split(" ")[1] : ++m}`;
    text(li, `${title} (${r.points.length} points)${r.from ? "" : " new"}`);
    li.className = (r === sel ? "selected " : "") + (r.changed ? "changed" : "");
    li.addEventListener("click", () => select(r));
    return li;
  }));
}

function changed() { sel.changed = true; showRegions(); draw(); preview(); }

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
  for (const r of regions) {
    if (!r.points.length) continue;
    const mine = r === sel;
    g.strokeStyle = r.kind === "mask" ? "#f44" : "#4cf";
    g.fillStyle = r.kind === "mask" ? "rgba(255,60,60,0.25)" : "rgba(60,200,255,0.2)";
    g.lineWidth = mine ? 3 : 1;
    g.setLineDash(mine ? [] : [4, 4]);
    g.beginPath();
    r.points.forEach(([x, y], i) => (i ? g.lineTo(x * c.width, y * c.height) : g.moveTo(x * c.width, y * c.height)));
    if (r.points.length > 2) { g.closePath(); if (mine) g.fill(); }
    g.stroke();
    if (!mine) continue;
    g.setLineDash([]);
    for (const [x, y] of r.points) { g.beginPath(); g.arc(x * c.width, y * c.height, 5, 0, 2 * Math.PI); g.fillStyle = "#fff"; g.fill(); }
  }
}

function draft() {
  return { kind: sel.kind, name: sel.kind === "zone" ? sel.name : "", points: sel.points, labels: sel.labels,
           replaces: sel.kind === "zone" && sel.from ? sel.from : "" };
}

let previewBusy = false, previewAgain = false;
async function preview() {
  text($("zone-points"), `${sel.points.length} point${sel.points.length === 1 ? "" : "s"}`);
  if (previewBusy) { previewAgain = true; return; }  // one request at a time; the latest draft follows
  if (!sel.points.length) { text($("toml"), ""); text($("zone-problem"), ""); text($("zone-counts"), "–"); return; }
  previewBusy = true;
  try {
    const r = await postJSON("api/zones/preview", draft());
    const clash = sel.kind === "zone" && regions.some((o) => o !== sel && o.kind === "zone" && o.points.length && o.name === sel.name);
    text($("toml"), r.toml);
    text($("zone-problem"), clash ? `another zone is named ${sel.name}; pick another name` : r.problem || "");
    const counts = Object.entries(r.counts).map(([k, v]) => `${k} ${v}`).join(", ");
    text($("zone-counts"), r.problem ? "–" : counts || "nothing");
  } catch (e) {
    text($("zone-problem"), e.message);
  } finally {
    previewBusy = false;
    if (previewAgain) { previewAgain = false; preview(); }
  }
}

function pointer(ev) {  // relative position on the picture (the image's own box, whatever its aspect ratio)
  const box = $("stream").getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return [clamp((ev.clientX - box.left) / box.width), clamp((ev.clientY - box.top) / box.height)];
}

function nearest(p) {
  const c = $("editor");
  let best = -1, bestD = 10;  // px
  sel.points.forEach(([x, y], i) => {
    const d = Math.hypot((x - p[0]) * c.width, (y - p[1]) * c.height);
    if (d < bestD) { best = i; bestD = d; }
  });
  return best;
}

function onDown(ev) {
  const i = nearest(pointer(ev));
  if (i >= 0) { drag = { index: i, moved: false }; $("editor").setPointerCapture(ev.pointerId); }
}

function onMove(ev) {
  if (!drag) return;
  sel.points[drag.index] = pointer(ev).map((v) => Math.round(v * 1000) / 1000);
  drag.moved = true;
  draw();
}

function onUp() {
  // the drag ends here: a pointer move before the next press must not carry this corner along
  // (browsers may run input events before a zero timeout); only the click that follows is swallowed
  if (drag && drag.moved) { changed(); swallowClick = true; setTimeout(() => { swallowClick = false; }, 0); }
  drag = null;
}

function onClick(ev) {
  if (swallowClick) { swallowClick = false; return; }  // the click that ends a drag adds no point
  const p = pointer(ev);
  if (nearest(p) >= 0) return;  // a click on a corner selects it for dragging, it adds none
  sel.points.push(p);
  changed();
}

async function save() {
  text($("save-problem"), ""); text($("save-result"), "saving…");
  const keep = regions.filter((r) => r.points.length);
  const body = {
    zones: keep.filter((r) => r.kind === "zone").map((r) => ({ name: r.name, points: r.points, labels: r.labels })),
    masks: keep.filter((r) => r.kind === "mask").map((r) => ({ points: r.points, labels: r.labels })),
  };
  try {
    const r = await postJSON("api/regions", body);
    text($("save-result"), r.applied
      ? `saved to ${r.saved} (previous version: ${r.backup}); edgecam uses them now`
      : `saved to ${r.saved} (previous version: ${r.backup}); ${r.restart}`);
    await loadRegions();
  } catch (e) {
    text($("save-result"), "not saved");
    text($("save-problem"), (e.value && e.value.problems ? e.value.problems : [e.message]).join("\n"));
  }
}

async function loadInfo() {
  let info;
  try {
    info = await getJSON("api/info");
    frameSize = { width: info.width, height: info.height };
    const conf = $("conf");
    conf.min = info.conf_min; conf.max = info.conf_max; conf.step = info.conf_step;
    $("labels").replaceChildren(...info.classes.map((name) => { const o = document.createElement("option"); o.value = o.textContent = name; return o; }));
  } catch (e) { setTimeout(loadInfo, 2000); return; }
  await loadRegions();
  text($("camera"), info.camera);  // last: the page is ready to edit
}

function reconnectStream() {
  setTimeout(() => { $("stream").src = `stream.mjpg?t=${Date.now()}`; }, 2000);
}

window.addEventListener("DOMContentLoaded", () => {
  const c = $("editor");
  c.addEventListener("pointerdown", onDown);
  c.addEventListener("pointermove", onMove);
  c.addEventListener("pointerup", onUp);
  c.addEventListener("click", onClick);
  $("undo").addEventListener("click", () => { sel.points.pop(); changed(); });
  $("clear").addEventListener("click", () => { sel.points.length = 0; changed(); });
  $("new-zone").addEventListener("click", () => select(newRegion("zone")));
  $("new-mask").addEventListener("click", () => select(newRegion("mask")));
  $("delete").addEventListener("click", () => {
    regions = regions.filter((r) => r !== sel);
    select(newRegion("zone"));
    text($("save-result"), "deleted; save to apply");
  });
  $("save").addEventListener("click", save);
  $("kind").addEventListener("change", () => { sel.kind = $("kind").value; $("zone-name").disabled = sel.kind !== "zone"; changed(); });
  $("zone-name").addEventListener("input", () => { sel.name = $("zone-name").value; changed(); });
  $("labels").addEventListener("change", () => { sel.labels = Array.from($("labels").selectedOptions).map((o) => o.value); changed(); });
  for (const k of TOGGLES) {
    $(`show-${k}`).addEventListener("change", async (e) => {
      try { await postJSON("api/overlay", { [k]: e.target.checked }); } catch (err) { text($("control-error"), err.message); }
    });
  }
  $("detection").addEventListener("change", (e) => setControl({ detection: e.target.checked }));
  const conf = $("conf");
  conf.addEventListener("input", () => { editingConf = true; text($("conf-value"), Number(conf.value).toFixed(2)); });
  conf.addEventListener("change", () => { editingConf = false; setControl({ conf: Number(conf.value) }); });
  const img = $("stream");
  img.addEventListener("load", canvasFit);
  img.addEventListener("error", reconnectStream);
  new ResizeObserver(canvasFit).observe(img);
  select(newRegion("zone"));
  loadInfo(); loadOverlay(); refreshStats(); refreshEvents(); refreshTracks();
  setInterval(refreshStats, 2000);
  setInterval(refreshEvents, 2000);
  setInterval(refreshTracks, 1000);
  setInterval(() => { if (sel && sel.points.length > 2) preview(); }, 1000);  // live counts while drawing
});
