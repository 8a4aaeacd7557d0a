"""The event store: a SQLite index and one set of files per event, crash-safe and within a disk budget.

Layout of ``<camera state dir>/events/``::

    index.sqlite3                 one row per event (id, label, zones, times, top score, what evidence exists)
    <id>.snapshot.jpg             the best frame, clean, at the frame's full resolution
    <id>.boxed.jpg                the same with the object's box drawn
    <id>.thumbnail.jpg            a crop around the object
    <id>.clip.mp4                 the clip (``.part`` while it is being written)

Every file is written to a temporary name, fsynced and renamed, so a file under its final name is
complete.  :meth:`EventStore.recover` runs at start: it removes temporary files, finalises a clip
left half-written by a crash (its packets up to the torn one, remuxed) or removes it if nothing decodes, and drops index entries whose files are gone.  The budget (``max_bytes``, ``keep_s``)
deletes whole events, oldest first.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

log = logging.getLogger(__name__)

INDEX = "index.sqlite3"
KINDS = ("snapshot.jpg", "boxed.jpg", "thumbnail.jpg", "clip.mp4")
PART = ".part"
TMP = ".tmp"
ID_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,79}$")
_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    zones TEXT NOT NULL DEFAULT '[]',
    start_time REAL NOT NULL,
    end_time REAL,
    top_score REAL NOT NULL DEFAULT 0,
    stationary INTEGER,
    snapshot INTEGER NOT NULL DEFAULT 0,
    clip INTEGER NOT NULL DEFAULT 0,
    clip_start REAL,
    clip_end REAL,
    bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_start ON events (start_time);
"""


def is_disk_full(exc: BaseException) -> bool:
    """True for "no space left", "file too large" (a size limit) and SQLite's "database or disk is full"."""
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


def valid_id(event_id: str) -> bool:
    return bool(ID_PATTERN.match(event_id)) and ".." not in event_id


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """``data`` under ``path``, all or nothing: temporary file, fsync, rename, fsync of the directory."""
    tmp = path.with_name(path.name + TMP)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


@dataclass(frozen=True)
class EventRecord:
    id: str
    label: str
    zones: tuple[str, ...]
    start_time: float
    end_time: float | None
    top_score: float
    stationary: bool | None = None
    snapshot: bool = False
    clip: bool = False
    bytes: int = 0
    clip_start: float | None = None  # wall time of the clip's first and last frame
    clip_end: float | None = None


def _record(row: sqlite3.Row) -> EventRecord:
    stationary = row["stationary"]
    return EventRecord(row["id"], row["label"], tuple(json.loads(row["zones"])), row["start_time"], row["end_time"],
                       row["top_score"], None if stationary is None else bool(stationary), bool(row["snapshot"]),
                       bool(row["clip"]), row["bytes"], row["clip_start"], row["clip_end"])


