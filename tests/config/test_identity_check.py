"""Identity through ``edgecam check``: the default camera id is the host's name; names that would share a
Home Assistant id (labels, zones, zone × label) are refused naming both sides (issue #24)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cli_run import assert_clean_exit2, edgecam

from edgecam.identity import camera_id_from_host
from edgecam.publishers.mqtt.entityids import id_collisions
from edgecam.names import slug

HORSE = Path(__file__).resolve().parents[3] / "shared" / "images" / "horse.jpg"



def _zone(name: str, labels: tuple[str, ...] = ()) -> str:
    listed = f"labels = {list(labels)!r}\n".replace("'", '"') if labels else ""
    return f'\n[[zones]]\nname = "{name}"\npoints = [[0, 0], [1, 0], [1, 1]]\n{listed}'


def _config(tmp_path, body: str, camera_id: str | None = None) -> str:
    ident = f'id = "{camera_id}"\n' if camera_id else ""
    path = tmp_path / "edgecam.toml"
    path.write_text(f'[camera]\n{ident}source = "images"\npath = "{tmp_path}"\n\n[output]\n'
                    f'state_dir = "{tmp_path / "state"}"\n{body}')
    (tmp_path / "a.jpg").symlink_to(HORSE)
    return str(path)


@pytest.mark.slow  # runs `edgecam check` as a subprocess
def test_default_camera_id_is_the_host_name(tmp_path):
    r = edgecam("check", "--config", _config(tmp_path, ""))
    assert r.code == 0, r
    host = socket.gethostname()
    expected = camera_id_from_host(host)
    assert slug(host.split(".")[0]) in expected
    assert f"[camera] id={expected!r}" in r.stdout
    assert f"comes from this host's name {host!r}" in r.stdout


@pytest.mark.slow  # runs `edgecam check` as a subprocess
def test_an_explicit_camera_id_is_not_called_the_host_name(tmp_path):
    r = edgecam("check", "--config", _config(tmp_path, "", camera_id="porch"))
    assert r.code == 0, r
    assert "[camera] id='porch'" in r.stdout and "host's name" not in r.stdout and "note:" not in r.stdout


@pytest.mark.slow  # runs `edgecam check` as a subprocess
def test_an_id_that_slugs_differently_is_noted(tmp_path):
    r = edgecam("check", "--config", _config(tmp_path, "", camera_id="Front-Door"))
    assert r.code == 0, r
    assert "camera id 'Front-Door' is 'front_door' in Home Assistant" in r.stdout


@pytest.mark.parametrize("host, ident", [("Pi-Kitchen.local", "pi_kitchen"), ("raspberrypi", "raspberrypi"),
                                         ("", "camera"), ("---", "camera"), ("x" * 80, "x" * 64)])
def test_camera_id_from_host(host, ident):
    assert camera_id_from_host(host) == ident


# (config body, the two names every refusal line must name)
COLLIDING = {
    "zone x label": ('[tracking]\nlabels = ["dog", "hot dog"]\n' + _zone("front") + _zone("front_hot"),
                     ("zone 'front' × label 'hot dog'", "zone 'front_hot' × label 'dog'")),
    "zone x label, zone labels": ('[tracking]\nlabels = ["dog", "hot dog", "person"]\n'
                                  + _zone("front", ("hot dog",)) + _zone("front_hot", ("dog",)),
                                  ("zone 'front' × label 'hot dog'", "zone 'front_hot' × label 'dog'")),
    "zone names": (_zone("Front-Yard") + _zone("front_yard"), ("'Front-Yard'", "'front_yard'")),
}


@pytest.mark.slow  # runs `edgecam check` as a subprocess
@pytest.mark.parametrize("name", sorted(COLLIDING))
def test_check_refuses_names_that_share_an_id(tmp_path, name):
    body, (first, second) = COLLIDING[name]
    r = edgecam("check", "--config", _config(tmp_path, body))
    assert_clean_exit2(r, first, second)


@pytest.mark.slow  # runs `edgecam check` as a subprocess
def test_check_passes_the_same_labels_in_zones_that_do_not_collide(tmp_path):
    body = '[tracking]\nlabels = ["dog", "hot dog"]\n' + _zone("front") + _zone("back_hot")
    r = edgecam("check", "--config", _config(tmp_path, body))
    assert r.code == 0, r


def test_id_collisions_beyond_the_coco_names():
    """Label spellings a custom model may have: a label that is a zone id, one that is a topic of the camera."""
    found = [message for message, _ in id_collisions(["dog", "zone_front_dog", "stats"], [("front", ())])]
    assert any("label 'zone_front_dog'" in m and "zone 'front' × label 'dog'" in m for m in found), found
    assert any("label 'stats'" in m and "<prefix>/<camera>/stats" in m for m in found), found
    assert id_collisions(["dog", "cat"], [("front", ()), ("back", ("dog",))]) == []
