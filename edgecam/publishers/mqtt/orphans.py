"""Every ``new`` gets its ``end``, across a crash: the tracks a previous run left open are ended at start.

The open-track journal (``edgecam/tracking/journal.py``) is brought up to date with the spool's
undelivered events (written before the journal, so they may be newer), and an ``end`` with
``"reason": "restart"`` is spooled for every track still open.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from edgecam.jsonlimits import JsonLimitError, loads_bounded
from edgecam.publishers.mqtt.messages import encode
from edgecam.publishers.mqtt.spool import Spool
from edgecam.tracking.journal import FILENAME as JOURNAL_FILENAME, TrackJournal

log = logging.getLogger(__name__)


def end_orphaned_tracks(spool: Spool, state_dir: Path, events_topic: str, qos: int) -> tuple[TrackJournal, int]:
    """The journal, reconciled and saved, and how many ``end`` events were spooled for orphaned tracks."""
    journal = TrackJournal.load(Path(state_dir) / JOURNAL_FILENAME)
    after = 0
    while rows := spool.read_after(after, 500):
        for row in rows:
            if row.topic == events_topic:
                try:
                    payload = loads_bounded(row.payload)
                except JsonLimitError:
                    continue
                if isinstance(payload, dict):
                    journal.apply_payload(payload)
        after = rows[-1].id
    ends = journal.orphan_ends("restart")
    if ends:
        log.warning("ending %d track(s) left open by the previous run (it did not shut down cleanly)", len(ends))
        spool.append_many((events_topic, encode(e.to_payload()), qos, False) for e in ends)
    journal.save(time.monotonic())
    return journal, len(ends)
