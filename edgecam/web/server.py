"""The live view's HTTP server: the standard library's ThreadingHTTPServer, hardened.

One thread per connection, at most ``max_connections`` at once and ``max_connections_per_address``
from one client address (more are answered 503 and closed), at most ``max_streams`` MJPEG streams.
Every phase is bounded: the whole request head must arrive within ``head_timeout_s`` (a client that
dribbles bytes is answered 408 and dropped, see ``deadline.py``), every later read or write within
``client_timeout_s``.  As soon as the head is read it is checked (``head.py``): one valid ``Host``,
an origin-form target, then the password (failed logins are logged and throttled per address, see
``throttle.py``) — before any route runs.  Paths are looked up in a fixed table (no file system
behind them: no traversal); anything else is 404.  Bodies need one ``Content-Length`` of digits and
``Content-Type: application/json``, at most 16 KiB, nesting and number sizes bounded before parsing
(``edgecam/jsonlimits.py``); every malformed request gets a 4xx answer.  If the browser sends an
``Origin``, it must be the page's own (so another web site cannot drive the controls).  Without a
password on a loopback bind the ``Host`` must be a loopback name (no DNS rebinding).

Why the standard library and not a server package: on a Pi the live view serves a handful of
clients; the bounds above are what matters, and they are a few dozen lines here.  A package would
add a dependency to keep patched on the device without removing any of those checks.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import json
import logging
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from edgecam.web.body import read_json_body
from edgecam.web.deadline import DeadlineReader, HeadTimeout
from edgecam.web.head import parse_host, target_path
from edgecam.web.settings import WebSettings, is_loopback
from edgecam.web.throttle import LoginThrottle

log = logging.getLogger(__name__)

MAX_TARGET = 2048  # bytes of the request target
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
        self._per_address: dict[str, int] = {}
        self._count_lock = threading.Lock()
        self.logins = LoginThrottle()
        self.refused_connections = 0  # over a connection cap (503)
        host = settings.host.strip("[]")
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, settings.port), LiveViewHandler)

    @property
    def url_port(self) -> int:
        return int(self.server_address[1])

    def process_request(self, request, client_address) -> None:  # noqa: ANN001 - socketserver's signature
        address = client_address[0]
        with self._count_lock:
            full = (self._active >= self.settings.max_connections
                    or self._per_address.get(address, 0) >= self.settings.max_connections_per_address)
            if not full:
                self._active += 1
                self._per_address[address] = self._per_address.get(address, 0) + 1
            else:
                self.refused_connections += 1
        if full:
            try:
                request.settimeout(1.0)
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                request.recv(65536, socket.MSG_DONTWAIT)  # unread request bytes would turn the close into a reset
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release(address)
            raise

    def process_request_thread(self, request, client_address) -> None:  # noqa: ANN001
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(client_address[0])

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        """A client that resets or times out is routine (debug); anything else is logged, the server runs on."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("live view: %s: %s", client_address[0], exc)
        else:
            log.exception("live view: error serving %s", client_address[0])

    def _release(self, address: str) -> None:
        with self._count_lock:
            self._active -= 1
            left = self._per_address.get(address, 1) - 1
            if left > 0:
                self._per_address[address] = left
            else:
                self._per_address.pop(address, None)

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
        self._reader = DeadlineReader(self.connection, self.server.settings.client_timeout_s)
        self.rfile = io.BufferedReader(self._reader)  # type: ignore[assignment]
        self.route = ""

    def handle_one_request(self) -> None:
        """One request: the head within its deadline, the head's checks, then the route (http.server's
        own version reads the head with a per-``recv`` timeout only and checks nothing before the route)."""
        settings = self.server.settings
        try:
            if not self.rfile.peek(1):  # wait (idle timeout) for the request to begin; EOF: done
                self.close_connection = True
                return
            self._reader.deadline = time.monotonic() + settings.head_timeout_s
            self.raw_requestline = self.rfile.readline(MAX_TARGET + 64)
            if len(self.raw_requestline) > MAX_TARGET + 32 or not self.raw_requestline.endswith(b"\n"):
                self.requestline = self.request_version = self.command = ""
                self.close_connection = True
                self.send_error_json(HTTPStatus.REQUEST_URI_TOO_LONG, f"request target longer than {MAX_TARGET} bytes")
                return
            if not self.parse_request():  # an error was sent (http.server answers 400/414/431/505 itself)
                return
            self._reader.deadline = None
            self.connection.settimeout(settings.client_timeout_s)
            self.body_read = False
            try:
                self._dispatch()
            finally:  # a body left unread would be parsed as the next request: close instead
                if not self.body_read and (self.headers.get("Content-Length", "0").strip() != "0"
                                           or self.headers.get("Transfer-Encoding")):
                    self.close_connection = True
            self.wfile.flush()
        except HeadTimeout:
            self.close_connection = True
            log.debug("live view: %s sent no complete request head (or body) within %.1f s", self.address_string(),
                      settings.head_timeout_s)
            self._refuse_quietly(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        except TimeoutError as exc:
            log.debug("live view: %s timed out: %s", self.address_string(), exc)
            self.close_connection = True

    def _dispatch(self) -> None:
        route = self._admit()
        if route is None:
            return
        self.route = route
        handler = getattr(self, "do_" + self.command, None)
        if handler is None:
            self.send_error_json(HTTPStatus.NOT_IMPLEMENTED, f"method {self.command[:16]!r} not supported")
            return
        handler()

    def _refuse_quietly(self, response: bytes) -> None:
        try:
            self.connection.settimeout(1.0)
            self.connection.sendall(response)
        except OSError:
            pass

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

    # -- checks every request passes, as soon as its head is read ------------------------------------
    def _admit(self) -> str | None:
        """The request's path if it may proceed; otherwise a 4xx was sent and None is returned."""
        path = target_path(self.path)
        if path is None:
            self.close_connection = True
            self.send_error_json(HTTPStatus.BAD_REQUEST, "the request target must be a path (/...)")
            return None
        host = parse_host(self.headers.get_all("Host") or [])
        if host is None:
            self.close_connection = True
            self.send_error_json(HTTPStatus.BAD_REQUEST, "send exactly one Host header: name[:port] or [address][:port]")
            return None
        if not self._authorized(host):
            return None
        return path

    def _authorized(self, host: str) -> bool:
        password = self.server.password
        if password is None:
            if is_loopback(self.server.settings.host) and not is_loopback(host):
                self.send_error_json(HTTPStatus.FORBIDDEN, "open the live view as http://127.0.0.1 or http://localhost")
                return False
            return True
        address = self.client_address[0]
        logins = self.server.logins
        wait = logins.retry_after(address)
        if wait is not None:
            self.close_connection = True
            self.send_error_json(HTTPStatus.TOO_MANY_REQUESTS, f"too many failed logins; try again in {wait} s",
                                 {"Retry-After": str(wait)})
            return False
        given = self.headers.get("Authorization")
        ok, user = False, ""
        if given is not None:
            scheme, _, token = given.partition(" ")
            pw = ""
            if scheme.lower() == "basic" and len(token) < 1024:
                try:
                    user, _, pw = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
                except (binascii.Error, UnicodeDecodeError, ValueError):
                    user, pw = "", ""
            ok = hmac.compare_digest(user.encode(), self.server.settings.username.encode()) & \
                hmac.compare_digest(pw.encode(), password.encode())
            if not ok:
                logins.failure(address, user)
        if not ok:
            self.send_error_json(HTTPStatus.UNAUTHORIZED, "password required",
                                 {"WWW-Authenticate": 'Basic realm="edgecam live view", charset="UTF-8"'})
        return ok

    def _json_body(self) -> Any:
        """The parsed JSON body, or raises ValueError after sending the 4xx (see ``body.py``)."""
        return read_json_body(self, self._reader, self.server.settings)

    # -- methods -----------------------------------------------------------------------------------------
    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        path, site = self.route, self.server.site
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
        path, site = self.route, self.server.site
        if path not in site.POST:
            self.close_connection = True
            self.send_error_json(HTTPStatus.NOT_FOUND, "not found")
            return
        try:
            body = self._json_body()
        except ValueError:
            return
        try:
            status, value = site.POST[path](body)
        except Exception:  # a route's own bug: an answer, a logged traceback, the server runs on
            log.exception("live view: POST %s failed", path)
            status, value = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error; see the daemon's log"}
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
