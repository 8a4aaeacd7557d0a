"""`edgecam eval` on an install without the [eval] extra: one line naming the fix, before any work."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sharedkit import COCO128

pytestmark = pytest.mark.slow  # runs the edgecam CLI in subprocesses


def test_missing_pycocotools_fails_in_one_line_before_loading_anything(tmp_path):
    # A runtime install has no pycocotools: shadow the real one with a package that cannot import.
    hidden = tmp_path / "site" / "pycocotools"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('No module named pycocotools (hidden by the test)')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])}
    # a model that does not exist: had eval loaded the model (or started inference) first, the error
    # would be about the model, not about pycocotools
    proc = subprocess.run([sys.executable, "-m", "edgecam", "eval", "--model", "no-such-model", str(COCO128)],
                          capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "pycocotools" in lines[0] and "edgecam[eval]" in lines[0]
    assert proc.stdout == ""


def test_with_pycocotools_the_same_command_reaches_the_model(tmp_path):
    # the positive twin: with the extra installed, the same call gets past the check to the model
    proc = subprocess.run([sys.executable, "-m", "edgecam", "eval", "--model", "no-such-model", str(COCO128)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2
    assert "no-such-model" in proc.stderr and "pycocotools" not in proc.stderr
