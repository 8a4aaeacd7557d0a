"""The service manager's end of sd_notify for tests: a real bound AF_UNIX datagram socket."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
import uuid


class NotifyListener:
    """The service manager's end: a bound SOCK_DGRAM socket collecting (monotonic time, message)."""

    def __init__(self, abstract: bool = False) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"edgecam-test-{uuid.uuid4().hex}"
            self.sock.bind(b"\0" + name.encode())
            self.env_value = "@" + name
            self._dir = None
        else:
            self._dir = tempfile.mkdtemp(prefix="ecn")  # short: AF_UNIX paths are limited to 107 bytes
            path = os.path.join(self._dir, "notify")
            self.sock.bind(path)
            self.env_value = path
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.messages.append((time.monotonic(), data.decode()))

    def snapshot(self) -> list[tuple[float, str]]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, predicate, timeout: float = 5.0) -> tuple[float, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.snapshot():
                if predicate(item[1]):
                    return item
            time.sleep(0.01)
        raise AssertionError(f"no matching notify message within {timeout}s; got {self.snapshot()!r}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
