"""Hostile files in the state directory: every record read (journal, discovery record, spool) survives
huge numbers, deep nesting, wrong types, directories and symbolic links — the file is moved aside and
the reader goes on — and nothing is ever written through a planted symbolic link."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from edgecam import records
from edgecam.jsonlimits import JsonLimitError, loads_bounded
from edgecam.publishers.mqtt.announcer import RECORD, Announcer
from edgecam.publishers.mqtt.settings import HomeAssistantSettings
from edgecam.publishers.mqtt.spool import Spool
from edgecam.publishers.mqtt.topics import Topics
from edgecam.runtime.statedir import StateDirUnusable, claim_state_dir
from edgecam.tracking.journal import TrackJournal

GOOD_ENTRY = {"id": "b", "label": "cat", "start_time": 1.0, "last_seen": 2.0, "box": [0, 0, 1, 1],
              "score": 0.5, "top_score": 0.6, "zones": []}
HUGE = "1" + "0" * 400
DEEP = "[" * 8000 + "]" * 8000


def _entry(**change) -> str:
    return json.dumps({"v": 1, "open": [{**GOOD_ENTRY, **change}]})


JOURNAL_CORPUS = {
    "huge start_time": '{"v": 1, "open": [%s]}' % json.dumps(GOOD_ENTRY).replace('"start_time": 1.0',
                                                                                 f'"start_time": {HUGE}'),
    "huge float": _entry(score=1e308).replace("1e+308", "1" + "0" * 500 + ".5"),
    "deep nesting": '{"v": 1, "open": %s}' % DEEP,
    "deep nesting in a string is fine, a wrong type is not": _entry(label="[" * 9000, id=7),
    "open is a string": '{"v": 1, "open": "abc"}',
    "entry is a list": '{"v": 1, "open": [[1, 2]]}',
    "box of strings": _entry(box=["a", "b", "c", "d"]),
    "box of objects": _entry(box=[{}, {}, {}, {}]),
    "zones not a list": _entry(zones=5),
    "zones of numbers": _entry(zones=[1, 2]),
    "bool numbers": _entry(score=True),
    "a JSON list": "[1, 2, 3]",
    "NaN": _entry().replace("0.5", "NaN"),
    "not UTF-8": b"\xff\xfe{}",
}


def _write(path: Path, content: str | bytes) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def _aside(directory: Path, name: str) -> list[Path]:
    return sorted(directory.glob(f"{name}.corrupt-*"))


@pytest.mark.parametrize("case", sorted(JOURNAL_CORPUS))
def test_hostile_journal_is_moved_aside_and_loading_goes_on(tmp_path, case, caplog):
    path = tmp_path / "open_tracks.json"
    _write(path, JOURNAL_CORPUS[case])
    journal = TrackJournal.load(path)
    assert len(journal) == 0
    assert len(_aside(tmp_path, path.name)) == 1, caplog.text
    assert "unusable" in caplog.text
    assert journal.save(1.0) and json.loads(path.read_text()) == {"v": 1, "open": []}


@pytest.mark.parametrize("kind", ["directory", "symlink", "fifo"])
def test_a_journal_that_is_not_a_regular_file_is_moved_aside(tmp_path, kind, caplog):
    path, target = tmp_path / "open_tracks.json", tmp_path / "precious"
    target.write_text(json.dumps({"v": 1, "open": [GOOD_ENTRY]}))
    if kind == "directory":
        path.mkdir()
    elif kind == "symlink":
        path.symlink_to(target)
    else:
        os.mkfifo(path)
    loaded: list[TrackJournal] = []
    reader = threading.Thread(target=lambda: loaded.append(TrackJournal.load(path)), daemon=True)
    reader.start()
    reader.join(60)  # a FIFO blocks a plain open() for ever: this bounds the test, it does not time the code
    if not loaded and kind == "fifo":
        with open(path, "wb"):  # release the blocked reader
            pass
    assert loaded, f"loading a journal that is a {kind} did not return"
    journal = loaded[0]  # a link is never followed
    assert len(journal) == 0 and len(_aside(tmp_path, path.name)) == 1
    assert journal.save(1.0)
    assert json.loads(target.read_text())["open"] == [GOOD_ENTRY]  # the link's target untouched


@pytest.mark.parametrize("payload", [
    {"type": "new", "id": "x", "label": "cat", "start_time": 10**400, "box": [0, 0, 1, 1], "score": 1, "top_score": 1},
    {"type": "new", "id": "x", "label": "cat", "start_time": 1.0, "box": [10**400, 0, 1, 1], "score": 1, "top_score": 1},
    {"type": "new", "id": "x", "label": "cat", "start_time": 1.0, "box": "abcd", "score": 1, "top_score": 1},
    {"type": "new", "id": "x", "label": "cat", "start_time": 1.0, "box": [0, 0, 1, 1], "score": [], "top_score": 1},
    {"type": "new", "id": "x", "label": "cat", "start_time": 1.0, "box": [0, 0, 1, 1], "score": 1, "top_score": 1,
     "zones": 3},
    {"type": ["new"], "id": "x"},
    [1, 2],
    "new",
])
def test_apply_payload_refuses_any_malformed_event(payload):
    journal = TrackJournal(Path("/nonexistent/never-written"))
    assert journal.apply_payload(payload) is False
    assert len(journal) == 0


DISCOVERY_CORPUS = {
    "huge number": '{"components": {}, "labels": [%s]}' % HUGE,
    "deep nesting": '{"components": %s}' % DEEP,
    "components a list": '{"components": ["a"]}',
    "labels of objects": '{"components": {"a": "sensor"}, "labels": [{"x": 1}]}',
    "removed of numbers": '{"components": {"a": "sensor"}, "removed": {"b": 1}}',
    "a string": '"hello"',
}

T = Topics("edgecam", "front")


@pytest.mark.parametrize("case", sorted(DISCOVERY_CORPUS) + ["directory", "symlink"])
def test_hostile_discovery_record_is_moved_aside(tmp_path, case):
    path, target = tmp_path / RECORD, tmp_path / "precious"
    target.write_text('{"components": {"x": "sensor"}}')
    if case == "directory":
        path.mkdir()
    elif case == "symlink":
        path.symlink_to(target)
    else:
        path.write_text(DISCOVERY_CORPUS[case])
    announcer = Announcer(HomeAssistantSettings(), T, "front", tmp_path, labels=("person",))
    assert announcer.previous == {} and len(_aside(tmp_path, RECORD)) == 1
    announcer.messages()
    announcer.commit()
    assert json.loads(path.read_text())["components"] and target.read_text() == '{"components": {"x": "sensor"}}'


@pytest.mark.parametrize("case", ["directory", "symlink", "wal symlink", "foreign schema", "text seq", "garbage"])
def test_hostile_spool_files_are_moved_aside_and_a_fresh_spool_starts(tmp_path, case):
    path, target = tmp_path / "spool.sqlite3", tmp_path / "precious"
    target.write_bytes(b"precious bytes")
    if case == "directory":
        path.mkdir()
    elif case == "symlink":
        path.symlink_to(target)
    elif case == "wal symlink":
        Path(f"{path}-wal").symlink_to(target)
    elif case == "foreign schema":
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE outbox (x TEXT)")
            db.execute("INSERT INTO outbox VALUES ('a')")
    elif case == "text seq":
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, "
                       "payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL)")
            db.execute("INSERT INTO outbox (topic, payload, qos, retain) VALUES ('t', x'00', 0, 0)")
            db.execute("UPDATE sqlite_sequence SET seq = 'abc'")
            db.execute("DELETE FROM outbox")
    else:
        path.write_bytes(b"\x00" * 5000)
    spool = Spool(path, 10)
    try:
        spool.append("edgecam/front/events", b"{}", 1)
        assert [m.payload for m in spool.read_after(0, 10)] == [b"{}"]
    finally:
        spool.close()
    moved = _aside(tmp_path, "spool.sqlite3*")
    assert len(moved) >= (0 if case == "wal symlink" else 1) and (case != "wal symlink" or
                                                                  _aside(tmp_path, "spool.sqlite3-wal"))
    assert target.read_bytes() == b"precious bytes"
    assert not path.is_symlink()


def test_a_symlinked_lock_is_refused_in_one_line_and_its_target_untouched(tmp_path):
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    camera = tmp_path / "state" / "yard"
    camera.mkdir(parents=True)
    (camera / "lock").symlink_to(target)
    with pytest.raises(StateDirUnusable) as exc:
        with claim_state_dir(tmp_path / "state", "yard"):
            pass
    assert "symbolic link" in str(exc.value) and "\n" not in str(exc.value)
    assert target.read_text() == "keep me\n"


def test_a_symlinked_temp_file_is_never_written_through(tmp_path):
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    (tmp_path / "rec.json.tmp").symlink_to(target)
    assert records.save_record(tmp_path / "rec.json", {"a": 1})
    assert target.read_text() == "keep me\n" and json.loads((tmp_path / "rec.json").read_text()) == {"a": 1}


def test_unwritable_record_is_one_warning_and_every_failure_counted(tmp_path, caplog):
    path = tmp_path / "rec.json"
    path.mkdir()  # a directory in the way: every replace fails the same way
    before = records.write_errors()
    with caplog.at_level(logging.WARNING):
        for _ in range(50):
            assert records.save_record(path, {"a": 1}) is False
    lines = [r for r in caplog.records if "cannot write state record" in r.getMessage()]
    assert len(lines) == 1 and str(path) in lines[0].getMessage()
    assert records.write_errors() - before == 50


@pytest.mark.parametrize("text", ["[" * 100 + "]" * 100, "1" * 41, '{"a": %s}' % HUGE, "1" + "0" * 90 + ".5",
                                  "NaN", "[1, Infinity]", "{", b"\xff"])
def test_bounded_json_refuses_with_one_exception_type(text):
    with pytest.raises(JsonLimitError):
        loads_bounded(text)


def test_bounded_json_parses_ordinary_json_and_brackets_in_strings():
    assert loads_bounded('{"a": [1, 2.5, "[[[[{{{{"], "b": null}') == {"a": [1, 2.5, "[[[[{{{{"], "b": None}
    assert loads_bounded("[" * 32 + "]" * 32) is not None
