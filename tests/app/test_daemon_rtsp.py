"""`edgecam run` on a real RTSP camera (gst-rtsp-server, a crowd in view) with a password holding `@`.

One daemon, three acts, under a simulated systemd watchdog:
1. frames flow: ``<cam>/camera`` is ``online``, people are counted, latency_ms is in the stats;
2. the server is killed (a camera losing power): ``camera`` goes ``offline``, every live track ends
   with ``"reason": "camera_lost"``, the count goes to 0, the cause is in the stats — and the watchdog
   keeps pinging through an outage longer than its interval; the server restarts and frames come back;
3. the server is frozen (SIGSTOP: the connection stays open, nothing comes): the same, through the
   stall timeout; SIGCONT and frames come back.
Throughout: every ``new`` has exactly one ``end``, and the password (or its tail after the first
``@``) appears in no log line, no stdout line and no MQTT payload; ``edgecam check --probe`` reports
the stream and hides it too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from daemonkit import AVAILABILITY, BASE, CAM, Daemon, assert_every_new_ended_once
from notify_socket import NotifyListener

pytestmark = pytest.mark.slow

PASSWORD = "p@ss:w0rd"
CAMERA = f"{BASE}/camera"
PERSON = f"{BASE}/person"
STATS = f"{BASE}/stats"
WATCHDOG_S = 2.0


def write_config(tmp_path, url: str, port: int):
    cfg = tmp_path / "edgecam.toml"
    cfg.write_text(f"""
[camera]
id = "{CAM}"
source = "stream"
path = "{url}"
fps = 5
stall_timeout_s = 1.0
open_timeout_s = 3.0
read_timeout_s = 1.0
reconnect_initial_s = 0.2
reconnect_max_s = 1.0

[model]
size = 320
threads = 1

[mqtt]
enabled = true
host = "127.0.0.1"
port = {port}
reconnect_min_s = 0.2
reconnect_max_s = 0.5
snapshot_interval_s = 0.5

[output]
stdout = true
state_dir = "{tmp_path / 'state'}"
stats_interval_s = 0.5

[tracking]
min_hits = 2
max_missed_s = 0.6

[motion]
enabled = false

