"""`make run` as a newcomer runs it: on a terminal, until Ctrl-C; Ctrl-C ends it cleanly (exit 0, no
traceback, the daemon's clean stop: ``offline`` published).  The terminal is a real pseudo-terminal, and
Ctrl-C is the byte the keyboard sends (the terminal driver turns it into SIGINT for the foreground group)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ALIVE_S = 45.0


def _controlling_tty() -> None:  # in the child, after setsid: the pty becomes its terminal
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.mark.slow
def test_make_run_stays_up_until_ctrl_c_and_ends_cleanly():
    master, slave = os.openpty()
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    bindir = str(Path(sys.executable).parent)
    # the installed environment is this one: no install step (STAMP empty), its python (BIN)
    proc = subprocess.Popen(["make", "--no-print-directory", "run", "STAMP=", f"BIN={bindir}"], cwd=REPO,
                            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
                            preexec_fn=_controlling_tty)
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:  # the pty's buffer must never fill, or the demo would block writing
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    text = lambda: b"".join(chunks).decode(errors="replace")  # noqa: E731
    try:
        started = time.monotonic()
        while "edgecam/demo/events" not in text():
            assert proc.poll() is None, f"make run exited ({proc.returncode}) early:\n{text()[-3000:]}"
            assert time.monotonic() - started < 240, f"no event within 240 s:\n{text()[-3000:]}"
            time.sleep(0.2)
        assert text().lstrip().splitlines()[1].startswith("live view: http://127.0.0.1:")  # after make's echo
        while time.monotonic() - started < ALIVE_S:
            assert proc.poll() is None, f"make run ended by itself after {time.monotonic() - started:.0f} s"
            time.sleep(0.5)
        events_before = text().count("edgecam/demo/events")
        os.write(master, b"\x03")  # Ctrl-C
        assert proc.wait(90) == 0, text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait(10)
        reader.join(5)
        os.close(master)
    out = text()
    assert "Traceback" not in out and "KeyboardInterrupt" not in out and "*** " not in out, out[-3000:]
    assert "demo: stopping (Ctrl-C)" in out
    after = out[out.index("demo: stopping"):]
    assert "edgecam/demo/availability" in after and after.rstrip().count("offline") >= 1  # the clean stop
    assert events_before > 1
