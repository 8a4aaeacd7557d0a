"""A real RTSP camera for tests: ``tests/rtspserver.py`` (gst-rtsp-server) as a subprocess.

``RtspCamera(workdir, user=..., password=...)`` picks a free loopback port; ``start()`` waits for the
server's ``READY`` line; ``stop()`` kills it (a camera losing power), ``start()`` again brings it back
on the same port; ``pause()``/``resume()`` SIGSTOP/SIGCONT it (a hung camera: the TCP connection
stays open and nothing comes).  ``url(path)`` is the URL with the credentials.  The server needs
Debian's python3-gi and gir1.2-gst-rtsp-server-1.0 (``.ci/run`` installs them); without them the
fixture skips naming the packages.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from broker import free_port
from sharedkit import IMAGES

HERE = Path(__file__).resolve().parent
CROWD = IMAGES / "000000001000.jpg"  # a crowd: people in view
SYSTEM_PYTHON = "/usr/bin/python3"
APT = "apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly"


def require_rtsp_server() -> None:
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
                            "from gi.repository import GstRtspServer"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"no GStreamer RTSP server for {SYSTEM_PYTHON}; {APT}")


class RtspCamera:
    def __init__(self, workdir: Path, user: str = "", password: str = "", image: Path = CROWD, fps: int = 10) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.user, self.password, self.image, self.fps = user, password, image, fps
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._runs = 0

    def url(self, path: str = "cam", password: str | None = None) -> str:
        pw = self.password if password is None else password
        auth = f"{self.user}:{pw}@" if self.user else ""
        return f"rtsp://{auth}127.0.0.1:{self.port}/{path}"

    def start(self) -> "RtspCamera":
        args = [SYSTEM_PYTHON, str(HERE / "rtspserver.py"), "--port", str(self.port), "--image", str(self.image),
                "--fps", str(self.fps)]
        if self.user:
            args += ["--user", self.user, "--password", self.password]
        self._runs += 1
        err = open(self.workdir / f"rtspserver{self._runs}.err", "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True)
        err.close()
        line = self.proc.stdout.readline()  # READY <port>, or EOF when it failed
        if not line.startswith("READY"):
            self.stop()
            text = (self.workdir / f"rtspserver{self._runs}.err").read_text()
            raise RuntimeError(f"RTSP server failed: {text[-2000:]}")
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a paused server must be able to die
            proc.kill()
            proc.wait(10)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


@pytest.fixture
def rtsp_camera(tmp_path_factory):
    """A factory: ``rtsp_camera(user=..., password=...)`` → a started :class:`RtspCamera` (stopped after)."""
    require_rtsp_server()
    made: list[RtspCamera] = []

    def make(**kwargs) -> RtspCamera:
        cam = RtspCamera(tmp_path_factory.mktemp("rtsp"), **kwargs)
        made.append(cam)
        return cam.start()

    yield make
    for cam in made:
        cam.stop()
