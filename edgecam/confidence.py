"""The one definition of the confidence threshold: its range, its default and its resolution.

Config (``[model] conf``), the command line (``--conf``), the MQTT command (``set/conf``), the live view,
the Home Assistant number entity, the live :class:`~edgecam.controls.Controls` and the echoed state all
use these bounds, so a value accepted in one place is valid in every other.  Two decimals is the
resolution Home Assistant's slider shows (``step``).  Settings built in code (evaluation scores mAP down
to a threshold of 0.001) may use any threshold in (0, 1].
"""

from __future__ import annotations

import math

CONF_MIN = 0.01
CONF_MAX = 0.99
CONF_STEP = 0.01
CONF_DEFAULT = 0.45


def conf_problem(value: float) -> str | None:
    """Why ``value`` is not a usable confidence threshold, or None when it is."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"must be a number from {CONF_MIN} to {CONF_MAX}"
    if not CONF_MIN <= value <= CONF_MAX:
        return f"{value!r} is out of range; use a number from {CONF_MIN} to {CONF_MAX}"
    return None


def scoring_conf_problem(value: float) -> str | None:
    """Why ``value`` is not a threshold for settings built in code (evaluation: any in (0, 1]), or None."""
    if not 0.0 < value <= 1.0:
        return f"conf must be in (0, 1], got {value}"
    return None


def normalise_conf(value: float) -> float:
    """``value`` rounded to the resolution every interface shows (so the echo equals what is used)."""
    return round(float(value), 2)
