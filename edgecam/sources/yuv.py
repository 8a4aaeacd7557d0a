"""Colour conversion of the Pi camera's YUV420 buffers, shared by the picamera2 source and the
``yuv420:`` bench source (so the bench measures exactly the conversion the camera path runs).

The ISP encodes YUV with the stream's colour space: BT.601 limited range ("Smpte170m", what the
picamera2 source asks for, and what OpenCV's ``COLOR_YUV2RGB_I420`` decodes), BT.709 limited range
("Rec709", picamera2's default for a main stream of 1280×720 or more) or BT.601 full range ("sYCC").
Decoding with the wrong matrix shifts saturated colours by up to ~22/255.

:class:`YuvFrame` is how such a buffer travels through the daemon: the capture thread only keeps
the buffer, and each consumer asks for what it needs.  The detector asks for the letterboxed size
(:meth:`YuvFrame.scaled`: the Y, U and V planes are scaled first and only the small result is
converted), motion detection for a small grey image (:meth:`YuvFrame.grey`: the Y plane alone),
and the full-size RGB :attr:`YuvFrame.image` is converted only if something asks for it (a
snapshot, a live-view client), once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np

Matrix = Literal["bt601", "bt709"]

# (Kr, Kb) luma coefficients of each YCbCr matrix.
_KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


def yuv420_to_rgb(array: np.ndarray, width: int, matrix: Matrix = "bt601", full_range: bool = False) -> np.ndarray:
    """A planar I420 buffer of ``height * 3 / 2`` rows (rows may be padded to a stride) → RGB, ``width`` wide.

    ``matrix``/``full_range`` name the buffer's YCbCr encoding; the default (BT.601, limited range) is
    OpenCV's own conversion, the others a 3×4 affine transform of the upsampled planes.
    """
    import cv2

    if matrix == "bt601" and not full_range:
        return np.ascontiguousarray(cv2.cvtColor(array, cv2.COLOR_YUV2RGB_I420)[:, :width])
    y, u, v = planes(array, width)
    height = y.shape[0]
    up = [cv2.resize(c, (c.shape[1] * 2, height), interpolation=cv2.INTER_NEAREST)[:, :width] for c in (u, v)]
    yuv = cv2.merge([np.ascontiguousarray(y), up[0], up[1]])
    return np.ascontiguousarray(cv2.transform(yuv, yuv_to_rgb_affine(matrix, full_range)))


def planes(array: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y (height × width) and U, V (height/2 × ceil(width/2)) planes of an I420 buffer
    of ``height * 3 / 2`` rows of ``stride`` bytes (U and V rows are ``stride / 2`` bytes)."""
    rows, stride = array.shape
    height = rows * 2 // 3
    flat = np.ascontiguousarray(array).reshape(-1)  # no copy when it already is
    y = flat[: height * stride].reshape(height, stride)[:, :width]
    chroma_size = (height // 2) * (stride // 2)
    cw = (width + 1) // 2
    u, v = (flat[height * stride + k * chroma_size: height * stride + (k + 1) * chroma_size]
            .reshape(height // 2, stride // 2)[:, :cw] for k in range(2))
    return y, u, v


def yuv_to_rgb_affine(matrix: Matrix, full_range: bool) -> np.ndarray:
    """The 3×4 matrix M with ``[R, G, B] = M @ [Y, U, V, 1]`` (8-bit code values)."""
    kr, kb = _KR_KB[matrix]
    kg = 1.0 - kr - kb
    y_scale, c_scale, y_off = (1.0, 1.0, 0.0) if full_range else (255 / 219, 255 / 224, 16.0)
    cr_r = 2 * (1 - kr) * c_scale  # R = Y' + 2(1 - Kr) Cr
    cb_b = 2 * (1 - kb) * c_scale  # B = Y' + 2(1 - Kb) Cb
    cb_g, cr_g = -cb_b * kb / kg, -cr_r * kr / kg  # G = (Y' - Kr R - Kb B) / Kg
    m = np.array([[y_scale, 0.0, cr_r], [y_scale, cb_g, cr_g], [y_scale, cb_b, 0.0]])
    offset = -m @ np.array([y_off, 128.0, 128.0])
    return np.hstack([m, offset[:, None]]).astype(np.float32)


@dataclass(slots=True)
class YuvFrame:
    """A camera frame kept as its I420 buffer (see the module docstring); quacks like
    :class:`edgecam.domain.Frame`, with ``pixel_format`` RGB."""

    buffer: np.ndarray
    width: int
    index: int
    timestamp: float
    source: str = ""
    matrix: Matrix = "bt601"
    full_range: bool = False
    height: int = field(init=False)
    _image: np.ndarray | None = field(init=False, default=None, repr=False)
    pixel_format: ClassVar[str] = "RGB"

    def __post_init__(self) -> None:
        rows, stride = self.buffer.shape
        if rows % 3 or self.width > stride or self.width % 2:
            raise ValueError(f"not an I420 buffer of width {self.width}: shape {self.buffer.shape}")
        self.height = rows * 2 // 3

    @property
    def image(self) -> np.ndarray:
        """The full-size RGB image, converted on first use."""
        if self._image is None:
            self._image = yuv420_to_rgb(self.buffer, self.width, self.matrix, self.full_range)
        return self._image

    def scaled(self, width: int, height: int) -> np.ndarray:
        """RGB at ``width``×``height``: the planes are scaled (bilinear) before the conversion."""
        import cv2

        if (width, height) == (self.width, self.height):
            return self.image
        # I420 needs even sizes: an odd last column/row of luma is repeated, chroma covers it
        ew, eh = width + (width & 1), height + (height & 1)
        y, u, v = planes(self.buffer, self.width)
        small = np.empty((eh * 3 // 2, ew), np.uint8)
        luma = small[:eh]
        if (ew, eh) == (width, height):
            cv2.resize(y, (width, height), dst=luma, interpolation=cv2.INTER_LINEAR)
        else:
            luma[:height, :width] = cv2.resize(y, (width, height), interpolation=cv2.INTER_LINEAR)
            luma[:height, width:] = luma[:height, width - 1:width]
            luma[height:] = luma[height - 1:height]
        chroma = small[eh:].reshape(2, eh // 2, ew // 2)
        cv2.resize(u, (ew // 2, eh // 2), dst=chroma[0], interpolation=cv2.INTER_LINEAR)
        cv2.resize(v, (ew // 2, eh // 2), dst=chroma[1], interpolation=cv2.INTER_LINEAR)
        rgb = yuv420_to_rgb(small, ew, self.matrix, self.full_range)
        return rgb if (ew, eh) == (width, height) else np.ascontiguousarray(rgb[:height, :width])

    def grey(self, width: int, height: int) -> np.ndarray:
        """The Y plane, area-averaged to ``width``×``height`` (limited range stretched to 0–255)."""
        import cv2

        small = cv2.resize(planes(self.buffer, self.width)[0], (width, height), interpolation=cv2.INTER_AREA)
        if self.full_range:
            return small
        return cv2.convertScaleAbs(small, alpha=255 / 219, beta=-16 * 255 / 219)
