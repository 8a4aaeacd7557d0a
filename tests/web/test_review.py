"""The event history over real HTTP: /api/events and its filters, the evidence files (Range requests on
clips), DELETE, and the same authentication as the rest of the live view."""

from __future__ import annotations

import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from edgecam.domain import Frame
from edgecam.events.snapshot import render_evidence
from edgecam.events.store import EventRecord, EventStore
from h264kit import h264_file
from sharedkit import HORSE
from webkit import request


@pytest.fixture
def history(tmp_path, live_view):
    store = EventStore(tmp_path / "events", 10**9, 10**12)
    image = cv2.imread(str(HORSE))
    frame = Frame(image, 0, 1.0, "BGR")
    records = [EventRecord("1765000000.000-aaaa0001", "person", ("left",), 1765000000.0, 1765000004.0, 0.91),
               EventRecord("1765000100.000-aaaa0002", "dog", (), 1765000100.0, 1765000103.0, 0.77),
               EventRecord("1765086400.000-aaaa0003", "person", (), 1765086400.0, None, 0.66)]
    for r in records:
        store.save_event(r, render_evidence(frame, (120.0, 60.0, 260.0, 300.0), r.label, r.top_score))
    store.part_path(records[0].id).write_bytes(h264_file(2.0))
    store.finish_clip(records[0].id, 1765000000.0, 1765000002.0)
    view = live_view()
    view.publisher.events = SimpleNamespace(store=store)
    yield view, store, records
    store.close()


def _list(view, query=""):
    r = request(view, "GET", "/api/events" + query)
    assert r.status == 200, r.body
    return json.loads(r.body)


def test_api_lists_and_filters(history):
    view, store, records = history
    items = _list(view)
    assert [e["id"] for e in items] == [r.id for r in reversed(records)]
    first = items[-1]
    assert first["label"] == "person" and first["zones"] == ["left"] and first["top_score"] == 0.91
    assert first["snapshot"] == f"/api/events/{first['id']}/snapshot.jpg"
    assert first["thumbnail"] == f"/api/events/{first['id']}/thumbnail.jpg"
    assert first["clip"] == f"/api/events/{first['id']}/clip.mp4"
    assert items[0]["clip"] is None and items[0]["end_time"] is None
    assert [e["label"] for e in _list(view, "?label=dog")] == ["dog"]
    assert [e["id"] for e in _list(view, "?zone=left")] == [records[0].id]
    assert [e["id"] for e in _list(view, "?after=1765000050&before=1765086400")] == [records[1].id]
    assert [e["id"] for e in _list(view, "?label=person&limit=1")] == [records[2].id]
    assert len(_list(view, "?after=2025-12-06T00:00:00%2B00:00")) == 3  # ISO dates too
    for bad in ("?limit=0", "?limit=abc", "?after=yesterday", "?colour=red"):
        r = request(view, "GET", "/api/events" + bad)
        assert r.status == 400 and json.loads(r.body)["error"]


def test_evidence_files_and_ranges(history):
    view, store, records = history
    base = f"/api/events/{records[0].id}"
    for kind in ("snapshot.jpg", "boxed.jpg", "thumbnail.jpg"):
        r = request(view, "GET", f"{base}/{kind}")
        assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
        image = cv2.imdecode(np.frombuffer(r.body, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[0] > 0
    snapshot = cv2.imdecode(np.frombuffer(request(view, "GET", f"{base}/snapshot.jpg").body, np.uint8), 1)
    assert snapshot.shape[:2] == cv2.imread(str(HORSE)).shape[:2]  # full resolution

    whole = request(view, "GET", f"{base}/clip.mp4")
    assert whole.status == 200 and whole.headers["Content-Type"] == "video/mp4"
    assert whole.headers["Accept-Ranges"] == "bytes" and whole.body == store.path(records[0].id, "clip.mp4").read_bytes()
    size = len(whole.body)
    part = request(view, "GET", f"{base}/clip.mp4", headers={"Range": "bytes=100-199"})
    assert part.status == 206 and part.body == whole.body[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{size}"
    tail = request(view, "GET", f"{base}/clip.mp4", headers={"Range": "bytes=-50"})
    assert tail.status == 206 and tail.body == whole.body[-50:]
    open_end = request(view, "GET", f"{base}/clip.mp4", headers={"Range": f"bytes={size - 10}-"})
    assert open_end.status == 206 and open_end.body == whole.body[-10:]
    beyond = request(view, "GET", f"{base}/clip.mp4", headers={"Range": f"bytes={size}-"})
    assert beyond.status == 416 and beyond.headers["Content-Range"] == f"bytes */{size}"

    assert request(view, "GET", f"/api/events/{records[1].id}/clip.mp4").status == 404  # no clip
    assert request(view, "GET", "/api/events/nope/snapshot.jpg").status == 404
    assert request(view, "GET", "/api/events/..%2F..%2Fetc/snapshot.jpg").status == 404
    assert request(view, "GET", f"{base}/index.sqlite3").status == 404


def test_delete(history):
    view, store, records = history
    evil = request(view, "DELETE", f"/api/events/{records[1].id}", headers={"Origin": "http://evil.example"})
    assert evil.status == 403 and store.get(records[1].id) is not None
    r = request(view, "DELETE", f"/api/events/{records[1].id}")
    assert r.status == 200 and json.loads(r.body) == {"deleted": records[1].id}
    assert store.get(records[1].id) is None and not store.path(records[1].id, "snapshot.jpg").exists()
    assert [e["id"] for e in _list(view)] == [records[2].id, records[0].id]
    assert request(view, "DELETE", f"/api/events/{records[1].id}").status == 404
    assert request(view, "GET", "/events").status == 200 and b"events.js" in request(view, "GET", "/events").body


def test_review_needs_the_password(tmp_path, live_view, monkeypatch):
    monkeypatch.setenv("EDGECAM_TEST_PW", "s3cret")
    view = live_view(password_env="EDGECAM_TEST_PW")
    store = EventStore(tmp_path / "events", 10**9, 10**12)
    store.save_event(EventRecord("1.000-x", "person", (), 1.0, 2.0, 0.9), {"snapshot.jpg": b"\xff\xd8jpeg"})
    view.publisher.events = SimpleNamespace(store=store)
    for method, path in (("GET", "/events"), ("GET", "/api/events"), ("GET", "/api/events/1.000-x/snapshot.jpg"),
                         ("DELETE", "/api/events/1.000-x")):
        assert request(view, method, path).status == 401
    assert request(view, "GET", "/api/events/1.000-x/snapshot.jpg", auth=("edgecam", "s3cret")).body == b"\xff\xd8jpeg"
    assert request(view, "DELETE", "/api/events/1.000-x", auth=("edgecam", "s3cret")).status == 200
    store.close()
