"""Settings of the ``[model]`` config section (CONTRACT §4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from edgecam.limits import SIZE_MAX, SIZE_MIN, THREADS_MAX, THREADS_MIN


@dataclass(frozen=True)
class DetectorSettings:
    path: str = field(default="yolov5ss", metadata={"help": "model reference: known name, bundle dir or .param path"})
    size: int = field(default=640, metadata={"min": SIZE_MIN, "max": SIZE_MAX, "help": "input size (long side), a multiple of 32"})
    threads: int = field(default=4, metadata={"min": THREADS_MIN, "max": THREADS_MAX, "help": "ncnn worker threads"})
    conf: float = field(default=0.45, metadata={"min": 0.0, "max": 1.0, "exclusive_min": True, "help": "minimum score"})
    iou: float = field(default=0.45, metadata={"min": 0.0, "max": 1.0, "help": "NMS IoU threshold"})
    max_detections: int = field(default=100, metadata={"min": 1, "max": 10000})
    classes: tuple[str, ...] = field(default=(), metadata={"help": "only report these labels (empty: all)"})
    fp16: bool = field(default=True, metadata={"help": "fp16 storage/arithmetic where the CPU supports it"})
    powersave: int = field(default=0, metadata={"min": 0, "max": 2, "help": "ncnn cpu powersave: 0 all, 1 little, 2 big cores"})
    backend: Literal["ncnn"] = "ncnn"

    def validate(self) -> None:
        if self.size % 32:
            raise ValueError(f"size must be a multiple of 32 (got {self.size}); try {self.size // 32 * 32 or 32}")
