"""Helpers for the live view tests: the running view, raw HTTP requests, an MJPEG reader."""

from __future__ import annotations

import base64
import http.client
import threading
import time
from dataclasses import dataclass, field

from edgecam.controls import Controls
from edgecam.tracking.settings import MaskSettings, ZoneSettings
from edgecam.web.publisher import WebPublisher

ZONES = (ZoneSettings(name="left", points=((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0))),)
MASKS = (MaskSettings(points=((0.9, 0.0), (1.0, 0.0), (1.0, 0.1), (0.9, 0.1))),)


@dataclass
class LiveView:
    publisher: WebPublisher
    controls: Controls
    host: str
    port: int
    offered: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def wait(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.02)


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def request(view: LiveView, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
         auth: tuple[str, str] | None = None, timeout: float = 20.0, source: str | None = None) -> Reply:
    """One request on a fresh connection (the target is sent exactly as given: no normalisation);
    ``source``: the client's own loopback address (e.g. ``127.0.0.2``, another client as the server sees it)."""
    conn = http.client.HTTPConnection(view.host, view.port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        hdrs = dict(headers or {})
        if auth is not None:
            hdrs["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return Reply(r.status, r.headers, r.read())
    finally:
        conn.close()


def raw_request(view: LiveView, data: bytes, timeout: float = 20.0) -> bytes:
    """Send ``data`` as it is on a fresh connection; the whole answer (until the server closes, or the
    first answer's head and body when it keeps the connection open)."""
    import socket

    with socket.create_connection((view.host, view.port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        while True:
            head, sep, body = got.partition(b"\r\n\r\n")
            if sep:
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                               if line.lower().startswith(b"content-length:")), None)
                if length is not None and len(body) >= length:
                    return got
            chunk = s.recv(65536)
            if not chunk:
                return got
            got += chunk


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.") else 0


def read_mjpeg_frames(view: LiveView, n: int, path: str = "/stream.mjpg", timeout: float = 30.0,
                      auth_header: str | None = None) -> list[bytes]:
    """The first ``n`` JPEG parts of the MJPEG stream (parsed by their Content-Length)."""
    conn = http.client.HTTPConnection(view.host, view.port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": auth_header} if auth_header else {})
        r = conn.getresponse()
        assert r.status == 200, r.read()
        ctype = r.headers["Content-Type"]
        assert ctype.startswith("multipart/x-mixed-replace; boundary=")
        boundary = ctype.split("boundary=")[1].encode()
        frames = []
        while len(frames) < n:
            line = r.fp.readline()
            if line.strip() != b"--" + boundary:
                continue
            length = None
            while (header := r.fp.readline().strip()):
                name, _, value = header.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            assert length is not None
            frames.append(r.fp.read(length))
        return frames
    finally:
        conn.close()
