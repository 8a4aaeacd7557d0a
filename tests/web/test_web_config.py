"""The ``[web]`` auth rule: a bind other than loopback needs a password or allow_unauthenticated;
``check`` and ``run`` refuse it with one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgecam.config.loader import parse_config
from edgecam.errors import ConfigError
from edgecam.web.settings import is_loopback

REPO = Path(__file__).resolve().parents[2]
CAMERA = '[camera]\nsource = "images"\npath = "."\n'


def web(text: str, tmp_path: Path):
    return parse_config(CAMERA + "[web]\n" + text, filename="edgecam.toml", base_dir=tmp_path).web


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_needs_no_password(host, tmp_path):
    assert web(f'host = "{host}"\n', tmp_path).host == host
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "raspberrypi.local"])
def test_other_binds_need_a_password(host, tmp_path):
    with pytest.raises(ConfigError) as err:
        web(f'host = "{host}"\n', tmp_path)
    message = str(err.value)
    assert message.startswith("edgecam.toml:5: [web] host:") and "\n" not in message
    assert "password_file" in message and "allow_unauthenticated = true" in message
    assert web(f'host = "{host}"\nallow_unauthenticated = true\n', tmp_path).allow_unauthenticated
    assert web(f'host = "{host}"\nenabled = false\n', tmp_path).enabled is False


def test_password_sources(tmp_path, monkeypatch):
    (tmp_path / "pw").write_text("hunter2\n")
    assert web('host = "0.0.0.0"\npassword_file = "pw"\n', tmp_path).password() == "hunter2"  # relative to the config
    monkeypatch.setenv("EDGECAM_WEB_PW", "envpw")
    assert web('host = "0.0.0.0"\npassword_env = "EDGECAM_WEB_PW"\n', tmp_path).password() == "envpw"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "web_password").write_text("credpw")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert web('host = "0.0.0.0"\npassword_credential = "web_password"\n', tmp_path).password() == "credpw"


@pytest.mark.parametrize("text, needle", [
    ('host = "0.0.0.0"\npassword_file = "missing"\n', "password file"),
    ('host = "0.0.0.0"\npassword_env = "EDGECAM_UNSET_VAR_FOR_TEST"\n', "is not set"),
    ('password_file = "pw"\npassword_env = "X"\n', "set only one of"),
    ('password_file = "pw"\nallow_unauthenticated = true\n', "contradicts"),
    ('port = 70000\n', "65535"),
    ('stream_fps = 0\n', "≥ 0.1"),
    ('max_streams = 100\n', "≤ 16"),
    ('colour = "red"\n', "unknown key"),
])
def test_bad_web_settings_are_one_line(text, needle, tmp_path):
    (tmp_path / "pw").write_text("x\n")
    with pytest.raises(ConfigError) as err:
        web(text, tmp_path)
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow  # runs edgecam check/run in subprocesses
@pytest.mark.parametrize("command", ["check", "run"])
def test_check_and_run_exit_2_on_an_open_bind_without_password(command, tmp_path):
    cfg = tmp_path / "edgecam.toml"
    cfg.write_text(CAMERA + '[mqtt]\nenabled = false\n[web]\nhost = "0.0.0.0"\n')
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "edgecam", command, "--config", str(cfg)], capture_output=True,
                       text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "[web] host" in lines[0] and "needs a password" in lines[0]
