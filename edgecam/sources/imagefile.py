"""One way to read an image file a user names: regular file, bounded read, header size check, then decode.

Used by ``detect``, ``eval``, ``bench --image`` and the images source, so a FIFO, a device, a directory or
a decompression bomb is refused with one line everywhere instead of hanging or crashing.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import numpy as np

from edgecam.files import MiB, FileProblem, read_regular_file
from edgecam.limits import MAX_PIXELS_DEFAULT, pixels_problem
from edgecam.sources.imageheader import ImageHeaderError, ImageInfo, image_info


class ImageProblem(FileProblem):
    """An image file cannot be used; the message names the file, the problem and the fix."""


def max_file_bytes(max_pixels: int) -> int:
    """The largest image file read for a pixel budget: an uncompressed 32-bit image of that size, plus 1 MiB."""
    return max_pixels * 4 + MiB


def check_image_bytes(data: bytes, name: str, max_pixels: int = MAX_PIXELS_DEFAULT) -> ImageInfo:
    """The header's format and size if it is within ``max_pixels``; :class:`ImageProblem` otherwise."""
    try:
        info = image_info(data)
    except ImageHeaderError as exc:
        raise ImageProblem(f"{name}: {exc}") from None
    problem = pixels_problem(info.width, info.height, max_pixels)
    if problem:
        raise ImageProblem(f"{name}: {info.format} image {problem}")
    return info


def decode_image(data: bytes, name: str, max_pixels: int = MAX_PIXELS_DEFAULT) -> np.ndarray:
    """H×W×3 uint8 BGR of an encoded image, checked against ``max_pixels`` before decoding."""
    import cv2

    info = check_image_bytes(data, name, max_pixels)
    with _opencv_silent(cv2):  # a corrupt file is reported below in one line, not in OpenCV's own words
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageProblem(f"{name}: cannot decode this {info.format} image (corrupt or truncated); re-export it")
    problem = pixels_problem(image.shape[1], image.shape[0], max_pixels)  # the decoder may disagree with the header
    if problem:
        raise ImageProblem(f"{name}: decoded image {problem}")
    return image


@contextlib.contextmanager
def _opencv_silent(cv2) -> Iterator[None]:
    """OpenCV's own logging off for the block, where this build of OpenCV lets us: ``cv2.utils.logging``
    is missing from some wheels (opencv-python-headless 4.11 for aarch64 on Debian's numpy 1.24, found
    by ``make pi-check``); older builds have ``cv2.setLogLevel`` at the top; otherwise nothing changes."""
    log = getattr(getattr(cv2, "utils", None), "logging", None)
    get = getattr(log, "getLogLevel", None) or getattr(cv2, "getLogLevel", None)
    put = getattr(log, "setLogLevel", None) or getattr(cv2, "setLogLevel", None)
    if get is None or put is None:
        yield
        return
    level = get()
    put(0)  # LOG_LEVEL_SILENT
    try:
        yield
    finally:
        put(level)


def read_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS_DEFAULT, what: str = "image") -> np.ndarray:
    """Decode the image file at ``path`` (BGR); :class:`FileProblem` / :class:`ImageProblem` in one line."""
    data = read_regular_file(path, what, max_bytes=max_file_bytes(max_pixels))
    return decode_image(data, f"{what} {os.fspath(path)}", max_pixels)
