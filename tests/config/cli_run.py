"""``python -m edgecam`` as a subprocess for config tests; the timeout is a hang guard, not a speed check."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HANG_GUARD_S = 120


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def edgecam(*args: str, env: dict | None = None, cwd: Path = REPO) -> Result:
    full_env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    for var in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "CREDENTIALS_DIRECTORY"):
        full_env.pop(var, None)
    proc = subprocess.run([sys.executable, "-m", "edgecam", *args], capture_output=True, text=True,
                          env=full_env, cwd=str(cwd), timeout=HANG_GUARD_S)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_clean_exit2(result: Result, *needles: str) -> None:
    """Exit 2, no traceback, every stderr line one problem, each naming ``needles``."""
    assert result.code == 2, result
    assert "Traceback" not in result.stderr, result.stderr
    assert result.lines, result
    for needle in needles:
        assert needle in result.lines[0], (needle, result.lines)
