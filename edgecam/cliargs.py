"""argparse value types with bounds: an out-of-range number is one usage line (exit 2), never a native crash.

The bounds are those of :mod:`edgecam.limits` and :mod:`edgecam.confidence`, shared with the
config file and model manifests.
"""

from __future__ import annotations

import argparse
import math
import os
import stat
from pathlib import Path
from typing import Callable

from edgecam.confidence import conf_problem
from edgecam.limits import max_pixels_problem, size_problem, threads_problem


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _checked(parse: Callable[[str], object], problem: Callable[[object], str | None], name: str):
    def convert(text: str):
        value = parse(text)
        why = problem(value)
        if why:
            raise argparse.ArgumentTypeError(why)
        return value

    convert.__name__ = name
    return convert


def int_range(low: int, high: int, name: str = "number"):
    """A whole number from ``low`` to ``high``."""
    return _checked(_int, lambda v: None if low <= v <= high else f"must be from {low} to {high}, got {v}", name)


def float_range(low: float, high: float, name: str = "number", low_open: bool = False):
    """A finite number from ``low`` (exclusive with ``low_open``) to ``high``."""
    def problem(v: float) -> str | None:
        ok = (low < v if low_open else low <= v) and v <= high
        return None if ok else f"must be {'above' if low_open else 'from'} {low} {'and at most' if low_open else 'to'} {high}, got {v}"

    return _checked(_float, problem, name)


size = _checked(_int, size_problem, "size")
_threads = _checked(_int, threads_problem, "threads")


def threads(text: str) -> int | str:
    """A thread count, or ``auto`` (resolved where the source is known: ``[model] threads``)."""
    return "auto" if text.strip().lower() == "auto" else _threads(text)
max_pixels = _checked(_int, max_pixels_problem, "max_pixels")
conf = _checked(_float, conf_problem, "conf")
iou = float_range(0.0, 1.0, "iou")
eval_conf = float_range(0.0, 1.0, "conf", low_open=True)  # mAP needs thresholds below the daemon's 0.01


def output_file(text: str) -> Path:
    """A file to (over)write: refused up front if it exists as anything but a regular file (a FIFO would block)."""
    try:
        st = os.stat(text)
    except FileNotFoundError:
        return Path(text)
    except (OSError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"{text[:120]}: {getattr(exc, 'strerror', None) or exc}; give a file path") from None
    if not stat.S_ISREG(st.st_mode):
        raise argparse.ArgumentTypeError(f"{text[:120]} exists and is not a regular file; give a file path")
    return Path(text)
