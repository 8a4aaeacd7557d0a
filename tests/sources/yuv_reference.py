"""Reference Y'CbCr ↔ R'G'B' conversions written straight from the standards' formulas, in float64.

ITU-R BT.601 / BT.709: E'Y = Kr·R + (1-Kr-Kb)·G + Kb·B, E'Cb = (B - E'Y) / (2(1-Kb)),
E'Cr = (R - E'Y) / (2(1-Kr)); 8-bit limited range Y = 16 + 219·E'Y, C = 128 + 224·E'C;
full range (sYCC / JPEG) Y = 255·E'Y, C = 128 + 255·E'C. Independent of edgecam's code on purpose.
"""

from __future__ import annotations

import numpy as np

KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


def rgb_to_yuv444(rgb: np.ndarray, matrix: str, full_range: bool) -> np.ndarray:
    kr, kb = KR_KB[matrix]
    e = rgb.astype(np.float64) / 255.0
    ey = kr * e[..., 0] + (1 - kr - kb) * e[..., 1] + kb * e[..., 2]
    ecb = (e[..., 2] - ey) / (2 * (1 - kb))
    ecr = (e[..., 0] - ey) / (2 * (1 - kr))
    if full_range:
        y, cb, cr = 255 * ey, 128 + 255 * ecb, 128 + 255 * ecr
    else:
        y, cb, cr = 16 + 219 * ey, 128 + 224 * ecb, 128 + 224 * ecr
    return np.clip(np.rint(np.stack([y, cb, cr], axis=-1)), 0, 255).astype(np.uint8)


def yuv444_to_rgb(yuv: np.ndarray, matrix: str, full_range: bool) -> np.ndarray:
    kr, kb = KR_KB[matrix]
    y, cb, cr = (yuv[..., i].astype(np.float64) for i in range(3))
    if full_range:
        ey, ecb, ecr = y / 255, (cb - 128) / 255, (cr - 128) / 255
    else:
        ey, ecb, ecr = (y - 16) / 219, (cb - 128) / 224, (cr - 128) / 224
    r = ey + 2 * (1 - kr) * ecr
    b = ey + 2 * (1 - kb) * ecb
    g = (ey - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.rint(np.stack([r, g, b], axis=-1) * 255), 0, 255).astype(np.uint8)


def pack_i420(yuv444: np.ndarray, stride: int) -> np.ndarray:
    """The (H*3/2, stride) buffer picamera2 returns for YUV420: chroma = the top-left sample of each
    2×2 block (the patterns used with it are constant per block), every plane padded to its stride."""
    h, w = yuv444.shape[:2]
    assert h % 2 == 0 and w % 2 == 0 and stride >= w and stride % 2 == 0
    out = np.zeros(h * 3 // 2 * stride, np.uint8)
    y = np.full((h, stride), 16, np.uint8)
    y[:, :w] = yuv444[..., 0]
    out[: h * stride] = y.reshape(-1)
    size = (h // 2) * (stride // 2)
    for k in (1, 2):
        plane = np.full((h // 2, stride // 2), 128, np.uint8)
        plane[:, : w // 2] = yuv444[::2, ::2, k]
        start = h * stride + (k - 1) * size
        out[start : start + size] = plane.reshape(-1)
    return out.reshape(h * 3 // 2, stride)


def colour_bars(width: int, height: int) -> np.ndarray:
    """Saturated and grey bars, each a multiple of 2 pixels wide so chroma subsampling is exact."""
    colours = np.array(
        [[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255],
         [0, 0, 0], [128, 128, 128], [200, 60, 30], [30, 120, 210], [90, 200, 90]],
        np.uint8,
    )
    col = np.minimum((np.arange(width) // 2) * 2 * len(colours) // max(width, 1), len(colours) - 1)
    row_shift = (np.arange(height) // 2 * 2 * 3 // max(height, 1))[:, None]  # three bands, shifted bars
    return colours[(col[None, :] + row_shift * 4) % len(colours)]
