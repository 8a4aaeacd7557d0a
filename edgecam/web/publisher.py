"""The live view as a publisher: the pipeline hands it every ``FrameUpdate``; a browser sees the frames
with boxes, the stats and events, drives the same controls MQTT drives, and drafts zones and masks.

Endpoints: ``/`` (the page), ``/stream.mjpg``, ``/snapshot.jpg``, ``/api/stats``, ``/api/events``
(each with ``at``: when that message happened), ``/api/zones``, ``/api/info``, ``/api/tracks`` (the
tracks of the newest frame, each ``confirmed`` or ``coasting``), ``/api/controls`` (GET; POST
``{"detection": bool}`` / ``{"conf": x}``), ``/api/overlay`` (GET; POST what the picture shows:
boxes, coasting, zones, masks, motion), ``/api/zones/preview`` (POST a drawn polygon → its TOML,
problems, live counts), ``/api/regions`` (POST every zone and mask: saved to the config and applied,
see ``web/editor.py``; only when the daemon attached its config with :meth:`attach_editor`).
"""

from __future__ import annotations

import logging
import socket
import threading
from importlib import resources
from typing import Any, Callable, Mapping, Sequence

from edgecam.confidence import CONF_MAX, CONF_MIN, CONF_STEP, conf_problem, normalise_conf
from edgecam.controls import Controls
from edgecam.domain import FrameUpdate
from edgecam.publishers.context import PublisherContext
from edgecam.tracking.settings import MaskSettings, ZoneSettings
from edgecam.web import zones as zone_editor
from edgecam.web.settings import WebSettings

log = logging.getLogger(__name__)


