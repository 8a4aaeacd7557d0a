"""A real Mosquitto broker for tests: generated config, free 127.0.0.1 port, stop/start on the same port.

Also ``make_tls_files`` (a test CA and a server certificate, generated with the ``openssl`` CLI) and
``MqttRecorder`` (a subscriber collecting messages per topic).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

MOSQUITTO = "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _require(binary: str, package: str) -> str:
    path = binary if Path(binary).is_file() else shutil.which(binary)
    if not path:
        raise RuntimeError(
            f"{binary} is missing; the broker tests need it: apt-get install {package} "
            "(.ci/run installs it)"
        )
    return path


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def make_tls_files(directory: Path, hostname: str = "localhost", ip_san: bool = True) -> TlsFiles:
    """A throw-away CA and a server certificate for ``hostname`` (+ IP 127.0.0.1 if ``ip_san``) signed by it."""
    openssl = _require("openssl", "openssl")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=edgecam test CA",
        "-keyout", "ca.key", "-out", "ca.crt")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={hostname}", "-keyout", "server.key", "-out", "server.csr")
    (d / "ext.cnf").write_text(f"subjectAltName=DNS:{hostname}{',IP:127.0.0.1' if ip_san else ''}\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt")
    return TlsFiles(d / "ca.crt", d / "server.crt", d / "server.key")


class Mosquitto:
    """One mosquitto process with a generated config in ``workdir``.

    ``users`` ({name: password}) switches anonymous access off; ``tls`` serves TLS on the port;
    ``persistence`` keeps sessions and queued messages across ``stop()``/``start()``.
    """

    def __init__(self, workdir: Path, users: dict[str, str] | None = None, tls: TlsFiles | None = None,
                 port: int | None = None, persistence: bool = False) -> None:
        self.binary = _require(MOSQUITTO, "mosquitto")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.tls = tls
        self.log_path = self.workdir / "mosquitto.log"
        self.config_path = self.workdir / "mosquitto.conf"
        self._proc: subprocess.Popen | None = None
        persist = ["persistence true", f"persistence_location {self.workdir}/"] if persistence else ["persistence false"]
        # as root, mosquitto would switch to user "mosquitto", who cannot read pytest's tmp dirs
        lines = [f"user {pwd.getpwuid(os.getuid()).pw_name}", f"listener {self.port} {self.host}", *persist, f"log_dest file {self.log_path}",
                 "log_type error", "log_type warning", "log_type notice", "log_type information",
                 "max_queued_messages 100000"]
        if users:
            pwfile = self.workdir / "passwd"
            pwfile.write_text("")
            passwd = _require("mosquitto_passwd", "mosquitto")
            for name, password in users.items():
                subprocess.run([passwd, "-b", str(pwfile), name, password], check=True, capture_output=True, timeout=30)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        if tls:
            lines += [f"cafile {tls.ca_cert}", f"certfile {tls.server_cert}", f"keyfile {tls.server_key}",
                      "require_certificate false"]
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> "Mosquitto":
        if self.running:
            return self
        self._proc = subprocess.Popen([self.binary, "-c", str(self.config_path)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise RuntimeError(f"mosquitto exited with {self._proc.returncode}: {err.strip()} {self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not accept connections on {self.port} within {timeout}s: {self.log()}")

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if proc.stderr:
            proc.stderr.close()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def __enter__(self) -> "Mosquitto":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    time: float  # time.monotonic() at arrival
    dup: bool = False  # the broker re-delivered it (QoS>0 redelivery to this subscriber)

    def text(self) -> str:
        return self.payload.decode()


class MqttRecorder:
    """A real paho subscriber that records every message per topic (in arrival order)."""

    def __init__(self, broker: Mosquitto, topics: Iterable[str] = ("#",), username: str | None = None,
                 password: str | None = None, ca_file: Path | None = None, client_id: str | None = None,
                 clean_session: bool = True) -> None:
        import paho.mqtt.client as mqtt

        self._mqtt = mqtt
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._topics = list(topics)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"recorder-{free_port()}",
                                  clean_session=clean_session)
        self.client.reconnect_delay_set(0.1, 0.5)
        if username:
            self.client.username_pw_set(username, password)
        if ca_file:
            self.client.tls_set(ca_certs=str(ca_file))
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, 30)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            self.close()
            raise RuntimeError(f"recorder could not subscribe on {broker.url}")

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:
        if not reason.is_failure:
            client.subscribe([(t, 1) for t in self._topics])

    def _on_message(self, client, userdata, msg) -> None:
        with self._cond:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain), time.monotonic(),
                                          bool(msg.dup)))
            self._cond.notify_all()

    def on(self, topic: str) -> list[Received]:
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, topic: str, predicate: Callable[[Received], bool] = lambda m: True,
                 timeout: float = 10.0) -> Received:
        """The first message on ``topic`` satisfying ``predicate`` (already received or arriving)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages:
                    if m.topic == topic and predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [m.payload[:80] for m in self.messages if m.topic == topic]
                    raise AssertionError(f"no matching message on {topic} within {timeout}s; got {seen[-5:]}")
                self._cond.wait(left)

    def wait_count(self, topic: str, n: int, timeout: float = 10.0) -> list[Received]:
        """Wait until at least ``n`` messages arrived on ``topic``; returns them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [m for m in self.messages if m.topic == topic]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(got)} of {n} messages on {topic} within {timeout}s")
                self._cond.wait(left)

    def publish(self, topic: str, payload: bytes | str, retain: bool = False, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(10)

    def clear(self) -> None:
        with self._cond:
            self.messages.clear()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
