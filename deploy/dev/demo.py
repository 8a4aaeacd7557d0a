"""``make run``: a local Mosquitto, the daemon on the sample images, and a live view of what arrives
over MQTT — the whole product end to end on one machine in one command.

``python -m deploy.dev.demo --images DIR [--frames N] [--hold S] [--model M] [--size N]`` from the
repository root.  Without ``--frames`` it runs until Ctrl-C: the photos loop like a camera, each held
for ``--hold`` seconds (``[camera] hold_s``) so its objects confirm, appear in Home Assistant's
entities and end when the next photo comes.  Ctrl-C stops the daemon cleanly (it flushes its events
and publishes ``offline``) and the demo exits 0.

On a terminal the demo takes the terminal's foreground process group for itself and the daemon, so
Ctrl-C reaches them and not ``make`` (which would otherwise report ``*** Interrupt`` and exit 130).
Development tooling: it lives beside the deploy pipeline, not in the package a Pi installs."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgecam.errors import EdgecamError, UsageError
from edgecam.evaluation.local_broker import start_broker


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_config(images: Path, port: int, state_dir: Path, model: str, size: int, web_port: int = 8080,
                hold_s: float = 3.0) -> str:
    return f"""
# the sample photos as a camera: each held for hold_s seconds, looping
[camera]
id = "demo"
source = "images"
path = "{images}"
fps = 4
loop = true
hold_s = {hold_s}

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


@contextlib.contextmanager
def terminal_foreground():
    """On a terminal: this process (and the daemon it starts) become the terminal's foreground group,
    so Ctrl-C is theirs alone; the previous group gets the terminal back on exit."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        yield
        return
    try:
        previous = os.tcgetpgrp(fd)
        if os.getpgrp() != os.getpid():
            os.setpgid(0, 0)
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background group may not set the terminal
        try:
            os.tcsetpgrp(fd, os.getpgrp())
        except OSError:
            pass
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.tcsetpgrp(fd, previous)
            signal.signal(signal.SIGTTOU, old)
    finally:
        os.close(fd)


def run_demo(images: Path, frames: int, model: str = "yolov5ss", size: int = 640, hold_s: float = 3.0) -> int:
    import paho.mqtt.client as mqtt

    images = images.resolve()
    if not images.is_dir():
        raise UsageError(f"{images}: sample images not found; pass --images DIR (a directory of photos)")
    with tempfile.TemporaryDirectory(prefix="edgecam-demo-") as tmp:
        work = Path(tmp)
        web_port = _free_port()
        # the first line: what to open (the daemon logs it again once it listens)
        print(f"live view: http://127.0.0.1:{web_port}/ (open it while the demo runs"
              f"{'' if frames else '; Ctrl-C stops the demo'})", flush=True)
        broker, port = start_broker(work)
        try:
            cfg = work / "edgecam.toml"
            cfg.write_text(demo_config(images, port, work / "state", model, size, web_port, hold_s))
            print(f"mosquitto on 127.0.0.1:{port}; config {cfg}; subscribing to edgecam/# and homeassistant/#", flush=True)
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edgecam-demo-viewer")
            client.on_message = lambda c, u, m: _show(m)
            client.connect("127.0.0.1", port)
            client.subscribe([("edgecam/#", 0), ("homeassistant/#", 0)])
            client.loop_start()
            command = [sys.executable, "-m", "edgecam", "run", "--config", str(cfg)]
            if frames:
                command += ["--max-frames", str(frames)]
            daemon = subprocess.Popen(command)
            try:
                code = daemon.wait()
            except KeyboardInterrupt:  # the daemon got the same SIGINT: it flushes, publishes offline, exits
                print("demo: stopping (Ctrl-C)", flush=True)
                code = _wait_ignoring_interrupts(daemon)
                code = 0 if code in (0, 130, -signal.SIGINT) else code
            time.sleep(0.5)
            client.loop_stop()
            client.disconnect()
            return code
        finally:
            broker.terminate()
            broker.wait(5)


def _wait_ignoring_interrupts(daemon: subprocess.Popen) -> int:
    """Wait for the daemon's clean stop; a second Ctrl-C while it flushes is passed on, not raised."""
    while True:
        try:
            return daemon.wait()
        except KeyboardInterrupt:
            continue


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m deploy.dev.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=Path, required=True, help="directory of sample photos (make run: ../shared/images)")
    p.add_argument("--frames", type=int, default=0, help="stop after N frames (default 0: run until Ctrl-C)")
    p.add_argument("--hold", type=float, default=3.0, help="seconds each photo is shown (default 3)")
    p.add_argument("--model", default="yolov5ss")
    p.add_argument("--size", type=int, default=640)
    args = p.parse_args(argv)
    try:
        with terminal_foreground():
            return run_demo(args.images, args.frames, args.model, args.size, args.hold)
    except EdgecamError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # before the daemon started: nothing to flush
        print("demo: stopped (Ctrl-C)", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
