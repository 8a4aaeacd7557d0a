"""Fault: the broker is down long enough for the spool to reach its size bound.

Kept: the newest ``spool_max_messages`` events, delivered in order once the broker is back.
Reported: the oldest dropped are counted (``mqtt.spool_dropped`` in the stats) and warned about —
once, not once per event.
"""

from __future__ import annotations

import re

import pytest

from daemonkit import (Daemon, assert_delivered_exactly, last_stats, outage_setup, received_events, spool_rows,
                       stderr_lines, write_config, write_scene)

pytestmark = pytest.mark.slow  # starts edgecam daemons (subprocesses)

BOUND = 5


def test_spool_at_its_bound_drops_the_oldest_counts_and_warns(tmp_path, mqtt_recorder):
    broker, rec = outage_setup(tmp_path, mqtt_recorder)
    state = tmp_path / "state"
    try:
        broker.stop()  # down from the start: nothing can be delivered
        cfg = write_config(tmp_path, write_scene(tmp_path / "scene", horse=3, cat=5), broker.port, loop=True,
                           fps=10, mqtt=f"spool_max_messages = {BOUND}\n")
        with Daemon(cfg, tmp_path / "run") as daemon:
            daemon.wait_until(lambda: len(daemon.events()) >= 3 * BOUND, 60, "events beyond the bound")
            daemon.wait_until(lambda: last_stats(daemon)["mqtt"]["spool_dropped"] >= 2 * BOUND, 30, "drops counted")
            assert spool_rows(state) == BOUND
            broker.start()
            daemon.wait_until(lambda: last_stats(daemon)["mqtt"]["connected"], 30, "reconnect")
            daemon.wait_until(lambda: len(rec.on("edgecam/yard/events")) >= BOUND + 4, 30, "delivery")
            assert daemon.terminate() == 0, daemon.stderr()[-3000:]
        produced = daemon.events()
        warned = stderr_lines(daemon.stderr(), "MQTT spool full")
        # the total: the last warning's (the final stats may precede drops made by the shutdown's 'end's)
        dropped = int(re.search(r"(\d+) dropped so far", warned[-1]).group(1))
        assert dropped >= last_stats(daemon)["mqtt"]["spool_dropped"] >= 2 * BOUND
        # exactly the events that were not dropped, in order: the oldest ones are missing.  A row the bound
        # drops while the reconnected link already has it in flight (at most the spool's BOUND rows) still
        # arrives, so the delivered run may start up to BOUND events before ``produced[dropped:]``.
        got, _ = received_events(rec.on("edgecam/yard/events"))
        assert got, "nothing delivered after the broker came back"
        first = next(i for i, e in enumerate(produced) if e["id"] == got[0]["id"] and e["type"] == got[0]["type"])
        assert dropped - BOUND <= first <= dropped, (first, dropped)
        assert_delivered_exactly(rec, produced[first:])
        assert 1 <= len(warned) <= 2, warned  # first drop, plus a summary at exit
        assert "raise mqtt.spool_max_messages" in warned[0]
        assert spool_rows(state) == 0
    finally:
        broker.stop()
