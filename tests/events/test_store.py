"""The event store: filters, the disk budget (size and age, oldest first), crash consistency at start."""

from __future__ import annotations

import os

import pytest

from edgecam.events.store import EventRecord, EventStore, is_disk_full, valid_id


def _rec(i: int, label: str = "person", zones: tuple[str, ...] = (), start: float | None = None,
         end: float | None = 0.0) -> EventRecord:
    t = 1000.0 + i if start is None else start
    return EventRecord(f"{t:.3f}-{i:08x}", label, zones, t, None if end is None else t + 1.0, 0.5 + i / 100)


@pytest.fixture
def store(tmp_path):
    s = EventStore(tmp_path / "events", 10**9, 10**12)
    yield s
    s.close()


def test_query_filters_label_zone_time_and_limit(store):
    store.save_event(_rec(1, "person", ("drive",)))
    store.save_event(_rec(2, "car", ("drive", "street")))
    store.save_event(_rec(3, "person", ("street",)))
    store.save_event(_rec(4, "dog"))
    assert [r.label for r in store.query()] == ["dog", "person", "car", "person"]  # newest first
    assert [r.start_time for r in store.query(label="person")] == [1003.0, 1001.0]
    assert [r.label for r in store.query(zone="street")] == ["person", "car"]
    assert [r.label for r in store.query(zone="drive", label="car")] == ["car"]
    assert [r.start_time for r in store.query(after=1002.0, before=1004.0)] == [1003.0, 1002.0]
    assert len(store.query(limit=1)) == 1
    assert store.query(zone="nowhere") == [] and store.labels() == ["car", "dog", "person"]


def test_files_are_written_whole_and_counted(store):
    rec = _rec(1)
    store.save_event(rec, {"snapshot.jpg": b"x" * 1000, "thumbnail.jpg": b"y" * 100})
    got = store.get(rec.id)
    assert got.snapshot and not got.clip and got.bytes == 1100
    assert store.path(rec.id, "snapshot.jpg").read_bytes() == b"x" * 1000
    assert not list(store.directory.glob("*.tmp"))
    assert store.totals() == (1, 1100)
    assert store.delete(rec.id) and not store.path(rec.id, "snapshot.jpg").exists() and store.get(rec.id) is None
    assert not store.delete(rec.id)


def test_budget_deletes_oldest_first_and_spares_live_ones(tmp_path):
    store = EventStore(tmp_path / "events", 3500, 10**12)
    for i in range(6):
        store.save_event(_rec(i), {"snapshot.jpg": b"z" * 1000})
    deleted = store.enforce(keep=[_rec(0).id])  # event 0 is still being recorded: it goes last
    assert deleted == 3
    assert sorted(r.start_time for r in store.query()) == [1000.0, 1004.0, 1005.0]
    assert store.totals()[1] <= 3500
    assert sum(p.stat().st_size for p in store.directory.glob("*.jpg")) <= 3500


def test_age_limit(tmp_path):
    store = EventStore(tmp_path / "events", 10**9, 100.0)
    store.save_event(_rec(0, start=1000.0))
    store.save_event(_rec(1, start=1150.0))
    assert store.enforce(now=1200.0) == 1
    assert [r.start_time for r in store.query()] == [1150.0]


def test_recover_closes_open_events_and_drops_strays(store):
    open_event = _rec(1, end=None)
    store.save_event(open_event, {"snapshot.jpg": b"s"})
    gone = _rec(2)
    store.save_event(gone, {"snapshot.jpg": b"s"})
    store.path(gone.id, "snapshot.jpg").unlink()  # lost under the index
    (store.directory / "1999.000-deadbeef.snapshot.jpg").write_bytes(b"stray")  # a file the index never knew
    (store.directory / f"{open_event.id}.boxed.jpg.tmp").write_bytes(b"torn")  # a write cut off by a crash
    store.part_path(open_event.id).write_bytes(b"not a clip")
    store.recover(lambda path: False)
    assert store.get(open_event.id).end_time is not None
    assert not store.get(gone.id).snapshot
    assert not (store.directory / "1999.000-deadbeef.snapshot.jpg").exists()
    assert not list(store.directory.glob("*.tmp")) and not store.part_path(open_event.id).exists()


def test_ids_and_disk_full_errors():
    assert valid_id("1765000000.123-ab12cd34")
    for bad in ("../x", "a/b", "", ".hidden", "a..b", "x" * 100):
        assert not valid_id(bad)
    import errno
    import sqlite3

    assert is_disk_full(OSError(errno.ENOSPC, "full")) and is_disk_full(OSError(errno.EFBIG, "too large"))
    assert is_disk_full(sqlite3.OperationalError("database or disk is full"))
    assert not is_disk_full(OSError(errno.EACCES, "denied"))
    assert os.sep not in "1765000000.123-ab12cd34"
