"""``make run``: a local Mosquitto, the daemon on the sample images, and a live view of what arrives
over MQTT — the whole product end to end on one machine in one command.

``python -m deploy.dev.demo --images DIR [--frames N] [--model M] [--size N]`` from the repository root.
Development tooling: it lives beside the deploy pipeline, not in the package a Pi installs."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgecam.errors import EdgecamError, UsageError
from edgecam.evaluation.local_broker import start_broker


def demo_scene(images: Path, workdir: Path, hold: int = 4) -> Path:
    """Each sample photo held for ``hold`` frames (symlinks), so objects appear, persist and leave."""
    scene = workdir / "scene"
    scene.mkdir()
    photos = sorted(p for p in images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for i, photo in enumerate(photos):
        for k in range(hold):
            (scene / f"{i:03d}-{k}{photo.suffix}").symlink_to(photo)
    return scene


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_config(images: Path, port: int, state_dir: Path, model: str, size: int, web_port: int = 8080) -> str:
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

[web]
port = {web_port}
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


def run_demo(images: Path, frames: int, model: str = "yolov5ss", size: int = 640) -> int:
    import paho.mqtt.client as mqtt

    images = images.resolve()
    if not images.is_dir():
        raise UsageError(f"{images}: sample images not found; pass --images DIR (a directory of photos)")
    with tempfile.TemporaryDirectory(prefix="edgecam-demo-") as tmp:
        work = Path(tmp)
        broker, port = start_broker(work)
        try:
            cfg = work / "edgecam.toml"
            web_port = _free_port()
            cfg.write_text(demo_config(demo_scene(images, work), port, work / "state", model, size, web_port))
            print(f"mosquitto on 127.0.0.1:{port}; config {cfg}; subscribing to edgecam/# and homeassistant/#", flush=True)
            print(f"live view: http://127.0.0.1:{web_port}/ (open it while the demo runs)", flush=True)
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deploy.dev.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=Path, required=True, help="directory of sample photos (make run: ../shared/images)")
    p.add_argument("--frames", type=int, default=40, help="frames to process (default 40)")
    p.add_argument("--model", default="yolov5ss")
    p.add_argument("--size", type=int, default=640)
    args = p.parse_args(argv)
    try:
        return run_demo(args.images, args.frames, args.model, args.size)
    except EdgecamError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
