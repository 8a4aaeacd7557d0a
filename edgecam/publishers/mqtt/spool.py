"""A bounded, ordered, on-disk outbox for events (SQLite in the state directory).

Every event is written here first and deleted only once the broker acknowledged it, so events
survive broker outages and daemon restarts and are replayed in their original order.  When the
spool is full the oldest messages are dropped (counted, with a warning).

When the disk refuses a write (full, read-only, I/O error) the messages are held in memory with the
ids they would have had, so replay order and acknowledgement tracking are unchanged; they are
written to disk as soon as a write succeeds again (retried at most every ``RETRY_S``), and what
cannot be kept is counted and reported, never lost silently.

A row that cannot be sent as it is (a topic with a wildcard or NUL, an impossible QoS, a payload that
is not bytes — a corrupt or hand-edited file) is moved to the ``rejected`` table with one warning per
batch, and the rows after it keep being delivered.  A file that is not an SQLite database at all is
moved aside (``spool.sqlite3.corrupt-<time>``) with a warning and a fresh spool is started.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from edgecam.errors import EdgecamError
from edgecam.records import move_aside

log = logging.getLogger(__name__)

FILENAME = "spool.sqlite3"
RETRY_S = 1.0  # wait between attempts to write held messages to a failing disk
WARN_EVERY_S = 60.0  # repeated "spool full" warnings are summarised at most this often


class SpoolOpenError(EdgecamError, OSError):
    """The spool file cannot be created or opened (reported by the CLI as one line)."""


@dataclass(frozen=True, slots=True)
class SpooledMessage:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


def row_problem(topic: object, payload: object, qos: object, retain: object) -> str | None:
    """Why a spooled row cannot be published as it is, or None."""
    if not isinstance(topic, str) or not topic:
        return "empty or non-text topic"
    if any(c in topic for c in "+#\x00"):
        return f"topic {topic[:80]!r} has a wildcard or NUL"
    if len(topic.encode("utf-8", "surrogatepass")) > 65535:
        return "topic longer than 65535 bytes"
    if not isinstance(payload, bytes):
        return f"payload is {type(payload).__name__}, not bytes"
    if qos not in (0, 1, 2) or isinstance(qos, bool):
        return f"qos {qos!r} is not 0, 1 or 2"
    if retain not in (0, 1):
        return f"retain {retain!r} is not 0 or 1"
    return None


def _schema_problem(exc: sqlite3.OperationalError) -> bool:
    """An OperationalError that says the file is an SQLite database with a foreign schema (not a disk or
    permission problem)."""
    text = str(exc)
    return text.startswith(("no such column", "no such table")) or "has no column" in text


class Spool:
    """Thread-safe FIFO of MQTT messages in one SQLite file. Ids increase in insertion order."""

    def __init__(self, path: Path, max_messages: int, clock=time.monotonic) -> None:
        if max_messages < 1:
            raise ValueError(f"spool max_messages must be >= 1, got {max_messages}")
        self.path = Path(path)
        self.max_messages = max_messages
        self.dropped = 0  # oldest messages dropped at the size bound (or held in memory past it)
        self.write_errors = 0  # failed disk writes
        self.lost_at_close = 0  # held in memory when closed: gone with the process
        self._clock = clock
        self._lock = threading.Lock()
        self._held: list[SpooledMessage] = []  # newest messages the disk did not take, oldest first
        self._undeleted: set[int] = set()  # acknowledged, but the disk refused the DELETE
        self._retry_at = 0.0
        self._failing: str | None = None
        self._last_full_warning = -1e18
        self._unwarned_drops = 0
        self.rejected = 0  # malformed rows moved to the ``rejected`` table
        self._set_aside_non_files()
        try:
            self._open()
        except (sqlite3.DatabaseError, ValueError, TypeError, OverflowError) as exc:
            if not self.path.exists() or (isinstance(exc, sqlite3.OperationalError) and not _schema_problem(exc)):
                raise self._open_error(exc) from exc
            if getattr(self, "_db", None) is not None:
                self._db.close()
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            if move_aside(self.path, f"not an edgecam spool: {exc}") is None:
                raise self._open_error(exc) from exc
            try:
                self._open()
            except (sqlite3.Error, OSError) as exc2:
                raise self._open_error(exc2) from exc2
        except (sqlite3.Error, OSError) as exc:
            raise self._open_error(exc) from exc

    def _set_aside_non_files(self) -> None:
        """A symbolic link, directory or other non-file where the spool or its WAL files belong is moved
        aside (SQLite would follow a link and write to its target, or fail on a directory)."""
        for path in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm"), Path(f"{self.path}-journal")):
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise self._open_error(exc) from exc
            if stat.S_ISREG(st.st_mode):
                continue
            kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else \
                "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            if move_aside(path, kind) is None:
                raise self._open_error(OSError(f"{path} is {kind} and cannot be moved aside"))

    def _open_error(self, exc: BaseException) -> SpoolOpenError:
        return SpoolOpenError(
            f"cannot open the MQTT spool {self.path}: {exc}; make the state directory ([output] state_dir) "
            "writable and not full"
        )

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,"
            " qos INTEGER NOT NULL, retain INTEGER NOT NULL)"
        )
        self._count = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        self._last_id = max(int(row[0]) if row else 0,
                            int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()[0]))

    def __len__(self) -> int:
        return self._count + len(self._held) - len(self._undeleted)

    @property
    def held(self) -> int:
        """Messages kept in memory because the disk refused them."""
        return len(self._held)

    def append_many(self, messages: Iterable[tuple[str, bytes, int, bool]]) -> int:
        """Append ``(topic, payload, qos, retain)`` messages in order; returns how many were dropped."""
        new = []
        for t, p, q, r in messages:
            self._last_id += 1
            new.append(SpooledMessage(self._last_id, t, bytes(p), int(q), bool(r)))
        with self._lock:
            if not new and not self._held:
                return 0
            self._held.extend(new)
            dropped = self._flush_held() if self._clock() >= self._retry_at else 0
            dropped += self._bound_held()
        if dropped:
            self._warn_full(dropped)
        return dropped

    def append(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> int:
        return self.append_many([(topic, payload, qos, retain)])

    def read_after(self, after_id: int, limit: int) -> list[SpooledMessage]:
        """Up to ``limit`` messages with id > ``after_id``, oldest first (malformed rows moved aside)."""
        with self._lock:
            if after_id >= self._last_id or not len(self):  # nothing newer: no query (called every frame)
                return []
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit + len(self._undeleted)),
            ).fetchall()
            out, bad = [], []
            for r in rows:
                if r[0] in self._undeleted:
                    continue
                problem = row_problem(r[1], r[2], r[3], r[4])
                if problem is None:
                    out.append(SpooledMessage(r[0], r[1], bytes(r[2]), r[3], bool(r[4])))
                else:
                    bad.append((r[0], problem))
            if bad:
                self._reject(bad)
            out += [m for m in self._held if m.id > after_id]  # held ids are all newer than the disk's
        return out[:limit]

    def reject(self, message_id: int, problem: str) -> None:
        """Move one message that cannot be sent (e.g. paho refused its topic) out of the queue."""
        with self._lock:
            self._held = [m for m in self._held if m.id != message_id]
            self._reject([(message_id, problem)])

    def _reject(self, bad: list[tuple[int, str]]) -> None:
        ids = [(i,) for i, _ in bad]
        try:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            cur.execute("CREATE TABLE IF NOT EXISTS rejected (id INTEGER PRIMARY KEY, topic, payload, qos, retain)")
            cur.executemany("INSERT OR REPLACE INTO rejected SELECT id, topic, payload, qos, retain FROM outbox "
                            "WHERE id = ?", ids)
            cur.executemany("DELETE FROM outbox WHERE id = ?", ids)
            cur.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            log.warning("MQTT spool %s: cannot move %d malformed row(s) aside (%s)", self.path, len(bad), exc)
            return
        self.rejected += len(bad)
        self._recount()
        first_id, first_problem = bad[0]
        log.warning("MQTT spool %s: moved %d malformed row(s) to its 'rejected' table (first: id %d, %s); "
                    "later events are delivered", self.path, len(bad), first_id, first_problem)

    def delete(self, ids: Iterable[int]) -> None:
        ids = {int(i) for i in ids}
        if not ids:
            return
        with self._lock:
            if self._held:
                held = {m.id for m in self._held}
                self._held = [m for m in self._held if m.id not in ids]
                ids -= held
            ids |= self._undeleted
            if not ids:
                return
            try:
                cur = self._db.cursor()
                cur.execute("BEGIN IMMEDIATE")
                cur.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
                cur.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                self._undeleted = self._on_disk(ids)
                self._failed("delete acknowledged events from", exc)
                return
            self._undeleted.clear()
            self._recount()

    def close(self) -> None:
        with self._lock:
            if self._held:
                self._flush_held()
            if self._unwarned_drops:
                self._last_full_warning = -1e18
                self._warn_full(0)
            if self._held:
                self.lost_at_close = len(self._held)
                log.error("MQTT spool: %d event(s) held in memory could not be written to %s (%s) and are lost "
                          "with this process; free space in %s", len(self._held), self.path, self._failing,
                          self.path.parent)
            self._db.close()

    # -- internals (called with the lock held) ---------------------------------------------------------
    def _flush_held(self) -> int:
        """Write held messages to disk (oldest dropped past the bound); the number dropped."""
        cur = self._db.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            if self._undeleted:
                cur.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in self._undeleted])
            cur.executemany(
                "INSERT INTO outbox (id, topic, payload, qos, retain) VALUES (?, ?, ?, ?, ?)",
                [(m.id, m.topic, sqlite3.Binary(m.payload), m.qos, int(m.retain)) for m in self._held],
            )
            excess = int(cur.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]) - self.max_messages
            if excess > 0:
                cur.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)", (excess,))
            cur.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            self._retry_at = self._clock() + RETRY_S
            self._failed("write", exc)
            return 0
        self._held = []
        self._undeleted.clear()
        self._recount()
        dropped = max(0, excess)
        self.dropped += dropped
        if self._failing is not None:
            log.warning("MQTT spool %s is writable again; the events held in memory are on disk", self.path)
            self._failing = None
        return dropped

    def _bound_held(self) -> int:
        excess = len(self) - self.max_messages
        excess = min(max(0, excess), len(self._held))
        if excess:
            del self._held[:excess]
            self.dropped += excess
        return excess

    def _failed(self, what: str, exc: sqlite3.Error) -> None:
        self.write_errors += 1
        if self._failing is None:
            log.error("MQTT spool: cannot %s %s (%s); events are held in memory (at most %d, oldest dropped and "
                      "counted) and the write is retried; free space in %s", what, self.path, exc,
                      self.max_messages, self.path.parent)
        self._failing = str(exc)

    def _rollback(self) -> None:
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _recount(self) -> None:
        self._count = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def _on_disk(self, ids: set[int]) -> set[int]:
        found: set[int] = set()
        ordered = sorted(ids)
        for i in range(0, len(ordered), 500):
            chunk = ordered[i:i + 500]
            rows = self._db.execute(f"SELECT id FROM outbox WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            found.update(r[0] for r in rows)
        return found

    def _warn_full(self, dropped: int) -> None:
        self._unwarned_drops += dropped
        now = self._clock()
        if now - self._last_full_warning < WARN_EVERY_S:
            return
        self._last_full_warning = now
        log.warning(
            "MQTT spool full (%d messages): dropped the %d oldest event(s), %d dropped so far; "
            "raise mqtt.spool_max_messages or restore the broker connection",
            self.max_messages, self._unwarned_drops, self.dropped,
        )
        self._unwarned_drops = 0
