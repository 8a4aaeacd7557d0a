// edgecam review page: the event history as a grid of thumbnails, filters, the snapshot, the clip, delete.
"use strict";
const $ = (id) => document.getElementById(id);
let selected = null;

function query() {
  const q = new URLSearchParams({ limit: "200" });
  if ($("f-label").value.trim()) q.set("label", $("f-label").value.trim());
  if ($("f-zone").value.trim()) q.set("zone", $("f-zone").value.trim());
  if ($("f-date").value) {  // the chosen day, local time
    const day = new Date($("f-date").value + "T00:00:00");
    q.set("after", String(day.getTime() / 1000));
    q.set("before", String(day.getTime() / 1000 + 86400));
  }
  return q;
}

function when(t) { return t ? new Date(1000 * t).toLocaleString() : "…"; }

async function load() {
  let events;
  try {
    const r = await fetch("api/events?" + query());
    events = await r.json();
    if (!r.ok) throw new Error(events.error || r.statusText);
  } catch (e) { $("status").textContent = "cannot load events: " + e.message; return; }
  $("status").textContent = "";
  $("count").textContent = `${events.length} event${events.length === 1 ? "" : "s"}`;
  const labels = new Set(events.map((e) => e.label));
  $("labels").replaceChildren(...[...labels].sort().map((l) => Object.assign(document.createElement("option"), { value: l })));
  const grid = $("grid");
  grid.replaceChildren();
  for (const e of events) {
    const card = document.createElement("button");
    card.type = "button";
    card.className = "card";
    card.dataset.id = e.id;
    if (e.thumbnail) {
      const img = document.createElement("img");
      img.src = e.thumbnail; img.alt = e.label; img.className = "thumb";
      card.append(img);
    }
    const caption = document.createElement("span");
    caption.textContent = `${e.label} ${e.top_score.toFixed(2)} ${when(e.start_time)}${e.clip ? " ▶" : ""}` +
      (e.zones.length ? ` in ${e.zones.join(", ")}` : "");
    card.append(caption);
    card.addEventListener("click", () => show(e));
    grid.append(card);
  }
}

function show(e) {
  selected = e;
  $("detail").hidden = false;
  $("d-title").textContent = `${e.label} (top score ${e.top_score.toFixed(2)})`;
  $("d-time").textContent = `${when(e.start_time)} – ${when(e.end_time)}` + (e.zones.length ? ` · ${e.zones.join(", ")}` : "");
  $("d-snapshot").src = e.boxed || e.snapshot || "";
  const video = $("d-clip");
  video.hidden = !e.clip;
  $("d-noclip").hidden = !!e.clip;
  if (e.clip) { video.src = e.clip; video.load(); } else { video.removeAttribute("src"); video.load(); }
  $("d-error").textContent = "";
}

async function remove() {
  if (!selected) return;
  const r = await fetch("api/events/" + encodeURIComponent(selected.id), { method: "DELETE" });
  if (!r.ok) { $("d-error").textContent = "delete failed: " + r.status; return; }
  $("detail").hidden = true;
  selected = null;
  load();
}

$("filters").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
$("d-delete").addEventListener("click", remove);
load();
