"""make push with HOST as a local directory standing for the Pi's root file system."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from deploy.push import PushOptions, push, set_model_path

from deploy_paths import IMAGES, REPO


def test_set_model_path_rewrites_only_the_model_path():
    text = ('[camera]\npath = "/dev/video0"  # keep\n\n[model]\nsize = 320\npath = "yolov5ss"  # the model\n'
            'threads = 4\n\n[mqtt]\nhost = "x"\n')
    out = set_model_path(text, "/var/lib/edgecam/models/yolov5ss-int8")
    assert out == text.replace('path = "yolov5ss"', 'path = "/var/lib/edgecam/models/yolov5ss-int8"')
    added = set_model_path("[model]\nsize = 320\n[mqtt]\n", "/m")
    assert added == '[model]\nsize = 320\npath = "/m"\n[mqtt]\n'
    assert set_model_path('[camera]\nid = "a"\n', "/m").endswith('\n[model]\npath = "/m"\n')


def _remote_script_matches(text: str, value: str, tmp_path) -> str:
    from deploy.push import _REMOTE_SET_PATH

    cfg = tmp_path / "remote.toml"
    cfg.write_text(text)
    subprocess.run([sys.executable, "-c", _REMOTE_SET_PATH, str(cfg), value], check=True)
    return cfg.read_text()


def test_remote_one_liner_agrees_with_set_model_path(tmp_path):
    for text in ('[model]\npath = "a"\nsize = 1\n', "[model]\nsize = 1\n[x]\n", '[camera]\nid = "q"\n'):
        assert _remote_script_matches(text, "/v/m", tmp_path) == set_model_path(text, "/v/m")


@pytest.fixture
def pi_root(tmp_path):
    root = tmp_path / "pi"
    cfg = root / "etc" / "edgecam" / "edgecam.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'[camera]\nid = "frontdoor"\nsource = "images"\npath = "{IMAGES}"\n\n'
                   '[model]\npath = "yolov5ss"\nsize = 320\n\n[mqtt]\nenabled = false\n')
    return root


@pytest.mark.slow  # needs the converted model of the deploy pipeline
def test_push_to_local_root_copies_rewrites_and_checks(pipeline_run, pi_root, tmp_path):
    if shutil.which("rsync") is None:
        pytest.skip("rsync not installed (apt-get install rsync)")
    bundle = pipeline_run["out"] / "yolov5ss-int8"
    lines: list[str] = []
    marker = tmp_path / "restarted"
    dst = push(PushOptions(str(pi_root), bundle, restart_cmd=f"touch {marker}"), lines.append)
    target = pi_root / "var" / "lib" / "edgecam" / "models" / "yolov5ss-int8"
    assert dst == str(target)
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in bundle.iterdir())
    cfg = (pi_root / "etc" / "edgecam" / "edgecam.toml").read_text()
    assert f'path = "{target}"' in cfg and 'size = 320' in cfg and 'id = "frontdoor"' in cfg
    assert marker.exists()
    assert any("edgecam" in ln and "check" in ln for ln in lines)


@pytest.mark.slow  # needs the converted model of the deploy pipeline
def test_push_remote_dry_run_prints_rsync_ssh_restart_check(pipeline_run):
    bundle = pipeline_run["out"] / "yolov5ss-fp16"
    lines: list[str] = []
    push(PushOptions("pi@raspberrypi.local", bundle, dry_run=True), lines.append)
    text = "\n".join(lines)
    assert "rsync -az --delete -e ssh" in text and "pi@raspberrypi.local:/var/lib/edgecam/models/yolov5ss-fp16/" in text
    assert "sudo systemctl restart edgecam" in text and "edgecam check --config /etc/edgecam/edgecam.toml" in text


def test_push_refuses_a_non_bundle(tmp_path, pi_root):
    from deploy.push import PushError

    with pytest.raises(PushError, match="not a bundle"):
        push(PushOptions(str(pi_root), tmp_path))


def test_make_push_target_requires_host_and_bundle():
    proc = subprocess.run(["make", "-s", "-C", str(REPO), "push", "STAMP=", "BUNDLE=x"], capture_output=True, text=True)
    assert proc.returncode != 0 and "HOST" in proc.stdout + proc.stderr
