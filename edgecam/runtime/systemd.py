"""systemd integration: sd_notify readiness/status/stopping and a health-gated watchdog.

``SystemdNotifier`` speaks the sd_notify protocol: through ``systemd.daemon.notify`` (systemd-python)
when it is importable, otherwise by writing the datagram to ``$NOTIFY_SOCKET`` itself (filesystem
or abstract ``@name`` sockets).  Without ``NOTIFY_SOCKET`` (not started by systemd) every call is a
cheap no-op returning False.

``WatchdogThread`` pings ``WATCHDOG=1`` every ``WATCHDOG_USEC``/3 **only while** ``Health.healthy()``:
a hung camera read, a dead capture supervisor or a hung inference stops the pings, and systemd
restarts the service after ``WatchdogSec=``.  A camera outage does not: the capture supervisor keeps
stamping its stage while it reconnects (``runtime/capture.py``), the camera state goes to MQTT instead.  It also sends ``STATUS=`` lines from a ``status_provider`` every few seconds.

Typical use by the daemon::

    notifier = SystemdNotifier()
    with WatchdogThread(notifier, health, status_provider=stats.status_line):
        load_model(); warm_up()                 # watchdog pings while no stage is registered yet
        health.register("capture", 10); ...     # then start the pipeline threads
        notifier.ready("running")
        wait_for_shutdown()
        notifier.stopping()
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from typing import Callable, Literal

from edgecam.runtime.health import Health

log = logging.getLogger(__name__)

Backend = Literal["auto", "library", "socket"]


def _socket_address(path: str) -> str | bytes:
    """``NOTIFY_SOCKET`` value → address for ``socket.sendto`` (``@x`` is the abstract socket ``\\0x``)."""
    if path.startswith("@"):
        return b"\0" + path[1:].encode()
    return path


class SystemdNotifier:
    """Send sd_notify(3) messages to the service manager. Thread-safe; never raises on send errors.

    ``backend``: ``"auto"`` uses systemd-python when importable and the socket was taken from the
    process environment, else the built-in datagram writer; ``"library"`` requires systemd-python;
    ``"socket"`` always writes the datagram directly.  ``env`` defaults to ``os.environ``.
    """

    def __init__(self, env: Mapping[str, str] | None = None, *, backend: Backend = "auto") -> None:
        if backend not in ("auto", "library", "socket"):
            raise ValueError(f"backend must be auto, library or socket, got {backend!r}")
        environ = os.environ if env is None else env
        self.socket_path: str | None = environ.get("NOTIFY_SOCKET") or None
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._warned = False
        self._library_notify: Callable[[str], bool] | None = None
        if backend != "socket":
            try:
                from systemd import daemon as _daemon  # systemd-python
            except ImportError:
                if backend == "library":
                    raise ImportError(
                        "systemd-python is not installed; install it with `pip install systemd-python` "
                        "(needs libsystemd-dev and pkg-config) or use backend='socket'"
                    ) from None
            else:
                # The library reads NOTIFY_SOCKET from the real environment; only use it when that
                # is where our socket came from.
                if env is None or backend == "library":
                    self._library_notify = _daemon.notify
        if self.socket_path and self.socket_path.startswith("vsock:"):
            if self._library_notify is None:
                log.warning("NOTIFY_SOCKET=%s is a vsock address; install systemd-python to support it, "
                            "systemd notifications are disabled", self.socket_path)
                self.socket_path = None

    @property
    def enabled(self) -> bool:
        """True when a service manager is listening (``NOTIFY_SOCKET`` is set)."""
        return self.socket_path is not None

    @property
    def backend(self) -> str:
        return "library" if self._library_notify is not None else "socket"

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` assignments as one message. Returns True when it was delivered."""
        if not self.enabled:
            return False
        message = "\n".join(assignments)
        try:
            if self._library_notify is not None:
                sent = bool(self._library_notify(message))
                if not sent:
                    raise OSError(f"sd_notify() could not reach {self.socket_path}")
                return True
            data = message.encode("utf-8")
            with self._lock:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.sendto(data, _socket_address(self.socket_path))  # type: ignore[arg-type]
            return True
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning("cannot send systemd notification to NOTIFY_SOCKET=%s: %s "
                            "(is the service manager still running?)", self.socket_path, exc)
            return False

    def ready(self, status: str | None = None) -> bool:
        """``READY=1`` (with an optional ``STATUS=``). Send only after model load and warm-up."""
        return self.notify("READY=1", *(() if status is None else (_status(status),)))

    def status(self, text: str) -> bool:
        """``STATUS=text``, shown by ``systemctl status edgecam``."""
        return self.notify(_status(text))

    def stopping(self, status: str | None = None) -> bool:
        """``STOPPING=1`` at the start of shutdown."""
        return self.notify("STOPPING=1", *(() if status is None else (_status(status),)))

    def watchdog(self) -> bool:
        """One ``WATCHDOG=1`` keep-alive ping."""
        return self.notify("WATCHDOG=1")

    def extend_timeout(self, seconds: float) -> bool:
        """``EXTEND_TIMEOUT_USEC=``: ask for more time during a slow start-up or shutdown step."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={max(1, int(seconds * 1_000_000))}")

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def _status(text: str) -> str:
    # One message line per assignment: a newline would start a new (bogus) assignment.
    return "STATUS=" + " ".join(str(text).split("\n"))


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """The watchdog interval in seconds from ``WATCHDOG_USEC`` (None: no watchdog for this process).

    ``WATCHDOG_PID``, when set, must be our pid (the variables may have been inherited from a parent).
    """
    environ = os.environ if env is None else env
    raw = environ.get("WATCHDOG_USEC")
    if not raw:
        return None
    pid = environ.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            log.warning("ignoring WATCHDOG_PID=%r: not a process id", pid)
            return None
    try:
        usec = int(raw)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not a number of microseconds", raw)
        return None
    return usec / 1_000_000 if usec > 0 else None


def status_line(fps: float | None, temperature_c: float | None = None, inference_ms: float | None = None,
                *, throttled: bool = False, dropped_frames: int | None = None) -> str:
    """A compact ``STATUS=`` text, e.g. ``"4.9 fps, inference 182 ms, 61.2°C, throttled"``."""
    parts = ["starting" if fps is None else f"{fps:.1f} fps"]
    if inference_ms is not None:
        parts.append(f"inference {inference_ms:.0f} ms")
    if temperature_c is not None:
        parts.append(f"{temperature_c:.1f}°C")
    if dropped_frames:
        parts.append(f"{dropped_frames} dropped")
    if throttled:
        parts.append("throttled")
    return ", ".join(parts)


class WatchdogThread:
    """Background thread: ``WATCHDOG=1`` every interval/3 while healthy, ``STATUS=`` every ``status_interval_s``.

    ``interval_s`` defaults to ``WATCHDOG_USEC`` (see ``watchdog_interval``); with no watchdog and no
    ``status_provider`` the thread is not started at all.  Use as a context manager or call
    ``start()``/``stop()``.
    """

    def __init__(
        self,
        notifier: SystemdNotifier,
        health: Health,
        interval_s: float | None = None,
        *,
        status_provider: Callable[[], str] | None = None,
        status_interval_s: float = 10.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if interval_s is None:
            interval_s = watchdog_interval(env)
        if interval_s is not None and not interval_s > 0:
            raise ValueError(f"watchdog interval must be > 0 s, got {interval_s}")
        if not status_interval_s > 0:
            raise ValueError(f"status_interval_s must be > 0, got {status_interval_s}")
        self.notifier = notifier
        self.health = health
        self.interval_s = interval_s
        self.ping_period_s = None if interval_s is None else interval_s / 3.0
        self.status_provider = status_provider
        self.status_interval_s = float(status_interval_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pinging = True
        self._status_failed = False

    @property
    def pinging(self) -> bool:
        """False while pings are withheld because a stage stalled."""
        return self._pinging

    def start(self) -> "WatchdogThread":
        if self._thread is not None or not self.notifier.enabled:
            return self
        if self.ping_period_s is None and self.status_provider is None:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="systemd-watchdog", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> "WatchdogThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def tick(self) -> None:
        """One watchdog decision: ping if healthy, otherwise withhold and log the stalled stages once."""
        stalled = self.health.stalled()
        if not stalled:
            if not self._pinging:
                self._pinging = True
                log.warning("all pipeline stages are progressing again; resuming systemd watchdog pings")
            self.notifier.watchdog()
            return
        if self._pinging:
            self._pinging = False
            ages = self.health.ages()
            detail = ", ".join(
                f"{name} ({'never' if ages.get(name) is None else f'{ages[name]:.1f} s ago'})" for name in stalled
            )
            log.error("pipeline stalled: no progress from %s; withholding systemd watchdog pings so the "
                      "service manager restarts edgecam", detail)
            self.notifier.status("stalled: " + ", ".join(stalled))

    def _send_status(self) -> None:
        if self.status_provider is None:
            return
        try:
            text = self.status_provider()
        except Exception:  # a broken stats provider must not kill the watchdog
            if not self._status_failed:
                self._status_failed = True
                log.exception("status provider failed; systemd STATUS= will not be updated")
            return
        if self._pinging:  # while stalled, keep the "stalled: ..." status visible
            self.notifier.status(text)

    def _run(self) -> None:
        now = time.monotonic()
        next_ping = now if self.ping_period_s is not None else float("inf")
        next_status = now + (self.status_interval_s if self.ping_period_s is not None else 0.0)
        while True:
            now = time.monotonic()
            if now >= next_ping:
                self.tick()
                next_ping += self.ping_period_s  # type: ignore[operator]
                if next_ping <= now:  # fell behind (suspended host): no burst of catch-up pings
                    next_ping = now + self.ping_period_s  # type: ignore[operator]
            if now >= next_status:
                self._send_status()
                next_status = now + self.status_interval_s
            if self._stop.wait(max(0.0, min(next_ping, next_status) - time.monotonic())):
                return
