"""The capture thread: latest-frame slot, reopen on failure and on stall, backoff, EOF, drops."""

from __future__ import annotations

import logging
import re
import threading
import time

import numpy as np
import pytest

from edgecam.domain import Frame
from edgecam.errors import ConfigError, SourceError
from edgecam.runtime.capture import CaptureThread, LatestFrameSlot
from edgecam.sources.base import create_source
from edgecam.sources.images import ImageFolderSource
from edgecam.sources.settings import ImagesSettings
from polling import WAIT, wait_until
from sharedkit import IMAGES as SHARED_IMAGES


def frame(i: int) -> Frame:
    return Frame(image=np.full((4, 4, 3), i % 256, np.uint8), index=i, timestamp=time.time())


def fast(**kw) -> ImagesSettings:
    base = dict(path="x", fps=100, stall_timeout_s=2.0, reconnect_initial_s=0.01, reconnect_max_s=0.05)
    base.update(kw)
    return ImagesSettings(**base)


class ScriptedSource:
    """A test source: delivers frames, and fails or stalls on cue (the behaviour under test)."""

    def __init__(self, serial: int, fail_after: int | None = None, stall_after: int | None = None,
                 live: bool = False, open_error: BaseException | None = None):
        self.serial = serial
        self.fail_after = fail_after
        self.stall_after = stall_after
        self.live = live
        self.open_error = open_error
        self.name = f"scripted-{serial}"
        self.reads = 0
        self.opened = False
        self.closed = False
        self.release = threading.Event()

    def open(self):
        if self.open_error is not None:
            raise self.open_error
        self.opened = True

    def read(self, timeout):
        if self.fail_after is not None and self.reads >= self.fail_after:
            raise SourceError(f"{self.name}: device vanished")
        if self.stall_after is not None and self.reads >= self.stall_after:
            self.release.wait(30)  # blocks: a hung driver that ignores the timeout
            return None
        self.reads += 1
        return frame(self.reads)

    def close(self):
        self.closed = True


class Factory:
    def __init__(self, **kw):
        self.kw = kw
        self.made: list[ScriptedSource] = []

    def __call__(self):
        src = ScriptedSource(len(self.made), **self.kw)
        self.made.append(src)
        return src


@pytest.fixture
def captures():
    started: list[CaptureThread] = []
    yield started
    for cap in started:
        cap.stop(timeout=2.0)


# -- LatestFrameSlot -------------------------------------------------------------------------------
def test_slot_keeps_only_the_newest_and_counts_drops():
    slot = LatestFrameSlot()
    assert slot.get(timeout=0.01) is None
    assert slot.put(frame(1)) is False
    assert slot.put(frame(2)) is True
    assert slot.put(frame(3)) is True
    assert slot.dropped == 2
    assert slot.get(timeout=0).index == 3
    assert slot.get(timeout=0.01) is None
    assert slot.taken == 1


def test_slot_get_wakes_on_put_and_on_close():
    slot = LatestFrameSlot()
    got = []
    t = threading.Thread(target=lambda: got.append(slot.get(timeout=WAIT)))
    t.start()
    slot.put(frame(7))
    t.join(WAIT)
    assert got[0].index == 7
    t = threading.Thread(target=lambda: got.append(slot.get(timeout=WAIT)))
    t.start()
    slot.close()
    t.join(WAIT)
    assert not t.is_alive() and got[1] is None


def test_slot_close_keeps_the_pending_frame():
    slot = LatestFrameSlot()
    slot.put(frame(1))
    slot.close()
    assert slot.put(frame(2)) is False
    assert slot.get(0).index == 1 and slot.get(0) is None and slot.closed


# -- reopen on failure -----------------------------------------------------------------------------
def test_source_that_raises_every_few_frames_is_reopened(captures, caplog):
    caplog.set_level(logging.WARNING, logger="edgecam.runtime.capture")
    factory = Factory(fail_after=3)
    cap = CaptureThread(factory, fast())
    captures.append(cap)
    cap.start()
    seen = []
    deadline = time.monotonic() + WAIT
    while len(factory.made) < 5 and time.monotonic() < deadline:
        f = cap.get(0.05)
        if f is not None:
            seen.append(f.index)
    assert wait_until(lambda: cap.reconnects >= 4)
    stats = cap.stats()
    assert stats["reconnects"] >= 4 and stats["captured"] >= 12
    assert all(s.opened and s.closed for s in factory.made[:4])  # every failed source was closed
    assert seen == sorted(set(seen))  # frame numbers keep increasing across reopens
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("device vanished; reopening in" in m for m in warnings)
    assert not cap.done and cap.last_error.endswith("device vanished")


def logged_delays(caplog) -> list[float]:
    return [float(m.group(1)) for r in caplog.records if (m := re.search(r"reopening in ([0-9.]+)s", r.getMessage()))]


