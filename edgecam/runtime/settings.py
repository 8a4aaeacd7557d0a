"""Settings of the ``[thermal]`` and ``[motion]`` sections."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ThermalSettings:
    enabled: bool = field(default=True, metadata={"help": "slow the frame rate down when the SoC runs hot"})
    soft_limit_c: float = field(
        default=75.0,
        metadata={"min": 30.0, "max": 100.0, "help": "hold the SoC below this (°C); the firmware throttles at 80"},
    )
    hysteresis_c: float = field(
        default=5.0,
        metadata={"min": 0.0, "max": 50.0, "help": "restore the frame rate only below soft_limit_c - hysteresis_c"},
    )
    step_s: float = field(
        default=10.0, metadata={"min": 0.0, "max": 3600.0, "help": "seconds between frame-rate steps (down or up)"}
    )
    step_factor: float = field(
        default=1.5,
        metadata={"min": 1.0, "max": 10.0, "exclusive_min": True, "help": "frame interval multiplier per step"},
    )
    min_fps: float = field(
        default=0.5, metadata={"min": 0.0, "max": 120.0, "exclusive_min": True, "help": "never slow down below this"}
    )
    poll_s: float = field(
        default=1.0, metadata={"min": 0.0, "max": 600.0, "help": "seconds between sysfs reads"}
    )
    sysfs_root: str = field(default="/sys", metadata={"help": "root of the sysfs tree (tests point it at a fake tree)"})
    warmup_min_runs: int = field(default=3, metadata={"min": 1, "max": 1000, "help": "warm-up inferences at least"})
    warmup_max_runs: int = field(default=100, metadata={"min": 1, "max": 1000, "help": "warm-up inferences at most"})
    warmup_tolerance: float = field(
        default=0.10,
        metadata={"min": 0.0, "max": 10.0, "help": "warm-up ends when the last 3 latencies are within this fraction"},
    )
    warmup_flat_c_per_run: float = field(
        default=0.1,
        metadata={"min": 0.0, "max": 10.0,
                  "help": "... and the SoC temperature rose at most this much per run over the last 5 runs (°C)"},
    )
    warmup_max_s: float = field(
        default=30.0, metadata={"min": 1.0, "max": 3600.0, "help": "warm-up ends after this many seconds at most"}
    )

    def validate(self) -> None:
        if self.warmup_max_runs < self.warmup_min_runs:
            raise ValueError(
                f"warmup_max_runs ({self.warmup_max_runs}) must be >= warmup_min_runs ({self.warmup_min_runs})"
            )
        if self.hysteresis_c >= self.soft_limit_c:
            raise ValueError(
                f"hysteresis_c ({self.hysteresis_c}) must be below soft_limit_c ({self.soft_limit_c}); try 5"
            )


@dataclass(frozen=True)
class MotionSettings:
    enabled: bool = field(default=True, metadata={"help": "skip inference while nothing moves and nothing is tracked"})
    threshold: int = field(
        default=25, metadata={"min": 1, "max": 255, "help": "grey-level change that counts a pixel as changed"}
    )
    min_area: float = field(
        default=0.002,
        metadata={"min": 0.0, "max": 1.0, "help": "fraction of changed pixels that counts as motion"},
    )
    recheck_s: float = field(
        default=10.0, metadata={"min": 0.0, "max": 86400.0, "help": "infer at least this often even without motion"}
    )
    width: int = field(default=96, metadata={"min": 16, "max": 1920, "help": "width of the downscaled grey image"})
    background_alpha: float = field(
        default=0.05,
        metadata={"min": 0.0, "max": 1.0, "exclusive_min": True, "help": "background update rate per frame (0..1]"},
    )
