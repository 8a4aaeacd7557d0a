"""``check`` passing means ``run`` starts; ``check`` failing means ``run`` refuses with the same problem.

A corpus of configs runs through ``edgecam check`` and ``edgecam run --max-frames 1`` (subprocesses,
real models, the sample images, a real Mosquitto). Valid ones must pass both; broken ones — each a way
``check`` used to say OK while ``run`` failed — must fail both with exit 2 and the same first line,
naming the file, line and key.
"""

from __future__ import annotations

import pytest
from broker import Mosquitto, make_tls_files
from cli_run import assert_clean_exit2, edgecam
from daemonkit import SHARED, write_config

pytestmark = pytest.mark.slow  # starts edgecam daemons (subprocesses)

IMAGES = SHARED / "images"


def valid_variants(tmp_path, port):
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    pw.chmod(0o600)
    zone = '\n[[zones]]\nname = "left"\npoints = [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]\nlabels = ["person", "dog"]\n'
    return {
        "base": dict(),
        "stdout-only": dict(port=None),
        "labels-and-zones": dict(extra='[homeassistant]\ndevice_name = "Yard"\n' + zone,
                                 mqtt='qos_events = 2\n'),
        "password-to-loopback": dict(mqtt=f'username = "edgecam"\npassword_file = "{pw}"\n'),
        "int8-with-classes": dict(model_path="yolov5ss-int8"),
    }


def run_both(config):
    return edgecam("check", "--config", str(config)), edgecam("run", "--config", str(config), "--max-frames", "1")


@pytest.mark.parametrize("name", ["base", "stdout-only", "labels-and-zones", "password-to-loopback", "int8-with-classes"])
def test_valid_configs_pass_check_and_run(tmp_path, mosquitto, name):
    kw = valid_variants(tmp_path, mosquitto.port)[name]
    port = kw.pop("port", mosquitto.port)
    config = write_config(tmp_path, IMAGES, port, **kw)
    check, run = run_both(config)
    assert check.code == 0, check
    assert check.stdout.startswith(f"{config}: OK"), check.stdout
    assert run.code == 0, run.stderr[-3000:]


def test_tls_with_insecure_host_check_warns_and_runs(tmp_path):
    tls = make_tls_files(tmp_path / "tls", hostname="broker.invalid", ip_san=False)
    broker = Mosquitto(tmp_path / "broker", tls=tls).start()
    try:
        mqtt = f'tls = true\nca_file = "{tls.ca_cert}"\ntls_insecure = true\n'
        config = write_config(tmp_path, IMAGES, broker.port, mqtt=mqtt)
        check, run = run_both(config)
    finally:
        broker.stop()
    assert check.code == 0, check
    assert "warning: [mqtt] tls_insecure = true" in check.stdout
    assert run.code == 0, run.stderr[-3000:]
    assert "tls_insecure = true" in run.stderr  # the same warning, logged by the daemon


def broken_variants(tmp_path):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    return {
        # name: (write_config keywords, the key the message names, a word of the problem)
        "unknown-model": (dict(model_path="no-such-model"), "[model] path", "not found"),
        "garbage-ca-file": (dict(mqtt=f'tls = true\nca_file = "{garbage}"\n'), "[mqtt] ca_file", "PEM"),
        "ca-file-is-a-directory": (dict(mqtt=f'tls = true\nca_file = "{tmp_path}"\n'), "[mqtt] ca_file", "directory"),
        "plaintext-password-to-remote": (dict(mqtt=f'username = "u"\npassword_file = "{pw}"\n'),
                                         "[mqtt] password_file", "without TLS"),
        "state-dir-under-a-file": (dict(state_dir=blocker / "state"), "[output] state_dir", "not a directory"),
    }


BROKEN = ["empty-host", "hostname-with-scheme", "unknown-model", "garbage-ca-file", "ca-file-is-a-directory",
          "plaintext-password-to-remote", "state-dir-under-a-file", "unknown-tracking-label", "unknown-model-class",
          "unknown-zone-label", "blank-opencv-path", "web-user-with-colon", "web-credential-dotdot",
          "reshape-zero-model"]


