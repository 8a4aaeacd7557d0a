"""The OpenMP wait policy is set before ncnn loads: by the CLI (daemon, bench), and by the unit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgecam.runtime.openmp import DEFAULT_SPINCOUNT, configure_openmp

REPO = Path(__file__).resolve().parents[2]


def test_a_short_spin_unless_the_environment_chose_a_policy():
    env: dict[str, str] = {}
    assert configure_openmp(env) == {"GOMP_SPINCOUNT": DEFAULT_SPINCOUNT} and env["GOMP_SPINCOUNT"] == DEFAULT_SPINCOUNT
    for chosen in ({"OMP_WAIT_POLICY": "PASSIVE"}, {"GOMP_SPINCOUNT": "300000"}):
        env = dict(chosen)
        assert configure_openmp(env) == chosen and env == chosen  # the user's value wins, nothing added


@pytest.mark.slow  # runs the CLI in a subprocess
def test_the_cli_sets_it_before_anything_imports_ncnn():
    probe = ("import os, sys\n"
             "import edgecam.runtime.openmp as omp\n"
             "seen = []\n"
             "real = omp.configure_openmp\n"
             "omp.configure_openmp = lambda *a: seen.append('ncnn' in sys.modules) or real(*a)\n"
             "from edgecam.cli import main\n"
             "main(['bench', '--pipeline', 'nothing-here'])\n"
             "print(seen, os.environ.get('GOMP_SPINCOUNT'))\n")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60, cwd=REPO)
    assert out.stdout.strip() == f"[False] {DEFAULT_SPINCOUNT}", out.stderr


def test_the_unit_sets_the_same_spin_count():
    unit = (REPO / "systemd" / "edgecam.service").read_text()
    assert f"Environment=GOMP_SPINCOUNT={DEFAULT_SPINCOUNT}\n" in unit
    assert "Environment=OMP_WAIT_POLICY" not in unit
