"""Bounds on every number, names that collide after normalisation, secrets never shown, warnings."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest

from edgecam.config import Settings, check_config, load_config, parse_config
from edgecam.config.plugins import CAMERA_SETTINGS
from edgecam.redact import redact_url
from edgecam.errors import ConfigError
from edgecam.sources.settings import ImagesSettings, PiCamera2Settings
from sharedkit import IMAGES


def numeric_keys() -> list[tuple[str, str, str, type]]:
    """(section, key, source, int|float) for every number a config can hold."""
    out = []
    for f in dataclasses.fields(Settings):
        tp = typing.get_type_hints(Settings)[f.name]
        if f.name == "camera":
            classes = [(src, cls) for src, cls in CAMERA_SETTINGS.items()]
        else:
            cls = tp if dataclasses.is_dataclass(tp) else typing.get_args(tp)[0]
            classes = [("images", cls)]
        seen = set()
        for source, cls in classes:
            for key, kt in typing.get_type_hints(cls).items():
                if typing.get_origin(kt) is typing.Union and int in typing.get_args(kt):
                    kt = int  # a number or a word (threads = "auto")
                if kt in (int, float) and key not in seen:
                    seen.add(key)
                    out.append((f.name, key, source, kt))
    return out


def config_with(section: str, key: str, source: str, value: str) -> str:
    path = {"picamera2": "", "stream": 'path = "rtsp://cam/x"\n'}.get(source, 'path = "x"\n')
    camera = f'[camera]\nsource = "{source}"\n' + path
    if section == "camera":
        return camera + f"{key} = {value}\n"
    if section in ("zones", "masks"):
        return camera + f"[[{section}]]\nname = \"z\"\npoints = [[0, 0], [1, 0], [1, 1]]\n{key} = {value}\n"
    return camera + f"[{section}]\n{key} = {value}\n"


@pytest.mark.parametrize("section, key, source, kind", numeric_keys(), ids=lambda v: str(v))
@pytest.mark.parametrize("huge", [True, False])
def test_every_number_is_bounded(section, key, source, kind, huge):
    value = ("9" * 19 if kind is int else "1e300") if huge else ("-" + "9" * 18 if kind is int else "-1e300")
    text = config_with(section, key, source, value)
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    where = f"[[{section}]] #1 {key}" if section in ("zones", "masks") else f"[{section}] {key}"
    line = text.splitlines().index(f"{key} = {value}") + 1
    assert str(info.value).startswith(f"<config>:{line}: {where}: "), str(info.value)


def test_the_numeric_key_list_is_not_empty():
    keys = {(s, k) for s, k, _, _ in numeric_keys()}
    assert {("model", "size"), ("model", "threads"), ("camera", "fps"), ("camera", "lores_width"),
            ("mqtt", "port"), ("motion", "width")} <= keys


@pytest.mark.parametrize("text, expected", [
    ("[model]\nsize = 2080\n", "[model] size: must be ≤ 2048, got 2080"),
    ("[model]\nsize = 2048\nthreads = 65\n", "[model] threads: must be a whole number from 1 to 64 (about the CPU count), got 65; or \"auto\""),
    ('[model]\nclasses = ["traffic light", "Traffic_Light"]\n',
     "[model] classes: class names 'traffic light' and 'Traffic_Light' become the same id 'traffic_light'"),
    ('[tracking]\nlabels = ["dog", "dog"]\n', "[tracking] labels: label names 'dog' and 'dog' are listed twice"),
    ('[[zones]]\nname = "Drive-way"\npoints = [[0,0],[1,0],[1,1]]\n[[zones]]\nname = "drive_way"\npoints = [[0,0],[1,0],[1,1]]\n',
     "[[zones]]: zone names 'Drive-way' and 'drive_way' become the same id 'drive_way'"),
    ('[[zones]]\nname = "z"\npoints = [[0,0],[1,0],[1,1]]\nlabels = ["Car", "car"]\n',
     "[[zones]] #1 labels: label names 'Car' and 'car' become the same id 'car'"),
    ('[camera]\nsource = "images"\npath = "x"\nlores_width = 320\n',
     "[camera] lores_width: unknown key 'lores_width' for source = \"images\"; it is a key of source = \"picamera2\""),
    ('[camera]\nsource = "images"\npath = "x"\nfoo.bar.baz = 1\n', "<config>:4: [camera] foo: unknown key 'foo'"),
    ('a.b.c = 1\n', "<config>:1: [a]: unknown key 'a'"),
    ("[model]\nsize = 1e300\n", "[model] size: expected an integer, got a number (1e+300)\n"[:-1]),
    ('[model]\nsize = "' + "9" * 5000 + '"\n', '[model] size: expected an integer, got a string ("999'),
    ('[mqtt]\nhost = "broker:1883"\n', "[mqtt] host: host 'broker:1883' is not a host name or IP address"),
    ('[camera]\nsource = "opencv"\npath = "0"\nfps = "rtsp://bob:hunter2@cam/"\n',
     '[camera] fps: expected a number, got a string ("rtsp://bob:***@cam/")'),
    ('[filters]\nurl = "rtsp://bob:hunter2@cam/"\n',  # a validator's own message quoting the value
     "[filters] url: unknown key url = 'rtsp://bob:***@cam/'"),
])
def test_messages(text, expected):
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert expected in str(info.value)
    assert "hunter2" not in str(info.value)


def test_camera_section_is_the_model_of_its_source():
    assert set(CAMERA_SETTINGS) == {"picamera2", "opencv", "images", "stream"}
    for source, model in CAMERA_SETTINGS.items():
        path = "rtsp://cam/0" if source == "stream" else "0"
        assert type(parse_config(f'[camera]\nsource = "{source}"\npath = "{path}"\n').camera) is model
    assert type(Settings().camera) is PiCamera2Settings and Settings().camera.lores_width == 640  # picamera2 by default
    assert type(parse_config("[camera]\nfps = 2\n").camera) is PiCamera2Settings
    with pytest.raises(ValueError, match="unknown key|lores_width"):
        ImagesSettings(path="x", lores_width=320)


@pytest.mark.parametrize("url, shown", [
    ("rtsp://bob:hunter2@cam.local:554/stream", "rtsp://bob:***@cam.local:554/stream"),
    ("http://tok3n@cam/x", "http://***@cam/x"),
    ("rtsp://cam/stream", "rtsp://cam/stream"),
    ("see rtsp://a:b@h/ and http://c:d@i/", "see rtsp://a:***@h/ and http://c:***@i/"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edgecam.toml"
    path.write_text(text + f'\n[output]\nstate_dir = "{tmp_path / "state"}"\n')
    return path


def test_check_never_prints_the_stream_password(tmp_path):
    config = write(tmp_path, '[camera]\nsource = "opencv"\npath = "rtsp://bob:hunter2@cam.local/stream"\n')
    lines = check_config(config)
    camera = next(line for line in lines if line.startswith("[camera]"))
    assert "path='rtsp://bob:***@cam.local/stream'" in camera
    assert not any("hunter2" in line for line in lines)


def test_password_file_readable_by_others_is_a_warning(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    config = write(tmp_path, f'[camera]\nsource = "images"\npath = "{IMAGES}"\n'
                             f'[mqtt]\nusername = "u"\npassword_file = "{pw}"\n')
    pw.chmod(0o644)
    assert f"warning: [mqtt] password_file {pw} is readable by other users (mode 0644); chmod 600 {pw}" in check_config(config)
    pw.chmod(0o600)
    assert not any(line.startswith("warning") for line in check_config(config))


def test_tls_insecure_is_a_warning(tmp_path):
    config = write(tmp_path, f'[camera]\nsource = "images"\npath = "{IMAGES}"\n[mqtt]\ntls = true\ntls_insecure = true\n')
    warnings = [line for line in check_config(config) if line.startswith("warning")]
    assert len(warnings) == 1 and "[mqtt] tls_insecure = true" in warnings[0] and "set it to false" in warnings[0]


def test_check_lists_every_machine_problem(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    config = tmp_path / "edgecam.toml"
    config.write_text('[model]\npath = "nope"\n[mqtt]\nhost = "192.0.2.1"\nusername = "u"\npassword_env = "EDGECAM_T"\n'
                      f'[output]\nstate_dir = "{blocker}/state"\n')
    with pytest.raises(ConfigError) as info:
        load_config(config)
    problems = info.value.problems
    assert [p.split(": ")[1] for p in problems] == ["[model] path", "[mqtt] password_env", "[mqtt] password_env",
                                                     "[output] state_dir"]
    assert "without TLS to 192.0.2.1" in problems[1] and "EDGECAM_T is not set" in problems[2]
    assert all(p.startswith(f"{config}:") for p in problems)
