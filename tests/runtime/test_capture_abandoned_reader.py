"""At most one abandoned reader per camera: an HTTP stream that accepts the connection and never answers
(a real TCP server on loopback, opened by the real OpenCV source) blocks ``cv2.VideoCapture`` in open.
The capture supervisor abandons that open once and starts the next only after it has returned, so
threads and connections do not pile up across many open timeouts."""

from __future__ import annotations

import socket
import threading

import pytest

from edgecam.runtime.capture import CaptureThread
from edgecam.sources.opencv import OpenCVSource
from edgecam.sources.settings import OpenCVSettings
from polling import wait_until

pytestmark = pytest.mark.slow  # waits out real stream timeouts

TIMEOUTS = 12


class SilentServer:
    """Accepts TCP connections and never sends a byte; ``hang_up()`` closes the open ones."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.accepted = 0
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="silent-server", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._open.append(conn)

    def hang_up(self) -> None:
        with self._lock:
            conns, self._open = self._open, []
        for conn in conns:
            conn.close()

    def close(self) -> None:
        self.hang_up()
        self._sock.close()


@pytest.fixture
def server():
    srv = SilentServer()
    yield srv
    srv.close()


def capture_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("edgecam-capture")]


def test_a_stream_that_never_answers_costs_one_reader_thread(server):
    settings = OpenCVSettings(
        path=f"http://127.0.0.1:{server.port}/stream.mjpg", fps=10,
        open_timeout_s=0.1, stall_timeout_s=0.1, reconnect_initial_s=0.01, reconnect_max_s=0.02,
    )
    baseline = threading.active_count()
    cap = CaptureThread(lambda: OpenCVSource(settings), settings)
    cap.start()
    try:
        for n in range(1, TIMEOUTS + 1):
            # the open timed out and was abandoned; the supervisor waits for it instead of opening again
            assert wait_until(lambda: cap.state == "waiting for the abandoned reader" and cap.reconnects == n), cap.stats()
            assert server.accepted == n
            assert len(capture_threads()) == 2  # the supervisor and the one blocked reader
            assert threading.active_count() <= baseline + 2
            server.hang_up()  # the blocked open fails and returns; only now is the stream opened again
            assert wait_until(lambda: server.accepted == n + 1), cap.stats()
    finally:
        server.hang_up()
        cap.stop(timeout=5.0)
        server.hang_up()
    assert wait_until(lambda: not capture_threads())
