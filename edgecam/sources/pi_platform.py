"""What a Raspberry Pi's camera stack accepts, checked without opening the camera (for ``edgecam check``).

* Pi 4 and older (VC4 ISP): the lores stream is YUV420 only — picamera2 refuses anything else with
  "lores stream must be YUV". Pi 5 (PiSP): YUV420, RGB888 or BGR888.
* Both: picamera2 rounds stream sizes down to even numbers; libcamera may adjust them further (the
  source reads the granted size back).
* The camera stack (picamera2, libcamera) comes from Raspberry Pi OS packages and is built against the
  system numpy; a pip-installed numpy with another ABI breaks its import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from edgecam.sources.settings import CameraSettings

Platform = Literal["vc4", "pisp"]

MISSING_PICAMERA2 = (
    "picamera2 is not installed: on Raspberry Pi OS run `sudo apt install python3-picamera2` and "
    "create the venv with --system-site-packages"
)
NUMPY_ABI = (
    "pip installed a numpy the Raspberry Pi camera stack was not built for; reinstall with the system "
    "numpy (README: 'Running as a service on the Pi')"
)
DEVICE_TREE_COMPATIBLE = "/proc/device-tree/compatible"

_VC4_SOCS = ("brcm,bcm2711", "brcm,bcm2837", "brcm,bcm2836", "brcm,bcm2835", "brcm,bcm2710")
_PISP_SOCS = ("brcm,bcm2712",)


def import_problem(exc: BaseException) -> str:
    """One line for a failed ``import picamera2``: what broke and how to fix it."""
    text = f"{type(exc).__name__}: {exc}"
    lowered = str(exc).lower()
    if "numpy" in lowered and ("dtype size changed" in lowered or "multiarray" in lowered or "numpy 1.x" in lowered
                               or "_array_api" in lowered or "binary incompatibility" in lowered):
        return f"{NUMPY_ABI} ({text})"
    if isinstance(exc, ImportError):
        return f"{MISSING_PICAMERA2} ({text})"
    return f"the Raspberry Pi camera stack (picamera2) cannot be imported: {text}"


def stack_problem() -> str | None:
    """Why ``picamera2`` cannot be imported here, or None when it can."""
    try:
        import picamera2  # type: ignore[import-not-found]  # noqa: F401
        import libcamera  # type: ignore[import-not-found]  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - every failure is reported as one line
        return import_problem(exc)
    return None


def detect_platform(compatible: str | Path = DEVICE_TREE_COMPATIBLE) -> Platform | None:
    """``vc4`` (Pi 4 and older), ``pisp`` (Pi 5) or None (not a Raspberry Pi), from the device tree."""
    try:
        names = Path(compatible).read_bytes().split(b"\0")
    except OSError:
        return None
    socs = {n.decode("ascii", "replace") for n in names if n}
    if socs.intersection(_PISP_SOCS):
        return "pisp"
    if socs.intersection(_VC4_SOCS):
        return "vc4"
    return None


def configuration_problems(
    settings: CameraSettings, platform: Platform | Literal["auto"] | None = "auto", check_stack: bool = True
) -> list[str]:
    """Errors: what this Pi's camera stack would refuse (empty off a Pi, where it cannot be known).

    ``platform``: "auto" detects it here, None means not a Pi; ``check_stack`` also imports picamera2
    on a Pi.
    """
    if settings.source != "picamera2":
        return []
    platform = detect_platform() if platform == "auto" else platform
    problems = []
    if platform == "vc4" and settings.format != "YUV420":
        problems.append(
            f"[camera] format = \"{settings.format}\": this Raspberry Pi (Pi 4 or older) gives the lores stream "
            "only as YUV420; set format = \"YUV420\" (RGB888/BGR888 need a Pi 5)"
        )
    if platform is not None and check_stack:
        problem = stack_problem()
        if problem:
            problems.append(problem)
    return problems


def configuration_notes(
    settings: CameraSettings, platform: Platform | Literal["auto"] | None = "auto"
) -> list[str]:
    """Warnings: valid, but not what the config says (sizes rounded) or not known to work here."""
    if settings.source != "picamera2":
        return []
    platform = detect_platform() if platform == "auto" else platform
    notes = []
    w, h = settings.lores_width, settings.lores_height
    if w % 2 or h % 2:
        notes.append(
            f"[camera] lores_width x lores_height {w}x{h}: picamera2 rounds stream sizes down to even numbers; "
            f"frames will be {w - w % 2}x{h - h % 2}"
        )
    if settings.width % 2 or settings.height % 2:
        notes.append(
            f"[camera] width x height {settings.width}x{settings.height}: picamera2 rounds it down to "
            f"{settings.width - settings.width % 2}x{settings.height - settings.height % 2}"
        )
    if platform is None and settings.format != "YUV420":
        notes.append(
            f"[camera] format = \"{settings.format}\" works on a Pi 5 only; a Pi 4 gives the lores stream "
            "only as YUV420"
        )
    return notes
