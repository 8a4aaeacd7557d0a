"""SystemdNotifier + WatchdogThread against a real bound AF_UNIX datagram socket (the NOTIFY_SOCKET)."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time

import pytest
from notify_socket import NotifyListener

from edgecam.runtime.health import Health
from edgecam.runtime.systemd import SystemdNotifier, WatchdogThread, status_line, watchdog_interval

BACKENDS = ["library", "socket"]


@pytest.fixture
def listener():
    ln = NotifyListener()
    yield ln
    ln.close()


def make_notifier(backend: str, socket_value: str, monkeypatch) -> SystemdNotifier:
    if backend == "library":
        # systemd-python reads the real process environment.
        monkeypatch.setenv("NOTIFY_SOCKET", socket_value)
        n = SystemdNotifier(backend="library")
    else:
        n = SystemdNotifier({"NOTIFY_SOCKET": socket_value}, backend="socket")
    assert n.backend == backend and n.enabled
    return n


def pings(messages):
    return [t for t, m in messages if m == "WATCHDOG=1"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_messages_arrive_verbatim(backend, listener, monkeypatch):
    n = make_notifier(backend, listener.env_value, monkeypatch)
    assert n.ready("warm, 5 fps")
    assert n.status("line one\nline two")
    assert n.watchdog()
    assert n.extend_timeout(2.5)
    assert n.stopping()
    listener.wait_for(lambda m: m == "STOPPING=1")
    got = [m for _, m in listener.snapshot()]
    assert got == [
        "READY=1\nSTATUS=warm, 5 fps",
        "STATUS=line one line two",
        "WATCHDOG=1",
        "EXTEND_TIMEOUT_USEC=2500000",
        "STOPPING=1",
    ]
    n.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_abstract_socket(backend, monkeypatch):
    ln = NotifyListener(abstract=True)
    try:
        assert ln.env_value.startswith("@")
        n = make_notifier(backend, ln.env_value, monkeypatch)
        assert n.ready()
        ln.wait_for(lambda m: m == "READY=1")
    finally:
        ln.close()


def test_auto_backend_prefers_systemd_python(listener, monkeypatch):
    pytest.importorskip("systemd.daemon", reason="systemd-python is part of the [systemd] extra")
    monkeypatch.setenv("NOTIFY_SOCKET", listener.env_value)
    n = SystemdNotifier()
    assert n.backend == "library"
    assert n.ready()
    listener.wait_for(lambda m: m == "READY=1")


def test_without_notify_socket_everything_is_a_noop(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    for n in (SystemdNotifier(), SystemdNotifier({}, backend="socket")):
        assert not n.enabled
        assert n.ready() is False and n.watchdog() is False and n.stopping() is False
        wd = WatchdogThread(n, Health(), 0.3, status_provider=lambda: "x")
        wd.start()
        assert wd._thread is None  # nothing to talk to: no thread
        wd.stop()


@pytest.mark.parametrize("backend", BACKENDS)
def test_dead_socket_warns_once_and_never_raises(backend, monkeypatch, caplog, tmp_path):
    d = tempfile.mkdtemp(prefix="ecn")
    try:
        path = os.path.join(d, "gone")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.close()  # the path exists but nobody listens: ECONNREFUSED
        n = make_notifier(backend, path, monkeypatch)
        with caplog.at_level(logging.WARNING, logger="edgecam.runtime.systemd"):
            assert n.watchdog() is False
            assert n.watchdog() is False
        warnings = [r for r in caplog.records if "cannot send systemd notification" in r.getMessage()]
        assert len(warnings) == 1 and path in warnings[0].getMessage()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_watchdog_interval_from_environment():
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "1500000", "WATCHDOG_PID": str(os.getpid())}) == 1.5
    assert watchdog_interval({"WATCHDOG_USEC": "1500000", "WATCHDOG_PID": str(os.getpid() + 1)}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    wd = WatchdogThread(SystemdNotifier({}), Health(), env={"WATCHDOG_USEC": "900000"})
    assert wd.interval_s == 0.9 and wd.ping_period_s == pytest.approx(0.3)


def test_tick_pings_only_while_healthy_and_logs_stall_once(listener, caplog):
    now = [0.0]
    health = Health(lambda: now[0])
    health.register("capture", 1.0)
    health.register("inference", 1.0)
    n = SystemdNotifier({"NOTIFY_SOCKET": listener.env_value}, backend="socket")
    wd = WatchdogThread(n, health, 3.0)
    with caplog.at_level(logging.INFO, logger="edgecam.runtime.systemd"):
        wd.tick()  # healthy → ping
        now[0] = 2.0
        health.stamp("inference")
        wd.tick()  # capture stalled → no ping, status + one error
        wd.tick()  # still stalled → nothing at all
        health.stamp("capture")
        wd.tick()  # recovered → ping
    listener.wait_for(lambda m: m.startswith("STATUS=stalled"))
    time.sleep(0.1)
    msgs = [m for _, m in listener.snapshot()]
    assert msgs == ["WATCHDOG=1", "STATUS=stalled: capture", "WATCHDOG=1"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "capture (never)" in errors[0] and "inference" not in errors[0]
    assert any("resuming" in r.getMessage() for r in caplog.records)


@pytest.mark.slow  # waits out real watchdog intervals
@pytest.mark.parametrize("backend", BACKENDS)
def test_watchdog_thread_pings_while_stamped_and_stops_when_stage_stalls(backend, listener, monkeypatch):
    interval = 1.5  # WATCHDOG_USEC; pings are due every 0.5 s
    monkeypatch.setenv("WATCHDOG_USEC", str(int(interval * 1e6)))
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    n = make_notifier(backend, listener.env_value, monkeypatch)
    health = Health()
    health.register("capture", 0.6)
    health.register("inference", 0.6)
    feeding = threading.Event()
    feeding.set()
    done = threading.Event()

    def pipeline() -> None:  # a pipeline whose capture stage can be made to stall
        while not done.wait(0.02):
            health.stamp("inference")
            if feeding.is_set():
                health.stamp("capture")

    p = threading.Thread(target=pipeline, daemon=True)
    p.start()
    wd = WatchdogThread(n, health, status_provider=lambda: status_line(4.9, 61.24, 182.0), status_interval_s=0.4)
    try:
        with wd:
            assert wd.interval_s == interval
            start = time.monotonic()
            time.sleep(3.2)
            healthy = pings(listener.snapshot())
            # at least twice per interval: every gap (including from start) below interval / 2
            assert len(healthy) >= 5
            gaps = [b - a for a, b in zip([start] + healthy, healthy)]
            assert max(gaps) < interval / 2, gaps
            listener.wait_for(lambda m: m == "STATUS=4.9 fps, inference 182 ms, 61.2°C")

            feeding.clear()  # the camera stops delivering
            t_stall, _ = listener.wait_for(lambda m: m == "STATUS=stalled: capture", timeout=5)
            assert not wd.pinging
            time.sleep(2 * interval)
            after = [t for t in pings(listener.snapshot()) if t > t_stall]
            assert after == []
            # while stalled, the periodic STATUS does not overwrite the stall notice
            assert all("fps" not in m for t, m in listener.snapshot() if t > t_stall)

            feeding.set()  # camera is back → pings resume
            t_resume = time.monotonic()
            deadline = t_resume + 5
            while time.monotonic() < deadline and not [t for t in pings(listener.snapshot()) if t > t_resume]:
                time.sleep(0.02)
            assert [t for t in pings(listener.snapshot()) if t > t_resume]
            assert wd.pinging
    finally:
        done.set()
        p.join(5)
    assert wd._thread is None


def test_status_provider_failure_is_logged_once_and_pings_continue(listener, caplog):
    n = SystemdNotifier({"NOTIFY_SOCKET": listener.env_value}, backend="socket")

    def broken() -> str:
        raise RuntimeError("stats not ready")

    with caplog.at_level(logging.ERROR, logger="edgecam.runtime.systemd"):
        with WatchdogThread(n, Health(), 0.3, status_provider=broken, status_interval_s=0.05):
            listener.wait_for(lambda m: m == "WATCHDOG=1")
            time.sleep(0.3)
            before = len(pings(listener.snapshot()))
            time.sleep(0.3)
            assert len(pings(listener.snapshot())) > before
    assert sum("status provider failed" in r.getMessage() for r in caplog.records) == 1


def test_status_line_formats():
    assert status_line(None) == "starting"
    assert status_line(5.0, None) == "5.0 fps"
    assert status_line(2.04, 80.0, 300.4, throttled=True, dropped_frames=3) == \
        "2.0 fps, inference 300 ms, 80.0°C, 3 dropped, throttled"


def test_library_backend_required_but_missing_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_systemd(name, *args, **kwargs):
        if name == "systemd" or name.startswith("systemd."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_systemd)
    with pytest.raises(ImportError, match="pip install systemd-python"):
        SystemdNotifier({"NOTIFY_SOCKET": "/x"}, backend="library")
    n = SystemdNotifier(backend="auto")
    assert n.backend == "socket"
