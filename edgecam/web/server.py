"""The live view's HTTP server: the standard library's ThreadingHTTPServer, hardened.

One thread per connection, at most ``max_connections`` at once (more are answered 503 and closed),
at most ``max_streams`` MJPEG streams.  Every socket has a timeout, so a client that stops sending or
reading is dropped.  Paths are looked up in a fixed table (no file system behind them: no traversal);
anything else is 404.  Requests with a long target, a body without a length or a large body are
refused.  Write requests need ``Content-Type: application/json`` and, if the browser sends an
``Origin``, the page's own origin (so another web site cannot drive the controls).  Without a
password on a loopback bind the ``Host`` must be a loopback name (no DNS rebinding).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from edgecam.web.settings import WebSettings, is_loopback

log = logging.getLogger(__name__)

MAX_TARGET = 2048  # bytes of the request target
MAX_BODY = 16 * 1024  # bytes of a JSON request body
BOUNDARY = "edgecam-frame"
STATIC = {  # path -> (package file, content type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    "/events": ("events.html", "text/html; charset=utf-8"),  # the event history's review page
    "/events.js": ("events.js", "text/javascript; charset=utf-8"),
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'none'",
    "Cache-Control": "no-store",
}


def host_name(header: str) -> str:
    """The host part of a ``Host`` header (``[::1]:8080`` → ``::1``, ``localhost:8080`` → ``localhost``)."""
    header = header.strip()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class LiveViewServer(ThreadingHTTPServer):
    """Binds ``host:port``; ``site`` answers the endpoints (see :class:`edgecam.web.publisher.WebPublisher`)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 16

    def __init__(self, settings: WebSettings, site: Any, password: str | None) -> None:
        self.settings = settings
        self.site = site
        self.password = password
        self.streams = 0
        self._active = 0
        self._count_lock = threading.Lock()
        host = settings.host.strip("[]")
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, settings.port), LiveViewHandler)

    @property
    def url_port(self) -> int:
        return int(self.server_address[1])

    def process_request(self, request, client_address) -> None:  # noqa: ANN001 - socketserver's signature
        with self._count_lock:
            full = self._active >= self.settings.max_connections
            if not full:
                self._active += 1
        if full:
            try:
                request.settimeout(1.0)
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request, client_address) -> None:  # noqa: ANN001
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        """A client that resets or times out is routine (debug); anything else is logged, the server runs on."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("live view: %s: %s", client_address[0], exc)
        else:
            log.exception("live view: error serving %s", client_address[0])

    def _release(self) -> None:
        with self._count_lock:
            self._active -= 1

    def try_open_stream(self) -> bool:
        with self._count_lock:
            if self.streams >= self.settings.max_streams:
                return False
            self.streams += 1
            return True

    def close_stream(self) -> None:
        with self._count_lock:
            self.streams -= 1


class LiveViewHandler(BaseHTTPRequestHandler):
    server: LiveViewServer
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.1"  # errors for unparsable requests get a status line too
    server_version = "edgecam"
    sys_version = ""

    def setup(self) -> None:
        self.timeout = self.server.settings.client_timeout_s
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        log.debug("%s %s", self.address_string(), format % args)

    # -- responses -------------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(k, v)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, value: Any, status: int = 200) -> None:
        self._send(status, json.dumps(value, separators=(",", ":")).encode(), "application/json")

    def send_error_json(self, status: int, message: str, extra: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps({"error": message}).encode(), "application/json", extra)

    # -- checks every request passes -----------------------------------------------------------------------
    def _admit(self) -> str | None:
        """The request's path if it may proceed; otherwise an error was sent and None is returned."""
        if len(self.path) > MAX_TARGET:
            self.close_connection = True
            self.send_error_json(HTTPStatus.REQUEST_URI_TOO_LONG, f"request target longer than {MAX_TARGET} bytes")
            return None
        if not self._authorized():
            return None
        parts = urlsplit(self.path)
        return parts.path

    def _authorized(self) -> bool:
        password = self.server.password
        if password is None:
            if is_loopback(self.server.settings.host) and not is_loopback(host_name(self.headers.get("Host", ""))):
                self.send_error_json(HTTPStatus.FORBIDDEN, "open the live view as http://127.0.0.1 or http://localhost")
                return False
            return True
        given = self.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        ok = False
        if scheme.lower() == "basic" and len(token) < 1024:
            try:
                user, _, pw = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, pw = "", ""
            ok = hmac.compare_digest(user.encode(), self.server.settings.username.encode()) & \
                hmac.compare_digest(pw.encode(), password.encode())
        if not ok:
            self.send_error_json(HTTPStatus.UNAUTHORIZED, "password required",
                                 {"WWW-Authenticate": 'Basic realm="edgecam live view", charset="UTF-8"'})
        return ok

    def _json_body(self) -> Any:
        """The parsed JSON body, or raises ValueError after sending the error."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self.send_error_json(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length, not chunked")
            raise ValueError
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            self.close_connection = True
            self.send_error_json(HTTPStatus.LENGTH_REQUIRED, "Content-Length required")
            raise ValueError
        length = int(length_text)
        if length > MAX_BODY:
            self.close_connection = True
            self.send_error_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body larger than {MAX_BODY} bytes")
            raise ValueError
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            self.close_connection = True
            self.send_error_json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send Content-Type: application/json")
            raise ValueError
        origin = self.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != self.headers.get("Host"):
            self.close_connection = True
            self.send_error_json(HTTPStatus.FORBIDDEN, "cross-origin request refused")
            raise ValueError
        raw = self.rfile.read(length)
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            self.send_error_json(HTTPStatus.BAD_REQUEST, "body is not JSON")
            raise ValueError from None

    # -- methods -----------------------------------------------------------------------------------------
    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        path = self._admit()
        if path is None:
            return
        site = self.server.site
        if path in STATIC:
            name, ctype = STATIC[path]
            self._send(200, site.static(name), ctype)
        elif path == "/stream.mjpg":
            self._stream()
        elif path == "/snapshot.jpg":
            jpeg = site.snapshot()
            if jpeg is None:
                self.send_error_json(HTTPStatus.SERVICE_UNAVAILABLE, "no frame yet; the camera has not delivered one")
            else:
                self._send(200, jpeg, "image/jpeg")
        elif site.review(self, path):  # the event history: web/review.py
            pass
        elif path in site.GET:
            self.send_json(site.GET[path]())
        else:
            self.send_error_json(HTTPStatus.NOT_FOUND, "not found")

    def do_DELETE(self) -> None:  # noqa: N802
        path = self._admit()
        if path is not None and not self.server.site.review(self, path):  # only events can be deleted
            self.send_error_json(HTTPStatus.NOT_IMPLEMENTED, "DELETE is only for /api/events/<id>")

    def do_POST(self) -> None:  # noqa: N802
        path = self._admit()
        if path is None:
            return
        site = self.server.site
        if path not in site.POST:
            self.close_connection = True
            self.send_error_json(HTTPStatus.NOT_FOUND, "not found")
            return
        try:
            body = self._json_body()
        except ValueError:
            return
        status, value = site.POST[path](body)
        self.send_json(value, status)

    # -- the MJPEG stream ----------------------------------------------------------------------------------
    def _stream(self) -> None:
        server, feed = self.server, self.server.site.feed
        if self.command == "HEAD" or not server.try_open_stream():
            if self.command != "HEAD":
                self.send_error_json(HTTPStatus.SERVICE_UNAVAILABLE,
                                     f"{server.settings.max_streams} live streams are open already; close one")
            else:
                self._send(200, b"", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            return
        self.close_connection = True
        try:
            self.send_response(200)
            for k, v in SECURITY_HEADERS.items():
                self.send_header(k, v)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Connection", "close")
            self.end_headers()
            keepalive = max(1.0, server.settings.client_timeout_s / 2)
            seen, jpeg = 0, b""
            with feed.watching():
                while not server.site.closing:
                    got = feed.next_jpeg(seen, keepalive)
                    if got is not None:
                        seen, jpeg = got
                    elif not jpeg:
                        continue
                    # a stalled camera re-sends the last picture, so a gone client is noticed
                    self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                                     .encode() + jpeg + b"\r\n")
                    self.wfile.flush()
        except OSError:  # the client went away or stopped reading (timeout): drop it
            log.debug("live view: stream to %s ended", self.address_string())
        finally:
            server.close_stream()
