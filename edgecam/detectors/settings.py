"""Settings of the ``[model]`` config section (CONTRACT §4)."""

from __future__ import annotations

import os
from typing import Literal, Union

from pydantic import Field, ValidationInfo, field_validator

from edgecam.confidence import CONF_DEFAULT, conf_problem, normalise_conf, scoring_conf_problem
from edgecam.fields import Bool, Float, Int, Str, base_dir, settings
from edgecam.limits import SIZE_MAX, SIZE_MIN, THREADS_MAX, THREADS_MIN, threads_problem  # one place for the bounds (CLI, manifest, config)
from edgecam.names import unique_names



def is_model_path(value: str, base: str | None) -> bool:
    """A model reference that names a file or directory (vs a known name such as ``yolov5ss``)."""
    if "/" in value or value.endswith(".param"):
        return True
    return base is not None and os.path.exists(os.path.join(base, os.path.expanduser(value)))


@settings
class DetectorSettings:
    path: Str = Field(default="yolov5ss", min_length=1, max_length=4096,
                      description="model reference: known name, bundle dir or .param path")
    size: Int = Field(default=640, ge=SIZE_MIN, le=SIZE_MAX, description="input size (long side), a multiple of 32")
    threads: Union[Int, Literal["auto"]] = Field(
        default="auto", description='ncnn worker threads, or "auto": every core when the camera needs no decoding '
                                    "in this process (picamera2), one less when it does (video streams, files)")
    conf: Float = Field(default=CONF_DEFAULT, description="minimum score")
    iou: Float = Field(default=0.45, ge=0.0, le=1.0, description="NMS IoU threshold")
    max_detections: Int = Field(default=100, ge=1, le=10000)
    classes: tuple[Str, ...] = Field(default=(), max_length=1000, description="only report these labels (empty: all)")
    fp16: Bool = Field(default=True, description="fp16 storage/arithmetic where the CPU supports it")
    powersave: Int = Field(default=0, ge=0, le=2, description="ncnn cpu powersave: 0 all, 1 little, 2 big cores")
    backend: Literal["ncnn"] = "ncnn"

    @field_validator("threads", mode="before")
    @classmethod
    def _threads(cls, value: object) -> object:
        if value == "auto":
            return value
        problem = threads_problem(value)
        if problem:
            raise ValueError(f'{problem}; or "auto"')
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str, info: ValidationInfo) -> str:
        if "\x00" in value:
            raise ValueError("path contains a NUL byte; fix the model reference")
        base = base_dir(info)
        if base is None or not is_model_path(value, base):
            return value
        p = os.path.expanduser(value)
        return p if os.path.isabs(p) else os.path.join(base, p)

    @field_validator("size")
    @classmethod
    def _size(cls, value: int) -> int:
        if value % 32:
            raise ValueError(f"size must be a multiple of 32 (got {value}); try {value // 32 * 32 or 32}")
        return value

    @field_validator("conf")
    @classmethod
    def _conf(cls, value: float, info: ValidationInfo) -> float:
        if base_dir(info) is None:  # built in code: eval scores mAP down to 0.001
            problem = scoring_conf_problem(value)
            if problem:
                raise ValueError(problem)
            return value
        problem = conf_problem(value)  # a config file: the operational range MQTT and Home Assistant share
        if problem:
            raise ValueError(problem)
        return normalise_conf(value)

    @field_validator("classes")
    @classmethod
    def _classes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return unique_names(value, "class")


def resolve_threads(threads: int | str, decodes_in_process: bool, cores: int | None = None) -> int:
    """The ncnn thread count for ``threads`` (a number, or ``"auto"``): ``"auto"`` is every usable core
    when nothing else in the process needs the CPU (picamera2: the ISP delivers YUV), one less (at least
    1) when the source decodes video in the process (FFmpeg competes with ncnn)."""
    if isinstance(threads, int):
        return threads
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(THREADS_MIN, min(THREADS_MAX, cores - 1 if decodes_in_process else cores))
