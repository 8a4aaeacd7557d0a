"""``edgecam check`` as a subprocess for daemon tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def edgecam_check(config: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "edgecam", "check", "--config", str(config)], capture_output=True,
                          text=True, env=env, cwd=str(REPO), timeout=120)
