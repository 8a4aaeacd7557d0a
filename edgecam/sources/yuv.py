"""Colour conversion of the Pi camera's YUV420 buffers, shared by the picamera2 source and the
``yuv420:`` bench source (so the bench measures exactly the conversion the camera path runs).

The ISP encodes YUV with the stream's colour space: BT.601 limited range ("Smpte170m", what the
picamera2 source asks for, and what OpenCV's ``COLOR_YUV2RGB_I420`` decodes), BT.709 limited range
("Rec709", picamera2's default for a main stream of 1280×720 or more) or BT.601 full range ("sYCC").
Decoding with the wrong matrix shifts saturated colours by up to ~22/255.
"""

from __future__ import annotations

from typing import Literal

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
    rows, stride = array.shape
    height = rows * 2 // 3
    flat = np.ascontiguousarray(array).reshape(-1)
    y = flat[: height * stride].reshape(height, stride)[:, :width]
    chroma_size = (height // 2) * (stride // 2)
    planes = []
    for k in range(2):  # U then V: each (height/2) rows of stride/2 bytes
        start = height * stride + k * chroma_size
        plane = flat[start : start + chroma_size].reshape(height // 2, stride // 2)
        planes.append(cv2.resize(plane, (stride, height), interpolation=cv2.INTER_NEAREST)[:, :width])
    yuv = cv2.merge([np.ascontiguousarray(y), planes[0], planes[1]])
    return np.ascontiguousarray(cv2.transform(yuv, yuv_to_rgb_affine(matrix, full_range)))


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
