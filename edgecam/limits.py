"""The bounds on every number that sizes memory or threads: one place for the CLI, manifests and config.

Values outside these bounds crash ncnn or OpenCV natively (a segfault, no message) or run for minutes,
so they are refused before either library sees them.

* ``SIZE_MAX`` (2048): the network input is 3×S×S floats plus feature maps that grow with S². Measured
  with the seed model (1 thread): peak RSS 125 MB at 640, 794 MB at 2048, 2.96 GB at 4096. 2048 still fits
  a 2 GB Raspberry Pi next to the camera stack; 99968 asks ncnn for hundreds of GB and segfaults.
* ``THREADS_MAX`` (64): ncnn starts one OpenMP worker per thread. A Pi has 4 cores; 64 is 16× that and
  more cores than any board this runs on. 16384 threads spend minutes starting; 100000 segfaults.
* ``MAX_PIXELS_DEFAULT`` (50 MP): the default pixel budget of one decoded image or frame — 150 MB as BGR,
  above every Pi camera (12.3 MP HQ, 64 MP only on third-party sensors that stream far less) and
  typical phone photos. ``MAX_PIXELS_LIMIT`` caps the setting: four bytes a pixel must stay below 2³¹
  bytes, where ncnn's and OpenCV's ``int`` sizes overflow (a 30000×30000 PNG is a 2.7 GB frame).
"""

from __future__ import annotations

import math

SIZE_STEP = 32
SIZE_MIN = 32
SIZE_MAX = 2048

THREADS_MIN = 1
THREADS_MAX = 64

MAX_PIXELS_DEFAULT = 50_000_000
MAX_PIXELS_MIN = 1
MAX_PIXELS_LIMIT = (2**31 - 1) // 4  # 536,870,911: 4 bytes a pixel (BGRA) stays below 2^31 bytes


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def size_problem(value: object) -> str | None:
    """Why ``value`` is not a usable network input size, or None when it is."""
    if not _is_int(value):
        return f"must be a whole number, a multiple of {SIZE_STEP} from {SIZE_MIN} to {SIZE_MAX}, got {value!r}"
    if not SIZE_MIN <= value <= SIZE_MAX:
        return f"{value} is out of range; use a multiple of {SIZE_STEP} from {SIZE_MIN} to {SIZE_MAX}"
    if value % SIZE_STEP:
        nearest = min(SIZE_MAX, max(SIZE_MIN, round(value / SIZE_STEP) * SIZE_STEP))
        return f"{value} is not a multiple of {SIZE_STEP}; try {nearest}"
    return None


def threads_problem(value: object) -> str | None:
    """Why ``value`` is not a usable ncnn thread count, or None when it is."""
    if not _is_int(value) or not THREADS_MIN <= value <= THREADS_MAX:
        return f"must be a whole number from {THREADS_MIN} to {THREADS_MAX} (about the CPU count), got {value!r}"
    return None


def max_pixels_problem(value: object) -> str | None:
    """Why ``value`` is not a usable pixel budget, or None when it is."""
    if not _is_int(value) or not MAX_PIXELS_MIN <= value <= MAX_PIXELS_LIMIT:
        return f"must be a whole number of pixels from {MAX_PIXELS_MIN} to {MAX_PIXELS_LIMIT}, got {value!r}"
    return None


def megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.1f} MP"


def pixels_problem(width: int, height: int, max_pixels: int) -> str | None:
    """Why a ``width``×``height`` image is refused under the budget ``max_pixels``, or None."""
    if width <= 0 or height <= 0:
        return f"has no pixels ({width}×{height})"
    pixels, budget = width * height, min(max_pixels, MAX_PIXELS_LIMIT)
    if pixels > budget:
        return (
            f"{width}×{height} = {megapixels(pixels)} is above the pixel budget of {megapixels(budget)}; "
            "downscale it or raise the budget (--max-pixels, [camera] max_pixels)"
        )
    return None


def finite_number(value: object) -> bool:
    """True for an int or float (not a bool) that is neither NaN nor infinite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
