"""The spool on a disk that fills up and frees again (a real tmpfs), at the ``Spool`` API level.

Kept: refused messages are held in memory with their ids, read back in order behind the ones on
disk, written to disk (same ids) once space is free again; acknowledged held messages never reach
the disk.  Reported: one error while failing, one warning on recovery, write errors counted; what is
still held at close is reported as lost and counted.
"""

from __future__ import annotations

import logging
import os

import pytest

from daemonkit import mounted_tmpfs

from edgecam.publishers.mqtt.spool import RETRY_S, Spool

pytestmark = pytest.mark.slow  # starts edgecam daemons (subprocesses)


@pytest.fixture
def tmpfs(tmp_path):
    with mounted_tmpfs(tmp_path / "disk", "128k") as d:
        yield d


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _fill(d, keep_free: int) -> None:
    st = os.statvfs(d)
    (d / "filler").write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - keep_free))


def test_spool_holds_refused_messages_and_writes_them_when_space_returns(tmpfs, caplog):
    caplog.set_level(logging.INFO, logger="edgecam.publishers.mqtt.spool")
    clock = Clock()
    spool = Spool(tmpfs / "spool.sqlite3", 1000, clock=clock)
    _fill(tmpfs, 8 * 1024)
    payloads = [f"event-{i}".encode() * 40 for i in range(40)]
    for p in payloads:
        spool.append("t", p, 1)
        clock.now += 0.1
    assert spool.write_errors >= 1 and spool.held > 0 and spool.dropped == 0
    assert len(spool) == 40
    rows = spool.read_after(0, 100)
    assert [r.payload for r in rows] == payloads
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "free space in" in errors[0].getMessage()  # once, though retried

    spool.delete([rows[-1].id])  # an acknowledged held message is just forgotten
    (tmpfs / "filler").unlink()
    clock.now += RETRY_S
    spool.append("t", b"after", 1)
    assert spool.held == 0 and len(spool) == 40
    assert any("writable again" in r.getMessage() for r in caplog.records)
    spool.close()
    reopened = Spool(tmpfs / "spool.sqlite3", 1000)
    again = reopened.read_after(0, 100)
    assert [r.payload for r in again] == payloads[:-1] + [b"after"]
    assert [r.id for r in again[:-1]] == [r.id for r in rows[:-1]]  # same ids: acks still match
    reopened.close()


def test_messages_still_held_at_close_are_reported_lost(tmpfs, caplog):
    clock = Clock()
    spool = Spool(tmpfs / "spool.sqlite3", 1000, clock=clock)
    _fill(tmpfs, 4 * 1024)
    for i in range(40):
        spool.append("t", b"x" * 400, 1)
    held = spool.held
    assert held > 0
    spool.close()
    assert spool.lost_at_close == held
    assert any(r.levelno == logging.ERROR and f"{held} event(s) held in memory" in r.getMessage() and "lost" in
               r.getMessage() for r in caplog.records)
