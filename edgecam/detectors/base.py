"""The detector seam: one Protocol (three stages + a convenience ``detect``) and a registry of
lazily imported backends.  The pipeline runs the stages separately — ``preprocess`` and
``postprocess`` between forward passes or in their own threads, ``forward`` alone — so every
backend implements all three; ``detect`` is the three in a row (CLI, eval, warm-up)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from edgecam.detectors.preprocess import Letterbox
from edgecam.domain import Detections, Inference, PixelFormat
from edgecam.plugins import Plugin, Registry


@runtime_checkable
class Detector(Protocol):
    name: str
    class_names: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Any) -> "Detector":
        """Build the backend from its ``[model]`` settings (raises ``ModelError`` with the fix)."""

    def preprocess(self, image: np.ndarray, pixel_format: PixelFormat = "RGB") -> tuple[Any, Letterbox]:
        """Letterbox an H×W×3 uint8 image into the network input; the letterbox maps boxes back."""

    def preprocess_frame(self, frame: Any) -> tuple[Any, Letterbox]:
        """:meth:`preprocess` for a captured frame (``Frame`` or ``sources.yuv.YuvFrame``): the frame
        scales itself to the letterbox size (``frame.scaled``), so a YUV buffer is scaled before it is
        converted and the full-size RGB image is never made."""

    def forward(self, net_input: Any) -> list[np.ndarray]:
        """The network's forward pass: the raw output of every head."""

    def postprocess(self, outputs: list[np.ndarray], lb: Letterbox, conf: float) -> Detections:
        """Decode + NMS at confidence ``conf``; boxes in the original image's pixels."""

    def detect(self, image: np.ndarray, pixel_format: PixelFormat = "RGB", conf: float | None = None) -> Inference:
        """The three stages in a row; boxes in the image's own pixels."""

    def close(self) -> None:
        """Release the network."""


# ``[model] backend`` selects one; the first is the default.  Each settings model has ``backend: Literal[kind]``.
DETECTORS = Registry(
    "detector backend",
    Plugin("ncnn", "edgecam.detectors.ncnn_detector:NcnnDetector", "edgecam.detectors.settings:DetectorSettings"),
)


def load_detector_class(backend: str) -> type:
    return DETECTORS.load(backend)