class EventStore:
    """Thread-safe: the evidence writer, the clip writer and the web server's threads share it."""

    def __init__(self, directory: Path, max_bytes: int, keep_s: float) -> None:
        self.directory = Path(directory)
        self.max_bytes, self.keep_s = int(max_bytes), float(keep_s)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.directory / INDEX, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self.deleted = 0  # events removed by the budget

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- paths -------------------------------------------------------------------------------------------
    def path(self, event_id: str, kind: str) -> Path:
        if not valid_id(event_id) or kind not in KINDS:
            raise ValueError(f"no such evidence: {event_id!r} {kind!r}")
        return self.directory / f"{event_id}.{kind}"

    def part_path(self, event_id: str) -> Path:
        return self.path(event_id, "clip.mp4").with_suffix(".mp4" + PART)

    def _files(self, event_id: str) -> list[Path]:
        return [self.path(event_id, k) for k in KINDS]

    def _size(self, event_id: str) -> int:
        total = 0
        for p in self._files(event_id):
            try:
                total += p.stat().st_size
            except FileNotFoundError:
                pass
        return total

    # -- writes ------------------------------------------------------------------------------------------
    def save_event(self, record: EventRecord, files: dict[str, bytes] | None = None) -> None:
        """Write ``files`` (kind → bytes) atomically, then the index row (insert or update)."""
        for kind, data in (files or {}).items():
            write_atomic(self.path(record.id, kind), data)
        with self._lock:
            have_snapshot = record.snapshot or self.path(record.id, "snapshot.jpg").exists()
            self._db.execute(
                "INSERT INTO events (id, label, zones, start_time, end_time, top_score, stationary, snapshot, bytes)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET label = excluded.label,"
                " zones = excluded.zones, end_time = excluded.end_time, top_score = excluded.top_score,"
                " stationary = excluded.stationary, snapshot = excluded.snapshot, bytes = excluded.bytes",
                (record.id, record.label, json.dumps(list(record.zones)), record.start_time, record.end_time,
                 record.top_score, None if record.stationary is None else int(record.stationary),
                 int(have_snapshot), self._size(record.id)))

    def finish_clip(self, event_id: str, first: float | None = None, last: float | None = None) -> bool:
        """Move the event's written ``.part`` clip (wall times ``first`` to ``last``) to its final name and index
        it; False if the event is gone."""
        part, final = self.part_path(event_id), self.path(event_id, "clip.mp4")
        with self._lock:
            if self._db.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone() is None:
                part.unlink(missing_ok=True)  # deleted meanwhile (budget, user)
                return False
            os.replace(part, final)
            fsync_dir(self.directory)
            self._db.execute("UPDATE events SET clip = 1, clip_start = ?, clip_end = ?, bytes = ? WHERE id = ?",
                             (first, last, self._size(event_id), event_id))
        return True

    def delete(self, event_id: str) -> bool:
        """Remove an event and its files; False if there was no such event."""
        with self._lock:
            cur = self._db.execute("DELETE FROM events WHERE id = ?", (event_id,))
            for p in [*self._files(event_id), self.part_path(event_id)]:
                p.unlink(missing_ok=True)
            return cur.rowcount > 0

    # -- reads -------------------------------------------------------------------------------------------
    def get(self, event_id: str) -> EventRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
        return _record(row) if row is not None else None

    def query(self, label: str | None = None, zone: str | None = None, after: float | None = None,
              before: float | None = None, limit: int = 100) -> list[EventRecord]:
        """Events newest first: ``label`` exact, ``zone`` one of the event's zones, start time in [after, before)."""
        where, args = [], []
        if label:
            where.append("label = ?")
            args.append(label)
        if zone:
            where.append("EXISTS (SELECT 1 FROM json_each(events.zones) WHERE json_each.value = ?)")
            args.append(zone)
        if after is not None:
            where.append("start_time >= ?")
            args.append(after)
        if before is not None:
            where.append("start_time < ?")
            args.append(before)
        sql = "SELECT * FROM events" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY start_time DESC, id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, int(limit))).fetchall()
        return [_record(r) for r in rows]

    def labels(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT DISTINCT label FROM events ORDER BY label")]

    def totals(self) -> tuple[int, int]:
        """(number of events, bytes of their files)."""
        with self._lock:
            n, size = self._db.execute("SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM events").fetchone()
        return int(n), int(size)

    # -- the budget ----------------------------------------------------------------------------------------
    def enforce(self, now: float | None = None, keep: Iterable[str] = ()) -> int:
        """Delete events older than ``keep_s``, then the oldest until the files fit ``max_bytes``.

        ``keep`` names events still being recorded; they go last.  Returns how many were deleted."""
        now = time.time() if now is None else now
        keep = set(keep)
        deleted = 0
        with self._lock:
            old = [r[0] for r in self._db.execute(
                "SELECT id FROM events WHERE COALESCE(end_time, start_time) < ?", (now - self.keep_s,))]
            for event_id in old:
                deleted += self.delete(event_id)
            _, total = self.totals()
            if total > self.max_bytes:
                rows = self._db.execute("SELECT id, bytes FROM events ORDER BY start_time, id").fetchall()
                rows.sort(key=lambda r: r[0] in keep)  # stable: the live ones last
                for event_id, size in rows:
                    if total <= self.max_bytes:
                        break
                    deleted += self.delete(event_id)
                    total -= size
        if deleted:
            self.deleted += deleted
            log.debug("event store: deleted %d event(s) (budget)", deleted)
        return deleted

    # -- after a crash ---------------------------------------------------------------------------------------
    def recover(self, salvage: Callable[[Path], bool]) -> None:
        """Make the store consistent after any stop: see the module docstring.  ``salvage(path)`` rewrites a
        half-written clip with the packets that decode and says whether any did."""
        for tmp in self.directory.glob("*" + TMP):
            tmp.unlink(missing_ok=True)
        with self._lock:
            open_rows = self._db.execute("SELECT id, start_time FROM events WHERE end_time IS NULL").fetchall()
            for event_id, start in open_rows:  # left open by a crash: ended at its last evidence
                mtimes = [p.stat().st_mtime for p in [*self._files(event_id), self.part_path(event_id)] if p.exists()]
                self._db.execute("UPDATE events SET end_time = ? WHERE id = ?", (max([start, *mtimes]), event_id))
            for part in self.directory.glob("*.clip.mp4" + PART):
                event_id = part.name[: -len(".clip.mp4" + PART)]
                if valid_id(event_id) and salvage(part):
                    if self.finish_clip(event_id):
                        log.info("event store: finalised the clip of %s left by the previous run", event_id)
                else:
                    part.unlink(missing_ok=True)
                    log.info("event store: removed an unplayable clip %s left by the previous run", part.name)
            known = {r[0] for r in self._db.execute("SELECT id FROM events")}
            for event_id in known:
                snap = self.path(event_id, "snapshot.jpg").exists()
                clip = self.path(event_id, "clip.mp4").exists()
                self._db.execute("UPDATE events SET snapshot = ?, clip = ?, bytes = ? WHERE id = ?",
                                 (int(snap), int(clip), self._size(event_id), event_id))
            for p in self.directory.iterdir():  # files of events the index does not know
                head = p.name.split(".")
                if p.name.startswith(INDEX) or not p.is_file():
                    continue
                event_id = ".".join(head[:-2]) if p.name.endswith(".jpg") or p.name.endswith(".mp4") else ""
                if event_id not in known and not p.name.endswith(PART):
                    p.unlink(missing_ok=True)