def test_backoff_doubles_up_to_the_cap(captures, caplog):
    caplog.set_level(logging.WARNING, logger="edgecam.runtime.capture")
    opens: list[float] = []

    def factory():
        opens.append(time.monotonic())
        return ScriptedSource(len(opens), open_error=SourceError("no camera yet") if len(opens) <= 5 else None)

    cap = CaptureThread(factory, fast(reconnect_initial_s=0.02, reconnect_max_s=0.08))
    captures.append(cap)
    cap.start()
    assert wait_until(lambda: cap.captured >= 3)
    expected = [0.0, 0.02, 0.04, 0.08, 0.08]  # the first retry at once
    assert logged_delays(caplog) == expected
    gaps = np.diff(opens[:6])
    assert all(g >= e * 0.9 for g, e in zip(gaps, expected)), gaps  # it really waited
    assert cap.reconnects == 5 and cap.stats()["state"] == "running"
    assert sum("no camera yet" in r.getMessage() for r in caplog.records) == 5  # one warning per failure


def test_backoff_resets_after_a_session_that_delivered_frames(captures, caplog):
    caplog.set_level(logging.WARNING, logger="edgecam.runtime.capture")
    factory = Factory(fail_after=1)
    cap = CaptureThread(factory, fast(reconnect_initial_s=0.02, reconnect_max_s=1.0))
    captures.append(cap)
    cap.start()
    assert wait_until(lambda: cap.reconnects >= 4)
    cap.stop(timeout=2.0)
    assert logged_delays(caplog)[:4] == [0.0] * 4  # each loss after frames: retried at once


def test_exceptions_from_the_factory_are_retried(captures):
    calls = []

    def factory():
        calls.append(1)
        if len(calls) == 1:
            raise OSError("camera busy")
        return ScriptedSource(1)

    cap = CaptureThread(factory, fast())
    captures.append(cap)
    cap.start()
    assert wait_until(lambda: cap.captured >= 1)
    assert cap.reconnects == 1 and cap.last_error == "OSError: camera busy"


def test_usage_error_is_fatal_not_retried(captures):
    calls = []

    def factory():
        calls.append(1)
        raise ConfigError("camera.path is empty; set it")

    cap = CaptureThread(factory, fast())
    captures.append(cap)
    cap.start()
    assert wait_until(lambda: cap.done)
    assert cap.state == "failed" and isinstance(cap.error, ConfigError) and calls == [1]
    assert cap.get(0.01) is None and cap.slot.closed


# -- stall watchdog --------------------------------------------------------------------------------
def test_source_that_blocks_is_abandoned_once_and_reopened_when_it_returns(captures, caplog):
    caplog.set_level(logging.WARNING, logger="edgecam.runtime.capture")
    factory = Factory(stall_after=2)
    cap = CaptureThread(factory, fast(stall_timeout_s=0.2))
    captures.append(cap)
    try:
        cap.start()
        for n in (1, 2, 3):
            # the hung session is abandoned once; nothing new opens while its read still blocks
            assert wait_until(lambda: cap.state == "waiting for the abandoned reader" and cap.reconnects == n)
            assert len(factory.made) == n and factory.made[-1].reads == 2 and not factory.made[-1].closed
            factory.made[-1].release.set()  # the hung read returns: the source is closed, a new one opens
            assert wait_until(lambda: len(factory.made) == n + 1 and factory.made[n].reads >= 1)
            assert factory.made[n - 1].closed
        assert any("stalled" in r.getMessage() for r in caplog.records)
        assert cap.last_progress > 0 and cap.captured >= 7
    finally:
        for s in factory.made:
            s.release.set()  # let the hung reads return so their threads end
    cap.stop(timeout=2.0)
    assert all(s.closed for s in factory.made)  # abandoned sources are closed once their read returns


def test_source_that_only_times_out_is_reopened(captures):
    class Silent(ScriptedSource):
        def read(self, timeout):
            time.sleep(min(timeout, 0.02))
            return None

    made = []
    cap = CaptureThread(lambda: made.append(Silent(len(made))) or made[-1], fast(stall_timeout_s=0.15))
    captures.append(cap)
    cap.start()
    assert wait_until(lambda: cap.reconnects >= 2)
    assert cap.captured == 0 and cap.stats()["last_frame_age_s"] is None
    assert wait_until(lambda: all(s.closed for s in made[:2]))


def test_low_fps_is_not_mistaken_for_a_stall():
    cap = CaptureThread(Factory(), fast(fps=0.5, stall_timeout_s=0.5))
    assert cap.stall_timeout_s == 5.0  # 2.5 frame periods


