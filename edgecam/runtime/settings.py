"""Settings of the ``[thermal]`` and ``[motion]`` sections."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ThermalSettings:
    soft_limit_c: float = field(default=75.0, metadata={"min": 30.0, "max": 100.0})
    sysfs_root: str = field(default="/sys", metadata={"help": "root of the sysfs tree (tests point it at a fake tree)"})


@dataclass(frozen=True)
class MotionSettings:
    enabled: bool = True