def broken_config(tmp_path, name, port):
    if name == "unknown-model-class":
        return write_config(tmp_path, IMAGES, port, extra=""), "[model] classes", "unicorn"
    if name == "unknown-zone-label":
        extra = '\n[[zones]]\nname = "z"\npoints = [[0, 0], [1, 0], [1, 1]]\nlabels = ["unicorn"]\n'
        return write_config(tmp_path, IMAGES, port, extra=extra), "[[zones]] #1 labels", "unicorn"
    replacements = {
        "empty-host": ('host = "127.0.0.1"', 'host = ""', "[mqtt] host", "empty"),
        "hostname-with-scheme": ('host = "127.0.0.1"', 'host = "mqtt://broker"', "[mqtt] host", "not a host name"),
        "unknown-tracking-label": ("[tracking]\n", '[tracking]\nlabels = ["unicorn"]\n', "[tracking] labels", "unicorn"),
    }
    if name in replacements:
        old, new, key, word = replacements[name]
        config = write_config(tmp_path, IMAGES, port)
        config.write_text(config.read_text().replace(old, new))
        return config, key, word
    if name == "web-user-with-colon":
        config = write_config(tmp_path, IMAGES, port, web='enabled = true\nport = 0\nusername = "ad:min"\n')
        return config, "[web] username", "':'"
    if name == "web-credential-dotdot":
        config = write_config(tmp_path, IMAGES, port, web='enabled = true\nport = 0\npassword_credential = ".."\n')
        return config, "[web] password_credential", "not a credential name"
    if name == "reshape-zero-model":
        param = (SHARED / "models" / "yolov5ss.param").read_text()
        (tmp_path / "model").mkdir()
        (tmp_path / "model" / "yolov5ss.param").write_text(param.replace("918 936 0=-1 1=85 2=3", "918 936 0=-1 1=0 2=3"))
        (tmp_path / "model" / "yolov5ss.bin").symlink_to(SHARED / "models" / "yolov5ss.bin")
        config = write_config(tmp_path, IMAGES, port, model_path=str(tmp_path / "model" / "yolov5ss.param"))
        return config, "[model] path", "zero-size dimension"
    if name == "blank-opencv-path":
        config = write_config(tmp_path, IMAGES, port)
        text = config.read_text().replace('source = "images"', 'source = "opencv"').replace(f'path = "{IMAGES}"', 'path = "   "')
        config.write_text(text)
        return config, "[camera] path", "path is required"
    kw, key, word = broken_variants(tmp_path)[name]
    if name == "plaintext-password-to-remote":
        port = 1883
        kw = dict(kw, mqtt=kw["mqtt"] + 'allow_plaintext_password = false\n')
    config = write_config(tmp_path, IMAGES, port, **kw)
    if name == "plaintext-password-to-remote":
        config.write_text(config.read_text().replace('host = "127.0.0.1"', 'host = "192.0.2.1"'))
    return config, key, word


@pytest.mark.parametrize("name", BROKEN)
def test_broken_configs_fail_check_and_run_alike(tmp_path, mosquitto, name):
    config, key, word = broken_config(tmp_path, name, mosquitto.port)
    if name == "unknown-model-class":
        config.write_text(config.read_text().replace("[model]\n", '[model]\nclasses = ["person", "unicorn"]\n'))
    check, run = run_both(config)
    assert_clean_exit2(check, f"edgecam check: {config}:", f"{key}:", word)
    assert_clean_exit2(run, f"edgecam run: {config}:", f"{key}:", word)
    first_problem = check.lines[0].removeprefix("edgecam check: ")
    assert run.lines[-1].removeprefix("edgecam run: ").startswith(first_problem)
    assert ";" in first_problem.split(f"{key}:", 1)[1]  # the fix follows the problem
