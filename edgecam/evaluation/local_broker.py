"""A throw-away Mosquitto on a free loopback port, for ``edgecam bench --pipeline`` (and the dev demo)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from edgecam.errors import UsageError

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mosquitto() -> str:
    found = shutil.which("mosquitto") or next((p for p in MOSQUITTO_PATHS if Path(p).exists()), None)
    if not found:
        raise UsageError("mosquitto is not installed; run `sudo apt-get install mosquitto` (or `make install` as root)")
    return found


def start_broker(workdir: Path) -> tuple[subprocess.Popen, int]:
    """Start mosquitto (anonymous, no persistence) with its config in ``workdir``; returns (process, port)."""
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    # its own session: a Ctrl-C at the terminal stops the daemon, which still needs the broker to flush
    proc = subprocess.Popen([_mosquitto(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                raise UsageError(f"mosquitto exited at start (code {proc.returncode}); is it installed correctly?")
            time.sleep(0.05)
    proc.kill()
    raise UsageError("mosquitto did not start listening within 10 s")
