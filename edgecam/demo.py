"""``edgecam demo`` (``make run``): a local Mosquitto, the daemon on the sample images, and a live
view of what arrives over MQTT — the whole product end to end on one machine in one command."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgecam.errors import UsageError

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mosquitto() -> str:
    found = shutil.which("mosquitto") or next((p for p in MOSQUITTO_PATHS if Path(p).exists()), None)
    if not found:
        raise UsageError("mosquitto is not installed; run `sudo apt-get install mosquitto` (or `make install` as root)")
    return found


def start_broker(workdir: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([_mosquitto(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                raise UsageError(f"mosquitto exited at start (code {proc.returncode}); is it installed correctly?")
            time.sleep(0.05)
    proc.kill()
    raise UsageError("mosquitto did not start listening within 10 s")


def demo_scene(images: Path, workdir: Path, hold: int = 4) -> Path:
    """Each sample photo held for ``hold`` frames (symlinks), so objects appear, persist and leave."""
    scene = workdir / "scene"
    scene.mkdir()
    photos = sorted(p for p in images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for i, photo in enumerate(photos):
        for k in range(hold):
            (scene / f"{i:03d}-{k}{photo.suffix}").symlink_to(photo)
    return scene


def demo_config(images: Path, port: int, state_dir: Path, model: str, size: int) -> str:
    return f"""
[camera]
id = "demo"
source = "images"
path = "{images}"
fps = 4
loop = true

[model]
path = "{model}"
size = {size}
threads = 4

[mqtt]
host = "127.0.0.1"
port = {port}

[output]
state_dir = "{state_dir}"
stats_interval_s = 5

[motion]
enabled = false
"""


def _show(msg) -> None:
    topic = msg.topic
    if topic.endswith("/snapshot"):
        text = f"<jpeg {len(msg.payload)} bytes>"
    else:
        text = msg.payload.decode(errors="replace")
        if topic.endswith("/detections"):
            d = json.loads(text)
            text = f"frame {d['frame']}: " + ", ".join(f"{x['label']} {x['score']:.2f}" for x in d["detections"])
        elif topic.endswith("/events"):
            e = json.loads(text)
            text = f"{e['type']:<6} {e['label']} (score {e['score']:.2f}, top {e['top_score']:.2f}) id {e['id']}"
        elif topic.startswith("homeassistant/"):
            text = f"<discovery config, {len(msg.payload)} bytes>"
        elif len(text) > 160:
            text = text[:157] + "..."
    print(f"{topic:<45} {text}", flush=True)


def run_demo(shared: Path, frames: int, model: str = "yolov5ss", size: int = 640) -> int:
    import paho.mqtt.client as mqtt

    images = (shared / "images").resolve()
    if not images.is_dir():
        raise UsageError(f"{images}: sample images not found; pass --shared DIR")
    with tempfile.TemporaryDirectory(prefix="edgecam-demo-") as tmp:
        work = Path(tmp)
        broker, port = start_broker(work)
        try:
            cfg = work / "edgecam.toml"
            cfg.write_text(demo_config(demo_scene(images, work), port, work / "state", model, size))
            print(f"mosquitto on 127.0.0.1:{port}; config {cfg}; subscribing to edgecam/# and homeassistant/#", flush=True)
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edgecam-demo-viewer")
            client.on_message = lambda c, u, m: _show(m)
            client.connect("127.0.0.1", port)
            client.subscribe([("edgecam/#", 0), ("homeassistant/#", 0)])
            client.loop_start()
            daemon = subprocess.run([sys.executable, "-m", "edgecam", "run", "--config", str(cfg),
                                     "--max-frames", str(frames)])
            time.sleep(0.5)
            client.loop_stop()
            client.disconnect()
            return daemon.returncode
        finally:
            broker.terminate()
            broker.wait(5)