[thermal]
sysfs_root = "{tmp_path / 'sys'}"
warmup_min_runs = 1
warmup_max_runs = 2
""")
    return cfg


def after(rec, topic: str, since: float, predicate, timeout: float, what: str):
    try:
        return rec.wait_for(topic, lambda m: m.time > since and predicate(m), timeout)
    except AssertionError as exc:
        raise AssertionError(f"{what}: {exc}") from None


def stats_after(rec, since: float, predicate, timeout: float, what: str) -> dict:
    return json.loads(after(rec, STATS, since, lambda m: predicate(json.loads(m.payload)), timeout, what).payload)


def lost_ends(daemon) -> list[dict]:
    return [e for e in daemon.events() if e["type"] == "end" and e.get("reason") == "camera_lost"]


def test_camera_lost_and_back_under_a_watchdog(tmp_path, mosquitto, mqtt_recorder, rtsp_camera):  # noqa: PLR0915
    cam = rtsp_camera(user="cam", password=PASSWORD)
    rec = mqtt_recorder(mosquitto, ("edgecam/#", "homeassistant/#"))
    cfg = write_config(tmp_path, cam.url(), mosquitto.port)
    manager = NotifyListener()
    env = {"NOTIFY_SOCKET": manager.env_value, "WATCHDOG_USEC": str(int(WATCHDOG_S * 1e6))}
    try:
        with Daemon(cfg, tmp_path / "run", env=env) as daemon:
            # 1. frames flow, people counted, latency measured
            rec.wait_for(CAMERA, lambda m: m.payload == b"online", 120)
            rec.wait_for(PERSON, lambda m: int(m.payload) >= 2, 60)
            stats = stats_after(rec, 0, lambda s: s["latency_ms"]["p50"] is not None, 30, "latency in the stats")
            lat = stats["latency_ms"]
            assert 0 < lat["p50"] <= lat["p95"] < 5000, lat  # capture (PTS → wall clock) to the MQTT publish
            assert stats["camera"] == "online" and stats["decode_errors"] == 0

            # 2. the camera loses power, for longer than the watchdog interval
            open_before = {e["id"] for e in daemon.events() if e["type"] == "new"} - {e["id"] for e in daemon.events() if e["type"] == "end"}
            assert open_before
            t_kill = time.monotonic()
            cam.stop()
            after(rec, CAMERA, t_kill, lambda m: m.payload == b"offline", 20, "camera offline")
            late = mqtt_recorder(mosquitto, (CAMERA,))  # what Home Assistant finds when it (re)starts now
            assert late.wait_for(CAMERA, timeout=10).retain and late.on(CAMERA)[-1].payload == b"offline"
            after(rec, PERSON, t_kill, lambda m: m.payload == b"0", 20, "count to 0")
            daemon.wait_until(lambda: open_before <= {e["id"] for e in lost_ends(daemon)}, 20, "camera_lost ends")
            down = stats_after(rec, t_kill, lambda s: s["camera"] == "offline" and s["reconnect_attempts"] >= 2,
                               20, "stats while the camera is down")
            assert "Connection refused" in down["last_error"] and down["reconnects"] >= 2
            # the watchdog keeps pinging through an outage longer than its interval (then the camera returns)
            manager.wait_for(lambda _m: any(t > t_kill + 2 * WATCHDOG_S and "WATCHDOG=1" in m.split("\n")
                                            for t, m in manager.snapshot()), 20)
            assert daemon.proc.poll() is None
            t_back = time.monotonic()
            cam.start()
            online = after(rec, CAMERA, t_back, lambda m: m.payload == b"online", 30, "camera online again")
            after(rec, PERSON, t_back, lambda m: int(m.payload) >= 2, 30, "people counted again")
            print(f"\nframes back {online.time - t_back:.2f} s after the camera restarted")

            # 3. the camera hangs: connection open, nothing comes
            t_stop = time.monotonic()
            open_now = {e["id"] for e in daemon.events() if e["type"] == "new"} - {e["id"] for e in daemon.events() if e["type"] == "end"}
            cam.pause()
            after(rec, CAMERA, t_stop, lambda m: m.payload == b"offline", 20, "camera offline (stalled)")
            after(rec, PERSON, t_stop, lambda m: m.payload == b"0", 20, "count to 0 (stalled)")
            daemon.wait_until(lambda: open_now <= {e["id"] for e in lost_ends(daemon)}, 20, "camera_lost ends (stalled)")
            t_cont = time.monotonic()
            cam.resume()
            after(rec, CAMERA, t_cont, lambda m: m.payload == b"online", 40, "camera online after SIGCONT")
            after(rec, PERSON, t_cont, lambda m: int(m.payload) >= 2, 30, "people counted after SIGCONT")

            assert daemon.terminate() == 0, daemon.stderr()[-3000:]
    finally:
        manager.close()

    events = daemon.events()
    assert_every_new_ended_once(events)
    assert len(lost_ends(daemon)) >= 2
    # Home Assistant: counts/occupancy/snapshot follow the camera too; a connectivity sensor for it
    disc = json.loads(rec.on("homeassistant/device/edgecam_yard/config")[-1].payload)
    person = disc["cmps"]["edgecam_yard_person_count"]
    assert [a["topic"] for a in person["availability"]] == [AVAILABILITY, CAMERA] and person["availability_mode"] == "all"
    assert disc["cmps"]["edgecam_yard_camera"]["state_topic"] == CAMERA
    # the password never shows: logs, stdout, MQTT payloads
    tail = PASSWORD.split("@", 1)[1]
    err, out = daemon.stderr(), daemon.stdout()
    assert "Traceback" not in err
    assert "rtsp://cam:***@127.0.0.1" in err  # the URL is logged, hidden
    for text in (err, out, *[m.payload.decode("utf-8", "replace") for m in rec.messages]):
        assert PASSWORD not in text and tail not in text


def test_check_probe_reports_the_stream_or_its_own_error(tmp_path, rtsp_camera):
    cam = rtsp_camera(user="cam", password=PASSWORD)

    def check(url: str) -> subprocess.CompletedProcess:
        cfg = write_config(tmp_path, url, 1883)
        return subprocess.run([sys.executable, "-m", "edgecam", "check", "--config", str(cfg), "--probe"],
                              capture_output=True, text=True, timeout=60)

    ok = check(cam.url())
    assert ok.returncode == 0, ok.stderr
    assert f"camera {CAM}: stream:rtsp://cam:***@127.0.0.1:{cam.port}/cam: h264 640x360 10 fps" in ok.stdout
    causes = {}
    for name, url in (("404", cam.url("nope")), ("401", cam.url(password="wr@ng:pw")),
                      ("audio", cam.url("audio"))):
        r = check(url)
        assert r.returncode == 1 and r.stderr.count("\n") == 1, (name, r.stderr)
        causes[name] = r.stderr
    assert "404 Not Found" in causes["404"] and "401 Unauthorized" in causes["401"]
    assert "no video stream" in causes["audio"]
    for r in (ok, *causes.values()):
        text = r if isinstance(r, str) else r.stdout + r.stderr
        assert PASSWORD not in text and "ss:w0rd" not in text and "ng:pw" not in text


def test_a_camera_that_never_opens_is_offline_with_its_cause(tmp_path, mosquitto, mqtt_recorder, rtsp_camera):
    cam = rtsp_camera(user="cam", password=PASSWORD)
    rec = mqtt_recorder(mosquitto, ("edgecam/#",))
    cfg = write_config(tmp_path, cam.url(password="wr@ng:pw"), mosquitto.port)
    with Daemon(cfg, tmp_path / "run") as daemon:
        rec.wait_for(CAMERA, lambda m: m.payload == b"offline", 120)
        stats = stats_after(rec, 0, lambda s: s["reconnect_attempts"] >= 2, 30, "stats with the cause")
        assert stats["camera"] == "offline" and stats["fps"] == 0
        assert "401 Unauthorized" in stats["last_error"] and "check the user name and password" in stats["last_error"]
        assert daemon.terminate() == 0, daemon.stderr()[-3000:]
    assert not rec.on(PERSON) or all(m.payload == b"0" for m in rec.on(PERSON))
    assert [m.payload for m in rec.on(CAMERA)] == [b"offline"]
    for text in (daemon.stderr(), daemon.stdout(), *[m.payload.decode("utf-8", "replace") for m in rec.messages]):
        assert "wr@ng:pw" not in text and "ng:pw" not in text
