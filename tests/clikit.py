"""Running the real ``edgecam`` CLI in a subprocess, so a native crash shows as a signal (negative code).

``run_edgecam(*args)``           the finished process (text stdout/stderr); ``timeout`` is a hang guard only
``assert_usage_error(p, ...)``   exit 2, exactly one stderr line, containing every needle, no traceback
``assert_clean_exit(p)``         exit 0 or 2, no traceback; on 2, the last stderr line is an ``edgecam`` message
"""

from __future__ import annotations

import os
import subprocess
import sys

from sharedkit import HORSE, SHARED  # noqa: F401 (HORSE: for the CLI tests)


def run_edgecam(*args: object, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgecam", *map(str, args)], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "EDGECAM_MODEL_DIR": str(SHARED / "models"), **(env or {})},
    )


def stderr_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if ln.strip()]


def assert_usage_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The one stderr line of a usage/config/model error (exit 2); returns it."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = stderr_lines(proc)
    assert len(lines) == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def assert_clean_exit(proc: subprocess.CompletedProcess, what: object = "") -> None:
    """Exit 0 or 2 (never a signal, a traceback or exit 1); an exit 2 explains itself in edgecam lines."""
    assert proc.returncode in (0, 2), (what, proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, (what, proc.stderr[-2000:])
    if proc.returncode == 2:  # ncnn may print its own diagnostic first (C code, not silenced); ours comes last
        lines = stderr_lines(proc)
        assert lines and lines[-1].startswith("edgecam"), (what, proc.stderr[-2000:])
