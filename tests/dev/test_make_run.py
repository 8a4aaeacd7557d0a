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
        before_ctrl_c = len(text())
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
    after = out[before_ctrl_c:]  # the demo's own line may come before or after the daemon's last messages
    assert "edgecam/demo/availability" in after and after.rstrip().count("offline") >= 1  # the clean stop
    assert events_before > 1


@pytest.mark.slow
@pytest.mark.parametrize("when", ["starting", "running"])
def test_edgecam_run_ends_on_ctrl_c_without_a_traceback(tmp_path, when):
    import signal

    shared = REPO.parent / "shared"
    cfg = tmp_path / "edgecam.toml"
    cfg.write_text(f'[camera]\nsource = "images"\npath = "{shared / "images"}"\n\n[model]\nsize = 320\nthreads = 1\n\n'
                   f'[mqtt]\nenabled = false\n\n[web]\nenabled = false\n\n[output]\nstate_dir = "{tmp_path / "state"}"\n')
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    err = tmp_path / "err.txt"
    with open(err, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "edgecam", "run", "--config", str(cfg)], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            if when == "running":  # the positive signal: frames flow
                deadline = time.monotonic() + 120
                while "edgecam running" not in err.read_text():
                    assert proc.poll() is None and time.monotonic() < deadline, err.read_text()[-2000:]
                    time.sleep(0.1)
            else:  # while the config and the model load (before the daemon's own handler exists)
                time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
            code = proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    text = err.read_text()
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-2000:]
    # before Python's own SIGINT handler exists (interpreter start-up) the signal's default action ends
    # the process (-SIGINT, the shell's 130): no traceback either
    assert code == 0 if when == "running" else code in (0, 130, -signal.SIGINT)
