"""Helpers for daemon-level tests: scenes, configs, a running ``edgecam run`` subprocess, event ids.

The daemon runs as a real subprocess (``python -m edgecam run --config ...``) with the real model on
an ``images`` source, publishing to a real mosquitto.  With ``[output] stdout = true`` the daemon also
prints every event it produced on stdout, which is the reference sequence MQTT delivery is compared to.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

import pytest

from sharedkit import REPO, SHARED

CAM = "yard"
BASE = f"edgecam/{CAM}"
EVENTS = f"{BASE}/events"
AVAILABILITY = f"{BASE}/availability"
STATS = f"{BASE}/stats"


@contextlib.contextmanager
def mounted_tmpfs(directory: Path, size: str):
    """A real, tiny tmpfs mounted on ``directory`` (to fill the disk on purpose); skips without root."""
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(directory)],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True, timeout=30)


def write_scene(directory: Path, cycles: int = 1, horse: int = 4, cat: int = 8) -> Path:
    """Symlinks to the shared photos: ``cycles`` × (horse.jpg × horse, cat.jpg × cat).

    person, dog and horse appear with the horse frames and leave with the cat frames, so every cycle
    produces a ``new`` and an ``end`` event for each of them (and the cat's own track)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for c in range(cycles):
        for i in range(horse):
            (d / f"c{c:03d}a{i:02d}.jpg").symlink_to(SHARED / "images" / "horse.jpg")
        for i in range(cat):
            (d / f"c{c:03d}b{i:02d}.jpg").symlink_to(SHARED / "images" / "cat.jpg")
    return d


def write_config(tmp_path: Path, scene: Path, port: int | None, *, loop: bool = False, fps: float = 20,
                 stdout: bool = True, mqtt: str = "", extra: str = "", model_path: str | None = None,
                 state_dir: Path | None = None, name: str = "edgecam.toml", threads: int = 1,
                 close_timeout_s: float = 10.0, web: str = "enabled = false\n", hold_s: float = 0) -> Path:
    """A daemon config: images source, 320 px model, motion off, fake thermal sysfs, short warm-up;
    the live view off unless ``web`` (the ``[web]`` table's body) turns it on.

    One ncnn thread by default: on a shared 2-core machine two OpenMP threads spin-wait on each other
    and a single inference can take seconds under load."""
    state = state_dir or tmp_path / "state"
    mqtt_section = (f"enabled = true\nhost = \"127.0.0.1\"\nport = {port}\nreconnect_min_s = 0.2\n"
                    f"reconnect_max_s = 0.5\nclose_timeout_s = {close_timeout_s}\nsnapshot_interval_s = 0.2\n{mqtt}"
                    if port is not None else "enabled = false\n")
    model = f'path = "{model_path}"\n' if model_path else ""
    cfg = tmp_path / name
    cfg.write_text(f"""
[camera]
id = "{CAM}"
source = "images"
path = "{scene}"
fps = {fps}
loop = {str(loop).lower()}
hold_s = {hold_s}  # 0: the scenes hold each photo themselves (repeated files)
stall_timeout_s = 2.0
reconnect_initial_s = 0.2
reconnect_max_s = 0.5

[model]
{model}size = 320
threads = {threads}

[mqtt]
{mqtt_section}
[output]
stdout = {str(stdout).lower()}
state_dir = "{state}"
stats_interval_s = 0.5

[tracking]
min_hits = 2
max_missed_s = 0.3

[motion]
enabled = false

[web]
{web}

[thermal]
sysfs_root = "{tmp_path / 'sys'}"
warmup_min_runs = 1
warmup_max_runs = 2
{extra}
""")
    return cfg


class Daemon:
    """``edgecam run`` as a subprocess; stdout and stderr go to files (never a full pipe)."""

    def __init__(self, config: Path, workdir: Path, args: Iterable[str] = (), env: dict | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        n = len(list(workdir.glob("daemon*.out")))
        self.out_path = workdir / f"daemon{n}.out"
        self.err_path = workdir / f"daemon{n}.err"
        self._out = open(self.out_path, "w")
        self._err = open(self.err_path, "w")
        extra = dict(env or {})  # a PYTHONPATH of the test's goes before the checkout (e.g. a fake camera stack)
        pythonpath = os.pathsep.join(p for p in (extra.pop("PYTHONPATH", ""), str(REPO)) if p)
        full_env = dict(os.environ, PYTHONPATH=pythonpath, PYTHONUNBUFFERED="1", **extra)
        for var in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM", "INVOCATION_ID"):
            if var not in (env or {}):  # a test may play systemd on purpose
                full_env.pop(var, None)
        self.proc = subprocess.Popen([sys.executable, "-m", "edgecam", "run", "--config", str(config), *args],
                                     stdout=self._out, stderr=self._err, env=full_env, cwd=str(REPO))

    # -- output ----------------------------------------------------------------------------------
    def stdout(self) -> str:
        return self.out_path.read_text()

    def stderr(self) -> str:
        return self.err_path.read_text()

    def messages(self) -> list[dict]:
        """The JSON lines the stdout publisher printed (complete lines only)."""
        out = []
        for line in self.stdout().splitlines(keepends=True):
            if line.startswith("{") and line.endswith("\n"):
                out.append(json.loads(line))
        return out

    def events(self) -> list[dict]:
        return [m["payload"] for m in self.messages() if m["topic"] == EVENTS]

    def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        def check() -> bool:
            try:
                return bool(predicate())
            except (AssertionError, KeyError, IndexError):  # e.g. no stats printed yet
                return False

        deadline = time.monotonic() + timeout
        while not check():
            if self.proc.poll() is not None and not check():
                raise AssertionError(f"daemon exited ({self.proc.returncode}) before {what}:\n{self.stderr()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}:\n{self.stderr()[-3000:]}")
            time.sleep(0.05)

    def wait_events(self, n: int, timeout: float = 60.0) -> list[dict]:
        self.wait_until(lambda: len(self.events()) >= n, timeout, f"{n} events on stdout")
        return self.events()

    # -- lifetime --------------------------------------------------------------------------------
    def wait(self, timeout: float = 90.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"daemon did not exit within {timeout}s:\n{self.stderr()[-3000:]}") from None
        finally:
            self._close_files()

    def terminate(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close_files()

    def _close_files(self) -> None:
        self._out.close()
        self._err.close()

    def __enter__(self) -> "Daemon":
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def event_ids(events: Iterable[dict]) -> list[str]:
    """``type:id`` of each event (a track has one ``new``, maybe ``update``s, one ``end``)."""
    return [f"{e['type']}:{e['id']}" for e in events]


def open_ids(events: Iterable[dict]) -> list[str]:
    """Ids with a ``new`` and no ``end`` yet, in order of their ``new``."""
    ended = {e["id"] for e in events if e["type"] == "end"}
    return [e["id"] for e in events if e["type"] == "new" and e["id"] not in ended]


def assert_every_new_ended_once(events: list[dict]) -> None:
    """Every ``new`` id has exactly one ``end``, after it; no ``end`` without a ``new``."""
    news = [e["id"] for e in events if e["type"] == "new"]
    ends = [e["id"] for e in events if e["type"] == "end"]
    assert len(news) == len(set(news)), "an id got two 'new' events"
    assert sorted(news) == sorted(ends), (set(news) ^ set(ends))
    position = {(e["type"], e["id"]): i for i, e in enumerate(events)}
    assert all(position[("new", i)] < position[("end", i)] for i in news)


def canonical(event: dict) -> str:
    """One event as canonical JSON: equal strings = the same event, field for field."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"))


def received_events(messages) -> tuple[list[dict], int]:
    """Events as the publisher sent them, and how many broker re-deliveries were skipped.

    A restarted persistent broker re-delivers (DUP flag set) what it had in flight to a persistent
    subscriber: that is the broker→subscriber leg, not a repeat by the daemon, so a DUP copy of an
    already received message is skipped.  A repeat without DUP would be a second PUBLISH from the
    daemon and is kept (so the comparison catches it)."""
    seen: set[str] = set()
    events: list[dict] = []
    skipped = 0
    for m in messages:
        event = json.loads(m.payload)
        key = canonical(event)
        if m.dup and key in seen:
            skipped += 1
            continue
        seen.add(key)
        events.append(event)
    return events, skipped


def stderr_lines(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


def camera_dir(state_dir: Path) -> Path:
    """Where the daemon keeps the test camera's state: ``<[output] state_dir>/<camera slug>``."""
    return state_dir / CAM


def spool_rows(state_dir: Path) -> int:
    path = camera_dir(state_dir) / "spool.sqlite3"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def outage_setup(tmp_path, mqtt_recorder):
    """A broker with persistence and a persistent-session subscriber on the events and availability."""
    from broker import Mosquitto

    broker = Mosquitto(tmp_path / "broker", persistence=True).start()
    # a persistent-session subscriber: the broker keeps its subscription and queue across restarts
    rec = mqtt_recorder(broker, (EVENTS, AVAILABILITY), client_id="outage-rec", clean_session=False)
    return broker, rec


def wait_quiet(daemon, rec, n: int, timeout: float = 60.0) -> None:
    """Wait until at least ``n`` events were produced and every produced one was received.

    The broker is then stopped with nothing in flight.  (An event in flight when the link breaks is
    QoS 1 at-least-once: the daemon re-sends it from the spool, so it may arrive twice; that case is
    covered at publisher level by tests/publishers/test_mqtt_publisher.py.)"""
    daemon.wait_until(lambda: len(daemon.events()) >= n and len(rec.on(EVENTS)) >= len(daemon.events()),
                      timeout, f"{n} events produced and received")


def assert_delivered_exactly(rec, produced: list[dict], timeout: float = 20.0) -> int:
    """Every produced event arrived once, in order, field for field; returns the DUP re-deliveries skipped."""
    deadline = time.monotonic() + timeout
    while len(rec.on(EVENTS)) < len(produced) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # a repeat would arrive now
    got, redelivered = received_events(rec.on(EVENTS))
    assert event_ids(got) == event_ids(produced)
    assert [canonical(e) for e in got] == [canonical(e) for e in produced]
    return redelivered


def last_stats(daemon: Daemon) -> dict:
    """The last stats message the daemon printed (pipeline + capture + the publisher's counters under ``mqtt``)."""
    stats = [m["payload"] for m in daemon.messages() if m["topic"] == STATS]
    assert stats, "the daemon printed no stats"
    return stats[-1]
