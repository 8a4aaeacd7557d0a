"""The TOML loader: typed values, ranges, unknown keys, line numbers, paths, one clear message."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from edgecam.config import EXAMPLE_CONFIG, Settings, check_config, load_config, parse_config
from edgecam.errors import ConfigError, UsageError

CONTRACT_EXAMPLE = """\
[camera]
id = "frontdoor"            # used in topics
source = "images"           # picamera2 | opencv | images
path = "../shared/images"   # file/dir/glob for images, device or URL for opencv
fps = 5                     # target frame rate

[model]
path = "yolov5ss"           # a model reference (section 2)
size = 640
threads = 4
conf = 0.45

[mqtt]
enabled = true
host = "127.0.0.1"
port = 1883
prefix = "edgecam"

[homeassistant]
discovery = true
prefix = "homeassistant"

[output]
stdout = false              # true: also print every message as a JSON line on stdout
"""


def write(tmp_path: Path, text: str, name: str = "edgecam.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


def test_contract_example_loads_with_typed_values(tmp_path):
    cfg = load_config(write(tmp_path, CONTRACT_EXAMPLE))
    assert isinstance(cfg, Settings)
    assert cfg.camera.id == "frontdoor" and cfg.camera.source == "images"
    assert cfg.camera.fps == 5.0 and isinstance(cfg.camera.fps, float)  # int accepted for float
    assert cfg.camera.path == str(tmp_path / "../shared/images")  # relative to the config file
    assert cfg.model.path == "yolov5ss"  # a known name stays a name
    assert (cfg.model.size, cfg.model.threads, cfg.model.conf) == (640, 4, 0.45)
    assert cfg.mqtt.enabled is True and cfg.mqtt.port == 1883 and cfg.mqtt.prefix == "edgecam"
    assert cfg.homeassistant.discovery is True and cfg.homeassistant.prefix == "homeassistant"
    assert cfg.output.stdout is False


def test_empty_file_gives_defaults_for_a_pi_camera(tmp_path):
    cfg = load_config(write(tmp_path, ""))
    assert cfg == Settings()
    assert cfg.camera.source == "picamera2" and cfg.camera.format == "YUV420"


def test_out_of_range_names_file_line_and_key(tmp_path):
    err = error_of(tmp_path, "[camera]\nid = 'x'\n\n[model]\nthreads = 2\nsize = 9000\n")
    assert str(err) == f"{tmp_path / 'edgecam.toml'}:6: [model] size: must be ≤ 2048, got 9000"
    assert err.exit_code == 2 and isinstance(err, UsageError)


def test_conf_uses_the_one_confidence_range(tmp_path):
    err = error_of(tmp_path, "[model]\nconf = 0\n")
    assert ":2: [model] conf: 0.0 is out of range; use a number from 0.01 to 0.99" in str(err)
    err = error_of(tmp_path, "[model]\nconf = 4.9e-324\n")
    assert ":2: [model] conf: 5e-324 is out of range" in str(err)
    assert parse_config("[model]\nconf = 0.456\n").model.conf == 0.46  # the resolution every interface shows


def test_below_min(tmp_path):
    err = error_of(tmp_path, "[camera]\nfps = 0.01\n")
    assert ":2: [camera] fps: must be ≥ 0.1, got 0.01" in str(err)


@pytest.mark.parametrize(
    "line, expected",
    [
        ('size = "640"', 'expected an integer, got a string ("640"); write 640 without quotes'),
        ("size = 640.0", "expected an integer, got a number (640.0); write 640"),
        ("max_detections = true", "expected an integer, got a boolean (true)"),  # bool is not an int
        ("threads = true", 'must be a whole number from 1 to 64 (about the CPU count), got True; or "auto"'),
        ('fp16 = "true"', "expected true or false, got a string (\"true\"); write true without quotes"),
        ("fp16 = 1", "expected true or false, got an integer (1)"),
        ("conf = true", "expected a number, got a boolean (true)"),
        ("path = 5", 'expected a string, got an integer (5); put it in quotes: "5"'),
        ('classes = "person"', 'expected an array, got a string ("person"); write ["person"]'),
        ("conf = nan", "must be a finite number, got nan"),
    ],
)
def test_wrong_types(tmp_path, line, expected):
    err = error_of(tmp_path, f"# comment\n[model]\n{line}\n")
    key = line.split(" ")[0]
    assert str(err).endswith(f"edgecam.toml:3: [model] {key}: {expected}")


def test_array_item_type_error_points_at_the_item(tmp_path):
    err = error_of(tmp_path, '[model]\nclasses = [\n  "person",\n  5,\n]\n')
    assert "edgecam.toml:2: [model] classes[1]: expected a string, got an integer (5)" in str(err)


def test_unknown_key_suggests_closest(tmp_path):
    err = error_of(tmp_path, "[model]\nsize = 320\nthreds = 2\n")
    assert str(err).endswith("edgecam.toml:3: [model] threds: unknown key 'threds'; did you mean 'threads'?")


def test_unknown_key_without_close_match_lists_known(tmp_path):
    err = error_of(tmp_path, "[homeassistant]\nzzz = 1\n")
    assert "[homeassistant] zzz: unknown key 'zzz'; known keys: discovery, prefix" in str(err)


def test_unknown_section(tmp_path):
    err = error_of(tmp_path, "[cmaera]\nid = 'x'\n")
    assert str(err).endswith("edgecam.toml:1: [cmaera]: unknown key 'cmaera'; did you mean 'camera'?")


def test_section_must_be_a_table(tmp_path):
    err = error_of(tmp_path, "camera = 5\n")
    assert "edgecam.toml:1: [camera]: expected a table, got an integer (5)" in str(err)


def test_literal_choice_with_suggestion(tmp_path):
    err = error_of(tmp_path, '[camera]\nsource = "picamera"\n')
    assert (
        "edgecam.toml:2: [camera] source: must be one of 'picamera2', 'opencv', 'images', 'stream', "
        "got a string (\"picamera\"); did you mean 'picamera2'?"
    ) in str(err)


def test_pattern(tmp_path):
    err = error_of(tmp_path, '[camera]\nid = "front door"\n')
    assert "edgecam.toml:2: [camera] id: 'front door' does not match the pattern" in str(err)


def test_validate_method_error_points_at_its_key(tmp_path):
    err = error_of(tmp_path, "[model]\nthreads = 2\nsize = 33\n")
    assert str(err).endswith("edgecam.toml:3: [model] size: size must be a multiple of 32 (got 33); try 32")


def test_validate_cross_field_camera(tmp_path):
    err = error_of(tmp_path, '[camera]\nsource = "images"\nfps = 2\n')
    assert "edgecam.toml:2: [camera] source: path is required for source = \"images\"" in str(err)


def test_array_of_tables_index_and_line(tmp_path):
    text = """\
    [[zones]]
    name = "a"
    points = [[0, 0], [1, 0], [1, 1]]

    [[zones]]
    name = "b"
    points = [[0, 0], [1, 0]]
    """
    err = error_of(tmp_path, text)
    assert "edgecam.toml:7: [[zones]] #2 points: zone 'b' needs at least 3 points, got 2" in str(err)


def test_fixed_length_tuple(tmp_path):
    err = error_of(tmp_path, '[[masks]]\npoints = [[0, 0], [1, 0, 3], [1, 1]]\n')
    assert "edgecam.toml:2: [[masks]] #1 points: mask point [1.0, 0.0, 3.0] must be [x, y]" in str(err)
    cfg = load_config(write(tmp_path, '[[masks]]\npoints = [[0, 0], [1, 0.5], [1, 1]]\n'))
    assert cfg.masks[0].points == ((0.0, 0.0), (1.0, 0.5), (1.0, 1.0))


def test_duplicate_zone_names(tmp_path):
    text = "".join('[[zones]]\nname = "a"\npoints = [[0,0],[1,0],[1,1]]\n' for _ in range(2))
    err = error_of(tmp_path, text)
    assert "edgecam.toml:1: [[zones]]: zone names 'a' and 'a' are listed twice; keep one of them" in str(err)


def test_all_problems_collected_first_by_line_reported(tmp_path):
    err = error_of(tmp_path, "[model]\nsize = 9000\n\n[camera]\nfps = -1\nbogus = 1\n")
    assert str(err).startswith(f"{tmp_path / 'edgecam.toml'}:2: [model] size")
    assert str(err).endswith(f"(+2 more problems; edgecam check --config {tmp_path / 'edgecam.toml'} lists all)")
    assert [p.split(": ")[1] for p in err.problems] == ["[model] size", "[camera] fps", "[camera] bogus"]
    assert "\n" not in str(err)


def test_bad_toml_reports_line_and_column(tmp_path):
    err = error_of(tmp_path, '[camera]\nid = "x"\nfps = 5 5\n')
    assert str(err).startswith(f"{tmp_path / 'edgecam.toml'}:3:")
    assert "invalid TOML" in str(err)


def test_bad_toml_duplicate_key(tmp_path):
    err = error_of(tmp_path, "[model]\nsize = 320\nsize = 640\n")
    assert ":3:" in str(err) and "invalid TOML" in str(err)


def test_bad_toml_unquoted_string(tmp_path):
    err = error_of(tmp_path, "[mqtt]\nhost = localhost\n")
    assert ":2:" in str(err) and "text values need quotes" in str(err)


def test_missing_file_names_it_and_the_fix(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    msg = str(info.value)
    assert str(missing) in msg and "not found" in msg
    assert str(EXAMPLE_CONFIG) in msg and "edgecam check --config" in msg


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_not_utf8(tmp_path):
    path = tmp_path / "edgecam.toml"
    path.write_bytes(b"[camera]\nid = \"caf\xe9\"\n")
    with pytest.raises(ConfigError, match=r"edgecam.toml:2: config file is not UTF-8"):
        load_config(path)


# -- relative paths --------------------------------------------------------------------------
def test_paths_resolve_against_the_config_directory(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    (conf_dir / "pw").write_text("s3cret\n")
    text = """\
    [camera]
    source = "images"
    path = "pics/*.jpg"
    [model]
    path = "models/my.param"
    [mqtt]
    username = "u"
    password_file = "pw"
    [output]
    state_dir = "state"
    """
    cfg = load_config(write(conf_dir, text), preflight=False)
    assert cfg.camera.path == str(conf_dir / "pics/*.jpg")
    assert cfg.model.path == str(conf_dir / "models/my.param")
    assert cfg.mqtt.password_file == str(conf_dir / "pw")
    assert cfg.output.state_dir == str(conf_dir / "state")


def test_model_name_resolved_only_if_it_exists_beside_the_config(tmp_path):
    (tmp_path / "bundle").mkdir()
    cfg = load_config(write(tmp_path, '[model]\npath = "bundle"\n'), preflight=False)
    assert cfg.model.path == str(tmp_path / "bundle")
    cfg = load_config(write(tmp_path, '[model]\npath = "yolov5ss-int8"\n'))
    assert cfg.model.path == "yolov5ss-int8"


@pytest.mark.parametrize(
    "source, path, expected",
    [
        ("opencv", "0", "0"),
        ("opencv", "rtsp://cam.local/stream", "rtsp://cam.local/stream"),
        ("opencv", "/dev/video0", "/dev/video0"),
        ("opencv", "clip.mp4", "{dir}/clip.mp4"),
        ("picamera2", "1", "1"),
        ("images", "/abs/dir", "/abs/dir"),
    ],
)
def test_camera_path_resolution_depends_on_source(tmp_path, source, path, expected):
    cfg = load_config(write(tmp_path, f'[camera]\nsource = "{source}"\npath = "{path}"\n'))
    assert cfg.camera.path == expected.format(dir=tmp_path)


def test_state_dir_defaults_to_systemd_state_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/edgecam:/var/lib/other")
    assert load_config(write(tmp_path, "")).output.state_dir == "/var/lib/edgecam"
    monkeypatch.delenv("STATE_DIRECTORY")
    assert load_config(write(tmp_path, "")).output.state_dir == os.path.expanduser("~/.local/state/edgecam")


# -- secrets through the loader ----------------------------------------------------------------
def test_missing_password_file_is_a_config_error_at_its_line(tmp_path):
    err = error_of(tmp_path, '[mqtt]\nusername = "u"\npassword_file = "missing-pw"\n')
    assert f"edgecam.toml:3: [mqtt] password_file: mqtt password file {tmp_path / 'missing-pw'} does not exist" in str(err)


def test_unset_password_env_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.delenv("EDGECAM_TEST_PW", raising=False)
    err = error_of(tmp_path, '[mqtt]\nusername = "u"\npassword_env = "EDGECAM_TEST_PW"\n')
    assert "edgecam.toml:3: [mqtt] password_env: mqtt password: environment variable EDGECAM_TEST_PW is not set" in str(err)
    monkeypatch.setenv("EDGECAM_TEST_PW", "x")
    assert load_config(tmp_path / "edgecam.toml").mqtt.password_env == "EDGECAM_TEST_PW"


def test_credential_checked_when_credentials_directory_is_set(tmp_path, monkeypatch):
    text = '[mqtt]\nusername = "u"\npassword_credential = "mqtt_password"\n'
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert load_config(write(tmp_path, text)).mqtt.password_credential == "mqtt_password"  # warn only
    creds = tmp_path / "creds"
    creds.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    err = error_of(tmp_path, text)
    assert "[mqtt] password_credential: mqtt password credential file" in str(err)
    (creds / "mqtt_password").write_text("pw")
    load_config(tmp_path / "edgecam.toml")


def test_secrets_not_checked_when_mqtt_disabled(tmp_path):
    load_config(write(tmp_path, '[mqtt]\nenabled = false\nusername = "u"\npassword_file = "missing"\n'))


# -- check ---------------------------------------------------------------------------------------
def test_check_config_summary(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    config = write(etc, CONTRACT_EXAMPLE + '\n[tracking]\nmin_hits = 3\n')
    lines = check_config(config)
    assert lines[0] == f"{config}: OK"
    camera = next(line for line in lines if line.startswith("[camera]"))
    assert "id='frontdoor'" in camera and "source='images'" in camera and "fps=5.0" in camera
    assert "[tracking] min_hits=3" in lines
    assert "[[zones]] 0 defined" in lines
    assert lines[-1].startswith("warning: [camera] path:") and "matches no image files" in lines[-1]
    (tmp_path / "shared" / "images").mkdir(parents=True)
    (tmp_path / "shared" / "images" / "a.jpg").write_bytes(b"x")
    assert not check_config(config)[-1].startswith("warning")


def test_check_config_raises_on_invalid(tmp_path):
    with pytest.raises(ConfigError, match=r":2: \[model\] size"):
        check_config(write(tmp_path, "[model]\nsize = 1\n"))


def test_parse_config_without_file(tmp_path):
    cfg = parse_config('[camera]\nsource = "images"\npath = "x"\n', base_dir=tmp_path)
    assert cfg.camera.path == str(tmp_path / "x")
    with pytest.raises(ConfigError, match=r"^<config>:1: \[camera\] fps"):
        parse_config("camera.fps = 5000\n")