class WebPublisher:
    kind = "web"

    @classmethod
    def from_settings(cls, settings: WebSettings, context: PublisherContext) -> "WebPublisher":
        """``[web]``: the live view of the camera, its controls and the zone editor."""
        return cls(settings, context.camera_id, context.controls, context.zones, context.masks,
                   class_names=context.class_names, parse_config=context.parse_config)

    def __init__(self, settings: WebSettings, camera_id: str, controls: Controls,
                 zones: Sequence[ZoneSettings] = (), masks: Sequence[MaskSettings] = (),
                 class_names: Sequence[str] = (), parse_config: zone_editor.ParseConfig | None = None) -> None:
        from edgecam.web.feed import LiveFeed
        from edgecam.web.overlay import OverlayOptions, OverlayRenderer

        self.settings = settings
        self.camera_id = camera_id
        self.controls = controls
        self.zones, self.masks = tuple(zones), tuple(masks)
        self.class_names = tuple(class_names)
        self.parse_config = parse_config  # checks drafted zones as `edgecam check` does (the app hands it in)
        self.overlay = OverlayOptions()
        self.renderer = OverlayRenderer(self.zones, self.masks, settings.stream_width, settings.jpeg_quality,
                                        self.overlay)
        self.feed = LiveFeed(self.renderer.render, settings.stream_fps, settings.events_kept)
        self.editor = None  # a RegionEditor once the daemon attaches its config
        self.stats_source: Callable[[], Mapping[str, Any]] | None = None  # the pipeline's live stats
        self.events: Any = None  # the event history (events/recorder.py), set by the app when enabled
        self._stats: Mapping[str, Any] = {}
        self._static: dict[str, bytes] = {}
        self.server = None
        self.url: str | None = None
        self.closing = False
        self._thread: threading.Thread | None = None
        self.GET: dict[str, Callable[[], Any]] = {
            "/api/stats": self.api_stats, "/api/events": self.feed.events, "/api/zones": self.api_zones,
            "/api/info": self.api_info, "/api/controls": self.api_controls, "/api/tracks": self.api_tracks,
            "/api/overlay": self.overlay.as_dict,
        }
        self.POST: dict[str, Callable[[Any], tuple[int, Any]]] = {
            "/api/controls": self.set_controls, "/api/zones/preview": self.preview,
            "/api/overlay": self.set_overlay, "/api/regions": self.save_regions,
        }

    # -- Publisher -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Bind and serve; a port that cannot be bound is logged and the daemon runs on without a live view."""
        from edgecam.web.server import LiveViewServer

        s = self.settings
        password = s.password()
        try:
            self.server = LiveViewServer(s, self, password)
        except OSError as exc:
            log.error("live view: cannot listen on %s:%d: %s; set [web] port to a free port or enabled = false",
                      s.host, s.port, exc.strerror or exc)
            return
        self.feed.start()
        host = s.host if s.host not in ("0.0.0.0", "::", "[::]") else socket.gethostname()
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        self.url = f"http://{host}:{self.server.url_port}/"
        self._thread = threading.Thread(target=self._serve, name="edgecam-web", daemon=True)
        self._thread.start()
        log.info("live view: %s%s", self.url, "" if password is None else f" (user {s.username}, password required)")

    def _serve(self) -> None:
        from edgecam.web.feed import lower_thread_priority

        lower_thread_priority()  # inherited by every connection's thread
        self.server.serve_forever(poll_interval=0.5)  # type: ignore[union-attr]

    def publish(self, update: FrameUpdate) -> None:
        self.feed.offer(update)

    def publish_stats(self, stats: Mapping[str, Any]) -> None:
        self._stats = dict(stats)

    def close(self) -> None:
        self.closing = True
        self.feed.close()  # wakes every stream, which then ends
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)

    # -- the site ----------------------------------------------------------------------------------------
    def static(self, name: str) -> bytes:
        if name not in self._static:
            self._static[name] = resources.files("edgecam.web").joinpath("static", name).read_bytes()
        return self._static[name]

    def review(self, handler: Any, path: str) -> bool:
        """The review page and the event history's API (``web/review.py``); False if ``path`` is not theirs."""
        from edgecam.web import review

        return review.handle(handler, self.events.store if self.events is not None else None, path)

    def snapshot(self) -> bytes | None:
        return self.feed.snapshot(timeout=self.settings.client_timeout_s)

    def api_stats(self) -> Mapping[str, Any]:
        source = self.stats_source
        stats = dict(source() if source is not None else self._stats)
        stats.update(self._control_state())
        stats["web_streams"] = self.server.streams if self.server is not None else 0
        stats["web_failed_logins"] = self.server.logins.failed if self.server is not None else 0
        return stats

    def api_zones(self) -> dict:
        regions = zone_editor.configured_regions(self.zones, self.masks)
        regions["editable"] = self.editor is not None
        return regions

    def api_tracks(self) -> dict:
        from edgecam.web.overlay import track_state

        latest = self.feed.latest()
        if latest is None:
            return {"frame": None, "time": None, "width": 0, "height": 0, "tracks": []}
        return {
            "frame": latest.frame.index, "time": latest.frame.timestamp,
            "width": latest.frame.width, "height": latest.frame.height,
            "tracks": [{"id": t.id, "label": t.label, "score": round(t.score, 4), "box": [round(v, 1) for v in t.box],
                        "zones": list(t.zones), "missed": t.missed, "state": track_state(t)} for t in latest.tracks],
        }

    def set_overlay(self, body: Any) -> tuple[int, Any]:
        problem = self.overlay.update(body)
        return (400, {"error": problem}) if problem else (200, self.overlay.as_dict())

    # -- the zone/mask editor's save -----------------------------------------------------------------
    def attach_editor(self, config_path, apply_to_tracker, check) -> None:
        """Let the page save zones and masks to ``config_path``; ``check(text, filename, base_dir)`` is
        ``edgecam check``'s validation (the app hands it in); ``apply_to_tracker(zones, masks)`` hands
        them to the running tracker (ValueError: they need a restart)."""
        from edgecam.web.editor import RegionEditor

        def apply(zones, masks) -> None:
            apply_to_tracker(zones, masks)
            self.zones, self.masks = tuple(zones), tuple(masks)
            self.renderer.set_regions(zones, masks)

        self.editor = RegionEditor(config_path, apply, check)

    def save_regions(self, body: Any) -> tuple[int, Any]:
        if self.editor is None:
            return 404, {"error": "saving is not available here (no config file attached)"}
        return self.editor.save(body)

    def api_info(self) -> dict:
        latest = self.feed.latest()
        return {
            "camera": self.camera_id, "classes": list(self.class_names),
            "width": latest.frame.width if latest else 0, "height": latest.frame.height if latest else 0,
            "conf_min": CONF_MIN, "conf_max": CONF_MAX, "conf_step": CONF_STEP,
        }

    def _control_state(self) -> dict:
        return {"detection_enabled": self.controls.detection_enabled, "conf": self.controls.conf}

    def api_controls(self) -> dict:
        return self._control_state()

    def set_controls(self, body: Any) -> tuple[int, Any]:
        """The page's switch and slider: the same :class:`Controls` the MQTT commands change."""
        if not isinstance(body, dict) or not body or set(body) - {"detection", "conf"}:
            return 400, {"error": 'send {"detection": true|false} and/or {"conf": number}'}
        detection, conf = body.get("detection"), body.get("conf")
        if "detection" in body and not isinstance(detection, bool):
            return 400, {"error": "detection must be true or false"}
        if "conf" in body:
            problem = conf_problem(conf)  # type: ignore[arg-type]
            if problem:
                return 400, {"error": f"conf {problem}"}
            self.controls.set_conf(normalise_conf(conf))  # type: ignore[arg-type]
        if "detection" in body:
            self.controls.set_detection_enabled(detection)  # type: ignore[arg-type]
        log.info("live view: controls set %s", body)
        return 200, self._control_state()

    def preview(self, body: Any) -> tuple[int, Any]:
        """A drawn zone/mask → ``{"toml", "problem", "counts"}`` (counts only when it would pass check)."""
        try:
            draft = zone_editor.parse_draft(body)
        except zone_editor.DraftError as exc:
            return 400, {"error": str(exc)}
        toml = zone_editor.draft_toml(draft)
        problem = zone_editor.draft_problem(toml, draft, [z.name for z in self.zones], self.class_names,
                                           self.parse_config)
        counts: dict[str, int] = {}
        latest = self.feed.latest()
        if problem is None and latest is not None:
            counts = zone_editor.draft_counts(draft, latest.tracks, latest.frame.width, latest.frame.height)
        return 200, {"toml": toml, "problem": problem, "counts": counts}
