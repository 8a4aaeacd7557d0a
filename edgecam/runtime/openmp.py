"""How ncnn's OpenMP workers wait between parallel regions, set before ncnn (and libgomp) loads.

libgomp reads ``OMP_WAIT_POLICY`` / ``GOMP_SPINCOUNT`` once, when it is loaded.  By default an idle
worker spins for 300,000 iterations (a few hundred microseconds to milliseconds) before it sleeps.
Between two forward passes the pipeline converts, letterboxes, decodes, tracks and publishes in one
thread; workers still spinning then hold the other cores, and the capture and MQTT threads get
them only by preempting a worker — during the next forward pass, where a preempted worker stalls
the barrier every layer waits at.  A short spin (``GOMP_SPINCOUNT`` below) lets the workers sleep
soon after a forward pass ends and still catch the barriers inside one.  ``OMP_WAIT_POLICY=PASSIVE``
(sleep at once) makes every barrier a futex wake-up: the forward pass measured 2.6× slower.

A value already in the environment (the unit, a drop-in, the shell) always wins.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import MutableMapping

log = logging.getLogger(__name__)

DEFAULT_SPINCOUNT = "10000"
KEYS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def configure_openmp(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set ``GOMP_SPINCOUNT`` unless the environment sets a wait policy; returns what is in effect.

    Call before anything imports ncnn; called later it changes nothing in this process (logged)."""
    env = os.environ if environ is None else environ
    if not any(k in env for k in KEYS):
        env["GOMP_SPINCOUNT"] = DEFAULT_SPINCOUNT
        if environ is None and "ncnn" in sys.modules:
            log.warning("ncnn was imported before the OpenMP wait policy was set; it keeps libgomp's defaults")
    return {k: env[k] for k in KEYS if k in env}
