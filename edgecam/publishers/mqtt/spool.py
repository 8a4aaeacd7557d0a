"""A bounded, ordered, on-disk outbox for events (SQLite in the state directory).

Every event is written here first and deleted only once the broker acknowledged it, so events
survive broker outages and daemon restarts and are replayed in their original order.  When the
spool is full the oldest messages are dropped (counted, with a warning).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

log = logging.getLogger(__name__)

FILENAME = "spool.sqlite3"


@dataclass(frozen=True, slots=True)
class SpooledMessage:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Spool:
    """Thread-safe FIFO of MQTT messages in one SQLite file. Ids increase in insertion order."""

    def __init__(self, path: Path, max_messages: int) -> None:
        if max_messages < 1:
            raise ValueError(f"spool max_messages must be >= 1, got {max_messages}")
        self.path = Path(path)
        self.max_messages = max_messages
        self.dropped = 0
        self._lock = threading.Lock()
        try:
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
        except sqlite3.Error as exc:
            raise OSError(
                f"cannot open the MQTT spool {self.path}: {exc}; make the state directory writable "
                "or delete a corrupt spool file"
            ) from exc

    def __len__(self) -> int:
        return self._count

    def append_many(self, messages: Iterable[tuple[str, bytes, int, bool]]) -> int:
        """Append ``(topic, payload, qos, retain)`` messages in order; returns how many were dropped."""
        rows = [(t, sqlite3.Binary(p), int(q), int(bool(r))) for t, p, q, r in messages]
        if not rows:
            return 0
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.executemany("INSERT INTO outbox (topic, payload, qos, retain) VALUES (?, ?, ?, ?)", rows)
                self._count += len(rows)
                excess = self._count - self.max_messages
                if excess > 0:
                    cur.execute(
                        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)", (excess,)
                    )
                    self._count -= excess
                    self.dropped += excess
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                self._count = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
                raise
        if excess > 0:
            log.warning(
                "MQTT spool full (%d messages): dropped the %d oldest event(s), %d dropped so far; "
                "raise mqtt.spool_max_messages or restore the broker connection",
                self.max_messages, excess, self.dropped,
            )
            return excess
        return 0

    def append(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> int:
        return self.append_many([(topic, payload, qos, retain)])

    def read_after(self, after_id: int, limit: int) -> list[SpooledMessage]:
        """Up to ``limit`` messages with id > ``after_id``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, qos, retain FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [SpooledMessage(r[0], r[1], bytes(r[2]), r[3], bool(r[4])) for r in rows]

    def delete(self, ids: Iterable[int]) -> None:
        ids = [(int(i),) for i in ids]
        if not ids:
            return
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            cur.executemany("DELETE FROM outbox WHERE id = ?", ids)
            deleted = max(cur.rowcount, 0)
            cur.execute("COMMIT")
            self._count = max(self._count - deleted, 0)

    def close(self) -> None:
        with self._lock:
            self._db.close()
