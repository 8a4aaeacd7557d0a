"""The live view's HTTP endpoints against the real server, fed real detections through the real tracker."""

from __future__ import annotations

import json
import socket

import cv2
import numpy as np
import pytest

from webkit import read_mjpeg_frames, request


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


def post_json(view, path: str, value, **kw):
    return request(view, "POST", path, json.dumps(value).encode(), {"Content-Type": "application/json"}, **kw)


def test_page_and_its_assets(live_view):
    view = live_view()
    page = request(view, "GET", "/")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    for needle in ('src="stream.mjpg"', 'id="editor"', 'id="toml"', 'src="app.js"', 'href="style.css"'):
        assert needle in html
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    js = request(view, "GET", "/app.js")
    assert js.status == 200 and b"api/zones/preview" in js.body
    assert request(view, "GET", "/style.css").status == 200


def test_stream_sends_successive_jpeg_frames_with_the_overlay(live_view):
    view = live_view(stream_width=400)
    frames = read_mjpeg_frames(view, 3)
    images = [decode(f) for f in frames]
    assert all(img.shape[1] == 400 for img in images)  # horse.jpg scaled to the stream width
    assert view.publisher.feed.encoded >= 3
    # the zone outline (amber, BGR 0,200,255) is drawn on the left half: pixels of that colour exist there
    img = images[-1].astype(int)
    amber = (np.abs(img[:, :, 0] - 0) < 60) & (np.abs(img[:, :, 1] - 200) < 60) & (img[:, :, 2] > 190)
    assert amber[:, : img.shape[1] // 2 + 5].sum() > 50


def test_snapshot_is_the_latest_frame(live_view):
    view = live_view()
    view.wait(lambda: view.offered > 0, 10, "a frame")
    r = request(view, "GET", "/snapshot.jpg")
    assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
    image = decode(r.body)
    assert image.shape[1] == 640  # horse.jpg is wider than the default stream width


def test_no_encoding_without_a_viewer(live_view):
    view = live_view()
    view.wait(lambda: view.offered >= 20, 20, "20 frames offered")
    assert request(view, "GET", "/snapshot.jpg").status == 200  # the positive signal: one encode on request
    assert view.publisher.feed.encoded == 1


def test_stats_events_and_zones(live_view):
    view = live_view()
    view.wait(lambda: view.offered >= 12, 20, "stats published")
    stats = json.loads(request(view, "GET", "/api/stats").body)
    assert stats["fps"] == 20.0 and stats["inference_ms"] == 12.5
    assert stats["detection_enabled"] is True and stats["conf"] == 0.45

    view.wait(lambda: json.loads(request(view, "GET", "/api/events").body), 20, "events")
    events = json.loads(request(view, "GET", "/api/events").body)
    assert {e["label"] for e in events if e["type"] == "new"} >= {"person", "dog", "horse"}
    assert all(e["v"] == 1 for e in events)

    zones = json.loads(request(view, "GET", "/api/zones").body)
    assert [z["name"] for z in zones["zones"]] == ["left"]
    assert len(zones["masks"]) == 1 and zones["masks"][0]["coordinates"] == "relative"

    info = json.loads(request(view, "GET", "/api/info").body)
    assert info["camera"] == "yard" and "person" in info["classes"] and info["width"] > 0


def test_controls_go_through_the_shared_controls(live_view):
    view = live_view()
    changes = []
    view.controls.subscribe(lambda name, value: changes.append((name, value)))  # as the MQTT publisher does
    r = post_json(view, "/api/controls", {"detection": False, "conf": 0.6})
    assert r.status == 200 and json.loads(r.body) == {"detection_enabled": False, "conf": 0.6}
    assert view.controls.detection_enabled is False and view.controls.conf == 0.6
    assert ("detection", False) in changes and ("conf", 0.6) in changes
    for bad in ({"conf": 1.5}, {"conf": "0.5"}, {"detection": "off"}, {"volume": 3}, [], {}):
        r = post_json(view, "/api/controls", bad)
        assert r.status == 400 and "error" in json.loads(r.body), bad
    assert view.controls.conf == 0.6


def test_zone_preview_gives_checked_toml_and_live_counts(live_view):
    view = live_view()
    view.wait(lambda: view.publisher.feed.latest() is not None and view.publisher.feed.latest().tracks, 20, "tracks")
    whole = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    r = post_json(view, "/api/zones/preview", {"kind": "zone", "name": "yard", "points": whole, "labels": ["horse"]})
    out = json.loads(r.body)
    assert r.status == 200 and out["problem"] is None
    assert out["toml"] == ('[[zones]]\nname = "yard"\npoints = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]\n'
                           'labels = ["horse"]\ncoordinates = "relative"\n')
    assert out["counts"] == {"horse": 1}

    # the same validation as `edgecam check`: too few points, a bad name, a taken name, points outside 0..1
    cases = [
        ({"kind": "zone", "name": "a", "points": whole[:2]}, "at least 3 points"),
        ({"kind": "zone", "name": "bad name", "points": whole}, "pattern"),
        ({"kind": "zone", "name": "left", "points": whole}, "already configured"),
        ({"kind": "mask", "points": [[0, 0], [2, 0], [1, 1]]}, "outside 0..1"),
        ({"kind": "zone", "name": "z", "points": whole, "labels": ["unicorn"]}, "not classes of the model"),
    ]
    for draft, needle in cases:
        out = json.loads(post_json(view, "/api/zones/preview", draft).body)
        assert needle in out["problem"], (draft, out)
        assert out["counts"] == {}
    mask = json.loads(post_json(view, "/api/zones/preview", {"kind": "mask", "points": whole}).body)
    assert mask["toml"].startswith("[[masks]]\npoints") and sum(mask["counts"].values()) >= 3
    for bad in ({"kind": "fence"}, {"points": [[0, "x"]]}, {"points": [[0, 0]] * 65}, {"extra": 1}, "zone"):
        assert post_json(view, "/api/zones/preview", bad).status == 400, bad


@pytest.mark.parametrize("path", [
    "/nope", "/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/static/../../app.py", "//etc/passwd",
    "/app.js/../../settings.py", "/api", "/api/stats/../../../etc/passwd", "/index.html", "/static/index.html",
])
def test_unknown_paths_and_traversal_are_404(live_view, path):
    view = live_view()
    r = request(view, "GET", path)
    assert r.status == 404
    assert b"root:" not in r.body and b"import" not in r.body


def test_malformed_and_oversized_requests_are_refused(live_view):
    view = live_view()
    assert request(view, "GET", "/" + "a" * 5000).status == 414
    big = b'{"conf": 0.5, "pad": "' + b"x" * 20000 + b'"}'
    assert request(view, "POST", "/api/controls", big, {"Content-Type": "application/json"}).status == 413
    assert request(view, "POST", "/api/controls", b"{nope", {"Content-Type": "application/json"}).status == 400
    assert request(view, "POST", "/api/controls", b'{"conf": 0.5}', {"Content-Type": "text/plain"}).status == 415
    cross = {"Content-Type": "application/json", "Origin": "http://evil.example"}
    assert request(view, "POST", "/api/controls", b'{"conf": 0.5}', cross).status == 403
    assert request(view, "POST", "/nope", b"{}", {"Content-Type": "application/json"}).status == 404
    assert request(view, "DELETE", "/").status == 501
    assert request(view, "GET", "/", headers={"Host": "attacker.example:8080"}).status == 403  # DNS rebinding
    assert view.controls.conf == 0.45
    # a request line that is not HTTP at all
    with socket.create_connection((view.host, view.port), timeout=10) as s:
        s.sendall(b"\x16\x03\x01 garbage\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")  # answered ...
    assert request(view, "GET", "/api/zones").status == 200  # ... and the server still serves


def test_password_is_required_when_set(live_view, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    view = live_view(password_file=str(pw))
    r = request(view, "GET", "/api/stats")
    assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
    assert request(view, "GET", "/stream.mjpg").status == 401
    assert request(view, "GET", "/", auth=("edgecam", "wrong")).status == 401
    assert request(view, "GET", "/", auth=("admin", "s3cret")).status == 401
    assert request(view, "GET", "/", headers={"Authorization": "Basic %%%"}).status == 401
    assert request(view, "GET", "/", auth=("edgecam", "s3cret")).status == 200
    import base64

    token = "Basic " + base64.b64encode(b"edgecam:s3cret").decode()
    assert len(read_mjpeg_frames(view, 2, auth_header=token)) == 2


def test_streams_are_capped(live_view):
    view = live_view(max_streams=1)
    conn = socket.create_connection((view.host, view.port), timeout=20)
    try:
        conn.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert conn.recv(20).startswith(b"HTTP/1.1 200")
        view.wait(lambda: view.publisher.server.streams == 1, 10, "the stream to open")
        r = request(view, "GET", "/stream.mjpg")
        assert r.status == 503 and b"close one" in r.body
    finally:
        conn.close()
    view.wait(lambda: view.publisher.server.streams == 0, 30, "the closed stream to be noticed")
    assert len(read_mjpeg_frames(view, 2)) == 2


def test_a_client_that_stops_reading_is_dropped_while_frames_keep_flowing(live_view):
    view = live_view(fps=30, stream_fps=30, jpeg_quality=100, stream_width=1024, client_timeout_s=1.0)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((view.host, view.port))
    try:
        s.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        view.wait(lambda: view.publisher.server.streams == 1, 10, "the stream to open")
        offered = view.offered
        # never read: the server's writes block, time out after client_timeout_s, and the stream is dropped
        view.wait(lambda: view.publisher.server.streams == 0, 60, "the stalled client to be dropped")
        assert view.offered > offered  # the feeder (the pipeline's side) went on meanwhile
    finally:
        s.close()
    assert len(read_mjpeg_frames(view, 2)) == 2  # and others are still served


def test_connections_are_capped(live_view):
    view = live_view(max_connections=2)
    idle = [socket.create_connection((view.host, view.port), timeout=10) for _ in range(2)]
    try:
        view.wait(lambda: view.publisher.server._active == 2, 10, "two connections accepted")
        r = request(view, "GET", "/api/zones")
        assert r.status == 503
    finally:
        for s in idle:
            s.close()
    view.wait(lambda: view.publisher.server._active == 0, 30, "idle connections closed")
    assert request(view, "GET", "/api/zones").status == 200


def test_a_busy_port_is_logged_and_the_daemon_runs_on(horse_scene, caplog):
    import logging

    from edgecam.domain import Detections, Frame, FrameUpdate
    from edgecam.controls import Controls
    from edgecam.web.publisher import WebPublisher
    from edgecam.web.settings import WebSettings

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        pub = WebPublisher(WebSettings(port=port), "yard", Controls())
        with caplog.at_level(logging.ERROR, logger="edgecam.web.publisher"):
            pub.start()
        assert pub.server is None and pub.url is None
        [record] = [r for r in caplog.records if r.name == "edgecam.web.publisher"]
        assert f"cannot listen on 127.0.0.1:{port}" in record.getMessage() and "enabled = false" in record.getMessage()
        image = horse_scene[0]
        pub.publish(FrameUpdate("yard", Frame(image, 0, 0.0), None, Detections.empty()))  # the pipeline goes on
        pub.close()
    finally:
        taken.close()


def test_header_floods_and_head_requests(live_view):
    view = live_view()
    flood = {f"X-H{i}": "x" for i in range(150)}
    assert request(view, "GET", "/", headers=flood).status == 431
    head = request(view, "HEAD", "/api/zones")
    assert head.status == 200 and head.body == b"" and int(head.headers["Content-Length"]) > 0
