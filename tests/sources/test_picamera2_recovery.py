"""A Pi camera whose frontend times out (loose ribbon cable): the capture supervisor notices the stall,
the session releases the camera, and capture comes back by itself once the sensor does — 50 times over,
without growing threads or file descriptors. The camera stack is the fake of fake_picamera2.py."""

from __future__ import annotations

import threading
import time

import pytest

from edgecam.runtime.capture import CaptureThread
from edgecam.sources.picamera2 import PiCamera2Source
from edgecam.sources.settings import PiCamera2Settings
from tests.sources.fake_picamera2 import FakeCameraSystem
from polling import WAIT, wait_until

pytestmark = pytest.mark.slow  # a long stall-and-recover run

STALLS = 50


def test_stalled_camera_recovers_by_itself_without_thread_or_fd_growth():
    system = FakeCameraSystem(fps=50)
    settings = PiCamera2Settings(fps=50, stall_timeout_s=0.15, reconnect_initial_s=0.05,
                              reconnect_max_s=0.1)
    cap = CaptureThread(lambda: PiCamera2Source(settings, stack=system.stack), settings)
    cap.start()
    try:
        assert cap.get(WAIT) is not None
        threads = threading.active_count()
        recovery = []
        for n in range(STALLS):
            reconnects = cap.reconnects
            system.frontend_timeout()  # frames stop; capture_array neither returns nor raises
            assert wait_until(lambda: cap.reconnects > reconnects), cap.stats()  # the stall was noticed
            cap.slot.get(0)  # drop a frame from before the timeout, if one is pending
            system.reconnect_sensor()
            back = time.monotonic()
            frame = cap.get(WAIT)
            assert frame is not None, (n, cap.stats())
            assert frame.image.shape == (360, 640, 3)
            recovery.append(time.monotonic() - back)
            # one camera at a time: the hung session was released before the next one opened
            assert len(system.instances) == 1 and system.failed_inits == []
        assert threading.active_count() <= threads  # <=: another test's thread may end meanwhile
        assert system.open_pipe_fds() == [system.instances[0].notifyme_r, system.instances[0].notifyme_w]
        print(f"\nrecovery after the sensor came back, {STALLS} stalls: median {sorted(recovery)[STALLS // 2]:.2f}s "
              f"max {max(recovery):.2f}s (stall timeout {cap.stall_timeout_s}s, reconnect delay "
              f"{settings.reconnect_initial_s}-{settings.reconnect_max_s}s)")
    finally:
        cap.stop(timeout=2.0)
    assert system.acquired == set()
