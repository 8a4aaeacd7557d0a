"""`edgecam check` lists every problem in one pass: schema problems (e.g. a bad [web] host) and the
preflight problems of the sections that are valid (e.g. labels the model does not know) together."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs edgecam check as a subprocess

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO.parent / "shared" / "images"


def _check(cfg: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgecam", "check", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)


def test_schema_and_preflight_problems_are_listed_together(tmp_path):
    cfg = tmp_path / "edgecam.toml"
    cfg.write_text(f"""[camera]
source = "images"
path = "{IMAGES}"
fps = 0

[model]
classes = ["persn"]

[tracking]
labels = ["dogg"]

[[zones]]
name = "porch"
points = [[0, 0], [1, 0], [1, 1]]
labels = ["hors"]

[web]
host = "0.0.0.0"
""")
    proc = _check(cfg)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert all(line.startswith("edgecam check: ") for line in lines)
    wanted = {  # line number -> what it names
        f"{cfg}:4: [camera] fps": "≥ 0.1",  # schema
        f"{cfg}:7: [model] classes": "'persn'",  # preflight (the model's classes)
        f"{cfg}:10: [tracking] labels": "'dogg'",
        f"{cfg}:15: [[zones]] #1 labels": "'hors'",
        f"{cfg}:18: [web] host": "password",  # schema
    }
    for where, needle in wanted.items():
        assert any(where in line and needle in line for line in lines), (where, lines)
    assert len(lines) == len(wanted), lines


def test_a_broken_model_section_does_not_invent_label_problems(tmp_path):
    cfg = tmp_path / "edgecam.toml"
    (tmp_path / "a-file").write_text("")
    cfg.write_text(f'[camera]\nsource = "images"\npath = "{IMAGES}"\n\n[model]\nsize = 7\n\n'
                   f'[tracking]\nlabels = ["person"]\n\n[output]\nstate_dir = "{tmp_path / "a-file" / "state"}"\n')
    proc = _check(cfg)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2
    assert any("[model] size" in line for line in lines)
    assert any("[output] state_dir" in line for line in lines)  # preflight of a valid section
    assert not any("labels" in line for line in lines), lines
    assert len(lines) == 2, lines
