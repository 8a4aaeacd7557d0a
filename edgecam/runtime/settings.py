"""Settings of the ``[thermal]`` and ``[motion]`` sections."""

from __future__ import annotations

from pydantic import Field, model_validator

from edgecam.fields import Bool, ConfigPath, Float, Int, settings


@settings
class ThermalSettings:
    enabled: Bool = Field(default=True, description="slow the frame rate down when the SoC runs hot")
    soft_limit_c: Float = Field(default=75.0, ge=30.0, le=100.0,
                                description="hold the SoC below this (°C); the firmware throttles at 80")
    hysteresis_c: Float = Field(default=5.0, ge=0.0, le=50.0,
                                description="restore the frame rate only below soft_limit_c - hysteresis_c")
    step_s: Float = Field(default=10.0, ge=0.0, le=3600.0, description="seconds between frame-rate steps (down or up)")
    step_factor: Float = Field(default=1.5, gt=1.0, le=10.0, description="frame interval multiplier per step")
    min_fps: Float = Field(default=0.5, gt=0.0, le=120.0, description="never slow down below this")
    poll_s: Float = Field(default=1.0, ge=0.0, le=600.0, description="seconds between sysfs reads")
    sysfs_root: ConfigPath = Field(default="/sys", min_length=1, max_length=4096,
                            description="root of the sysfs tree (tests point it at a fake tree)")
    warmup_min_runs: Int = Field(default=3, ge=1, le=1000, description="warm-up inferences at least")
    warmup_max_runs: Int = Field(default=100, ge=1, le=1000, description="warm-up inferences at most")
    warmup_tolerance: Float = Field(default=0.10, ge=0.0, le=10.0,
                                    description="warm-up ends when the last 3 latencies are within this fraction")
    warmup_flat_c_per_run: Float = Field(default=0.1, ge=0.0, le=10.0,
                                         description="... and the SoC temperature rose at most this much per run over the last 5 runs (°C)")
    warmup_max_s: Float = Field(default=30.0, ge=1.0, le=3600.0, description="warm-up ends after this many seconds at most")

    @model_validator(mode="after")
    def _order(self) -> "ThermalSettings":
        if self.warmup_max_runs < self.warmup_min_runs:
            raise ValueError(
                f"warmup_max_runs ({self.warmup_max_runs}) must be >= warmup_min_runs ({self.warmup_min_runs})"
            )
        if self.hysteresis_c >= self.soft_limit_c:
            raise ValueError(f"hysteresis_c ({self.hysteresis_c}) must be below soft_limit_c ({self.soft_limit_c}); try 5")
        return self


@settings
class MotionSettings:
    enabled: Bool = Field(default=True, description="skip inference while nothing moves and nothing is tracked")
    threshold: Int = Field(default=25, ge=1, le=255, description="grey-level change that counts a pixel as changed")
    min_area: Float = Field(default=0.002, ge=0.0, le=1.0, description="fraction of changed pixels that counts as motion")
    recheck_s: Float = Field(default=10.0, ge=0.0, le=86400.0, description="infer at least this often even without motion")
    width: Int = Field(default=96, ge=16, le=1920, description="width of the downscaled grey image")
    background_alpha: Float = Field(default=0.05, gt=0.0, le=1.0, description="background update rate per frame (0..1]")