# -- pacing, drops, EOF ----------------------------------------------------------------------------
@pytest.mark.skipif(not SHARED_IMAGES.is_dir(), reason="../shared/images not present")
def test_slow_consumer_drops_frames_and_they_are_counted(captures):
    settings = ImagesSettings(path=str(SHARED_IMAGES), fps=100, loop=True)
    cap = CaptureThread(lambda: create_source(settings), settings)
    captures.append(cap)
    cap.start()
    taken = []
    while len(taken) < 5:
        f = cap.get(WAIT)
        assert f is not None
        taken.append(f)
        time.sleep(0.05)  # a slow detector
    cap.stop(timeout=2.0)
    pending = 1 if cap.slot.get(0) is not None else 0
    stats = cap.stats()
    assert stats["dropped_frames"] > 0
    assert stats["captured"] == len(taken) + stats["dropped_frames"] + pending  # nothing lost silently
    assert [f.index for f in taken] == sorted(f.index for f in taken)
    assert taken[0].pixel_format == "BGR" and stats["state"] == "stopped"


def test_finite_source_sets_exhausted_and_every_frame_is_accounted(captures, tmp_path):
    import cv2

    for i in range(4):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((8, 8, 3), i, np.uint8))
    settings = ImagesSettings(path=str(tmp_path), fps=50, loop=False)
    cap = CaptureThread(lambda: ImageFolderSource(settings), settings)
    captures.append(cap)
    cap.start()
    frames = list(cap.frames(timeout=0.05))
    assert cap.exhausted and cap.done and cap.state == "exhausted"
    assert cap.captured == 4 and len(frames) + cap.slot.dropped == 4
    assert cap.reconnects == 0


def test_live_source_is_thinned_to_fps_not_counted_as_dropped(captures):
    factory = Factory(live=True)
    cap = CaptureThread(factory, fast(fps=20))
    captures.append(cap)
    cap.start()
    assert wait_until(lambda: cap.skipped >= 20)
    cap.stop(timeout=2.0)
    emitted = cap.slot.dropped + cap.slot.taken + (1 if cap.slot.get(0) else 0)
    assert cap.captured == emitted + cap.skipped
    assert emitted < cap.captured


def test_stats_and_progress(captures):
    cap = CaptureThread(Factory(), fast())
    before = cap.stats()
    assert before["state"] == "idle" and before["captured"] == 0
    captures.append(cap)
    t0 = time.monotonic()
    cap.start()
    assert wait_until(lambda: cap.captured >= 2)
    stats = cap.stats()
    assert set(stats) >= {"captured", "dropped_frames", "reconnects", "last_frame_age_s", "state"}
    assert stats["state"] == "running" and 0 <= stats["last_frame_age_s"] < WAIT
    assert cap.last_progress >= t0
    cap.set_fps(10)
    with pytest.raises(ValueError):
        cap.set_fps(0)
    cap.stop(timeout=2.0)
    assert cap.stats()["state"] == "stopped" and cap.slot.closed
    with pytest.raises(RuntimeError):
        cap.start()


def test_heartbeat_through_an_outage_but_not_while_a_read_hangs(captures):
    """The watchdog's view (``Health``, as the daemon wires it): the supervisor beats while it watches a
    session or waits to retry (a camera outage is no hang), and stops while an abandoned read does not
    return (a hung read), so the stage goes stale; once the read returns it is healthy again."""
    from edgecam.runtime.health import Health

    health = Health()
    health.register("capture", 1.0)
    beats: list[float] = []
    state = {"mode": "down"}

    def beat() -> None:
        beats.append(time.monotonic())
        health.stamp("capture")

    made: list[ScriptedSource] = []

    def factory():
        if state["mode"] == "down":
            return ScriptedSource(0, open_error=SourceError("no route to camera"))
        made.append(ScriptedSource(1, stall_after=2, live=True))  # 2 frames, then a read blocks for good
        return made[-1]

    cap = CaptureThread(factory, fast(stall_timeout_s=0.3, reconnect_max_s=0.2), heartbeat=beat)
    captures.append(cap)
    cap.start()
    try:
        _hang_and_recover(cap, health, beats, state)
    finally:
        cap.stop(timeout=2.0)
        for source in made:  # no reader thread outlives the test
            source.release.set()
        assert wait_until(lambda: not any(t.name.startswith("edgecam-capture") for t in threading.enumerate()))


def _hang_and_recover(cap, health, beats, state) -> None:
    assert wait_until(lambda: cap.reconnects >= 3 and len(beats) >= 10)  # down and retrying: still beating
    assert cap.camera == "offline" and cap.captured == 0 and health.healthy()
    state["mode"] = "hang"
    assert wait_until(lambda: cap.state == "waiting for the abandoned reader")
    hung = cap.source
    assert wait_until(lambda: health.stalled() == ["capture"])  # no beat while the read hangs
    assert cap.state == "waiting for the abandoned reader" and hung.reads == 2
    hung.release.set()  # the read returns: the supervisor is back in control and beats again
    assert wait_until(health.healthy)
