"""Fault: SIGTERM arrives right during a burst of events.

Broker up: the burst, and the ``end`` events of every live track, are flushed before ``offline``;
nothing stays in the spool.  Broker down: the events are persisted in the spool (reported with their
number), the daemon still exits promptly, and the next start delivers them first, in order.
"""

from __future__ import annotations

import time

import pytest

from daemonkit import (AVAILABILITY, Daemon, assert_delivered_exactly, last_stats, outage_setup, spool_rows,
                       stderr_lines, wait_quiet, write_config, write_scene)

pytestmark = pytest.mark.slow  # starts edgecam daemons (subprocesses)


def _sigterm_on_burst(daemon: Daemon, n_before: int) -> int:
    """Wait for a frame that produced several events at once, SIGTERM at once; events seen then."""
    daemon.wait_until(lambda: sum(e["type"] == "new" for e in daemon.events()[n_before:]) >= 3, 60, "a burst")
    daemon.proc.terminate()
    return len(daemon.events())


def _all_tracks_ended(events) -> None:
    assert {e["id"] for e in events if e["type"] == "new"} == {e["id"] for e in events if e["type"] == "end"}


def test_sigterm_during_a_burst_flushes_everything(tmp_path, mosquitto, mqtt_recorder):
    rec = mqtt_recorder(mosquitto, ("edgecam/#",))
    cfg = write_config(tmp_path, write_scene(tmp_path / "scene", horse=3, cat=5), mosquitto.port, loop=True, fps=10)
    with Daemon(cfg, tmp_path / "run") as daemon:
        wait_quiet(daemon, rec, 4)
        seen = _sigterm_on_burst(daemon, len(daemon.events()))
        assert daemon.wait(60) == 0, daemon.stderr()[-3000:]
    produced = daemon.events()
    assert len(produced) > seen  # the shutdown ended live tracks: more events after the signal
    assert_delivered_exactly(rec, produced)
    _all_tracks_ended(produced)
    assert rec.on(AVAILABILITY)[-1].payload == b"offline"
    assert spool_rows(tmp_path / "state") == 0
    assert "not acknowledged" not in daemon.stderr()


def test_sigterm_during_a_burst_with_the_broker_down_persists_the_spool(tmp_path, mqtt_recorder):
    broker, rec = outage_setup(tmp_path, mqtt_recorder)
    state = tmp_path / "state"
    try:
        cfg = write_config(tmp_path, write_scene(tmp_path / "scene", horse=3, cat=5), broker.port, loop=True,
                           fps=10, close_timeout_s=1.0)
        with Daemon(cfg, tmp_path / "run") as first:
            wait_quiet(first, rec, 4)
            delivered = len(rec.on("edgecam/yard/events"))
            broker.stop()
            _sigterm_on_burst(first, len(first.events()))
            t0 = time.monotonic()
            assert first.wait(60) == 0, first.stderr()[-3000:]
            stopped_in = time.monotonic() - t0
        produced = first.events()
        kept = spool_rows(state)
        assert kept == len(produced) - delivered > 3
        assert f"MQTT: {kept} event(s) not acknowledged; kept in {state / 'yard' / 'spool.sqlite3'} for the next start" \
            in first.stderr()
        assert last_stats(first)["mqtt"]["spool_dropped"] == 0
        print(f"broker down: stopped {stopped_in:.1f}s after SIGTERM with {kept} event(s) persisted")

        broker.start()
        with Daemon(cfg, tmp_path / "run", args=("--max-frames", "3")) as second:
            assert second.wait(60) == 0, second.stderr()[-3000:]
        assert len(stderr_lines(second.stderr(), f"MQTT spool holds {kept} event(s)")) == 1
        assert_delivered_exactly(rec, produced + second.events())
        assert spool_rows(state) == 0
    finally:
        broker.stop()
